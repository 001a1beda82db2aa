//! The reference server's integration tests, as one test binary (one link of the server instead
//! of one per file). Each module is one former test file; `common` and `support_jira` are the
//! shared set-up, `support_pg` gives the PostgreSQL tests (`postgres`) a database each on the
//! server named by `REFERENCE_SERVER_TEST_PG` (without it they print "skipped: ..." and pass),
//! and `support_backend` runs one test on both backends (`end_to_end`, `hostile_input`: each
//! such test is `<name>::sled` and `<name>::postgres`).
//!
//! `support_process` starts the server binary as a child process (for the tests that SIGKILL
//! it), `support_ledger` gives deliveries whose effects can be told apart and checks that each
//! one is accounted for.
//!
//! Run one module with a filter: `cargo test -p reference-server --test server -- webhooks::`.
//! The long multi-process tests are `#[ignore]`d: the SIGKILL crash tests (`crash`, on sled and
//! on PostgreSQL) and three replicas on one database (`replicas`); CI runs them with
//! `cargo test -p reference-server --test server -- --ignored --nocapture crash:: replicas::`.

mod common;
mod support_backend;
mod support_jira;
mod support_ledger;
mod support_pg;
mod support_process;

mod api;
mod binary;
mod crash;
mod disk;
mod end_to_end;
mod fuzz_corpus;
mod hostile_input;
mod ignored_deliveries;
mod installation;
mod issue_moves;
mod jira_contract;
mod limits;
mod ordering;
mod postgres;
mod postgres_store;
mod replicas;
mod retries;
mod storage;
mod webhooks;
