//! The server binary as a child process, for the tests that SIGKILL and restart it (`crash`,
//! `replicas`): [`Binary`] says how to start it (data directory, store, extra flags), [`Server`]
//! is one running process; [`Conn`] is a keep-alive HTTP connection that reconnects after
//! errors, [`api`] an admin call through one, [`webhook_path`] the webhook path the simulated
//! Jira was given at install.
//!
//! Every process gets `--admin-token` [`ADMIN`] (the in-process servers' token, so [`api`]
//! works on both) and logs at `warn` into `server.log` in its directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use jira_sim::SimulatedJira;
use serde_json::Value;
use tokio::process::{Child, Command};

pub use crate::common::ADMIN;
use crate::common::free_port;

/// How long a process may take to answer `/healthz` after it was started.
const START_WITHIN: Duration = Duration::from_secs(30);
/// How long one `/healthz` probe of a starting process may take.
const PROBE_WITHIN: Duration = Duration::from_secs(2);
/// How long one request may take (connecting, sending, the whole answer): past it the request
/// fails, so a server that accepts and never answers fails the test instead of hanging it.
const REQUEST_WITHIN: Duration = Duration::from_secs(30);
/// How long a killed process may take to be gone.
const KILLED_WITHIN: Duration = Duration::from_secs(30);

/// A keep-alive connection that reconnects after errors.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    /// One request (`auth`: with the admin token); `Err` when the connection failed or was
    /// cut before the whole answer arrived, or no answer came within [`REQUEST_WITHIN`] (the
    /// next request connects again).
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        auth: bool,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), String> {
        let result = tokio::time::timeout(REQUEST_WITHIN, self.send(method, path, auth, body))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_WITHIN:?}")));
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: bool,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), String> {
        if self
            .sender
            .as_ref()
            .is_none_or(hyper::client::conn::http1::SendRequest::is_closed)
        {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| e.to_string())?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().ok_or("no connection")?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json");
        if auth {
            req = req.header("authorization", format!("Bearer {ADMIN}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        sender.ready().await.map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }

    /// `method /api/v1{path}` with the admin token; asserts a 2xx and returns the JSON answer
    /// (`null` when there is none).
    pub async fn api(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let (s, b) = self
            .request(method.clone(), &format!("/api/v1{path}"), true, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(
            s.is_success(),
            "{method} {path}: {s} {}",
            String::from_utf8_lossy(&b)
        );
        serde_json::from_slice(&b).unwrap_or(Value::Null)
    }
}

/// One admin call on a connection of its own (see [`Conn::api`]).
pub async fn api(addr: SocketAddr, method: Method, path: &str, body: Option<Value>) -> Value {
    Conn::new(addr).api(method, path, body).await
}

/// The path (`/extensions/jira-server/issue-updated/<token>/`) of the webhook the simulated
/// Jira was given by the (only) install.
pub fn webhook_path(jira: &SimulatedJira) -> String {
    let hook = jira
        .webhooks()
        .first()
        .expect("webhook registered")
        .url
        .clone();
    hook.get(hook.find("/extensions/").expect("webhook path")..)
        .expect("path")
        .to_owned()
}

/// How to start the server binary: `serve --data-dir <dir>/data` with a store and flags.
#[derive(Debug, Clone)]
pub struct Binary {
    dir: PathBuf,
    store: Option<String>,
    args: Vec<String>,
}

impl Binary {
    /// The binary on `dir` (the data directory is `dir/data`, the log `dir/server.log`), with
    /// the sled store unless [`Binary::store`] says otherwise.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            store: None,
            args: Vec::new(),
        }
    }

    /// `--store <url>`.
    #[must_use]
    pub fn store(mut self, url: &str) -> Self {
        self.store = Some(url.to_owned());
        self
    }

    /// More flags.
    #[must_use]
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|&a| a.to_owned()));
        self
    }

    /// The data directory (`dir/data`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Starts on a free port (another one if the port was taken meanwhile) and waits for
    /// `/healthz`; a process that exits for another reason (the store did not open) fails the
    /// test with its log.
    pub async fn start(&self) -> Server {
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            if let Some(server) = self.try_start_on(addr).await {
                return server;
            }
        }
        panic!("could not start the server: no free port");
    }

    /// Starts again on `addr` (the same flags as before); retries while the port is still
    /// taken, for at most [`START_WITHIN`].
    pub async fn restart_on(&self, addr: SocketAddr) -> Server {
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if let Some(server) = self.try_start_on(addr).await {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "could not listen on {addr} again"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts on `addr` and waits for `/healthz`; `None` when it could not listen there.
    async fn try_start_on(&self, addr: SocketAddr) -> Option<Server> {
        let log_path = self.log_path();
        let log_start = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_reference-server"));
        command
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(self.data_dir())
            .args(["--admin-token", ADMIN])
            .args(&self.args)
            .env_remove("REFERENCE_SERVER_STORE")
            .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
            .env("REFERENCE_SERVER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true);
        if let Some(store) = &self.store {
            command.args(["--store", store]);
        }
        let mut child = command.spawn().expect("server starts");
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read(&log_path).unwrap_or_default();
                let this_start = String::from_utf8_lossy(
                    log.get(usize::try_from(log_start).unwrap_or(0)..)
                        .unwrap_or_default(),
                )
                .into_owned();
                assert!(
                    this_start.contains("cannot listen"),
                    "server exited with {status} on start (store did not open?):\n{this_start}"
                );
                return None; // port taken meanwhile
            }
            // A short wait per probe: whatever else may listen on the port meanwhile (the
            // port was only free a moment ago), the loop goes on to see the process exit.
            let mut probe = Conn::new(addr);
            let probe = probe.request(Method::GET, "/healthz", false, Vec::new());
            if let Ok(Ok((StatusCode::OK, _))) = tokio::time::timeout(PROBE_WITHIN, probe).await
                && matches!(child.try_wait(), Ok(None))
            {
                return Some(Server { child, addr });
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A running server process (killed when dropped).
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// SIGKILL, and waits until the process is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        tokio::time::timeout(KILLED_WITHIN, self.child.wait())
            .await
            .expect("the killed process is gone")
            .expect("wait");
    }

    /// SIGTERM; asserts a clean exit within a minute.
    pub async fn stop_gracefully(mut self) {
        let pid = self.child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_mins(1), self.child.wait())
            .await
            .expect("stops within 60 s")
            .expect("wait");
        assert!(exit.success(), "graceful stop failed: {exit}");
    }
}
