//! HTTP/1 server on hyper: accept loop, per-connection limits, graceful shutdown.

pub mod error;
pub mod fd_limit;
pub mod response;
pub mod router;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

use crate::app::AppState;

/// Largest request head (request line and headers) accepted: hyper's read buffer is capped at
/// this, and [`router`] answers 431 to a head that arrived whole but is larger (hyper parses a
/// head that fits in one read whatever its size).
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnSettings {
    /// Time allowed for a client to send a request head: from the connection's start, and
    /// between keep-alive requests (so it also closes silent and idle connections).
    pub header_read_timeout: Duration,
    /// Time to wait for in-flight requests after shutdown is requested.
    pub shutdown_grace: Duration,
    /// Time an answer may stay unwritten because the client does not read.
    pub write_timeout: Duration,
    /// Connections served at once ([`fd_limit::connection_budget`]).
    pub max_connections: usize,
}

/// Serves connections until `shutdown` completes, then stops accepting, lets in-flight requests
/// finish (up to the grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    settings: ConnSettings,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    // Every connection task, so that `serve` returns only once each has ended and dropped its
    // handle on the state (and so on the store, whose directory lock a restart in the same
    // process needs). Finished tasks are reaped at each accept.
    let mut connections = tokio::task::JoinSet::new();
    // One permit per connection: at the limit, new connections wait in the listen queue.
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    // A write pending longer than the write timeout (a client that does not
                    // read its answers) ends the connection. A silent client and an idle
                    // keep-alive connection are hyper's header read timeout: its timer runs
                    // whenever the connection waits for a request head. (No read timeout
                    // here: it would re-arm a timer on every request.)
                    let mut stream = TimeoutStream::new(stream);
                    stream.set_write_timeout(Some(settings.write_timeout));
                    let state = state.clone();
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(router::route(&state, req).await) }
                    });
                    let mut builder = http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(settings.header_read_timeout)
                        .max_buf_size(MAX_HEAD_BYTES);
                    let conn = builder.serve_connection(TokioIo::new(Box::pin(stream)), svc);
                    let conn = graceful.watch(conn);
                    while connections.try_join_next().is_some() {}
                    connections.spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: no longer accepting, waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(settings.shutdown_grace) => {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
