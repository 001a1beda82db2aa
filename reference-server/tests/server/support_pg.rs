//! PostgreSQL for the tests: a fresh database per test on the server named by
//! `REFERENCE_SERVER_TEST_PG`, dropped when the test ends.
//!
//! Without the variable a PostgreSQL test prints one line saying it was skipped and passes
//! (`cargo test` on a machine without PostgreSQL); `.ci/run` sets it and fails if the server is
//! not there. With the variable set, a server that cannot be reached fails the test.

use std::fmt::Write as _;
use std::time::Duration;

use reference_server::storage::postgres::PgUrl;
use tokio_postgres::NoTls;

/// The variable naming the test server: `postgres://postgres@127.0.0.1:5432/test` in CI.
pub const ENV: &str = "REFERENCE_SERVER_TEST_PG";

/// The test server's URL, or `None` after printing the one "skipped" line.
pub fn server_url() -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let current = std::thread::current();
            let test = current.name().unwrap_or("postgres");
            println!(
                "skipped: {test}: {ENV} is not set (PostgreSQL tests need a server; .ci/run sets it)"
            );
            None
        }
    }
}

/// A database of its own for one test (`rs_test_<hex>`), dropped with this value.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// The database's URL (the server's, with this database).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's URL, parsed.
    pub fn pg_url(&self) -> PgUrl {
        PgUrl::parse(&self.url).expect("test database URL")
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain client on this database (not through the server's pool).
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }

    /// A plain client on the server's own database (the one `REFERENCE_SERVER_TEST_PG`
    /// names), for statements that cannot run on this database, such as
    /// `ALTER DATABASE ... ALLOW_CONNECTIONS`.
    pub async fn admin_client(&self) -> tokio_postgres::Client {
        connect(&self.admin_url).await
    }
}

/// A new, empty database on the test server, or `None` when `REFERENCE_SERVER_TEST_PG` is not
/// set (after printing one line). Panics when it is set but the server cannot be reached.
pub async fn fresh_database() -> Option<TestDb> {
    let admin_url = server_url()?;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random bytes");
    let name = bytes.iter().fold(String::from("rs_test_"), |mut name, b| {
        let _ = write!(name, "{b:02x}");
        name
    });
    let admin = connect(&admin_url).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("{ENV}: creating the test database {name}: {e}"));
    Some(TestDb {
        url: with_database(&admin_url, &name),
        name,
        admin_url,
    })
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside the test's runtime: drop the database from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let admin = connect(&admin_url).await;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {}: the thread panicked", self.name),
        }
    }
}

/// Connects to `url`, panicking with a message that says what to check.
async fn connect(url: &str) -> tokio_postgres::Client {
    let parsed = PgUrl::parse(url).unwrap_or_else(|e| panic!("{ENV}: {e}"));
    let connecting = parsed.config().connect(NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(30), connecting)
        .await
        .unwrap_or_else(|_| panic!("{ENV}: connecting to {} timed out", parsed.describe()))
        .unwrap_or_else(|e| {
            panic!(
                "{ENV}: cannot connect to PostgreSQL ({}): {}; start it (.ci/run does) or unset {ENV} to skip these tests",
                parsed.describe(),
                parsed.hide_password(&e.to_string())
            )
        });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
}
