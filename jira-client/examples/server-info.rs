//! Asks a Jira for its version and the user a personal access token acts as.
//!
//! `cargo run -p jira-client --example server-info -- https://jira.example.com <token>`

use jira_client::{Auth, JiraClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(token)) = (args.next(), args.next()) else {
        eprintln!("usage: server-info <jira base url> <personal access token>");
        std::process::exit(2);
    };
    let client = JiraClient::new(&url, true, Auth::personal_access_token(token))?;
    match client.server_info().await {
        Ok(info) => println!("Jira {} ({:?})", info.version, info.deployment_type),
        Err(e) => {
            eprintln!("{e}\n{}", e.what_to_do());
            std::process::exit(1);
        }
    }
    let me = client.myself().await?;
    println!("acting as {:?}", me.name);
    Ok(())
}
