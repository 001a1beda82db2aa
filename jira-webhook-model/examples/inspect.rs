//! Reads one webhook delivery from stdin and prints a JSON summary of it:
//! `{"event", "type", "issue", "changes": [{"kind", "field", "from", "to", "fromString", "toString"}]}`,
//! one change per changelog item, in order. Exits 1 (message on stderr) when the input is not a
//! Jira delivery.
//!
//! ```text
//! cargo run -p jira-webhook-model --example inspect < delivery.json
//! ```

use std::io::Read;
use std::process::ExitCode;

use jira_webhook_model::WebhookEvent;

fn main() -> ExitCode {
    let mut body = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("inspect: could not read stdin: {e}");
        return ExitCode::FAILURE;
    }
    let event = match WebhookEvent::from_slice(&body) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("inspect: not a Jira delivery: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !event.looks_like_delivery() {
        eprintln!(
            "inspect: not a Jira delivery: the JSON object has none of webhookEvent, issue, changelog, comment"
        );
        return ExitCode::FAILURE;
    }
    let out = event.summary();
    println!("{out}");
    ExitCode::SUCCESS
}
