//! Replays the fuzz corpora (`fuzz/corpus/<target>`, when the workspace is
//! present) and the crate's own `tests/fixtures/<source>/` (seeds under
//! `<source>/corpus/<target>`, and every other fixture) through the fuzz target
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

/// The source directories under `tests/fixtures/` (`own`, `oauthlib`, ..., and `sentry` in the
/// repository but not in the published package).
fn sources() -> Vec<std::path::PathBuf> {
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut dirs: Vec<_> = fs::read_dir(fixtures)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn run_target(target: &str, f: fn(&[u8])) {
    let workspace = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus")).join(target);
    replay(&workspace, f);
    let mut own_count = 0;
    let mut others = 0;
    for source in sources() {
        own_count += replay(&source.join("corpus").join(target), f);
        // every other fixture (keys) is also fed in: it must not panic either
        others += replay(&source, f);
    }
    assert!(
        own_count >= 5,
        "tests/fixtures/*/corpus/{target} has {own_count} seeds"
    );
    assert!(others > 0);
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
        "/tests/fixtures/own/corpus"
    ));
    let read = |t: &str, f: &str| fs::read(dir.join(t).join(f)).unwrap();
    let header = |f: &str| String::from_utf8(read("oauth_header", f)).unwrap();
    let rfc = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc5849/corpus/oauth_header/multiline"
    ))
    .unwrap();
    assert!(jira_oauth::parse_authorization_header(&rfc).is_ok());
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
