//! Replays the fuzz corpora (`fuzz/corpus/<target>`, when the workspace is
//! present) and the crate's own `tests/fixtures` through the fuzz target
//! bodies, so CI exercises them without cargo-fuzz.

use std::fs;
use std::path::Path;

use jira_oauth::fuzzing;

/// Calls `f` on every regular file directly inside `dir`; returns how many.
fn replay(dir: &Path, f: fn(&[u8])) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            let data = fs::read(&path).unwrap();
            f(&data);
            n += 1;
        }
    }
    n
}

fn run_target(target: &str, f: fn(&[u8])) {
    let workspace = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus")).join(target);
    let own = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/corpus"
    ))
    .join(target);
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    replay(&workspace, f);
    let own_count = replay(&own, f);
    assert!(
        own_count >= 5,
        "tests/fixtures/corpus/{target} has {own_count} seeds"
    );
    // every other fixture (keys) is also fed in: it must not panic either
    assert!(replay(fixtures, f) > 0);
}

#[test]
fn oauth_header_corpus() {
    run_target("oauth_header", fuzzing::oauth_header);
}

#[test]
fn oauth_token_reply_corpus() {
    run_target("oauth_token_reply", fuzzing::oauth_token_reply);
}

#[test]
fn seeds_cover_both_outcomes() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/corpus"
    ));
    let read = |t: &str, f: &str| fs::read(dir.join(t).join(f)).unwrap();
    let header = |f: &str| String::from_utf8(read("oauth_header", f)).unwrap();
    assert!(jira_oauth::parse_authorization_header(&header("rfc5849-multiline")).is_ok());
    assert!(jira_oauth::parse_authorization_header(&header("jira-request-token")).is_ok());
    assert!(jira_oauth::parse_authorization_header(&header("duplicate")).is_err());
    assert!(jira_oauth::parse_token_reply(&read("oauth_token_reply", "request-token")).is_ok());
    assert_eq!(
        jira_oauth::parse_token_reply(&read("oauth_token_reply", "missing-token"))
            .unwrap_err()
            .to_string(),
        "Missing oauth_token"
    );
}
