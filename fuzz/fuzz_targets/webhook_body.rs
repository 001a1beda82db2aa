//! Fuzz the webhook path's body handling: classification and the inbox's stored form (body in
//! `reference_server::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    reference_server::fuzzing::webhook_body(data);
});
