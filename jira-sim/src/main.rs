//! `jira-sim` binary: a simulated Jira Server / Data Center with demo data, until Ctrl-C or
//! SIGTERM.
//!
//! `cargo run -p jira-sim` listens on `127.0.0.1:8090`; `--help` lists the options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser as _;
use jira_sim::{Config, DEMO_CONSUMER_KEY, DEMO_PUBLIC_KEY_PEM, SimError, SimulatedJira};

/// A simulated Jira Server / Data Center (for trying the reference server out without a Jira,
/// and for tests): users admin, bob and alice, issues APP-1 and APP-2, OAuth 1.0a and a
/// personal access token; changing an issue delivers `jira:issue_updated` to the webhooks.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "jira-sim", version, about, long_about)]
struct Args {
    /// Address to listen on.
    #[arg(
        long = "listen",
        env = "SIMULATED_JIRA_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: SocketAddr,
    /// Jira version reported by serverInfo: 9.x registers webhooks at
    /// /rest/webhooks/1.0/webhook, 10.x at /rest/jira-webhook/1.0/webhooks.
    #[arg(long = "jira-version", default_value = "9.12.0")]
    jira_version: String,
    /// Consumer key of the OAuth application link.
    #[arg(long = "consumer-key", default_value = DEMO_CONSUMER_KEY)]
    consumer_key: String,
    /// PEM public key of the consumer (default: the demo key in jira-sim/keys/).
    #[arg(long = "public-key")]
    public_key: Option<PathBuf>,
    /// Personal access token accepted for the admin user.
    #[arg(long = "pat", default_value = Config::DEMO_PAT)]
    pat: String,
    /// The application link's consumer callback URL, e.g.
    /// http://127.0.0.1:8080/extensions/jira_server/setup/ (the authorize page redirects there).
    #[arg(long = "oauth-callback")]
    oauth_callback: Option<String>,
    /// Approve OAuth request tokens without a visit to the authorize page.
    #[arg(long = "auto-approve")]
    auto_approve: bool,
}

impl Args {
    /// The [`Config`] these arguments describe (demo data plus overrides).
    fn to_config(&self) -> Result<Config, SimError> {
        let mut config = Config::demo().with_version(&self.jira_version);
        config.listen = self.listen;
        let public_key = match &self.public_key {
            Some(path) => std::fs::read_to_string(path).map_err(|source| SimError::Read {
                path: path.clone(),
                source,
            })?,
            None => DEMO_PUBLIC_KEY_PEM.to_owned(),
        };
        config.consumers.clear();
        config
            .consumers
            .insert(self.consumer_key.clone(), public_key);
        config.personal_access_tokens.clear();
        config
            .personal_access_tokens
            .insert(self.pat.clone(), "admin".to_owned());
        config.oauth_callback.clone_from(&self.oauth_callback);
        config.auto_approve = self.auto_approve;
        Ok(config)
    }
}

/// Runs the simulated Jira until Ctrl-C or SIGTERM.
async fn run(args: Args) -> Result<(), SimError> {
    let config = args.to_config()?;
    let jira = SimulatedJira::start(config).await?;
    let base = jira.base_url();
    println!(
        "Simulated Jira {version} at {base}\n\
         \x20 personal access token (admin): {pat}\n\
         \x20 OAuth consumer key: {ck} (demo private key: jira-sim/keys/consumer_private_key.pem)\n\
         \x20 users: admin, bob (bob@example.org), alice (e-mail hidden); issues APP-1, APP-2\n\
         \x20 assign an issue (Jira then calls the registered webhook):\n\
         \x20   curl -X PUT -H 'Authorization: Bearer {pat}' -H 'Content-Type: application/json' \\\n\
         \x20        -d '{{\"name\":\"bob\"}}' {base}/rest/api/2/issue/APP-1/assignee\n\
         Press Ctrl-C to stop (or send SIGTERM).",
        version = args.jira_version,
        pat = args.pat,
        ck = args.consumer_key,
    );
    stop_signal().await;
    jira.shutdown().await;
    Ok(())
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `kill`, systemd and container runtimes send).
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
