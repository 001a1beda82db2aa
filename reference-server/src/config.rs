//! Command line and environment configuration (clap derive + env).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::secret::Secret;

/// Default request body limit for webhook deliveries and API calls: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Default of `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
/// Default number of delivery log entries kept (`--delivery-log-keep`).
pub const DEFAULT_DELIVERY_LOG_KEEP: u64 = 100_000;
/// Default of `--retry-max-attempts`.
pub const DEFAULT_RETRY_MAX_ATTEMPTS: u32 = 100;
/// Default of `--retry-max-age-secs` (one day).
pub const DEFAULT_RETRY_MAX_AGE_SECS: u64 = 24 * 60 * 60;
/// Default size of an inbox segment file, in KiB (32 MiB).
pub const DEFAULT_INBOX_SEGMENT_KB: u64 = 32 * 1024;
/// Default limit of the inbox, in MiB (`--inbox-max-mb`).
pub const DEFAULT_INBOX_MAX_MB: u64 = 1024;

/// Default size of the PostgreSQL connection pool (`--pg-pool-size`).
pub const DEFAULT_PG_POOL_SIZE: u64 = crate::storage::postgres::DEFAULT_POOL_SIZE as u64;

/// Default size of sled's page cache in MiB (`--cache-mb`).
pub const DEFAULT_CACHE_MB: u64 = crate::storage::DEFAULT_CACHE_MB;

/// Default of `--jira-timeout-secs`.
pub const DEFAULT_JIRA_TIMEOUT_SECS: u64 = 30;
/// Default of `--jira-max-response-bytes` (4 MiB).
pub const DEFAULT_JIRA_MAX_RESPONSE_BYTES: usize = jira_client::DEFAULT_MAX_RESPONSE_BYTES;
/// Default of `--jira-status-cache-ttl-secs` (Sentry's 240 s).
pub const DEFAULT_JIRA_STATUS_CACHE_TTL_SECS: u64 = 240;

/// Reference server for the Jira Server integration.
///
/// Installs the integration into a Jira Server / Data Center instance (OAuth 1.0a or a personal
/// access token), receives its issue webhooks and applies assignee and status changes to the
/// tracker data it stores (sled, in one directory, or PostgreSQL: `--store`).
#[derive(Debug, Parser)]
#[command(name = "reference-server", version, about, long_about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: HTTP API, webhook endpoint and the background sync worker.
    Serve(ServeConfig),
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(
        long,
        env = "REFERENCE_SERVER_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = parse_listen
    )]
    pub listen: SocketAddr,

    /// Where the server keeps its data: `sled` (the default: an embedded database in
    /// --data-dir; one server per directory) or a PostgreSQL URL,
    /// `postgres://user[:password]@host:port/database` (several servers may share one
    /// database; the schema is created or migrated at start; TLS as libpq's `sslmode` and
    /// `sslrootcert` parameters say, e.g. `?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem`). A database that cannot be used
    /// at start ends the server with exit code 2 and a message naming host, port, database and
    /// user (never the password).
    #[arg(
        long,
        env = "REFERENCE_SERVER_STORE",
        default_value = "sled",
        hide_env_values = true
    )]
    pub store: String,

    /// With a PostgreSQL --store: the most connections this server opens to the database (the
    /// worker's batch holds one, webhook deliveries and admin requests share the rest; each
    /// replica has its own pool, so the database must allow the sum, see its
    /// `max_connections`).
    #[arg(
        long,
        env = "REFERENCE_SERVER_PG_POOL_SIZE",
        default_value_t = DEFAULT_PG_POOL_SIZE,
        value_parser = clap::value_parser!(u64).range(2..=10_000)
    )]
    pub pg_pool_size: u64,

    /// Directory holding the sled database and the generated admin token. Created if missing.
    /// Only one server process may use a directory at a time.
    #[arg(long, env = "REFERENCE_SERVER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// URL under which Jira reaches this server; the webhook URL registered in Jira and the
    /// OAuth callback are built from it. Defaults to `http://<listen>`.
    #[arg(long, env = "REFERENCE_SERVER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Bearer token required on `/api/v1/*`. If not given, a token is generated on first start,
    /// stored in `<data-dir>/admin-token` and printed once on standard error.
    #[arg(long, env = "REFERENCE_SERVER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Largest accepted request body in bytes; larger webhook deliveries get 413.
    #[arg(long, env = "REFERENCE_SERVER_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,

    /// Seconds a client may take to send a request body before it gets 408 and the connection
    /// is closed; 0 (the default) means the same as --header-timeout-secs.
    #[arg(long, env = "REFERENCE_SERVER_BODY_TIMEOUT_SECS", default_value_t = 0)]
    pub body_timeout_secs: u64,

    /// Seconds a client may take to send the request headers before the connection is closed.
    #[arg(
        long,
        env = "REFERENCE_SERVER_HEADER_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub header_timeout_secs: u64,

    /// Size of the database's in-memory page cache in MiB (sled's `cache_capacity`). sled holds
    /// several times this much in memory, plus a part that grows with the number of stored
    /// records whatever the cache size (about 110 MB for 10^6 links). The small default keeps
    /// peak RSS under 200 MB with 10^6 links; more speeds up reads only when the store does not
    /// fit in the OS page cache. sled's own default is 1024.
    #[arg(
        long,
        env = "REFERENCE_SERVER_CACHE_MB",
        default_value_t = DEFAULT_CACHE_MB,
        value_parser = clap::value_parser!(u64).range(1..=1_048_576)
    )]
    pub cache_mb: u64,

    /// How many delivery log entries to keep per integration (the newest); older entries are
    /// removed as new ones are written. Each entry costs about 0.2 KB of memory and a little disk, so an unbounded log
    /// grows without limit on a long-running server. `0` keeps every entry.
    #[arg(
        long,
        env = "REFERENCE_SERVER_DELIVERY_LOG_KEEP",
        default_value_t = DEFAULT_DELIVERY_LOG_KEEP
    )]
    pub delivery_log_keep: u64,

    /// Most attempts to apply a delivery that keeps failing (Jira unreachable or answering
    /// 5xx while its statuses or a hidden e-mail are looked up). Retries wait 1 s, doubling
    /// to 60 s, each with random jitter; meanwhile later deliveries of the same integration
    /// go on (the groups' watermarks skip an older change arriving after a newer one). After
    /// the last attempt the delivery becomes a dead letter: kept with its body, listed by
    /// `GET /api/v1/integrations/{id}/dead-letters`, put back into the inbox by
    /// `POST .../dead-letters/{delivery}/retry`, removed by `DELETE .../dead-letters/{delivery}`.
    #[arg(
        long,
        env = "REFERENCE_SERVER_RETRY_MAX_ATTEMPTS",
        default_value_t = DEFAULT_RETRY_MAX_ATTEMPTS,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub retry_max_attempts: u32,

    /// Seconds after its first failed attempt at which a delivery that still fails becomes a
    /// dead letter, whatever its number of attempts (see `--retry-max-attempts`).
    #[arg(
        long,
        env = "REFERENCE_SERVER_RETRY_MAX_AGE_SECS",
        default_value_t = DEFAULT_RETRY_MAX_AGE_SECS,
        value_parser = clap::value_parser!(u64).range(1..=31_536_000)
    )]
    pub retry_max_age_secs: u64,

    /// Test-only fault injection (never set from the command line or the environment).
    #[arg(skip)]
    #[doc(hidden)]
    pub faults: crate::app::Faults,

    /// Size of an inbox segment file in KiB. The inbox (accepted deliveries not yet applied)
    /// starts a new segment file past this size. Once all of a segment's deliveries are
    /// applied, it is kept to be written over as a later segment (one at a time; others are
    /// deleted); until one is kept, the next segment is zero-filled ahead of time, which
    /// halves the cost of each disk sync. Disk use is about two or three segments plus
    /// whatever is not yet applied.
    #[arg(
        long,
        env = "REFERENCE_SERVER_INBOX_SEGMENT_KB",
        default_value_t = DEFAULT_INBOX_SEGMENT_KB,
        value_parser = clap::value_parser!(u64).range(1..=4_194_304)
    )]
    pub inbox_segment_kb: u64,

    /// Most MiB of deliveries the inbox holds (accepted, not yet applied, with sled: the
    /// records in its segment files). At the limit, webhooks get 503 with `Retry-After` and
    /// an error is logged, instead of filling the disk; Jira Data Center may not send a
    /// refused delivery again, so watch for it. Segments in which at most half is still
    /// pending (a paused integration's backlog among applied deliveries) are compacted, so a
    /// backlog holds only its own bytes. With sled it must hold at least four segments of
    /// `--inbox-segment-kb` (space is freed a segment at a time). `0`: no limit.
    #[arg(
        long,
        env = "REFERENCE_SERVER_INBOX_MAX_MB",
        default_value_t = DEFAULT_INBOX_MAX_MB
    )]
    pub inbox_max_mb: u64,

    /// Most connections served at once; more wait in the listen queue until one closes. At
    /// start the server raises its open-file limit to the hard limit; when that cannot hold
    /// this many connections plus a reserve for the store, the number is lowered (with a
    /// warning in the log), so that a flood of connections never makes a store write fail.
    #[arg(
        long,
        env = "REFERENCE_SERVER_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub max_connections: u64,

    /// Seconds a connection may leave an answer unread (a client that sends requests and never
    /// reads the answers) before it is closed.
    #[arg(
        long,
        alias = "write-timeout",
        env = "REFERENCE_SERVER_WRITE_TIMEOUT_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub write_timeout_secs: u64,

    /// Seconds one call to Jira may take, its whole answer included (a Jira that answers
    /// slowly or trickles its answer is cut off after this long; the call then counts as a
    /// timeout and the worker retries later).
    #[arg(
        long,
        env = "REFERENCE_SERVER_JIRA_TIMEOUT_SECS",
        default_value_t = DEFAULT_JIRA_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub jira_timeout_secs: u64,

    /// Largest answer body read from Jira, in bytes (default 4 MiB). A longer answer is dropped
    /// unread beyond this size and the call fails with a message saying so, so a hostile or
    /// broken Jira (or a proxy page at the configured URL) cannot exhaust memory.
    #[arg(
        long,
        env = "REFERENCE_SERVER_JIRA_MAX_RESPONSE_BYTES",
        default_value_t = DEFAULT_JIRA_MAX_RESPONSE_BYTES,
        value_parser = parse_response_limit
    )]
    pub jira_max_response_bytes: usize,

    /// Seconds the Jira status categories (`GET /rest/api/2/status`) are cached before a
    /// delivery that needs one fetches them again (Sentry: 240). An unknown status id is always
    /// fetched at once. 0 fetches them for every delivery that changes a status.
    #[arg(
        long,
        env = "REFERENCE_SERVER_JIRA_STATUS_CACHE_TTL_SECS",
        default_value_t = DEFAULT_JIRA_STATUS_CACHE_TTL_SECS
    )]
    pub jira_status_cache_ttl_secs: u64,

    /// Seconds to wait for in-flight requests on shutdown (SIGINT/SIGTERM) before closing.
    #[arg(
        long,
        env = "REFERENCE_SERVER_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub shutdown_timeout_secs: u64,
}

/// `--jira-max-response-bytes`: 1 KiB to 1 GiB.
fn parse_response_limit(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1024..=1 << 30).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{value}` is not a size in bytes from 1024 to 1073741824 (the default is 4194304, 4 MiB)"
        )),
    }
}

/// `--listen`: an address and port; a bare port or host gets an example of what is meant.
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let value = value.trim();
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{value}` is a port without an address: use 127.0.0.1:{value} (this machine only) \
             or 0.0.0.0:{value} (every interface)"
        ));
    }
    Err(format!(
        "`{value}` is not an IP address and port: use e.g. 127.0.0.1:8080, 0.0.0.0:8080 or \
         [::1]:8080 (a host name is not accepted)"
    ))
}

impl ServeConfig {
    /// Configuration with defaults for the given listen address and data directory (used by tests
    /// and embedders).
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            store: "sled".to_owned(),
            pg_pool_size: DEFAULT_PG_POOL_SIZE,
            data_dir,
            public_url: None,
            admin_token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout_secs: 0,
            header_timeout_secs: 30,
            shutdown_timeout_secs: 10,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_timeout_secs: 30,
            cache_mb: DEFAULT_CACHE_MB,
            delivery_log_keep: DEFAULT_DELIVERY_LOG_KEEP,
            retry_max_attempts: DEFAULT_RETRY_MAX_ATTEMPTS,
            retry_max_age_secs: DEFAULT_RETRY_MAX_AGE_SECS,
            faults: crate::app::Faults::default(),
            inbox_segment_kb: DEFAULT_INBOX_SEGMENT_KB,
            jira_timeout_secs: DEFAULT_JIRA_TIMEOUT_SECS,
            jira_max_response_bytes: DEFAULT_JIRA_MAX_RESPONSE_BYTES,
            jira_status_cache_ttl_secs: DEFAULT_JIRA_STATUS_CACHE_TTL_SECS,
            inbox_max_mb: DEFAULT_INBOX_MAX_MB,
        }
    }

    /// The public URL without a trailing slash, given the address actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults() {
        let cli = Cli::try_parse_from(["reference-server", "serve"]).expect("parses");
        let Command::Serve(cfg) = cli.command;
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.data_dir, PathBuf::from("./data"));
        assert_eq!(cfg.body_limit, DEFAULT_BODY_LIMIT);
        assert_eq!(cfg.cache_mb, DEFAULT_CACHE_MB);
        assert_eq!(cfg.delivery_log_keep, DEFAULT_DELIVERY_LOG_KEEP);
        assert_eq!(cfg.inbox_segment_kb, DEFAULT_INBOX_SEGMENT_KB);
        assert_eq!(cfg.inbox_max_mb, DEFAULT_INBOX_MAX_MB);
        assert_eq!(cfg.retry_max_attempts, DEFAULT_RETRY_MAX_ATTEMPTS);
        assert_eq!(cfg.retry_max_age_secs, DEFAULT_RETRY_MAX_AGE_SECS);
        assert_eq!(
            cfg.public_url_for(cfg.listen),
            "http://127.0.0.1:8080".to_owned()
        );
    }

    #[test]
    fn public_url_trailing_slash_is_stripped() {
        let cli = Cli::try_parse_from([
            "reference-server",
            "serve",
            "--public-url",
            "https://sync.example.org/",
        ])
        .expect("parses");
        let Command::Serve(cfg) = cli.command;
        assert_eq!(
            cfg.public_url_for(cfg.listen),
            "https://sync.example.org".to_owned()
        );
    }

    #[test]
    fn cache_size_flag_and_range() {
        let cli =
            Cli::try_parse_from(["reference-server", "serve", "--cache-mb", "16"]).expect("parses");
        let Command::Serve(cfg) = cli.command;
        assert_eq!(cfg.cache_mb, 16);
        assert!(Cli::try_parse_from(["reference-server", "serve", "--cache-mb", "0"]).is_err());
    }

    #[test]
    fn pg_pool_size_flag_default_and_range() {
        let cli = Cli::try_parse_from(["reference-server", "serve"]).expect("parses");
        let Command::Serve(cfg) = cli.command;
        assert_eq!(cfg.pg_pool_size, 16);
        let cli = Cli::try_parse_from(["reference-server", "serve", "--pg-pool-size", "4"])
            .expect("parses");
        let Command::Serve(cfg) = cli.command;
        assert_eq!(cfg.pg_pool_size, 4);
        for bad in ["1", "0", "x"] {
            assert!(
                Cli::try_parse_from(["reference-server", "serve", "--pg-pool-size", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
