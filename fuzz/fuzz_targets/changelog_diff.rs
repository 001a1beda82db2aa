//! Fuzz changelog recognition, snapshot diffing and applying changes (body in
//! `jira_webhook_model::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    jira_webhook_model::fuzzing::changelog_diff(data);
});
