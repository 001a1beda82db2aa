//! Fuzz the webhook URL's JWT path segment (body in `reference_server::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    reference_server::fuzzing::webhook_token(data);
});
