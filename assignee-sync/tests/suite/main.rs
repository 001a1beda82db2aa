//! assignee-sync's integration tests, in one binary (one link instead of one per file): behaviour
//! of the sync decisions, Sentry's captured payloads (`tests/fixtures/sentry/`, skipped when not
//! shipped), the in-memory store against a model, serde forms, and the fuzz corpora replayed.

mod behaviour;
mod fixtures;
mod fuzz_corpus;
mod model;
mod outbound;
#[cfg(feature = "serde")]
mod serde_forms;
