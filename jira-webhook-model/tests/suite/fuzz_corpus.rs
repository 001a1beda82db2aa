//! Replays the fuzz seed corpora (`../fuzz/corpus/{webhook_parse,changelog_diff}`, when the
//! workspace is present) and always the crate's own `tests/fixtures/<source>/`, through the same
//! functions the fuzz targets call. They panic on any broken invariant.

use std::path::Path;

use jira_webhook_model::fuzzing::{changelog_diff, webhook_parse};

fn replay(dir: &Path, target: fn(&[u8])) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        if path.is_file() {
            let data = std::fs::read(&path).expect("read corpus file");
            target(&data);
            // Truncations and a byte flip exercise the error paths too.
            for cut in [0, 1, data.len() / 2, data.len().saturating_sub(1)] {
                target(data.get(..cut).unwrap_or_default());
            }
            let mut flipped = data.clone();
            if let Some(b) = flipped.get_mut(data.len() / 3) {
                *b ^= 0x20;
            }
            target(&flipped);
            n += 1;
        }
    }
    n
}

/// Replays every source directory under `tests/fixtures/`: at least 11 files ship with the
/// crate, 21 with `sentry/` (present in the repository, not in the package).
fn replay_fixtures(target: fn(&[u8])) -> usize {
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut n = 0;
    for source in std::fs::read_dir(fixtures).expect("fixtures dir") {
        let source = source.expect("fixtures entry").path();
        if source.is_dir() {
            n += replay(&source, target);
        }
    }
    if fixtures.join("sentry").is_dir() {
        assert!(n >= 21, "fixtures replayed: {n}");
    } else {
        eprintln!("skipped: tests/fixtures/sentry/ (fixture not shipped in the package)");
        assert!(n >= 11, "fixtures replayed: {n}");
    }
    n
}

#[test]
fn replay_webhook_parse_corpus_and_fixtures() {
    let corpus = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/webhook_parse"
    ));
    let from_corpus = replay(corpus, webhook_parse);
    replay_fixtures(webhook_parse);
    if corpus.exists() {
        assert!(from_corpus > 0, "corpus present but empty");
    }
}

#[test]
fn replay_changelog_diff_corpus_and_fixtures() {
    let corpus = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/changelog_diff"
    ));
    let from_corpus = replay(corpus, changelog_diff);
    replay_fixtures(changelog_diff);
    if corpus.exists() {
        assert!(from_corpus > 0, "corpus present but empty");
    }
}
