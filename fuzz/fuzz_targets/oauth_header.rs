//! Fuzz the `Authorization: OAuth` header parser (body in `jira_oauth::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    jira_oauth::fuzzing::oauth_header(data);
});
