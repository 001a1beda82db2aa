//! The PostgreSQL backend: the `--store postgres://...` URL ([`PgUrl`]), the connection pool
//! and the schema migrations applied at start ([`connect`]), and [`PgStorage`], the storage
//! traits on them (`integrations.rs`, `tracker.rs`, `inbox.rs` with the delivery log,
//! `sync.rs`; `storage.rs` holds the handle and what they share).
//!
//! Several replicas of the server can share one database: ids come from the database (an
//! identity column for integrations; pipelines use random ids), migrations run under an
//! advisory lock, the inbox is a table that workers claim with `FOR UPDATE SKIP LOCKED` (see
//! `migrations/V1__initial.sql` for the tables and what reads each).
//!
//! The client is tokio-postgres with a deadpool pool, migrations are refinery's
//! (DEPENDENCIES.md, "PostgreSQL", says why); TLS is rustls's ([`tls`]).

mod generations;
mod inbox;
mod intake;
mod integrations;
mod link_keys;
pub mod migrate;
mod storage;
mod sync;
pub mod tls;
mod tracker;
pub mod url;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use inbox::PgBatch;
pub use migrate::{MIGRATION_LOCK, Migrated, known_version};
pub use storage::{DEPTH_EVERY, POLL_INTERVAL, PgStorage, PgTasks};
pub use url::{PgUrl, PgUrlError};

/// Pool size when the configuration does not say (`--pg-pool-size`).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How long a request waits for a pooled connection, and for a new connection to be made,
/// before it fails (a webhook then gets a 5xx instead of hanging while the database is
/// unreachable or every connection is busy).
pub const POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A connected, migrated PostgreSQL database (cheap to clone: the pool is shared).
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
    url: PgUrl,
    migrated: Migrated,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("url", &self.url)
            .field("schema_version", &self.migrated.version)
            .finish_non_exhaustive()
    }
}

impl Pg {
    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The URL connected to (its `Display` hides the password).
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// What the migrations did at start.
    pub fn migrated(&self) -> &Migrated {
        &self.migrated
    }

    /// A pooled connection; the error names the database, never the password.
    pub(super) async fn conn(
        &self,
    ) -> Result<deadpool_postgres::Object, crate::storage::StorageError> {
        self.pool.get().await.map_err(|e| {
            storage::backend(format!(
                "PostgreSQL ({}): getting a connection from the pool: {}",
                self.url.describe(),
                self.url.hide_password(&error_chain(&e))
            ))
        })
    }
}

/// Why the PostgreSQL store could not be opened at start. Every variant is a start-up failure
/// of the configuration or the environment: the server exits with [`PgStartError::EXIT_CODE`].
/// Messages name host, port, database and user ([`PgUrl::describe`]), never the password.
#[derive(Debug, thiserror::Error)]
pub enum PgStartError {
    /// The `--store` value is not a usable URL.
    #[error(transparent)]
    Url(#[from] PgUrlError),
    /// The database could not be reached (refused, unknown host, timeout).
    #[error("cannot connect to PostgreSQL ({target}): {cause}")]
    Unreachable {
        /// [`PgUrl::describe`].
        target: String,
        /// The cause.
        cause: String,
    },
    /// The server refused the login (unknown role, wrong password, no such database, not
    /// allowed by pg_hba.conf).
    #[error("PostgreSQL refused the login ({target}): {cause}")]
    LoginRefused {
        /// [`PgUrl::describe`].
        target: String,
        /// The server's message.
        cause: String,
    },
    /// The database was written by a newer binary.
    #[error(
        "PostgreSQL ({target}): the database schema is at version {database}, this binary knows up to {binary}: upgrade the binary (or point --store at another database)"
    )]
    SchemaTooNew {
        /// [`PgUrl::describe`].
        target: String,
        /// The database's schema version.
        database: i64,
        /// The newest version this binary knows.
        binary: i64,
    },
    /// Applying the migrations failed (nothing of the failed run was kept: one transaction).
    #[error("PostgreSQL ({target}): migrating the schema failed: {cause}")]
    Migration {
        /// [`PgUrl::describe`].
        target: String,
        /// The cause.
        cause: String,
    },
    /// The TLS settings of the URL cannot be used (an `sslrootcert` that cannot be read, a
    /// verifying `sslmode` without one).
    #[error("PostgreSQL ({target}): TLS: {cause}")]
    Tls {
        /// [`PgUrl::describe`].
        target: String,
        /// The cause.
        cause: String,
    },
}

impl PgStartError {
    /// The process exit code for a start that failed this way (a configuration or environment
    /// error, as for other bad flags).
    pub const EXIT_CODE: i32 = 2;
}

/// Builds the pool for `url` with at most `pool_size` connections, checks that one connection
/// can be made (see [`PgStartError`]), and applies the schema migrations on it under the
/// migration lock ([`migrate::migrate`]). That connection is then closed (it held a session
/// lock), the pool's others are made as needed.
pub async fn connect(url: &PgUrl, pool_size: usize) -> Result<Pg, PgStartError> {
    let target = url.describe();
    let manager_config = || ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let tls = url.tls().connector().map_err(|cause| PgStartError::Tls {
        target: target.clone(),
        cause,
    })?;
    let manager = match tls {
        Some(tls) => Manager::from_config(url.config().clone(), tls, manager_config()),
        None => Manager::from_config(url.config().clone(), NoTls, manager_config()),
    };
    let pool = Pool::builder(manager)
        .max_size(pool_size.max(1))
        .create_timeout(Some(POOL_TIMEOUT))
        .wait_timeout(Some(POOL_TIMEOUT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| PgStartError::Unreachable {
            target: target.clone(),
            cause: format!("building the connection pool: {e}"),
        })?;
    let conn = pool.get().await.map_err(|e| start_error(&e, url))?;
    let mut client = deadpool_postgres::Object::take(conn);
    let migrated = migrate::migrate(&mut client, &target).await?;
    drop(client);
    Ok(Pg {
        pool,
        url: url.clone(),
        migrated,
    })
}

/// Classifies a failure to get the first connection.
fn start_error(e: &PoolError, url: &PgUrl) -> PgStartError {
    let target = url.describe();
    let scrub = |s: String| url.hide_password(&s);
    match e {
        PoolError::Backend(pg) => match pg.as_db_error() {
            Some(db)
                if [
                    SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                    SqlState::INVALID_PASSWORD,
                    SqlState::INVALID_CATALOG_NAME,
                    SqlState::INSUFFICIENT_PRIVILEGE,
                ]
                .contains(db.code()) =>
            {
                PgStartError::LoginRefused {
                    target,
                    cause: scrub(db.message().to_owned()),
                }
            }
            Some(db) => PgStartError::Unreachable {
                target,
                cause: scrub(format!("{}: {}", db.severity(), db.message())),
            },
            None => PgStartError::Unreachable {
                target,
                cause: scrub(error_chain(pg)),
            },
        },
        other => PgStartError::Unreachable {
            target,
            cause: scrub(other.to_string()),
        },
    }
}

/// An error and its sources, `: `-separated, without repeats (tokio-postgres puts the
/// source's text into its own message too).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
