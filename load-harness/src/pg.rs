//! `--store`: which stores a run measures, and for PostgreSQL the run's own database (created
//! from the given URL's server through its maintenance database, dropped at the end) and the
//! SQL the end checks read.

use std::collections::HashMap;

use reference_server::storage::postgres::PgUrl;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

/// One store a run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// sled in a temporary data directory (one server).
    Sled,
    /// A PostgreSQL server, given by a URL; the run uses a fresh database on it.
    Postgres(String),
}

impl Store {
    /// How the results name it (no password).
    pub fn label(&self) -> String {
        match self {
            Self::Sled => "sled".to_owned(),
            Self::Postgres(url) => PgUrl::parse(url).map_or_else(
                |_| "PostgreSQL".to_owned(),
                |u| format!("PostgreSQL ({})", u.describe()),
            ),
        }
    }
}

/// Parses the `--store` values: each is `sled` or a `postgres://` / `postgresql://` URL, and a
/// value may hold several separated by commas (`sled,postgres://...`). A comma followed by
/// anything else stays in the URL (a multi-host URL, `postgres://u@h1:5432,h2:5432/db`).
pub fn parse_stores(values: &[String]) -> Result<Vec<Store>, String> {
    let starts_store = |s: &str| {
        let l = s.trim_start().to_ascii_lowercase();
        l.starts_with("sled") || l.starts_with("postgres://") || l.starts_with("postgresql://")
    };
    let mut out = Vec::new();
    for value in values {
        let mut parts: Vec<String> = Vec::new();
        for piece in value.split(',') {
            match parts.last_mut() {
                Some(last) if !starts_store(piece) => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => parts.push(piece.to_owned()),
            }
        }
        for part in parts {
            let part = part.trim();
            if part.eq_ignore_ascii_case("sled") {
                out.push(Store::Sled);
            } else {
                PgUrl::parse(part).map_err(|e| e.to_string())?;
                out.push(Store::Postgres(part.to_owned()));
            }
        }
    }
    if out.is_empty() {
        return Err("--store: name at least one store (sled or postgres://...)".to_owned());
    }
    Ok(out)
}

/// Name of the database for the `index`-th PostgreSQL store of the run of process `pid`:
/// `load_harness_<pid>`, then `load_harness_<pid>_1`, ...
pub fn database_name(pid: u32, index: usize) -> String {
    if index == 0 {
        format!("load_harness_{pid}")
    } else {
        format!("load_harness_{pid}_{index}")
    }
}

/// `url` with its database replaced by `database` (user, password, hosts and parameters kept).
pub fn with_database(url: &str, database: &str) -> Result<String, String> {
    let after_scheme = url
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| "not a postgres:// URL".to_owned())?;
    let (scheme, rest) = url.split_at(after_scheme);
    let (before_query, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    if query
        .trim_start_matches('?')
        .split('&')
        .any(|p| p.starts_with("dbname="))
    {
        return Err(
            "the URL names its database with ?dbname=: give it in the path instead \
             (postgres://user@host:port/database)"
                .to_owned(),
        );
    }
    let authority = before_query
        .find('/')
        .map_or(before_query, |i| &before_query[..i]);
    Ok(format!("{scheme}{authority}/{database}{query}"))
}

/// An error and its sources, `: `-separated, without repeats.
fn chain(e: &dyn std::error::Error) -> String {
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

async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The run's database.
pub struct RunDb {
    /// Its name.
    pub name: String,
    /// URL of it (the given URL with the database replaced), for the servers and the ceiling.
    pub url: String,
    /// Host, port, database, user (no password).
    pub describe: String,
    /// Where `CREATE DATABASE` ran (the maintenance database, or the given one).
    admin: Config,
    /// A connection to it, for the checks.
    client: Client,
}

impl RunDb {
    /// Creates database `name` on the server of `url`: connects to its maintenance database
    /// (`postgres`), or to the URL's own database when that one cannot be reached, and runs
    /// `CREATE DATABASE`. Fails if it exists.
    pub async fn create(url: &str, name: String) -> Result<Self, String> {
        let given = PgUrl::parse(url).map_err(|e| e.to_string())?;
        let mut admin = given.config().clone();
        admin.dbname("postgres");
        let maintenance = match connect(&admin).await {
            Ok(c) => c,
            Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
                admin = given.config().clone();
                connect(&admin)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {}", given.describe(), chain(&e)))?
            }
            Err(e) => {
                return Err(format!(
                    "cannot connect to the maintenance database `postgres` of {}: {}",
                    given.describe(),
                    chain(&e)
                ));
            }
        };
        maintenance
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| {
                let hint = if e.code() == Some(&SqlState::DUPLICATE_DATABASE) {
                    " (left by an earlier run with --keep? drop it)"
                } else {
                    ""
                };
                format!("CREATE DATABASE {name}: {}{hint}", chain(&e))
            })?;
        let run_url = with_database(url, &name)?;
        let parsed = PgUrl::parse(&run_url).map_err(|e| e.to_string())?;
        let client = match connect(parsed.config()).await {
            Ok(c) => c,
            Err(e) => {
                let _ = maintenance
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                    .await;
                return Err(format!(
                    "cannot connect to {}: {}",
                    parsed.describe(),
                    chain(&e)
                ));
            }
        };
        Ok(Self {
            name,
            url: run_url,
            describe: parsed.describe(),
            admin,
            client,
        })
    }

    /// Drops the database (`WITH (FORCE)`: connections left by killed processes do not stop
    /// it).
    pub async fn drop_database(self) -> Result<(), String> {
        let Self {
            name,
            admin,
            client,
            ..
        } = self;
        drop(client);
        let maintenance = connect(&admin)
            .await
            .map_err(|e| format!("DROP DATABASE {name}: {}", chain(&e)))?;
        maintenance
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .map_err(|e| format!("DROP DATABASE {name}: {}", chain(&e)))
    }

    /// Rows in the server's inbox (accepted, not applied yet), across all replicas.
    pub async fn inbox_depth(&self) -> Result<u64, String> {
        let row = self
            .client
            .query_one("SELECT count(*) FROM inbox", &[])
            .await
            .map_err(|e| format!("counting the inbox: {}", chain(&e)))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
    }

    /// Empties the PostgreSQL ceiling's table (after its run, so that the server's run starts
    /// with the database as small as before it). Missing table: nothing to do.
    pub async fn truncate_ceiling(&self) -> Result<(), String> {
        match self.client.batch_execute("TRUNCATE ceiling_inbox").await {
            Err(e) if e.code() != Some(&SqlState::UNDEFINED_TABLE) => {
                Err(format!("TRUNCATE ceiling_inbox: {}", chain(&e)))
            }
            _ => Ok(()),
        }
    }

    /// `CHECKPOINT` before a timed run, so that no checkpoint of the previous run's writes
    /// runs during it. Needs superuser or `pg_checkpoint`; an error is returned for the caller
    /// to mention once.
    pub async fn checkpoint(&self) -> Result<(), String> {
        self.client
            .batch_execute("CHECKPOINT")
            .await
            .map_err(|e| format!("CHECKPOINT: {}", chain(&e)))
    }

    /// The delivery log of `integration` summed up for the final check.
    pub async fn delivery_log(&self, integration: &str) -> Result<LogSummary, String> {
        let id: i64 = integration
            .parse()
            .map_err(|_| format!("integration id {integration:?} is not a number"))?;
        let rows = self
            .client
            .query(
                "SELECT state, issue_key, count(*) FROM delivery_log \
                 WHERE integration_id = $1 GROUP BY state, issue_key",
                &[&id],
            )
            .await
            .map_err(|e| format!("reading the delivery log: {}", chain(&e)))?;
        let mut s = LogSummary::default();
        for r in &rows {
            let state: String = r.get(0);
            let key: Option<String> = r.get(1);
            let n = u64::try_from(r.get::<_, i64>(2)).unwrap_or_default();
            s.add(&state, key.as_deref(), n);
        }
        Ok(s)
    }
}

/// The whole delivery log of the integration, counted.
#[derive(Debug, Default)]
pub struct LogSummary {
    /// Entries.
    pub entries: u64,
    /// `LOAD-<key>` -> applied entries.
    pub applied_per_key: HashMap<usize, u64>,
    /// Entries still pending.
    pub pending: u64,
    /// Failed entries.
    pub failed: u64,
    /// Ignored entries.
    pub ignored: u64,
}

impl LogSummary {
    /// Counts `n` entries in `state` (`applied`, `ignored`, `failed`, `pending`) on issue `key`.
    pub fn add(&mut self, state: &str, key: Option<&str>, n: u64) {
        self.entries += n;
        match state {
            "applied" => {
                if let Some(k) = key
                    .and_then(|k| k.strip_prefix("LOAD-"))
                    .and_then(|k| k.parse::<usize>().ok())
                {
                    *self.applied_per_key.entry(k).or_default() += n;
                }
            }
            "ignored" => self.ignored += n,
            "failed" => self.failed += n,
            _ => self.pending += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(v: &[&str]) -> Result<Vec<Store>, String> {
        parse_stores(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn stores_split_on_commas_but_not_inside_a_url() {
        assert_eq!(stores(&["sled"]).unwrap(), vec![Store::Sled]);
        assert_eq!(
            stores(&["sled,postgres://postgres@127.0.0.1:5432/test"]).unwrap(),
            vec![
                Store::Sled,
                Store::Postgres("postgres://postgres@127.0.0.1:5432/test".to_owned())
            ]
        );
        assert_eq!(
            stores(&["postgresql://u@h1:5432,h2:5433/db,sled"]).unwrap(),
            vec![
                Store::Postgres("postgresql://u@h1:5432,h2:5433/db".to_owned()),
                Store::Sled
            ]
        );
        assert_eq!(
            stores(&["postgres://u@h/db", "sled"]).unwrap(),
            vec![Store::Postgres("postgres://u@h/db".to_owned()), Store::Sled]
        );
        assert!(stores(&["mysql://u@h/db"]).is_err());
        assert!(stores(&["postgres://u@h/db?sslmode=sometimes"]).is_err());
        assert!(stores(&["postgres://u@h/db?sslmode=require"]).is_ok());
        assert!(stores(&[]).is_err());
    }

    #[test]
    fn database_names() {
        assert_eq!(database_name(4242, 0), "load_harness_4242");
        assert_eq!(database_name(4242, 1), "load_harness_4242_1");
    }

    #[test]
    fn the_database_of_a_url_is_replaced() {
        let w = |u: &str| with_database(u, "load_harness_1").unwrap();
        assert_eq!(
            w("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/load_harness_1"
        );
        assert_eq!(
            w("postgres://u:p%2Fw@h:5432"),
            "postgres://u:p%2Fw@h:5432/load_harness_1"
        );
        assert_eq!(
            w("postgresql://u@h1:5432,h2:5432/db?connect_timeout=5"),
            "postgresql://u@h1:5432,h2:5432/load_harness_1?connect_timeout=5"
        );
        assert_eq!(
            w("postgres://u@/db?host=/run/postgresql"),
            "postgres://u@/load_harness_1?host=/run/postgresql"
        );
        assert_eq!(
            w("postgres://u@h?sslmode=disable"),
            "postgres://u@h/load_harness_1?sslmode=disable"
        );
        assert!(with_database("postgres://u@h/x?dbname=y", "z").is_err());
        for u in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u@/db?host=/run/postgresql",
        ] {
            let parsed = PgUrl::parse(&w(u)).unwrap();
            assert_eq!(parsed.config().get_dbname(), Some("load_harness_1"));
        }
    }

    #[test]
    fn log_summary_counts_states_and_keys() {
        let mut s = LogSummary::default();
        s.add("applied", Some("LOAD-7"), 3);
        s.add("applied", Some("FREE-1"), 1);
        s.add("ignored", Some("FREE-2"), 2);
        s.add("pending", None, 1);
        s.add("failed", Some("LOAD-7"), 1);
        assert_eq!(s.entries, 8);
        assert_eq!(s.applied_per_key.get(&7), Some(&3));
        assert_eq!((s.ignored, s.pending, s.failed), (2, 1, 1));
    }
}
