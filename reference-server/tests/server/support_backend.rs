//! One test, both storage backends: [`Backend`] names the store a [`TestServer`] runs on, and
//! [`on_both_backends!`] runs one `async fn name(backend: Backend)` as the tests `name::sled`
//! and `name::postgres`.
//!
//! ```ignore
//! on_both_backends!(a_delivery_is_applied);
//! /// A delivery is applied, and still there after a restart.
//! async fn a_delivery_is_applied(backend: Backend) {
//!     let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
//!     // ...
//!     let server = server.restart(&backend).await;
//! }
//! ```
//!
//! The PostgreSQL test gets a fresh database from `support_pg::fresh_database`; without
//! `REFERENCE_SERVER_TEST_PG` it prints its one `skipped:` line and passes without running the
//! body. The database is dropped with the [`Backend`], after the body's servers (a function's
//! arguments are dropped after its locals).

use std::sync::Arc;

use reference_server::config::ServeConfig;
use reference_server::storage::{Storage, StorageConfig, StorageTasks};
use tempfile::TempDir;

use crate::common::{MockJira, TestServer, install_pat};
use crate::support_pg::TestDb;

/// The storage backend a test server runs on.
#[derive(Debug)]
pub enum Backend {
    /// sled in the server's data dir (the default store).
    Sled,
    /// PostgreSQL on a database of the test's own.
    Postgres(TestDb),
}

impl Backend {
    /// Points a server configuration at this backend (`--store`).
    pub fn configure(&self, config: &mut ServeConfig) {
        let store = match self {
            Self::Sled => "sled",
            Self::Postgres(db) => db.url(),
        };
        store.clone_into(&mut config.store);
    }

    /// Opens this backend's storage directly, as the server would with data dir `dir` (for a
    /// test that writes while no server runs); stop the tasks once the storage is dropped.
    pub async fn open_storage(&self, dir: &std::path::Path) -> (Storage, StorageTasks) {
        match self {
            Self::Sled => {
                let metrics = Arc::new(reference_server::metrics::Metrics::default());
                Storage::open(&StorageConfig::new(dir.to_path_buf()), metrics)
                    .await
                    .expect("the sled storage opens")
            }
            Self::Postgres(db) => Storage::open_postgres(
                &db.pg_url(),
                4,
                Arc::default(),
                reference_server::app::Faults::default(),
            )
            .await
            .expect("the PostgreSQL storage opens"),
        }
    }
}

impl TestServer {
    /// A server on `backend` with a fresh data dir.
    pub async fn start_on(backend: &Backend) -> Self {
        Self::start_on_in(backend, tempfile::tempdir().expect("tempdir")).await
    }

    /// A server on `backend` with data dir `dir` (a restart keeps it; PostgreSQL keeps its
    /// data in the database, the dir holds only the files beside it).
    pub async fn start_on_in(backend: &Backend, dir: TempDir) -> Self {
        Self::start_on_with(backend, dir, |_| {}).await
    }

    /// [`TestServer::start_with`] on `backend` (`configure` runs after the backend is set).
    pub async fn start_on_with(
        backend: &Backend,
        dir: TempDir,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Self {
        Self::start_with(dir, |config| {
            backend.configure(config);
            configure(config);
        })
        .await
    }

    /// Stops the server and starts a new one on the same backend and data dir.
    pub async fn restart(self, backend: &Backend) -> Self {
        let dir = self.stop().await;
        Self::start_on_in(backend, dir).await
    }
}

/// A running server on `backend` with a PAT install against a fresh Jira 9 mock: (server,
/// Jira, integration id, the webhook URL token).
pub async fn installed_on(backend: &Backend) -> (TestServer, MockJira, String, String) {
    let server = TestServer::start_on(backend).await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    (server, jira, id, token)
}

/// [`installed_on`], then [`TestServer::seed`] with `key` linked to group g1.
pub async fn installed_and_seeded_on(
    backend: &Backend,
    key: &str,
) -> (TestServer, MockJira, String, String) {
    let (server, jira, id, token) = installed_on(backend).await;
    server.seed(&id, key).await;
    (server, jira, id, token)
}

/// `on_both_backends!(name)` next to `async fn name(backend: Backend)` makes `mod name` with the
/// tests `sled` and `postgres`, each running `name` on its backend (the PostgreSQL one passes
/// after one `skipped:` line when `REFERENCE_SERVER_TEST_PG` is not set). Arguments after the
/// name go to `#[tokio::test(...)]`, e.g. `on_both_backends!(name, flavor = "multi_thread")`.
/// The body stays a plain function, so `cargo fmt` formats it.
macro_rules! on_both_backends {
    ($name:ident $(, $($test_args:tt)*)?) => {
        mod $name {
            #[tokio::test($($($test_args)*)?)]
            async fn sled() {
                super::$name($crate::support_backend::Backend::Sled).await;
            }

            #[tokio::test($($($test_args)*)?)]
            async fn postgres() {
                if let Some(db) = $crate::support_pg::fresh_database().await {
                    super::$name($crate::support_backend::Backend::Postgres(db)).await;
                }
            }
        }
    };
}
pub(crate) use on_both_backends;
