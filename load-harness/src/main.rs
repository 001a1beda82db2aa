//! Load harness for the reference server.
//!
//! ```text
//! cargo build --release -p reference-server -p load-harness
//! cargo run --release -p load-harness -- [--links N] [--deliveries M] [--connections C]
//! ```
//!
//! It starts the release `reference-server` binary on a temporary data directory and a free
//! port, installs an integration (personal access token) against an in-process simulated Jira,
//! seeds N groups each linked to one Jira issue, then fires M deliveries per mix from C
//! keep-alive connections, first against a bare hyper server (the ceiling, a child process)
//! and then against the reference server:
//!
//! * `a`: relevant assignee changes on linked issues (each is stored, flushed, applied);
//! * `b`: irrelevant deliveries: half without a changelog, half with a changelog on an
//!   unlinked issue;
//! * `c`: a realistic mix, 90% `b` and 10% `a`.
//!
//! After each mix it waits for the inbox to drain and checks that every acknowledged relevant
//! delivery was applied: group state (`GET /api/v1/groups/{id}`), the worker's counters and the
//! delivery log. At the end it stops the server with SIGTERM, opens its store and checks the
//! whole delivery log. Any loss makes the exit status non-zero.
//!
//! `--store postgres://user@host:port/db` runs the server on PostgreSQL instead: the harness
//! creates a fresh database `load_harness_<pid>` on that server (through the maintenance
//! database `postgres`) and drops it at the end (unless `--keep`), starts `--replicas` server
//! processes on it and spreads its connections over them round-robin, measures mix a also
//! against a PostgreSQL ceiling (`ceiling --pg`: hyper plus one committed `INSERT` per
//! delivery, with the server's pool size), and does the end checks through the admin API and
//! SQL. `--store sled,postgres://...` measures both stores one after the other and prints both
//! tables.

// Counts and sizes here stay far below 2^52, and short names (`i`, `s`, `b`) are the
// conventional ones in the request loops.
#![allow(
    clippy::cast_precision_loss,
    clippy::many_single_char_names,
    clippy::similar_names
)]

mod bodies;
mod ceiling;
mod client;
mod pg;
mod procs;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bodies::{Patch, Template, USERS};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::{Method, StatusCode};
use jira_sim::{Config as JiraConfig, SimulatedJira};
use serde_json::{Value, json};

use reference_server::storage::postgres::DEFAULT_POOL_SIZE;

use crate::client::RunResult;
use crate::pg::{LogSummary, RunDb, Store};
use crate::procs::{CeilingProc, PythonBaseline, ServerProc};

/// Load harness: throughput, latency, memory and no-loss checks of the reference server.
#[derive(Debug, Parser)]
#[command(name = "load-harness", version, about, long_about = None)]
struct Args {
    /// Internal: run the bare hyper ceiling server.
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Groups to seed, each linked to its own Jira issue (`LOAD-0` ...).
    #[arg(long, default_value_t = 100_000)]
    links: usize,
    /// Deliveries per mix.
    #[arg(long, default_value_t = 200_000)]
    deliveries: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Links per bulk import request when seeding (`POST /api/v1/import/links`, at most
    /// 100 000).
    #[arg(long, default_value_t = 50_000)]
    import_chunk: usize,
    /// Server page cache in MiB (`--cache-mb` of the server; default: the server's default).
    #[arg(long)]
    cache_mb: Option<u64>,
    /// Delivery log entries the server keeps (`--delivery-log-keep` of the server). The
    /// default, 0, keeps all, which the final check of the whole log needs; with a limit the
    /// run measures the pruning and checks that the log holds at most that many entries.
    #[arg(long, default_value_t = 0)]
    delivery_log_keep: u64,
    /// Mixes to run, any of `a`, `b`, `c` (comma separated).
    #[arg(long, default_value = "a,b,c", value_delimiter = ',')]
    mixes: Vec<String>,
    /// Path of the `reference-server` binary (default: next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Stores to measure, one after the other, each with its own server(s), ceilings and
    /// table: `sled` (a temporary data directory) or a PostgreSQL URL,
    /// `postgres://user[:password]@host:port/database`. For a URL the run creates its own
    /// database `load_harness_<pid>` on that server (through its maintenance database
    /// `postgres`; the URL's database is only used if that one does not exist) and drops it at
    /// the end unless `--keep`. Comma separated or repeated: `--store
    /// sled,postgres://postgres@127.0.0.1:5432/test` prints both tables.
    #[arg(long, default_value = "sled")]
    store: Vec<String>,
    /// Server processes on a PostgreSQL store, all on the run's database with the same admin
    /// token; the load generator spreads its connections over them round-robin and the table
    /// shows their combined rate. A sled store always has one server.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Keep the data directory (printed) and the PostgreSQL database of the run instead of
    /// deleting them.
    #[arg(long = "keep", visible_alias = "keep-data")]
    keep_data: bool,
    /// Also send mix b's deliveries to the Python baseline (`python/baseline.py`: PyJWT +
    /// `json.loads` under gunicorn with 2 workers; needs `pip install gunicorn PyJWT`) and
    /// print how many times its throughput the reference server reached.
    #[arg(long)]
    python_baseline: bool,
    /// Python interpreter for `--python-baseline`.
    #[arg(long, default_value = "python3")]
    python: String,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the ceiling server (used by the harness itself).
    #[command(hide = true)]
    Ceiling {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// PostgreSQL ceiling: insert each body into the table `ceiling_inbox` of this
        /// database (created if missing) and answer 200 once committed.
        #[arg(long, env = ceiling::PG_ENV, hide_env_values = true)]
        pg: Option<String>,
        /// Pool size of the PostgreSQL ceiling (the server's).
        #[arg(long, default_value_t = DEFAULT_POOL_SIZE)]
        pool: usize,
    },
}

/// The three mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    Relevant,
    Irrelevant,
    Realistic,
}

impl Mix {
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "a" => Some(Self::Relevant),
            "b" => Some(Self::Irrelevant),
            "c" => Some(Self::Realistic),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Relevant => "a: relevant",
            Self::Irrelevant => "b: irrelevant",
            Self::Realistic => "c: 90% b + 10% a",
        }
    }

    fn ordinal(self) -> u64 {
        match self {
            Self::Relevant => 1,
            Self::Irrelevant => 2,
            Self::Realistic => 3,
        }
    }
}

/// What delivery `i` of a mix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Assignee change on linked issue `LOAD-{key}` to load user `user`.
    Relevant { key: usize, user: usize },
    /// No changelog (on a linked issue).
    NoChangelog { key: usize },
    /// Changelog on an unlinked issue `FREE-{n}`.
    Unlinked { n: usize },
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    mix: Mix,
    links: usize,
}

impl Plan {
    fn changelog_id(self, i: usize) -> u64 {
        // Increasing across mixes, so later mixes supersede earlier ones.
        self.mix.ordinal() * 10_000_000_000 + i as u64 + 1
    }

    fn kind(self, i: usize) -> Kind {
        let relevant = |j: usize| {
            let key = j % self.links;
            let round = j / self.links;
            // Mix a assigns users 0..4 and mix c users 4..8, so mix c always changes what mix a
            // left, and consecutive rounds on one key differ: a lost delivery is visible.
            let half = USERS / 2;
            let base = if self.mix == Mix::Realistic { half } else { 0 };
            let user = base + (key + round) % half;
            Kind::Relevant { key, user }
        };
        let irrelevant = |j: usize| {
            if j.is_multiple_of(2) {
                Kind::NoChangelog {
                    key: j % self.links,
                }
            } else {
                Kind::Unlinked { n: j }
            }
        };
        match self.mix {
            Mix::Relevant => relevant(i),
            Mix::Irrelevant => irrelevant(i),
            Mix::Realistic => {
                if i.is_multiple_of(10) {
                    relevant(i / 10)
                } else {
                    irrelevant(i - i / 10 - 1)
                }
            }
        }
    }
}

struct Templates {
    with: Template,
    without: Template,
}

fn body(t: &Templates, plan: Plan, i: usize) -> Bytes {
    let clid = plan.changelog_id(i);
    match plan.kind(i) {
        Kind::Relevant { key, user } => t.with.render(&Patch {
            key: &format!("LOAD-{key}"),
            user,
            changelog_id: clid,
        }),
        Kind::NoChangelog { key } => t.without.render(&Patch {
            key: &format!("LOAD-{key}"),
            user: 0,
            changelog_id: clid,
        }),
        Kind::Unlinked { n } => t.with.render(&Patch {
            key: &format!("FREE-{n}"),
            user: 0,
            changelog_id: clid,
        }),
    }
}

/// One row of the table.
struct Row {
    mix: &'static str,
    target: String,
    run: RunResult,
    /// Ratio to the bare hyper ceiling (`None`: this is that ceiling).
    ratio: Option<f64>,
    /// Ratio to the PostgreSQL ceiling (PostgreSQL tables only; `None`: not measured).
    ratio_pg: Option<f64>,
    /// Peak RSS of each server process.
    rss_kib: Vec<u64>,
}

fn fmt_ms(us: u32) -> String {
    format!("{:.2} ms", f64::from(us) / 1000.0)
}

/// The results table; `pg` adds the column of ratios to the PostgreSQL ceiling.
fn table(rows: &[Row], pg: bool) -> String {
    let mut out = String::new();
    if pg {
        out.push_str(
            "| mix | server | requests/s | p50 | p99 | max | errors | ratio to bare hyper ceiling | ratio to PG ceiling | server peak RSS |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
    } else {
        out.push_str(
            "| mix | server | requests/s | p50 | p99 | max | errors | ratio to ceiling | server peak RSS |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
    }
    for r in rows {
        let pg_column = if pg {
            format!(
                " {} |",
                r.ratio_pg
                    .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"))
            )
        } else {
            String::new()
        };
        let rss = if r.rss_kib.is_empty() {
            "-".to_owned()
        } else {
            r.rss_kib
                .iter()
                .map(|k| format!("{:.1} MB", *k as f64 / 1024.0))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} |{pg_column} {rss} |",
            r.mix,
            r.target,
            r.run.rps(),
            fmt_ms(r.run.percentile(0.5)),
            fmt_ms(r.run.percentile(0.99)),
            fmt_ms(r.run.max()),
            r.run.errors(),
            r.ratio
                .map_or_else(|| "1.00".to_owned(), |x| format!("{x:.2}")),
        );
    }
    out
}

/// Book-keeping of what the server acknowledged, across mixes.
#[derive(Default)]
struct Ledger {
    /// key -> (changelog id, user) of the newest acknowledged relevant delivery.
    newest_acked: HashMap<usize, (u64, usize)>,
    /// key -> (changelog id, user) of the newest relevant delivery that was NOT acknowledged
    /// (it may or may not have been stored).
    newest_unacked: HashMap<usize, (u64, usize)>,
    /// key -> number of acknowledged relevant deliveries.
    acked_per_key: HashMap<usize, u64>,
    /// key -> number of unacknowledged relevant deliveries.
    unacked_per_key: HashMap<usize, u64>,
    acked_relevant: u64,
    acked_unlinked: u64,
}

fn metric(text: &str, name_and_labels: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn metric_f64(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(addr: SocketAddr) -> Result<String, String> {
    let mut c = client::Conn::new(addr, None);
    let (s, b) = c.request(Method::GET, "/metrics", Bytes::new()).await?;
    if s != StatusCode::OK {
        return Err(format!("/metrics answered {s}"));
    }
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// The server processes of one store's run: one on sled, `--replicas` on PostgreSQL (all on
/// the run's database).
struct Deployment<'a> {
    servers: Vec<ServerProc>,
    db: Option<&'a RunDb>,
}

impl Deployment<'_> {
    /// The first server: installs, seeds, answers the admin API checks (the replicas share
    /// the database).
    fn first(&self) -> &ServerProc {
        &self.servers[0]
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    /// `/metrics` of each server.
    async fn metrics(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::with_capacity(self.servers.len());
        for s in &self.servers {
            out.push(metrics(s.addr).await?);
        }
        Ok(out)
    }

    /// Deliveries stored and not applied yet: the server's gauge on sled; on PostgreSQL the
    /// inbox table (a replica's gauge counts only what it accepted and applied itself).
    async fn inbox_depth(&self) -> Result<u64, String> {
        match self.db {
            Some(db) => db.inbox_depth().await,
            None => Ok(metric(
                &metrics(self.first().addr).await?,
                "reference_server_inbox_depth ",
            )),
        }
    }

    fn peak_rss_kib(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter_map(ServerProc::peak_rss_kib)
            .collect()
    }

    /// Stops every server (SIGTERM); the first failure is returned after all were stopped.
    async fn stop(self) -> Result<(), String> {
        let mut first_err = None;
        for s in self.servers {
            if let Err(e) = s.stop().await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Waits until the inbox is empty. On sled it fails after `timeout`; on PostgreSQL, whose
/// workers apply far fewer deliveries per second than the server accepts, only after `timeout`
/// without progress (the depth not going down).
async fn wait_drained(dep: &Deployment<'_>, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut lowest = u64::MAX;
    let mut progress = Instant::now();
    loop {
        let depth = dep.inbox_depth().await?;
        if depth == 0 {
            return Ok(started.elapsed());
        }
        if depth < lowest {
            lowest = depth;
            progress = Instant::now();
        }
        if dep.db.is_none() && started.elapsed() > timeout {
            return Err(format!(
                "the inbox did not drain within {timeout:?} (depth {depth})"
            ));
        }
        if dep.db.is_some() && progress.elapsed() > timeout {
            return Err(format!(
                "the inbox did not drain: depth {depth}, no progress for {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn put(admin: &mut client::Conn, path: String, body: Value) -> Result<(), String> {
    match admin
        .request(Method::PUT, &path, Bytes::from(body.to_string()))
        .await
    {
        Ok((s, _)) if s.is_success() => Ok(()),
        Ok((s, b)) => Err(format!("PUT {path}: {s}: {}", String::from_utf8_lossy(&b))),
        Err(e) => Err(format!("PUT {path}: {e}")),
    }
}

struct Setup {
    integration: String,
    webhook_path: String,
}

/// Seeds groups `g0..g{links}` in project `loadp`, group `gi` linked to issue `LOAD-i`, with
/// the bulk import endpoint, `chunk` items (NDJSON lines) per request.
async fn seed_links(
    admin: &mut client::Conn,
    integration: &str,
    links: usize,
    chunk: usize,
) -> Result<(), String> {
    let mut start = 0;
    while start < links {
        let end = links.min(start + chunk.max(1));
        let mut body = String::with_capacity((end - start) * 80);
        for i in start..end {
            let _ = writeln!(
                body,
                r#"{{"group":"g{i}","project":"loadp","integration":"{integration}","issueKey":"LOAD-{i}"}}"#
            );
        }
        let (s, b) = admin
            .request(Method::POST, "/api/v1/import/links", Bytes::from(body))
            .await?;
        if s != StatusCode::OK {
            return Err(format!(
                "import of links {start}..{end} answered {s}: {}",
                String::from_utf8_lossy(&b)
            ));
        }
        let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
        if v["items"].as_u64() != Some((end - start) as u64) {
            return Err(format!(
                "import of links {start}..{end}: unexpected answer {v}"
            ));
        }
        start = end;
    }
    Ok(())
}

async fn install_and_seed(
    server: &ServerProc,
    jira: &SimulatedJira,
    links: usize,
    import_chunk: usize,
) -> Result<Setup, String> {
    let mut admin = client::Conn::new(server.addr, Some(server.admin_token.clone()));
    let body = json!({"url": jira.base_url(), "token": JiraConfig::DEMO_PAT, "verifySsl": true});
    let (s, b) = admin
        .request(
            Method::POST,
            "/api/v1/integrations/jira-server/install-pat",
            Bytes::from(body.to_string()),
        )
        .await?;
    if s != StatusCode::CREATED {
        return Err(format!(
            "install-pat answered {s}: {}",
            String::from_utf8_lossy(&b)
        ));
    }
    let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
    let integration = v["integration"]["id"]
        .as_str()
        .ok_or("install-pat answer has no integration.id")?
        .to_owned();
    let hooks = jira.webhooks();
    let url = hooks
        .first()
        .map(|h| h.url.clone())
        .ok_or("the simulated Jira has no webhook after the install")?;
    let webhook_path = url
        .find("/extensions/")
        .and_then(|i| url.get(i..))
        .ok_or("unexpected webhook URL")?
        .to_owned();

    put(
        &mut admin,
        format!("/api/v1/integrations/{integration}/organizations/loadorg"),
        json!({"syncReverseAssignment": true, "syncStatusReverse": false}),
    )
    .await?;
    for u in 0..USERS {
        put(
            &mut admin,
            format!("/api/v1/users/{}", bodies::tracker_user(u)),
            json!({"name": bodies::user_name(u), "active": true,
                   "emails": [{"email": bodies::user_email(u), "verified": true}]}),
        )
        .await?;
    }
    let members: Vec<String> = (0..USERS).map(bodies::tracker_user).collect();
    put(
        &mut admin,
        "/api/v1/projects/loadp".to_owned(),
        json!({"organization": "loadorg", "members": members}),
    )
    .await?;
    let t = Instant::now();
    seed_links(&mut admin, &integration, links, import_chunk).await?;
    println!(
        "seeded {links} groups and links through POST /api/v1/import/links ({import_chunk} per request) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(Setup {
        integration,
        webhook_path,
    })
}

/// What the checks after a mix found.
struct MixCheck {
    /// Problems (empty: nothing lost).
    problems: Vec<String>,
    /// Time from the last answer until the inbox was empty.
    drain: Duration,
    /// Relevant deliveries answered with 200.
    acked_relevant: u64,
}

/// Checks after a mix. `before` holds each server's `/metrics` from before the mix.
async fn verify_mix(
    dep: &Deployment<'_>,
    setup: &Setup,
    plan: Plan,
    run: &RunResult,
    ledger: &mut Ledger,
    before: &[String],
    connections: usize,
) -> Result<MixCheck, String> {
    let server = dep.first();
    let mut problems = Vec::new();
    let mut acked_relevant = 0u64;
    let mut acked_unlinked = 0u64;
    let mut touched = Vec::new();
    for s in &run.samples {
        let i = s.index as usize;
        match plan.kind(i) {
            Kind::Relevant { key, user } => {
                let clid = plan.changelog_id(i);
                if s.ok {
                    acked_relevant += 1;
                    *ledger.acked_per_key.entry(key).or_default() += 1;
                    let e = ledger.newest_acked.entry(key).or_insert((0, user));
                    if clid >= e.0 {
                        *e = (clid, user);
                    }
                    touched.push(key);
                } else {
                    *ledger.unacked_per_key.entry(key).or_default() += 1;
                    let e = ledger.newest_unacked.entry(key).or_insert((0, user));
                    if clid >= e.0 {
                        *e = (clid, user);
                    }
                }
            }
            Kind::Unlinked { .. } if s.ok => acked_unlinked += 1,
            _ => {}
        }
    }
    ledger.acked_relevant += acked_relevant;
    ledger.acked_unlinked += acked_unlinked;
    let timeout = Duration::from_secs(120 + run.samples.len() as u64 / 500);
    let drain = wait_drained(dep, timeout).await?;
    println!(
        "  inbox drained {:.1} s after the last answer",
        drain.as_secs_f64()
    );

    // The worker's counters, summed over the servers (each counts what its worker applied).
    let after = dep.metrics().await?;
    let delta = |name: &str| -> u64 {
        after
            .iter()
            .zip(before)
            .map(|(a, b)| metric(a, name).saturating_sub(metric(b, name)))
            .sum()
    };
    let processed =
        |label: &str| format!("reference_server_deliveries_processed_total{{state=\"{label}\"}} ");
    let (applied, ignored, failed) = (
        delta(&processed("applied")),
        delta(&processed("ignored")),
        delta(&processed("failed")),
    );
    println!(
        "  acknowledged: {acked_relevant} relevant, {acked_unlinked} on unlinked issues; \
         worker{}: {applied} applied, {ignored} ignored, {failed} failed",
        if dep.servers.len() > 1 {
            "s (all replicas)"
        } else {
            ""
        }
    );
    if dep.db.is_none() {
        // The sled inbox's group commit (PostgreSQL commits each accept on its own).
        let (after, before) = (&after[0], &before[0]);
        let flushes = metric(after, "reference_server_inbox_flushes_total ")
            .saturating_sub(metric(before, "reference_server_inbox_flushes_total "));
        let flushed = metric(after, "reference_server_inbox_flushed_entries_total ")
            .saturating_sub(metric(
                before,
                "reference_server_inbox_flushed_entries_total ",
            ));
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let per_flush = flushed as f64 / (flushes.max(1) as f64);
        let seconds = |name: &str| metric_f64(after, name) - metric_f64(before, name);
        let sync_ms = 1e3 * seconds("reference_server_inbox_sync_seconds_total ");
        let wait_ms = 1e3 * seconds("reference_server_inbox_durable_wait_seconds_total ");
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let (mean_sync, mean_wait) = (
            sync_ms / (flushes.max(1) as f64),
            wait_ms / (flushed.max(1) as f64),
        );
        println!(
            "  group commit: {flushes} flushes for {flushed} deliveries ({per_flush:.1} per flush, \
             {mean_sync:.2} ms each); a stored delivery waited {mean_wait:.2} ms on average to be durable"
        );
    }
    if applied < acked_relevant {
        problems.push(format!(
            "only {applied} deliveries applied for {acked_relevant} acknowledged relevant ones"
        ));
    }
    if failed > 0 {
        problems.push(format!("{failed} deliveries failed in the worker"));
    }

    // Group state of every group an acknowledged delivery touched.
    touched.sort_unstable();
    touched.dedup();
    let keys = Arc::new(touched);
    let k2 = keys.clone();
    let answers = client::admin_batch(
        server.addr,
        &server.admin_token,
        keys.len(),
        connections,
        move |j| {
            let k = k2.get(j).copied().unwrap_or_default();
            (Method::GET, format!("/api/v1/groups/g{k}"), Bytes::new())
        },
    )
    .await?;
    let mut wrong = 0usize;
    let mut examples = Vec::new();
    for (j, (s, b)) in answers.iter().enumerate() {
        let k = keys.get(j).copied().unwrap_or_default();
        let got = if *s == StatusCode::OK {
            serde_json::from_slice::<Value>(b)
                .ok()
                .and_then(|v| v["assignee"].as_str().map(str::to_owned))
        } else {
            None
        };
        let Some(&(clid, user)) = ledger.newest_acked.get(&k) else {
            continue;
        };
        let expected = bodies::tracker_user(user);
        // A newer delivery that got no 200 may still have been stored and applied.
        let newer_unacked = ledger
            .newest_unacked
            .get(&k)
            .filter(|(c, _)| *c > clid)
            .map(|(_, u)| bodies::tracker_user(*u));
        let fine = got.as_deref() == Some(expected.as_str())
            || (newer_unacked.is_some() && got == newer_unacked);
        if !fine {
            wrong += 1;
            if examples.len() < 3 {
                examples.push(format!("g{k}: expected {expected}, got {got:?}"));
            }
        }
    }
    println!(
        "  group state: {} groups checked, {wrong} wrong",
        keys.len()
    );
    if wrong > 0 {
        problems.push(format!(
            "{wrong} groups do not show their newest acknowledged assignment (e.g. {})",
            examples.join("; ")
        ));
    }

    // The newest entries of the delivery log: nothing left pending or failed.
    let mut admin = client::Conn::new(server.addr, Some(server.admin_token.clone()));
    let (s, b) = admin
        .request(
            Method::GET,
            &format!(
                "/api/v1/integrations/{}/deliveries?limit=1000",
                setup.integration
            ),
            Bytes::new(),
        )
        .await?;
    if s == StatusCode::OK {
        let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
        let list = v["deliveries"].as_array().cloned().unwrap_or_default();
        let bad = list
            .iter()
            .filter(|d| !matches!(d["state"].as_str(), Some("applied" | "ignored")))
            .count();
        println!(
            "  delivery log: newest {} entries read, {bad} pending or failed",
            list.len()
        );
        if bad > 0 {
            problems.push(format!(
                "{bad} of the newest delivery log entries are pending or failed"
            ));
        }
    } else {
        problems.push(format!("GET deliveries answered {s}"));
    }
    Ok(MixCheck {
        problems,
        drain,
        acked_relevant,
    })
}

/// After the server stopped: opens its sled store and sums up the integration's whole
/// delivery log.
fn sled_delivery_log(data_dir: &std::path::Path, integration: &str) -> Result<LogSummary, String> {
    use reference_server::storage::records::DeliveryState;
    use reference_server::storage::sled::Store;
    let store =
        Store::open(data_dir).map_err(|e| format!("the store does not open after the run: {e}"))?;
    let records = store
        .deliveries(integration, usize::MAX)
        .map_err(|e| format!("the delivery log cannot be read: {e}"))?;
    let mut summary = LogSummary::default();
    for r in &records {
        let state = match r.state {
            DeliveryState::Applied => "applied",
            DeliveryState::Ignored => "ignored",
            DeliveryState::Failed => "failed",
            DeliveryState::Pending => "pending",
        };
        summary.add(state, r.issue_key.as_deref(), 1);
    }
    Ok(summary)
}

/// Checks the whole delivery log against the ledger (with a retention limit `keep`, only that
/// it holds at most `keep` entries, none pending).
fn check_delivery_log(summary: &LogSummary, ledger: &Ledger, keep: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let LogSummary {
        entries,
        applied_per_key,
        pending,
        failed,
        ignored,
    } = summary;
    if keep > 0 {
        println!(
            "final delivery log: {entries} entries kept (limit {keep}), {pending} pending; the check of \
             every acknowledged delivery needs --delivery-log-keep 0"
        );
        if *entries > keep {
            problems.push(format!(
                "delivery log: {entries} entries kept, more than the limit {keep}"
            ));
        }
        if *pending > 0 {
            problems.push(format!("delivery log: {pending} entries still pending"));
        }
        return problems;
    }
    let mut missing = 0u64;
    let mut examples = Vec::new();
    for (k, acked) in &ledger.acked_per_key {
        let got = applied_per_key.get(k).copied().unwrap_or(0);
        let unacked = ledger.unacked_per_key.get(k).copied().unwrap_or(0);
        if got < *acked || got > acked + unacked {
            missing += acked.saturating_sub(got);
            if examples.len() < 3 {
                examples.push(format!("LOAD-{k}: {acked} acknowledged, {got} applied"));
            }
        }
    }
    println!(
        "final delivery log: {entries} entries ({} applied, {ignored} ignored, {failed} failed, {pending} pending); \
         {} acknowledged relevant, {} acknowledged on unlinked issues",
        applied_per_key.values().sum::<u64>(),
        ledger.acked_relevant,
        ledger.acked_unlinked
    );
    if missing > 0 || !examples.is_empty() {
        problems.push(format!(
            "delivery log: {missing} acknowledged relevant deliveries not applied (e.g. {})",
            examples.join("; ")
        ));
    }
    if *pending > 0 {
        problems.push(format!("delivery log: {pending} entries still pending"));
    }
    if *failed > 0 {
        problems.push(format!("delivery log: {failed} entries failed"));
    }
    // Deliveries on unlinked issues may be acknowledged without being stored (the server
    // checks links on the hot path), so `ignored` may be anything up to their number.
    problems
}

/// What one store's run found and the report it prints.
struct StoreOutcome {
    problems: Vec<String>,
    report: String,
}

/// Numbers the PostgreSQL goal lines need.
#[derive(Default)]
struct GoalInputs {
    /// Mix a: server over the PostgreSQL ceiling.
    a_to_pg: Option<f64>,
    /// Mix b: server over the bare hyper ceiling.
    b_to_bare: Option<f64>,
    /// Server p99 per mix, in microseconds.
    p99: Vec<(&'static str, u32)>,
}

/// The goal lines of a PostgreSQL run (issue: mix a >= 0.50 of the PostgreSQL ceiling, mix b
/// >= 0.55 of the bare hyper ceiling, p99 < 20 ms at 32 connections, nothing lost).
fn pg_goals(g: &GoalInputs, connections: usize, lost: bool) -> String {
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut out = String::from("goals (PostgreSQL):\n");
    if let Some(x) = g.a_to_pg {
        let _ = writeln!(
            out,
            "  mix a >= 0.50 of the PostgreSQL ceiling: {x:.2}, {}",
            verdict(x >= 0.50)
        );
    }
    if let Some(x) = g.b_to_bare {
        let _ = writeln!(
            out,
            "  mix b >= 0.55 of the bare hyper ceiling: {x:.2}, {}",
            verdict(x >= 0.55)
        );
    }
    if !g.p99.is_empty() {
        let worst = g.p99.iter().map(|(_, p)| *p).max().unwrap_or(0);
        let each = g
            .p99
            .iter()
            .map(|(m, p)| format!("{m} {}", fmt_ms(*p)))
            .collect::<Vec<_>>()
            .join(", ");
        let at = if connections == 32 {
            String::new()
        } else {
            format!(" (this run: {connections} connections)")
        };
        let _ = writeln!(
            out,
            "  p99 < 20 ms at 32 connections{at}: {each}, {}",
            verdict(worst < 20_000)
        );
    }
    let _ = writeln!(
        out,
        "  no acknowledged delivery lost: {}",
        if lost {
            "NOT met (see the FAILURE lines)"
        } else {
            "met"
        }
    );
    out
}

/// Measures one store: starts its server(s) (`db`: on PostgreSQL, the run's database, with
/// `--replicas` servers), the simulated Jira and the ceilings, runs the mixes, checks.
#[allow(clippy::too_many_lines)]
async fn run_store(
    args: &Args,
    mixes: &[Mix],
    bin: &std::path::Path,
    db: Option<&RunDb>,
) -> Result<StoreOutcome, String> {
    let replicas = if db.is_some() { args.replicas } else { 1 };
    let tmp = tempfile::Builder::new()
        .prefix("load-harness-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let data_dir = tmp.path().join("data");
    let log = tmp.path().join("server.log");
    match db {
        None => println!(
            "load-harness: {} links, {} deliveries per mix, {} connections; server {} (cache {}); data {}",
            args.links,
            args.deliveries,
            args.connections,
            bin.display(),
            args.cache_mb
                .map_or_else(|| "default".to_owned(), |m| format!("{m} MiB")),
            data_dir.display()
        ),
        Some(db) => println!(
            "load-harness: {} links, {} deliveries per mix, {} connections; server {} on PostgreSQL ({}), \
             {replicas} replica(s), pool {DEFAULT_POOL_SIZE} each; logs {}",
            args.links,
            args.deliveries,
            args.connections,
            bin.display(),
            db.describe,
            tmp.path().display()
        ),
    }

    let jira = SimulatedJira::start(JiraConfig::demo())
        .await
        .map_err(|e| format!("simulated Jira: {e}"))?;
    let mut options = vec![
        "--delivery-log-keep".to_owned(),
        args.delivery_log_keep.to_string(),
    ];
    if let Some(mb) = args.cache_mb {
        options.extend(["--cache-mb".to_owned(), mb.to_string()]);
    }
    let mut servers = Vec::with_capacity(replicas);
    match db {
        None => servers.push(ServerProc::start(bin, &data_dir, &log, &options, None).await?),
        Some(db) => {
            for r in 0..replicas {
                let data = tmp.path().join(format!("data-{r}"));
                let log = tmp.path().join(format!("server-{r}.log"));
                servers.push(ServerProc::start(bin, &data, &log, &options, Some(&db.url)).await?);
            }
        }
    }
    let dep = Deployment { servers, db };
    let t = Instant::now();
    let setup = install_and_seed(dep.first(), &jira, args.links, args.import_chunk).await?;
    println!(
        "installed integration {} and seeded {} groups and links in {:.1} s (server peak RSS {:.1} MB)",
        setup.integration,
        args.links,
        t.elapsed().as_secs_f64(),
        dep.first().peak_rss_kib().unwrap_or(0) as f64 / 1024.0
    );
    let ceiling = CeilingProc::start(&[], &[]).await?;
    let pg_ceiling = match db {
        Some(db) if mixes.contains(&Mix::Relevant) => Some(
            CeilingProc::start(
                &["--pool".to_owned(), DEFAULT_POOL_SIZE.to_string()],
                &[(ceiling::PG_ENV, db.url.as_str())],
            )
            .await?,
        ),
        _ => None,
    };
    let python = if args.python_baseline {
        if !mixes.contains(&Mix::Irrelevant) {
            return Err("--python-baseline runs with mix b: add b to --mixes".to_owned());
        }
        let secret: String = reference_server::jira::webhook_token::WebhookSecret::generate()
            .map_err(|e| format!("no randomness for the baseline's secret: {e}"))?
            .into();
        let token = reference_server::jira::webhook_token::issue(
            "load-harness-baseline",
            secret.as_bytes(),
        );
        let proc = PythonBaseline::start(&args.python, &secret).await?;
        Some((
            proc,
            format!("/extensions/jira-server/issue-updated/{token}/"),
        ))
    } else {
        None
    };
    let mut python_multiple = None;
    let mut checkpoint_ok = true;

    let templates = Arc::new(Templates {
        with: Template::from_fixture(true)?,
        without: Template::from_fixture(false)?,
    });
    let addrs = dep.addrs();
    let server_label = if db.is_none() {
        "reference-server".to_owned()
    } else if replicas == 1 {
        "reference-server (PostgreSQL)".to_owned()
    } else {
        format!("reference-server (PostgreSQL, {replicas} replicas, combined)")
    };
    let mut rows = Vec::new();
    let mut goals = GoalInputs::default();
    let mut drains = Vec::new();
    let mut ledger = Ledger::default();
    let mut problems = Vec::new();
    for &mix in mixes {
        let plan = Plan {
            mix,
            links: args.links,
        };
        println!("mix {}:", mix.label());
        let t = templates.clone();
        let ceiling_run = client::run(
            &[ceiling.addr],
            &setup.webhook_path,
            args.deliveries,
            args.connections,
            move |i| body(&t, plan, i),
        )
        .await?;
        let pg_ceiling_run = match (&pg_ceiling, db) {
            (Some(pc), Some(db)) if mix == Mix::Relevant => {
                checkpoint(Some(db), &mut checkpoint_ok).await;
                let t = templates.clone();
                let run = client::run(
                    &[pc.addr],
                    &setup.webhook_path,
                    args.deliveries,
                    args.connections,
                    move |i| body(&t, plan, i),
                )
                .await?;
                if run.errors() > 0 {
                    problems.push(format!(
                        "PostgreSQL ceiling: {} deliveries were not answered with 200 ({:?})",
                        run.errors(),
                        run.error_examples
                    ));
                }
                db.truncate_ceiling().await?;
                Some(run)
            }
            _ => None,
        };
        checkpoint(db, &mut checkpoint_ok).await;
        let before = dep.metrics().await?;
        let t = templates.clone();
        let server_run = client::run(
            &addrs,
            &setup.webhook_path,
            args.deliveries,
            args.connections,
            move |i| body(&t, plan, i),
        )
        .await?;
        let ratio = server_run.rps() / ceiling_run.rps().max(1e-9);
        let ratio_pg = pg_ceiling_run
            .as_ref()
            .map(|r| server_run.rps() / r.rps().max(1e-9));
        match (&pg_ceiling_run, ratio_pg) {
            (Some(pr), Some(rp)) => println!(
                "  ceiling {:.0} req/s, PostgreSQL ceiling {:.0} req/s, server {:.0} req/s ({ratio:.2} of the \
                 ceiling, {rp:.2} of the PostgreSQL ceiling), {} errors",
                ceiling_run.rps(),
                pr.rps(),
                server_run.rps(),
                server_run.errors()
            ),
            _ => println!(
                "  ceiling {:.0} req/s, server {:.0} req/s ({ratio:.2}), {} errors",
                ceiling_run.rps(),
                server_run.rps(),
                server_run.errors()
            ),
        }
        for e in &server_run.error_examples {
            println!("  error: {e}");
        }
        let found = verify_mix(
            &dep,
            &setup,
            plan,
            &server_run,
            &mut ledger,
            &before,
            args.connections.min(8),
        )
        .await?;
        for p in &found.problems {
            println!("  LOSS: {p}");
        }
        problems.extend(
            found
                .problems
                .into_iter()
                .map(|p| format!("mix {}: {p}", mix.label())),
        );
        if found.acked_relevant > 0 {
            let busy = server_run.elapsed + found.drain;
            drains.push(format!(
                "{} {:.1} s ({} relevant deliveries applied in {:.1} s from the first request: {:.0}/s)",
                mix_letter(mix),
                found.drain.as_secs_f64(),
                found.acked_relevant,
                busy.as_secs_f64(),
                found.acked_relevant as f64 / busy.as_secs_f64().max(1e-9)
            ));
        }
        if server_run.errors() > 0 {
            problems.push(format!(
                "mix {}: {} deliveries were not answered with 200",
                mix.label(),
                server_run.errors()
            ));
        }
        let server_rps = server_run.rps();
        let ceiling_rps = ceiling_run.rps().max(1e-9);
        match mix {
            Mix::Relevant => goals.a_to_pg = ratio_pg,
            Mix::Irrelevant => goals.b_to_bare = Some(ratio),
            Mix::Realistic => {}
        }
        goals
            .p99
            .push((mix_letter(mix), server_run.percentile(0.99)));
        rows.push(Row {
            mix: mix.label(),
            target: "bare hyper (ceiling)".to_owned(),
            run: ceiling_run,
            ratio: None,
            ratio_pg: None,
            rss_kib: Vec::new(),
        });
        if let Some(run) = pg_ceiling_run {
            rows.push(Row {
                mix: mix.label(),
                target: format!(
                    "PostgreSQL ceiling (hyper + INSERT, commit; pool {DEFAULT_POOL_SIZE})"
                ),
                ratio: Some(run.rps() / ceiling_rps),
                ratio_pg: Some(1.0),
                run,
                rss_kib: Vec::new(),
            });
        }
        rows.push(Row {
            mix: mix.label(),
            target: server_label.clone(),
            run: server_run,
            ratio: Some(ratio),
            ratio_pg,
            rss_kib: dep.peak_rss_kib(),
        });
        if mix == Mix::Irrelevant
            && let Some((py, path)) = &python
        {
            let t = templates.clone();
            let run = client::run(
                &[py.addr],
                path,
                args.deliveries,
                args.connections,
                move |i| body(&t, plan, i),
            )
            .await?;
            let multiple = server_rps / run.rps().max(1e-9);
            println!(
                "  python baseline {:.0} req/s, {} errors; the reference server answered {multiple:.1}x as many",
                run.rps(),
                run.errors()
            );
            if run.errors() > 0 {
                problems.push(format!(
                    "python baseline: {} deliveries were not answered with 200 ({:?})",
                    run.errors(),
                    run.error_examples
                ));
            }
            python_multiple = Some(multiple);
            rows.push(Row {
                mix: mix.label(),
                target: "python: gunicorn 2 workers, PyJWT + json.loads".to_owned(),
                ratio: Some(run.rps() / ceiling_rps),
                ratio_pg: None,
                run,
                rss_kib: Vec::new(),
            });
        }
    }
    if let Some((py, _)) = python {
        py.stop().await;
    }
    ceiling.stop().await;
    if let Some(pc) = pg_ceiling {
        pc.stop().await;
    }
    dep.stop().await?;
    jira.shutdown().await;
    match db {
        None => match sled_delivery_log(&data_dir, &setup.integration) {
            Ok(summary) => problems.extend(check_delivery_log(
                &summary,
                &ledger,
                args.delivery_log_keep,
            )),
            Err(e) => problems.push(e),
        },
        Some(db) => {
            let depth = db.inbox_depth().await?;
            if depth > 0 {
                problems.push(format!(
                    "inbox: {depth} deliveries still stored and not applied"
                ));
            }
            let summary = db.delivery_log(&setup.integration).await?;
            problems.extend(check_delivery_log(
                &summary,
                &ledger,
                args.delivery_log_keep,
            ));
        }
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "{} links, {} deliveries per mix, {} connections, body {} bytes{}",
        args.links,
        args.deliveries,
        args.connections,
        bodies::FIXTURE.len(),
        db.map_or_else(String::new, |db| format!(
            "; PostgreSQL {}, {replicas} server replica(s), pool {DEFAULT_POOL_SIZE} per process",
            db.describe
        ))
    );
    report.push_str(&table(&rows, db.is_some()));
    if let Some(m) = python_multiple {
        let _ = writeln!(
            report,
            "mix b: the reference server answered {m:.1}x the Python baseline's requests/s"
        );
    }
    if db.is_some() {
        if !drains.is_empty() {
            let _ = writeln!(
                report,
                "inbox drained after the last answer: {}",
                drains.join("; ")
            );
        }
        report.push_str(&pg_goals(&goals, args.connections, !problems.is_empty()));
    }
    if args.keep_data {
        let kept = tmp.keep();
        let _ = writeln!(report, "data kept in {}", kept.display());
    }
    Ok(StoreOutcome { problems, report })
}

/// On PostgreSQL, a `CHECKPOINT` before each timed run that writes to it, so that none of the
/// previous run's writes is checkpointed during it; after a failure (no right to) said once
/// and skipped.
async fn checkpoint(db: Option<&RunDb>, ok: &mut bool) {
    if let Some(db) = db
        && *ok
        && let Err(e) = db.checkpoint().await
    {
        println!("  note: {e}; the timed runs start without a checkpoint");
        *ok = false;
    }
}

fn mix_letter(mix: Mix) -> &'static str {
    match mix {
        Mix::Relevant => "a",
        Mix::Irrelevant => "b",
        Mix::Realistic => "c",
    }
}

async fn harness(args: Args) -> Result<Vec<String>, String> {
    let mixes: Vec<Mix> = args
        .mixes
        .iter()
        .map(|m| Mix::parse(m).ok_or_else(|| format!("unknown mix {m:?} (use a, b, c)")))
        .collect::<Result<_, _>>()?;
    if args.links == 0 || args.connections == 0 {
        return Err("--links and --connections must be at least 1".to_owned());
    }
    let stores = pg::parse_stores(&args.store)?;
    if args.replicas == 0 {
        return Err("--replicas must be at least 1".to_owned());
    }
    if args.replicas > 1 && !stores.iter().any(|s| matches!(s, Store::Postgres(_))) {
        return Err(
            "--replicas needs a PostgreSQL store (--store postgres://...): a sled data directory \
             has one server"
                .to_owned(),
        );
    }
    let bin = procs::server_binary(args.server_bin.as_deref())?;
    let several = stores.len() > 1;
    let mut problems = Vec::new();
    let mut reports = Vec::new();
    let mut pg_index = 0;
    for store in &stores {
        let result = match store {
            Store::Sled => run_store(&args, &mixes, &bin, None).await,
            Store::Postgres(url) => {
                let name = pg::database_name(std::process::id(), pg_index);
                pg_index += 1;
                match RunDb::create(url, name).await {
                    Err(e) => Err(e),
                    Ok(db) => {
                        println!("created database {} ({})", db.name, db.describe);
                        let result = run_store(&args, &mixes, &bin, Some(&db)).await;
                        if args.keep_data {
                            println!("database {} kept ({})", db.name, db.describe);
                        } else {
                            let name = db.name.clone();
                            match db.drop_database().await {
                                Ok(()) => println!("dropped database {name}"),
                                Err(e) => eprintln!("warning: {e}"),
                            }
                        }
                        result
                    }
                }
            }
        };
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                for (label, report) in &reports {
                    println!("\n{label}{report}");
                }
                return Err(e);
            }
        };
        let label = if several {
            format!("store: {}\n", store.label())
        } else {
            String::new()
        };
        problems.extend(outcome.problems.into_iter().map(|p| {
            if several {
                format!("{}: {p}", store.label())
            } else {
                p
            }
        }));
        reports.push((label, outcome.report));
    }
    for (label, report) in &reports {
        println!();
        print!("{label}{report}");
    }
    Ok(problems)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Cmd::Ceiling { listen, pg, pool }) = &args.command {
        let served = match pg {
            None => ceiling::serve(*listen).await,
            Some(url) => ceiling::serve_pg(*listen, url, *pool).await,
        };
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match harness(args).await {
        Ok(problems) if problems.is_empty() => {
            println!("no loss: every acknowledged relevant delivery was applied");
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            for p in problems {
                eprintln!("FAILURE: {p}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("load-harness").chain(args.iter().copied()))
            .expect("arguments parse")
    }

    #[test]
    fn store_replicas_and_keep_options() {
        let a = parse(&[]);
        assert_eq!(pg::parse_stores(&a.store).unwrap(), vec![Store::Sled]);
        assert_eq!(a.replicas, 1);
        assert!(!a.keep_data);

        let a = parse(&[
            "--store",
            "sled,postgres://postgres@127.0.0.1:5432/test",
            "--replicas",
            "2",
            "--keep",
        ]);
        assert_eq!(
            pg::parse_stores(&a.store).unwrap(),
            vec![
                Store::Sled,
                Store::Postgres("postgres://postgres@127.0.0.1:5432/test".to_owned())
            ]
        );
        assert_eq!(a.replicas, 2);
        assert!(a.keep_data);
        // The former name still works.
        assert!(parse(&["--keep-data"]).keep_data);
    }

    #[test]
    fn ceiling_takes_a_database_and_a_pool_size() {
        let a = parse(&["ceiling", "--pg", "postgres://u@h/db", "--pool", "4"]);
        match a.command {
            Some(Cmd::Ceiling { pg, pool, .. }) => {
                assert_eq!(pg.as_deref(), Some("postgres://u@h/db"));
                assert_eq!(pool, 4);
            }
            None => panic!("no ceiling command"),
        }
    }

    #[test]
    fn goal_lines() {
        let g = GoalInputs {
            a_to_pg: Some(0.6),
            b_to_bare: Some(0.5),
            p99: vec![("a", 12_000), ("b", 25_000)],
        };
        let text = pg_goals(&g, 32, false);
        assert!(text.contains("PostgreSQL ceiling: 0.60, met"), "{text}");
        assert!(text.contains("bare hyper ceiling: 0.50, NOT met"), "{text}");
        assert!(text.contains("a 12.00 ms, b 25.00 ms, NOT met"), "{text}");
        assert!(text.contains("lost: met"), "{text}");
    }
}
