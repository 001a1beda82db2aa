#![no_main]
//! Builds a small world and events from the input and syncs them (assignee-sync).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assignee_sync::fuzzing::sync_events(data);
});
