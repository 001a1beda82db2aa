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

use jira_webhook_model::{Field, WebhookEvent};
use serde_json::{Value, json};

fn raw<T: serde::Serialize>(f: &Field<T>) -> Value {
    serde_json::to_value(f).unwrap_or(Value::Null)
}

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
    let items = event
        .changelog()
        .map(jira_webhook_model::Changelog::items)
        .unwrap_or_default();
    let changes: Vec<Value> = items
        .iter()
        .map(|item| {
            json!({
                "kind": item.kind().as_str(),
                "field": raw(&item.field),
                "from": raw(&item.from),
                "to": raw(&item.to),
                "fromString": raw(&item.from_string),
                "toString": raw(&item.to_string),
            })
        })
        .collect();
    let out = json!({
        "event": raw(&event.webhook_event),
        "type": raw(&event.issue_event_type_name),
        "issue": event.issue_key(),
        "changes": changes,
    });
    println!("{out}");
    ExitCode::SUCCESS
}
