//! A keep-alive HTTP/1.1 connection (hyper client) that reconnects after a transport error, and
//! the load loop that drives C of them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    bearer: Option<String>,
}

impl Conn {
    /// A connection to `addr` (connected lazily), optionally sending `Authorization: Bearer`.
    pub fn new(addr: SocketAddr, bearer: Option<String>) -> Self {
        Self {
            addr,
            sender: None,
            bearer,
        }
    }

    /// Connects now (so the timed part of a run does not include connection set-up).
    pub async fn connect(&mut self) -> Result<(), String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request and reads the whole response. A transport error drops the connection
    /// (the next call reconnects) and is returned as `Err`.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.connect().await?;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("not connected".to_owned());
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(b) = &self.bearer {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let req = builder
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let result = async {
            sender.ready().await.map_err(|e| format!("ready: {e}"))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("send: {e}"))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("read: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

/// The outcome of one delivery in a run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Delivery index.
    pub index: u32,
    /// Latency in microseconds (send to full response).
    pub micros: u32,
    /// Whether the server answered 200.
    pub ok: bool,
}

/// The result of one run.
#[derive(Debug)]
pub struct RunResult {
    /// One sample per delivery.
    pub samples: Vec<Sample>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// First few error descriptions.
    pub error_examples: Vec<String>,
}

impl RunResult {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        let n = self.samples.len();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let n = n as f64;
        n / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Number of deliveries not answered with 200.
    pub fn errors(&self) -> usize {
        self.samples.iter().filter(|s| !s.ok).count()
    }

    /// Latency percentile in microseconds (`q` in 0..=1).
    pub fn percentile(&self, q: f64) -> u32 {
        let mut v: Vec<u32> = self.samples.iter().map(|s| s.micros).collect();
        v.sort_unstable();
        if v.is_empty() {
            return 0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )] // q in 0..=1 times a length
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v.get(i).copied().unwrap_or_default()
    }

    /// Largest latency in microseconds.
    pub fn max(&self) -> u32 {
        self.samples.iter().map(|s| s.micros).max().unwrap_or(0)
    }
}

/// Sends `total` POSTs to `path` from `connections` keep-alive connections, as fast as they are
/// answered; `body(i)` builds delivery `i`. The connections are spread over `addrs`
/// round-robin (connection `j` goes to `addrs[j % addrs.len()]`: several replicas of a server).
pub async fn run<F>(
    addrs: &[SocketAddr],
    path: &str,
    total: usize,
    connections: usize,
    body: F,
) -> Result<RunResult, String>
where
    F: Fn(usize) -> Bytes + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let next = Arc::new(AtomicUsize::new(0));
    if addrs.is_empty() {
        return Err("no server to send to".to_owned());
    }
    let mut conns = Vec::with_capacity(connections);
    for j in 0..connections {
        let mut c = Conn::new(addrs[j % addrs.len()], None);
        c.connect().await?;
        conns.push(c);
    }
    let path: Arc<str> = Arc::from(path);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for mut conn in conns {
        let body = body.clone();
        let next = next.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(total / connections.max(1) + 1);
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let b = body(i);
                let t = Instant::now();
                let r = conn.request(Method::POST, &path, b).await;
                let micros = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                let ok = match r {
                    Ok((s, _)) if s == StatusCode::OK => true,
                    Ok((s, b)) => {
                        if errors.len() < 3 {
                            errors.push(format!("{s}: {}", String::from_utf8_lossy(&b)));
                        }
                        false
                    }
                    Err(e) => {
                        if errors.len() < 3 {
                            errors.push(e);
                        }
                        false
                    }
                };
                samples.push(Sample {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    micros,
                    ok,
                });
            }
            (samples, errors)
        }));
    }
    let mut samples = Vec::with_capacity(total);
    let mut error_examples = Vec::new();
    for t in tasks {
        let (s, e) = t.await.map_err(|e| format!("load task failed: {e}"))?;
        samples.extend(s);
        error_examples.extend(e);
    }
    let elapsed = started.elapsed();
    error_examples.truncate(5);
    Ok(RunResult {
        samples,
        elapsed,
        error_examples,
    })
}

/// Runs `jobs` admin requests (built by `job(i)` as method, path, body) over `connections`
/// connections; fails on a transport error. Returns the answers in job order.
pub async fn admin_batch<F>(
    addr: SocketAddr,
    token: &str,
    jobs: usize,
    connections: usize,
    job: F,
) -> Result<Vec<(StatusCode, Bytes)>, String>
where
    F: Fn(usize) -> (Method, String, Bytes) + Send + Sync + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let job = job.clone();
        let next = next.clone();
        let mut conn = Conn::new(addr, Some(token.to_owned()));
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                let (m, p, b) = job(i);
                let (s, body) = conn
                    .request(m.clone(), &p, b)
                    .await
                    .map_err(|e| format!("{m} {p}: {e}"))?;
                out.push((i, s, body));
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all: Vec<Option<(StatusCode, Bytes)>> = vec![None; jobs];
    for t in tasks {
        for (i, s, b) in t.await.map_err(|e| format!("admin task failed: {e}"))?? {
            if let Some(slot) = all.get_mut(i) {
                *slot = Some((s, b));
            }
        }
    }
    all.into_iter()
        .enumerate()
        .map(|(i, o)| o.ok_or_else(|| format!("admin job {i} has no answer")))
        .collect()
}
