//! Schema migrations, embedded in the binary and applied at start by refinery.
//!
//! The SQL files in `migrations/` (`V<n>__<name>.sql`) are compiled in. [`migrate`] takes a
//! session advisory lock ([`MIGRATION_LOCK`]) on the connection it is given, so that replicas
//! starting together apply them once: the second waits, then finds nothing to do. Under the
//! lock it refuses a database whose schema history holds a version above [`known_version`]
//! (written by a newer binary), then lets refinery apply the missing versions in one
//! transaction (`set_grouped`), refusing a history that has a version this binary does not
//! know (`set_abort_missing`) or a changed migration (`set_abort_divergent`).
//!
//! refinery keeps its history in `refinery_schema_history` in the connection's schema.

use deadpool_postgres::tokio_postgres::Client;

use super::PgStartError;

mod embedded {
    refinery::embed_migrations!("src/storage/postgres/migrations");
}

/// Key of the session advisory lock held while migrating (`pg_advisory_lock`): "rs-migra" in
/// ASCII, so it is recognisable in `pg_locks` (`objid` and `classid` are its halves).
pub const MIGRATION_LOCK: i64 = 0x7273_2d6d_6967_7261;

/// refinery's history table.
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// The newest schema version this binary knows.
pub fn known_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Versions applied now, in order (empty: the schema was up to date).
    pub applied: Vec<i64>,
    /// The schema version now.
    pub version: i64,
}

/// Applies the embedded migrations on `client` under [`MIGRATION_LOCK`] (see the module docs).
/// `target` names the database in messages ([`super::PgUrl::describe`]).
pub async fn migrate(client: &mut Client, target: &str) -> Result<Migrated, PgStartError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| PgStartError::Migration {
        target: target.to_owned(),
        cause: format!("{what}: {e}"),
    };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| failed("taking the migration lock", &e))?;
    let result = migrate_locked(client, target).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let migrated = result?;
    unlocked.map_err(|e| failed("releasing the migration lock", &e))?;
    Ok(migrated)
}

/// The newest version in the schema history, if the history table exists.
pub async fn current_version(client: &Client) -> Result<Option<i64>, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&HISTORY_TABLE])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one(
            &format!("SELECT max(version)::bigint FROM {HISTORY_TABLE}"),
            &[],
        )
        .await?;
    Ok(row.get(0))
}

async fn migrate_locked(client: &mut Client, target: &str) -> Result<Migrated, PgStartError> {
    let known = known_version();
    let current = current_version(client)
        .await
        .map_err(|e| PgStartError::Migration {
            target: target.to_owned(),
            cause: format!("reading the schema version: {e}"),
        })?;
    if let Some(current) = current
        && current > known
    {
        return Err(PgStartError::SchemaTooNew {
            target: target.to_owned(),
            database: current,
            binary: known,
        });
    }
    let report = embedded::migrations::runner()
        .set_grouped(true)
        .set_abort_missing(true)
        .set_abort_divergent(true)
        .run_async(client)
        .await
        .map_err(|e| match e.kind() {
            // a version in the history this binary lacks (a gap below `known`, since one
            // above it was refused before)
            refinery::error::Kind::MissingVersion(m) => PgStartError::Migration {
                target: target.to_owned(),
                cause: format!(
                    "the database schema history has version {} ({}), which this binary does not have: it was written by another build; point --store at another database",
                    m.version(),
                    m.name()
                ),
            },
            refinery::error::Kind::DivergentVersion(applied, ours) => PgStartError::Migration {
                target: target.to_owned(),
                cause: format!(
                    "schema version {} in the database ({}) differs from this binary's ({}): it was written by another build; point --store at another database",
                    applied.version(),
                    applied.name(),
                    ours.name()
                ),
            },
            _ => PgStartError::Migration {
                target: target.to_owned(),
                cause: e.to_string(),
            },
        })?;
    let applied: Vec<i64> = report
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect();
    let version = applied.last().copied().or(current).unwrap_or(0);
    Ok(Migrated { applied, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_migrations_are_numbered_from_one_without_gaps() {
        let runner = embedded::migrations::runner();
        let mut versions: Vec<i64> = runner
            .get_migrations()
            .iter()
            .map(|m| i64::from(m.version()))
            .collect();
        versions.sort_unstable();
        let expected: Vec<i64> = (1..=known_version()).collect();
        assert_eq!(versions, expected);
        assert!(known_version() >= 1);
    }
}
