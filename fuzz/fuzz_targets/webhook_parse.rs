//! Fuzz the webhook delivery parser and its lossless round trip (body in
//! `jira_webhook_model::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    jira_webhook_model::fuzzing::webhook_parse(data);
});
