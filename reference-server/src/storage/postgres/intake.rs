//! Group commit of accepted deliveries: [`Inbox::accept`](crate::storage::Inbox::accept) on
//! PostgreSQL.
//!
//! Each accept hands its delivery to a queue and waits; [`WRITERS`] writer tasks take
//! whatever is queued (at most [`MAX_ROWS`] deliveries or [`MAX_BYTES`] of bodies) and store
//! it with one multi-row `INSERT`, committed before any of its waiters is answered. Under load
//! one statement and one commit then serve many webhooks, instead of one each: fewer round
//! trips and WAL flushes, so PostgreSQL's CPU goes further and the answers' tail latency
//! drops (BENCHMARKS.md, "PostgreSQL results"). With a single request in flight a batch is
//! that one delivery, so nothing waits for company.
//!
//! The statement inserts in the order of the queue (`WITH ORDINALITY ... ORDER BY`), so the
//! identity column hands out increasing sequence numbers in that order; the returned numbers
//! are sorted before they are handed back, which does not rely on the order of `RETURNING`.
//! A failed statement fails the whole batch (one statement is atomic: nothing of it is
//! stored), and every waiter gets the error: its webhook is answered 503, never 200.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::Pg;
use super::storage::{backend, db, to_u64};
use crate::app::Faults;
use crate::metrics::Metrics;
use crate::storage::StorageError;

/// Writer tasks: one batch in flight per writer (a second one fills while the first commits).
pub const WRITERS: usize = 2;
/// Most deliveries in one statement.
pub const MAX_ROWS: usize = 256;
/// Most body bytes in one statement (a batch ends before the delivery that would pass it; a
/// single larger delivery is a batch of its own).
pub const MAX_BYTES: usize = 4 << 20;
/// Deliveries queued for the writers before accepts wait for room.
const QUEUE: usize = 4096;

/// One delivery waiting to be stored.
struct Pending {
    integration: i64,
    received_ms: i64,
    body: Vec<u8>,
    done: oneshot::Sender<Result<u64, String>>,
}

/// The queue to the writers (cheap to clone).
#[derive(Clone)]
pub(super) struct Intake {
    tx: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("queued", &(QUEUE - self.tx.capacity()))
            .finish()
    }
}

impl Intake {
    /// The queue and its writers, on the current tokio runtime. The writers end when the last
    /// `Intake` is dropped and the queue is empty. A writer that panics (a bug) is restarted at
    /// once, with an error logged and counted in `reference_server_intake_writer_restarts_total`;
    /// the deliveries of the batch it held are answered 503 (never 200), the queue is kept.
    pub(super) fn start(pg: &Pg, metrics: &Arc<Metrics>, faults: &Faults) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            let (pg, rx, metrics, faults) = (
                pg.clone(),
                Arc::clone(&rx),
                Arc::clone(metrics),
                faults.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let run = tokio::spawn(writer(pg.clone(), Arc::clone(&rx), faults.clone()));
                    match run.await {
                        Err(e) if e.is_panic() => {
                            let message = crate::app::panic_message(&*e.into_panic());
                            metrics.intake_writer_restart();
                            tracing::error!(panic = %message, "a PostgreSQL intake writer panicked; restarting it (the deliveries it held were answered 503)");
                        }
                        _ => return,
                    }
                }
            });
        }
        Self { tx }
    }

    /// Stores one delivery; its sequence number once the statement holding it committed.
    pub(super) async fn accept(
        &self,
        integration: i64,
        received_ms: i64,
        body: &[u8],
    ) -> Result<u64, StorageError> {
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            integration,
            received_ms,
            body: body.to_vec(),
            done,
        };
        let stopped = || backend("PostgreSQL: accepting a delivery: the intake has stopped".into());
        self.tx.send(pending).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(backend)
    }
}

/// Takes the next batch off the queue: waits for one delivery, then adds what is already
/// queued, up to the limits. `None` once the queue is closed and empty.
async fn next_batch(rx: &Mutex<mpsc::Receiver<Pending>>) -> Option<Vec<Pending>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut bytes = first.body.len();
    let mut batch = vec![first];
    while batch.len() < MAX_ROWS {
        let Ok(next) = rx.try_recv() else { break };
        bytes += next.body.len();
        let over = bytes > MAX_BYTES;
        batch.push(next);
        if over {
            break;
        }
    }
    Some(batch)
}

async fn writer(pg: Pg, rx: Arc<Mutex<mpsc::Receiver<Pending>>>, faults: Faults) {
    while let Some(batch) = next_batch(&rx).await {
        faults.maybe_panic_inbox_writer();
        match insert(&pg, &batch).await {
            Ok(seqs) => {
                for (p, seq) in batch.into_iter().zip(seqs) {
                    let _ = p.done.send(Ok(seq));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for p in batch {
                    let _ = p.done.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// One `INSERT` of the whole batch in autocommit; the sequence numbers in the batch's order.
async fn insert(pg: &Pg, batch: &[Pending]) -> Result<Vec<u64>, StorageError> {
    let what = "accepting deliveries";
    let c = pg.conn().await?;
    let ids: Vec<i64> = batch.iter().map(|p| p.integration).collect();
    let ms: Vec<i64> = batch.iter().map(|p| p.received_ms).collect();
    let bodies: Vec<&[u8]> = batch.iter().map(|p| p.body.as_slice()).collect();
    let st = c
        .prepare_cached(
            "INSERT INTO inbox (integration_id, received_ms, body) \
             SELECT i, r, b FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) \
             WITH ORDINALITY AS d(i, r, b, n) ORDER BY n RETURNING seq",
        )
        .await
        .map_err(db(what))?;
    let rows = c
        .query(&st, &[&ids, &ms, &bodies])
        .await
        .map_err(db(what))?;
    let mut seqs: Vec<u64> = rows.iter().map(|r| to_u64(r.get(0))).collect();
    if seqs.len() != batch.len() {
        return Err(backend(format!(
            "PostgreSQL: {what}: {} rows stored for {} deliveries",
            seqs.len(),
            batch.len()
        )));
    }
    seqs.sort_unstable();
    Ok(seqs)
}
