//! Reference server for the Jira Server integration (work in progress).

fn main() {
    println!("reference-server: not built yet");
}
