//! The reference server's integration tests, as one test binary (one link of the server instead
//! of one per file). Each module is one former test file; `common` and `support_jira` are the
//! shared set-up. The SIGKILL crash test stays its own binary (`tests/crash.rs`, `#[ignore]`d).
//!
//! Run one module with a filter: `cargo test -p reference-server --test server -- webhooks::`.

mod common;
mod support_jira;

mod api;
mod binary;
mod end_to_end;
mod fuzz_corpus;
mod hostile_input;
mod installation;
mod jira_contract;
mod webhooks;
