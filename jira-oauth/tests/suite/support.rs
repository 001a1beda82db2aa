//! Fixture readers shared by the test modules. Fixtures live in `tests/fixtures/<source>/`; the
//! Sentry-derived ones (`sentry/`) are not shipped in the published package, so the tests that
//! need them print one `skipped:` line and return when they are absent.

/// Reads `tests/fixtures/<path>` (a fixture that ships with the crate).
pub fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Reads `tests/fixtures/sentry/<name>`, or `None` (after one printed line naming `test`) when
/// the directory is not shipped.
pub fn sentry_fixture(name: &str, test: &str) -> Option<String> {
    let path = format!(
        "{}/tests/fixtures/sentry/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let contents = std::fs::read_to_string(path).ok();
    if contents.is_none() {
        eprintln!(
            "skipped: {test} (tests/fixtures/sentry/{name}: fixture not shipped in the package)"
        );
    }
    contents
}
