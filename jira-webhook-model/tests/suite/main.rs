//! jira-webhook-model's integration tests, in one binary (one link instead of one per file): the
//! public API, every captured delivery in `tests/fixtures/<source>/`, properties, robustness on
//! hostile input, and the fuzz corpora replayed.

mod api;
mod fixtures;
mod fuzz_corpus;
mod properties;
mod robustness;
