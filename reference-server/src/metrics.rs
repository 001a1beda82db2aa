//! Counters exported on `GET /metrics` in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Outcome of a webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Stored in the inbox and acknowledged.
    Accepted,
    /// No changelog: acknowledged, nothing stored.
    NoChangelog,
    /// Token rejected (400).
    BadToken,
    /// Body too large (413).
    TooLarge,
    /// Body not a JSON object (400).
    BadBody,
    /// A change on an issue no group is linked to: acknowledged, nothing stored.
    Unlinked,
    /// Storage failure (503 with `Retry-After`).
    Error,
}

impl WebhookOutcome {
    const ALL: [Self; 7] = [
        Self::Accepted,
        Self::NoChangelog,
        Self::Unlinked,
        Self::BadToken,
        Self::TooLarge,
        Self::BadBody,
        Self::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::NoChangelog => "no_changelog",
            Self::BadToken => "bad_token",
            Self::TooLarge => "too_large",
            Self::BadBody => "bad_body",
            Self::Unlinked => "unlinked",
            Self::Error => "error",
        }
    }
}

/// All metrics of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    webhooks: [AtomicU64; 7],
    sync_actions: Mutex<BTreeMap<String, u64>>,
    jira_calls: Mutex<BTreeMap<String, u64>>,
    deliveries: Mutex<BTreeMap<String, u64>>,
    dead_letters: Mutex<BTreeMap<String, u64>>,
    retries: AtomicU64,
    worker_restarts: AtomicU64,
    intake_writer_restarts: AtomicU64,
    inbox_depth: AtomicI64,
    flushes: AtomicU64,
    flushed_entries: AtomicU64,
    sync_nanos: AtomicU64,
    durable_wait_nanos: AtomicU64,
    inbox_skipped: AtomicU64,
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds as seconds, for the text exposition.
#[allow(clippy::cast_precision_loss)] // sub-nanosecond precision is not needed
fn seconds(nanos: &AtomicU64) -> f64 {
    nanos.load(Ordering::Relaxed) as f64 / 1e9
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, label: &str, by: u64) {
    if let Ok(mut m) = map.lock() {
        if let Some(v) = m.get_mut(label) {
            *v += by;
        } else {
            m.insert(label.to_owned(), by);
        }
    }
}

impl Metrics {
    /// Counts one webhook request.
    pub fn webhook(&self, outcome: WebhookOutcome) {
        let i = WebhookOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        if let Some(c) = self.webhooks.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Number of webhook requests seen with this outcome.
    pub fn webhook_count(&self, outcome: WebhookOutcome) -> u64 {
        WebhookOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .and_then(|i| self.webhooks.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts one sync action on a group (`assigned`, `skipped`, ...).
    pub fn sync_action(&self, action: &str) {
        bump(&self.sync_actions, action, 1);
    }

    /// Counts one Jira call by HTTP status (or `error` when no response came).
    pub fn jira_call(&self, status: &str) {
        bump(&self.jira_calls, status, 1);
    }

    /// Counts one processed delivery by final state.
    pub fn delivery(&self, state: &str) {
        bump(&self.deliveries, state, 1);
    }

    /// Counts one dead-letter event: `dead_lettered` (a delivery given up on), `retried`
    /// (put back into the inbox by an operator), `deleted`.
    pub fn dead_letter(&self, action: &str) {
        bump(&self.dead_letters, action, 1);
    }

    /// Counts one failed attempt that will be retried.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one restart of the worker after it panicked.
    pub fn worker_restart(&self) {
        self.worker_restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Restarts of the worker after a panic.
    pub fn worker_restarts(&self) -> u64 {
        self.worker_restarts.load(Ordering::Relaxed)
    }

    /// Counts one restart of a PostgreSQL intake writer after it panicked.
    pub fn intake_writer_restart(&self) {
        self.intake_writer_restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Restarts of PostgreSQL intake writers after a panic.
    pub fn intake_writer_restarts(&self) -> u64 {
        self.intake_writer_restarts.load(Ordering::Relaxed)
    }

    /// Adjusts the inbox depth gauge.
    pub fn inbox_add(&self, delta: i64) {
        self.inbox_depth.fetch_add(delta, Ordering::Relaxed);
    }

    /// Sets the inbox depth gauge.
    pub fn inbox_set(&self, depth: i64) {
        self.inbox_depth.store(depth, Ordering::Relaxed);
    }

    /// Current inbox depth.
    pub fn inbox_depth(&self) -> i64 {
        self.inbox_depth.load(Ordering::Relaxed)
    }

    /// Counts one group-commit flush covering `entries` deliveries.
    pub fn flush(&self, entries: u64) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flushed_entries.fetch_add(entries, Ordering::Relaxed);
    }

    /// Adds the duration of one inbox sync, from its start until the writer saw it finish.
    pub fn inbox_sync(&self, took: std::time::Duration) {
        self.sync_nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    /// Adds how long one stored delivery waited, from its hand-off to the writer until it
    /// was durable and its request was told so.
    pub fn inbox_durable_wait(&self, took: std::time::Duration) {
        self.durable_wait_nanos
            .fetch_add(nanos(took), Ordering::Relaxed);
    }

    /// Counts inbox records skipped on start because they were damaged (at least one per
    /// damaged stretch of a segment).
    pub fn inbox_skipped(&self, records: u64) {
        self.inbox_skipped.fetch_add(records, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(
            "# HELP reference_server_webhooks_received_total Webhook requests by outcome.\n\
             # TYPE reference_server_webhooks_received_total counter\n",
        );
        for o in WebhookOutcome::ALL {
            let _ = writeln!(
                out,
                "reference_server_webhooks_received_total{{outcome=\"{}\"}} {}",
                o.label(),
                self.webhook_count(o)
            );
        }
        render_map(
            &mut out,
            "reference_server_sync_actions_total",
            "Sync results per linked group.",
            "action",
            &self.sync_actions,
        );
        render_map(
            &mut out,
            "reference_server_jira_calls_total",
            "Calls to Jira by HTTP status (error: no response).",
            "status",
            &self.jira_calls,
        );
        render_map(
            &mut out,
            "reference_server_deliveries_processed_total",
            "Deliveries processed by the worker, by final state.",
            "state",
            &self.deliveries,
        );
        render_map(
            &mut out,
            "reference_server_dead_letters_total",
            "Dead-letter events: dead_lettered (given up after the retry budget), retried, deleted.",
            "action",
            &self.dead_letters,
        );
        let _ = write!(
            out,
            "# HELP reference_server_delivery_retries_total Failed attempts to apply a delivery that were scheduled for a retry.\n\
             # TYPE reference_server_delivery_retries_total counter\n\
             reference_server_delivery_retries_total {}\n\
             # HELP reference_server_worker_restarts_total Restarts of the worker after it panicked.\n\
             # TYPE reference_server_worker_restarts_total counter\n\
             reference_server_worker_restarts_total {}\n\
             # HELP reference_server_intake_writer_restarts_total Restarts of a PostgreSQL intake writer (it stores accepted deliveries) after it panicked.\n\
             # TYPE reference_server_intake_writer_restarts_total counter\n\
             reference_server_intake_writer_restarts_total {}\n",
            self.retries.load(Ordering::Relaxed),
            self.worker_restarts(),
            self.intake_writer_restarts(),
        );
        let _ = write!(
            out,
            "# HELP reference_server_inbox_depth Deliveries stored but not applied yet.\n\
             # TYPE reference_server_inbox_depth gauge\n\
             reference_server_inbox_depth {}\n\
             # HELP reference_server_inbox_flushes_total Group-commit flushes of the inbox.\n\
             # TYPE reference_server_inbox_flushes_total counter\n\
             reference_server_inbox_flushes_total {}\n\
             # HELP reference_server_inbox_flushed_entries_total Deliveries made durable by those flushes.\n\
             # TYPE reference_server_inbox_flushed_entries_total counter\n\
             reference_server_inbox_flushed_entries_total {}\n\
             # HELP reference_server_inbox_sync_seconds_total Time spent in those flushes (divide by the flushes for the mean).\n\
             # TYPE reference_server_inbox_sync_seconds_total counter\n\
             reference_server_inbox_sync_seconds_total {:.6}\n\
             # HELP reference_server_inbox_durable_wait_seconds_total Time stored deliveries waited to be durable before their 200 (divide by the flushed entries for the mean).\n\
             # TYPE reference_server_inbox_durable_wait_seconds_total counter\n\
             reference_server_inbox_durable_wait_seconds_total {:.6}\n\
             # HELP reference_server_inbox_records_skipped_total Inbox records skipped on start because they were damaged (at least one per damaged stretch of a segment; the segment is kept as *.corrupt).\n\
             # TYPE reference_server_inbox_records_skipped_total counter\n\
             reference_server_inbox_records_skipped_total {}\n",
            self.inbox_depth(),
            self.flushes.load(Ordering::Relaxed),
            self.flushed_entries.load(Ordering::Relaxed),
            seconds(&self.sync_nanos),
            seconds(&self.durable_wait_nanos),
            self.inbox_skipped.load(Ordering::Relaxed),
        );
        out
    }
}

fn render_map(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &Mutex<BTreeMap<String, u64>>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    if let Ok(m) = map.lock() {
        for (k, v) in m.iter() {
            let k = k.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.webhook(WebhookOutcome::Accepted);
        m.webhook(WebhookOutcome::Accepted);
        m.webhook(WebhookOutcome::BadToken);
        m.sync_action("assigned");
        m.jira_call("200");
        m.inbox_add(3);
        m.flush(2);
        m.inbox_sync(std::time::Duration::from_micros(1_500));
        m.inbox_durable_wait(std::time::Duration::from_millis(2));
        m.inbox_durable_wait(std::time::Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("reference_server_webhooks_received_total{outcome=\"accepted\"} 2\n")
        );
        assert!(
            text.contains("reference_server_webhooks_received_total{outcome=\"bad_token\"} 1\n")
        );
        assert!(text.contains("reference_server_sync_actions_total{action=\"assigned\"} 1\n"));
        assert!(text.contains("reference_server_jira_calls_total{status=\"200\"} 1\n"));
        assert!(text.contains("reference_server_inbox_depth 3\n"));
        assert!(text.contains("reference_server_inbox_flushes_total 1\n"));
        assert!(text.contains("reference_server_inbox_flushed_entries_total 2\n"));
        assert!(text.contains("reference_server_inbox_sync_seconds_total 0.001500\n"));
        assert!(text.contains("reference_server_inbox_durable_wait_seconds_total 0.005000\n"));
    }
}
