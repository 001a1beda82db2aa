//! Reference server for the Jira Server integration: install it into a Jira Server / Data
//! Center instance, receive its issue webhooks, and apply assignee and status changes to
//! linked tracker groups, on hyper and sled.
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
//! Modules: [`config`] (CLI), [`server`] (start/stop), [`http`] (hyper server, router, errors),
//! [`webhook`] (the webhook endpoint), [`inbox`] (durable inbox with group commit), [`worker`]
//! (applies deliveries through `assignee-sync`), [`store`] (sled), [`api`] (admin API),
//! [`metrics`], [`jira`] (install logic on the `jira-client` crate, webhook token). The
//! simulated Jira used by the tests and the walk-through is the `jira-sim` crate.

pub mod api;
pub mod app;
pub mod config;
/// Fuzz target bodies (not a stable API).
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod inbox;
pub mod integration_jira;
pub mod jira;
pub mod metrics;
pub mod secret;
pub mod server;
pub mod store;
pub mod time;
pub mod webhook;
pub mod worker;
