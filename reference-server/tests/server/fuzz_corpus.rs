//! Replays the fuzz corpora of this crate's targets (`webhook_token`, `install_request`,
//! `webhook_body`)
//! through the same bodies cargo-fuzz runs (`reference_server::fuzzing`), so CI checks them
//! without cargo-fuzz. The crate's own fixtures are always replayed too, so the test means
//! something when the crate is packaged without the `fuzz/` directory.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus")).join(target);
    files(&dir)
}

fn fixtures() -> Vec<PathBuf> {
    files(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures"
    )))
}

fn replay(inputs: &[PathBuf], target: fn(&[u8])) -> usize {
    for p in inputs {
        let data = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        target(&data);
        // Every proper prefix too: truncated inputs are the common hostile case.
        for cut in [0, 1, data.len() / 2, data.len().saturating_sub(1)] {
            target(data.get(..cut).unwrap_or_default());
        }
    }
    inputs.len()
}

#[test]
fn webhook_token_corpus_replays() {
    let n = replay(
        &corpus("webhook_token"),
        reference_server::fuzzing::webhook_token,
    );
    let own = replay(&fixtures(), reference_server::fuzzing::webhook_token);
    assert!(own > 0, "the crate's fixtures are missing");
    println!("webhook_token: {n} corpus inputs, {own} fixtures");
}

#[test]
fn webhook_token_known_answers_hold() {
    // The committed known token (issued by Sentry-compatible code) round-trips.
    let token = include_str!("../fixtures/jira/known_token.txt");
    reference_server::fuzzing::webhook_token(token.trim().as_bytes());
    // alg:none with an empty signature, a classic forgery, goes through the invariants too.
    reference_server::fuzzing::webhook_token(b"eyJhbGciOiJub25lIn0.eyJpZCI6IngifQ.");
}

#[test]
fn install_request_corpus_replays() {
    let n = replay(
        &corpus("install_request"),
        reference_server::fuzzing::install_request,
    );
    let own = replay(&fixtures(), reference_server::fuzzing::install_request);
    assert!(own > 0, "the crate's fixtures are missing");
    // A known valid form and a known invalid one, independent of the corpus.
    let pem = include_str!("../fixtures/jira/consumer_private_key.pem");
    let valid = serde_json::json!({"url": "https://jira.example.com/", "consumerKey": "k", "privateKey": pem});
    reference_server::fuzzing::install_request(valid.to_string().as_bytes());
    reference_server::fuzzing::install_request(br#"{"url":"jira.example.com","consumerKey":""}"#);
    println!("install_request: {n} corpus inputs, {own} fixtures");
}

#[test]
fn webhook_body_corpus_replays() {
    let n = replay(
        &corpus("webhook_body"),
        reference_server::fuzzing::webhook_body,
    );
    let own = replay(&fixtures(), reference_server::fuzzing::webhook_body);
    assert!(own > 0, "the crate's fixtures are missing");
    println!("webhook_body: {n} corpus inputs, {own} fixtures");
}
