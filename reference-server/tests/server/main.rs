//! The reference server's integration tests, as one test binary (one link of the server instead
//! of one per file). Each module is one former test file; `common` and `support_jira` are the
//! shared set-up, `support_pg` gives the PostgreSQL tests (`postgres`) a database each on the
//! server named by `REFERENCE_SERVER_TEST_PG` (without it they print "skipped: ..." and pass),
//! and `support_backend` runs one test on both backends (`end_to_end`, `hostile_input`: each
//! such test is `<name>::sled` and `<name>::postgres`).
//!
//! Run one module with a filter: `cargo test -p reference-server --test server -- webhooks::`.
//! The SIGKILL crash test (`crash`) is `#[ignore]`d, the binary's only ignored test; CI runs it
//! with `cargo test -p reference-server --test server -- --ignored --nocapture crash::`.

mod common;
mod support_backend;
mod support_jira;
mod support_pg;

mod api;
mod binary;
mod crash;
mod end_to_end;
mod fuzz_corpus;
mod hostile_input;
mod installation;
mod issue_moves;
mod jira_contract;
mod limits;
mod postgres;
mod postgres_store;
mod storage;
mod webhooks;
