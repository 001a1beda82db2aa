//! Replays the `sync_events` fuzz corpus (when the workspace has it) and the crate's own
//! fixtures as fuzz inputs: the body must not panic and its invariants must hold.

use std::path::Path;

fn replay_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap();
            assignee_sync::fuzzing::sync_events(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn replay_corpus_and_fixtures() {
    let corpus = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/sync_events"
    ));
    replay_dir(corpus);
    let fixtures = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sentry"
    ));
    if fixtures.is_dir() {
        assert!(
            replay_dir(fixtures) >= 8,
            "the crate's fixtures are missing"
        );
    } else {
        eprintln!("skipped: tests/fixtures/sentry/ replay (fixture not shipped in the package)");
    }
}

#[test]
fn edge_inputs() {
    for data in [&[][..], &[0xff; 300][..], &[0x00; 300][..], &[0x7c; 64][..]] {
        assignee_sync::fuzzing::sync_events(data);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any byte string is a valid fuzz input: syncing the world and events it describes never
    /// fails or panics, outcomes are sorted and unique, and redelivery changes nothing.
    #[test]
    fn random_inputs_hold_the_invariants(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        assignee_sync::fuzzing::sync_events(&data);
    }
}
