//! The PostgreSQL backend's start: migrations on a fresh database, concurrent starts (the
//! advisory lock), a schema newer than the binary, and the start errors (unreachable server,
//! unknown role), which must name host, port, database and user but never the password.
//!
//! Each test gets a database of its own from `support_pg`; without `REFERENCE_SERVER_TEST_PG`
//! they print one "skipped" line and pass (the unreachable-port test needs no server and
//! always runs).

use reference_server::storage::postgres::{self, PgStartError, PgUrl, known_version};

use crate::support_pg::{self, fresh_database};

const PASSWORD: &str = "n0t-4-r3al-Pw";

/// Versions in the schema history, in order, with how often each is there.
async fn history(db: &support_pg::TestDb) -> Vec<(i64, i64)> {
    db.client()
        .await
        .query(
            "SELECT version::bigint, count(*) FROM refinery_schema_history GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn assert_no_password(e: &PgStartError) {
    println!("{e}");
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(PASSWORD), "the password is shown: {shown}");
    }
}

#[tokio::test]
async fn migrations_apply_on_a_fresh_database_and_a_second_connect_is_a_no_op() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let url = db.pg_url();
    let pg = postgres::connect(&url, 2).await.expect("first connect");
    assert_eq!(
        pg.migrated().applied,
        (1..=known_version()).collect::<Vec<_>>()
    );
    assert_eq!(pg.migrated().version, known_version());

    // the schema is there, and usable through the pool
    let client = pg.pool().get().await.expect("pooled connection");
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in [
        "cache_generations",
        "delivery_log",
        "group_watermarks",
        "groups",
        "inbox",
        "integrations",
        "links",
        "moves",
        "org_settings",
        "pipelines",
        "project_members",
        "projects",
        "refinery_schema_history",
        "status_categories",
        "user_emails",
        "user_mappings",
        "users",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
    // ids come from the database
    let id: i64 = client
        .query_one(
            "INSERT INTO integrations (external_id, installed) VALUES ('jira-1', '{}') RETURNING id",
            &[],
        )
        .await
        .expect("insert")
        .get(0);
    assert_eq!(id, 1);
    drop(client);

    let again = postgres::connect(&url, 2).await.expect("second connect");
    assert!(
        again.migrated().applied.is_empty(),
        "{:?}",
        again.migrated()
    );
    assert_eq!(again.migrated().version, known_version());
    let once: Vec<(i64, i64)> = (1..=known_version()).map(|v| (v, 1)).collect();
    assert_eq!(history(&db).await, once);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_all_succeed_and_each_version_is_recorded_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let url = db.pg_url();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { postgres::connect(&url, 1).await })
        })
        .collect();
    let mut applied = Vec::new();
    for start in starts {
        let pg = start.await.expect("task").expect("connect");
        assert_eq!(pg.migrated().version, known_version());
        applied.extend(pg.migrated().applied.iter().copied());
    }
    // one start applied each version, the others waited for the lock and found nothing to do
    let expected: Vec<i64> = (1..=known_version()).collect();
    assert_eq!(applied, expected);
    let once: Vec<(i64, i64)> = expected.iter().map(|v| (*v, 1)).collect();
    assert_eq!(history(&db).await, once);
    // and no one holds the migration lock any more
    let held: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&postgres::MIGRATION_LOCK],
        )
        .await
        .expect("pg_locks")
        .get(0);
    assert_eq!(held, 0);
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let url = db.pg_url();
    postgres::connect(&url, 1).await.expect("first connect");
    let newer = known_version() + 1;
    db.client()
        .await
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) VALUES ($1, 'from_the_future', '2027-01-01T00:00:00Z', '1')",
            &[&i32::try_from(newer).expect("version")],
        )
        .await
        .expect("insert a newer version");
    let e = postgres::connect(&url, 1)
        .await
        .expect_err("a newer schema must be refused");
    assert!(matches!(e, PgStartError::SchemaTooNew { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "PostgreSQL ({}): the database schema is at version {newer}, this binary knows up to {}: upgrade the binary (or point --store at another database)",
            url.describe(),
            known_version()
        )
    );
    assert!(
        url.describe()
            .ends_with(&format!(", database {}, user postgres", db.name())),
        "{}",
        url.describe()
    );
    assert_eq!(PgStartError::EXIT_CODE, 2);
}

#[tokio::test]
async fn an_unreachable_port_names_the_target_and_hides_the_password() {
    // needs no PostgreSQL: nothing listens on port 1
    let url = PgUrl::parse(&format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:1/test?connect_timeout=5"
    ))
    .expect("parse");
    let e = postgres::connect(&url, 1)
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(e, PgStartError::Unreachable { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with(
            "cannot connect to PostgreSQL (host 127.0.0.1, port 1, database test, user postgres): "
        ),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    assert_no_password(&e);
}

#[tokio::test]
async fn an_unknown_role_is_a_refused_login_naming_the_target_and_hiding_the_password() {
    let Some(server) = support_pg::server_url() else {
        return;
    };
    let server = PgUrl::parse(&server).expect("server URL");
    let host = match server.config().get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("{} must name a TCP host, not {other:?}", support_pg::ENV),
    };
    let port = server.config().get_ports().first().copied().unwrap_or(5432);
    let role = "rs_no_such_role";
    let url =
        PgUrl::parse(&format!("postgres://{role}:{PASSWORD}@{host}:{port}/test")).expect("parse");
    let e = postgres::connect(&url, 1)
        .await
        .expect_err("the role does not exist");
    assert!(matches!(e, PgStartError::LoginRefused { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with(&format!(
            "PostgreSQL refused the login (host {host}, port {port}, database test, user {role}): "
        )),
        "{message}"
    );
    assert!(message.contains(role), "{message}");
    assert_no_password(&e);
}

#[tokio::test]
async fn a_missing_database_is_a_refused_login() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let url = PgUrl::parse(&support_pg::with_database(
        db.url(),
        &format!("{}_missing", db.name()),
    ))
    .expect("parse");
    let e = postgres::connect(&url, 1)
        .await
        .expect_err("no such database");
    assert!(matches!(e, PgStartError::LoginRefused { .. }), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("database {}_missing", db.name())),
        "{e}"
    );
}

/// The local server's certificate (Debian's default `ssl = on` uses it): self-signed, issued
/// for `localhost`.
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Whether the test server speaks TLS with the snakeoil certificate; prints why not.
async fn tls_available(db: &support_pg::TestDb) -> bool {
    let client = db.client().await;
    let row = client
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .await
        .expect("settings");
    let (ssl, cert): (String, String) = (row.get(0), row.get(1));
    // Debian's make-ssl-cert issues it for the machine's name at install time; this machine's
    // is for localhost (openssl shows the names).
    let names = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", SNAKEOIL])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let usable = ssl == "on" && cert == SNAKEOIL && names.contains("DNS:localhost");
    if !usable {
        println!(
            "skipped: TLS to PostgreSQL: the test server has ssl={ssl}, ssl_cert_file={cert}, names {:?} (the test needs ssl=on with {SNAKEOIL} issued for localhost)",
            names.trim()
        );
    }
    usable
}

/// `url` with its host replaced and `query` appended.
fn variant(db: &support_pg::TestDb, host: &str, query: &str) -> PgUrl {
    let url = db.url().replace("@127.0.0.1:", &format!("@{host}:"));
    let sep = if url.contains('?') { '&' } else { '?' };
    PgUrl::parse(&format!("{url}{sep}{query}")).expect("URL")
}

/// Whether the pool's connections are encrypted (pg_stat_ssl of the session).
async fn encrypted(pg: &postgres::Pg) -> bool {
    pg.pool()
        .get()
        .await
        .expect("pooled connection")
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

/// libpq's `sslmode` values on a server with TLS: `disable` does not encrypt, `require`
/// encrypts without checking the certificate, `verify-ca` checks the chain only, `verify-full`
/// the chain and the host name; a certificate that fails a check is a start error naming the
/// reason.
#[tokio::test]
async fn sslmodes_encrypt_and_verify_as_libpq_does() {
    let Some(db) = fresh_database().await else {
        return;
    };
    if db.url().find("@127.0.0.1:").is_none() {
        println!("skipped: TLS to PostgreSQL: the test server's URL does not name 127.0.0.1");
        return;
    }
    if !tls_available(&db).await {
        return;
    }
    let root = format!("sslrootcert={SNAKEOIL}");
    for (host, query, tls) in [
        ("127.0.0.1", "sslmode=disable".to_owned(), false),
        ("127.0.0.1", "sslmode=prefer".to_owned(), true),
        ("127.0.0.1", "sslmode=require".to_owned(), true),
        ("127.0.0.1", format!("sslmode=verify-ca&{root}"), true),
        ("localhost", format!("sslmode=verify-full&{root}"), true),
    ] {
        let url = variant(&db, host, &query);
        let pg = postgres::connect(&url, 2)
            .await
            .unwrap_or_else(|e| panic!("{host} {query}: {e}"));
        assert_eq!(encrypted(&pg).await, tls, "{host} {query}");
    }
    // The certificate is issued for localhost, not 127.0.0.1.
    let e = postgres::connect(
        &variant(&db, "127.0.0.1", &format!("sslmode=verify-full&{root}")),
        2,
    )
    .await
    .expect_err("the name does not match");
    println!("{e}");
    assert!(matches!(e, PgStartError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // With require and a root certificate, libpq checks the chain: a CA that did not sign it.
    let other_ca = std::fs::read_dir("/etc/ssl/certs")
        .expect("/etc/ssl/certs")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "pem") && !p.ends_with("ssl-cert-snakeoil.pem")
        });
    if let Some(other) = other_ca {
        let e = postgres::connect(
            &variant(
                &db,
                "localhost",
                &format!("sslmode=require&sslrootcert={}", other.display()),
            ),
            2,
        )
        .await
        .expect_err("an unknown issuer");
        println!("{e}");
        assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    }
    // A verifying mode needs a root certificate, and one that can be read.
    let e = postgres::connect(&variant(&db, "localhost", "sslmode=verify-full"), 2)
        .await
        .expect_err("no sslrootcert");
    assert!(matches!(e, PgStartError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("sslrootcert"), "{e}");
    let e = postgres::connect(
        &variant(
            &db,
            "localhost",
            "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        ),
        2,
    )
    .await
    .expect_err("unreadable sslrootcert");
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}
