//! Reference server for the Jira Server integration: install it into a Jira Server / Data
//! Center instance, receive its issue webhooks, and apply assignee and status changes to
//! linked tracker groups, on hyper and an embedded store behind one storage interface.
//!
//! Run it with `cargo run --release -p reference-server -- serve` (the README has the quick
//! start; `docs/` the operating guide, the API reference and the architecture). As a library it
//! exposes the pieces for tests and tools:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use reference_server::config::ServeConfig;
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = ServeConfig::new("127.0.0.1:0".parse()?, dir.path().to_path_buf());
//! config.admin_token = Some("s3cret".parse()?);
//! let server = reference_server::server::start(config).await?;
//! println!("listening on {}, webhooks go to {}/extensions/jira-server/...", server.addr, server.public_url);
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The library is the server's modules, public where a test, the load harness, a bench or a
//! fuzz target needs them: [`config`] (CLI and [`config::ServeConfig`]), [`server`] (start and
//! stop), [`storage`] (the storage interface: its traits, the [`storage::Storage`] handle, the
//! record types, the stored form of a delivery, and the embedded backend, whose store the load
//! harness opens after a run to check the delivery log), [`webhook`] (the endpoint's classifier),
//! [`jira`] (the install pipeline on the `jira-client` crate, and the webhook token), [`api`]
//! (the admin API; its bulk import's limits), [`app`], [`metrics`], [`secret`], [`time`]. The
//! HTTP server and router (`http`), the background worker (`worker`) and the per-integration
//! Jira clients (`integration_jira`) are private. `docs/architecture.md` walks the data path
//! through all of them. The simulated Jira used by the tests and the walk-through is the
//! `jira-sim` crate.

pub mod api;
pub mod app;
pub mod config;
/// Fuzz target bodies (not a stable API).
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod http;
pub(crate) mod integration_jira;
pub mod jira;
pub mod metrics;
pub mod ordering_watch;
pub mod secret;
pub mod server;
pub mod storage;
pub mod time;
pub mod webhook;
pub(crate) mod worker;
