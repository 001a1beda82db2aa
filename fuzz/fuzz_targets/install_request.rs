//! Fuzz the install request JSON parsing and validation (body in `reference_server::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    reference_server::fuzzing::install_request(data);
});
