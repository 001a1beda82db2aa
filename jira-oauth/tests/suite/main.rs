//! jira-oauth's integration tests, in one binary (one link instead of one per file): known-answer
//! vectors, verification, keys and the three-legged flow, properties, the `oauth1-sign`
//! example, and the fuzz corpora replayed. `support` reads the fixtures (`tests/fixtures/<source>/`).

mod example_cli;
mod fuzz_corpus;
mod keys_and_flow;
mod properties;
mod support;
mod vectors;
mod verify;
