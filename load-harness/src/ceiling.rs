//! The ceilings, each a bare hyper 1.x HTTP/1.1 server that reads the whole body:
//!
//! * [`serve`] answers 200 at once (the ceiling of every mix on sled, and of mixes b and c on
//!   PostgreSQL);
//! * [`serve_pg`] first inserts the body into a plain table, `ceiling_inbox`, and answers 200
//!   once the insert is committed (the PostgreSQL ceiling of mix a): what storing a delivery
//!   durably costs at least, with the server's client (tokio-postgres), pool (deadpool, same
//!   size and recycling) and the same connection count from the load generator.
//!
//! It runs in its own process (the harness re-executes itself with `ceiling`), with the same
//! runtime shape as the reference server (tokio multi-thread, one task per connection), so the
//! ratio compares the servers, not the process set-ups.

use std::net::SocketAddr;

use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use reference_server::storage::postgres::PgUrl;
use tokio::net::TcpListener;
use tokio_postgres::NoTls;

/// Environment variable that gives `ceiling --pg` its URL (the harness passes it this way,
/// out of the process list).
pub const PG_ENV: &str = "LOAD_HARNESS_CEILING_PG";

/// The PostgreSQL ceiling's table (created if missing).
pub const CEILING_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS ceiling_inbox (\
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body bytea NOT NULL)";

const INSERT: &str = "INSERT INTO ceiling_inbox (body) VALUES ($1)";

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = req.into_body().collect().await?.to_bytes();
    std::hint::black_box(body.len());
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::OK;
    Ok(resp)
}

async fn insert(pool: &Pool, body: &[u8]) -> Result<(), String> {
    let c = pool.get().await.map_err(|e| format!("pool: {e}"))?;
    let st = c
        .prepare_cached(INSERT)
        .await
        .map_err(|e| format!("prepare: {e}"))?;
    c.execute(&st, &[&body])
        .await
        .map_err(|e| format!("insert: {e}"))?;
    Ok(())
}

async fn handle_pg(
    pool: Pool,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = req.into_body().collect().await?.to_bytes();
    // Autocommit: the INSERT is committed (and, with synchronous_commit on, flushed) when
    // `execute` returns, as the server's accept.
    let (status, text) = match insert(&pool, &body).await {
        Ok(()) => (StatusCode::OK, Bytes::new()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Bytes::from(e)),
    };
    let mut resp = Response::new(Full::new(text));
    *resp.status_mut() = status;
    Ok(resp)
}

async fn bind(listen: SocketAddr) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("ceiling: cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    Ok(listener)
}

/// Serves forever on `listen`; prints `listening on <addr>` once bound.
pub async fn serve(listen: SocketAddr) -> Result<(), String> {
    let listener = bind(listen).await?;
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                .await;
        });
    }
}

/// The PostgreSQL ceiling: connects a pool of at most `pool_size` connections to `url`,
/// creates `ceiling_inbox` if missing, then serves forever on `listen` (prints
/// `listening on <addr>` once ready).
pub async fn serve_pg(listen: SocketAddr, url: &str, pool_size: usize) -> Result<(), String> {
    let url = PgUrl::parse(url).map_err(|e| e.to_string())?;
    let manager = Manager::from_config(
        url.config().clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("ceiling: pool: {e}"))?;
    {
        let c = pool
            .get()
            .await
            .map_err(|e| format!("ceiling: cannot connect to {}: {e}", url.describe()))?;
        c.batch_execute(CEILING_TABLE_DDL)
            .await
            .map_err(|e| format!("ceiling: creating ceiling_inbox: {e}"))?;
    }
    let listener = bind(listen).await?;
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let pool = pool.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(move |req| handle_pg(pool.clone(), req)),
                )
                .await;
        });
    }
}
