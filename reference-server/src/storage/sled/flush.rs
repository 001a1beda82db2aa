//! Group commit for the sled store: one task owns `sled::Db::flush()`.
//!
//! A caller that needs its writes on disk takes a *ticket* and waits. The flusher task collects
//! every ticket waiting, runs a single `flush()` on the blocking pool and answers all of them, so
//! N concurrent callers cost about one flush, and there is never more than one flush in flight
//! (sled 0.34.7 hangs with 8 or more concurrent `flush_async` calls).
//!
//! Used by the admin API (writes are durable before the answer) and by the inbox before it
//! retires a segment (keeps it to be written over, or deletes it) whose deliveries the store
//! now records.

use tokio::sync::{mpsc, oneshot};

use super::store::Store;

type Ticket = oneshot::Sender<Result<(), String>>;

/// Errors of [`StoreFlush::flushed`].
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// The flusher task is gone (the server is shutting down).
    #[error("the store flusher has stopped; the server is shutting down")]
    Closed,
    /// sled could not flush; check the disk (space, permissions, I/O errors in the kernel log).
    #[error("flushing the store failed: {0}")]
    Failed(String),
}

/// Handle on the store's flusher task (cheap to clone).
#[derive(Debug, Clone)]
pub struct StoreFlush {
    tickets: mpsc::UnboundedSender<Ticket>,
    /// The first failed flush: sled keeps its first I/O error and fails every later write, so
    /// the store cannot recover without a restart.
    failed: tokio::sync::watch::Receiver<Option<String>>,
}

impl StoreFlush {
    /// Spawns the flusher task on the current tokio runtime. It ends when every handle is
    /// dropped.
    pub fn start(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (failed_tx, failed) = tokio::sync::watch::channel(None);
        (
            Self {
                tickets: tx,
                failed,
            },
            tokio::spawn(flusher(store, rx, failed_tx)),
        )
    }

    /// Why the store failed for good (a flush failed), if it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// Returns once a flush failed (never when none does), with the reason.
    pub async fn failed(&self) -> String {
        let mut rx = self.failed.clone();
        loop {
            if let Some(e) = rx.borrow_and_update().clone() {
                return e;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Waits until everything written to the store before this call is on disk (shares
    /// flushes with concurrent callers).
    pub async fn flushed(&self) -> Result<(), FlushError> {
        let (tx, rx) = oneshot::channel();
        self.tickets.send(tx).map_err(|_| FlushError::Closed)?;
        rx.await
            .map_err(|_| FlushError::Closed)?
            .map_err(FlushError::Failed)
    }
}

async fn flusher(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Ticket>,
    failed: tokio::sync::watch::Sender<Option<String>>,
) {
    let mut batch: Vec<Ticket> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let s = store.clone();
        let result = match tokio::task::spawn_blocking(move || s.flush_blocking()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("flush task failed: {e}")),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "store flush failed");
            failed.send_if_modified(|f| {
                let first = f.is_none();
                if first {
                    *f = Some(e.clone());
                }
                first
            });
        }
        for t in batch.drain(..) {
            let _ = t.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_are_all_answered() {
        let store = Store::temporary().expect("open");
        let (flush, task) = StoreFlush::start(store.clone());
        let mut waiting = Vec::new();
        for i in 0u32..32 {
            store.groups.insert(i.to_be_bytes(), &[]).expect("insert");
            let f = flush.clone();
            waiting.push(tokio::spawn(async move { f.flushed().await }));
        }
        for w in waiting {
            w.await.expect("join").expect("flushed");
        }
        drop(flush);
        task.await
            .expect("the flusher ends when every handle is dropped");
    }
}
