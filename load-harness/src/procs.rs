//! Child processes: the release `reference-server` binary and the ceiling servers.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

use crate::client::Conn;

/// The `reference-server` binary next to this executable (both live in `target/release`).
pub fn server_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let dir = me
        .parent()
        .ok_or_else(|| "this executable has no directory".to_owned())?;
    let bin = dir.join(format!("reference-server{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it first with `cargo build --release -p reference-server -p load-harness` \
             (or pass --server-bin)",
            bin.display()
        ))
    }
}

/// A free local port (bound then released; the server binds it right after).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A running reference server child process.
pub struct ServerProc {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// Its admin token.
    pub admin_token: String,
    /// Process id.
    pub pid: u32,
}

impl ServerProc {
    /// Starts `bin serve` on a free port with `data_dir`, logs to `log` (warn level), and
    /// waits until `GET /healthz` answers. `options` are more `serve` options (e.g.
    /// `--cache-mb 8`); `store`, when given, is passed as `REFERENCE_SERVER_STORE` (a
    /// PostgreSQL URL, kept out of the process list).
    pub async fn start(
        bin: &Path,
        data_dir: &Path,
        log: &Path,
        options: &[String],
        store: Option<&str>,
    ) -> Result<Self, String> {
        let admin_token = "load-harness-admin-token".to_owned();
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let port = free_port()?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log_file = std::fs::File::create(log)
                .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
            let mut command = Command::new(bin);
            if let Some(store) = store {
                command.env("REFERENCE_SERVER_STORE", store);
            }
            let mut child = command
                .arg("serve")
                .args(options)
                .arg("--listen")
                .arg(addr.to_string())
                .arg("--data-dir")
                .arg(data_dir)
                .env("REFERENCE_SERVER_ADMIN_TOKEN", &admin_token)
                .env(
                    "REFERENCE_SERVER_LOG",
                    "warn,reference_server::api::import=info",
                )
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            let pid = child.id().unwrap_or_default();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("the server exited with {status}; see {}", log.display());
                    break;
                }
                let mut c = Conn::new(addr, None);
                if let Ok((StatusCode::OK, _)) =
                    c.request(Method::GET, "/healthz", Bytes::new()).await
                {
                    return Ok(Self {
                        child,
                        addr,
                        admin_token,
                        pid,
                    });
                }
                if Instant::now() > deadline {
                    let _ = child.kill().await;
                    return Err(format!(
                        "the server did not answer /healthz within 30 s; see {}",
                        log.display()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(last_err)
    }

    /// Peak resident set size (`VmHWM`) in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.pid)
    }

    /// SIGTERM, then waits for a graceful exit (the store is flushed and closed).
    pub async fn stop(mut self) -> Result<(), String> {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .map_err(|e| format!("kill -TERM: {e}"))?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed", self.pid));
        }
        match tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await {
            Ok(Ok(s)) if s.success() => Ok(()),
            Ok(Ok(s)) => Err(format!("the server exited with {s} on SIGTERM")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => {
                let _ = self.child.kill().await;
                Err("the server did not stop within 60 s of SIGTERM".to_owned())
            }
        }
    }
}

/// `VmHWM` of a process in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The ceiling server (this executable re-run as `load-harness ceiling`).
pub struct CeilingProc {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
}

impl CeilingProc {
    /// Starts it (`ceiling` with `args`, and `env`) and reads the address it prints.
    pub async fn start(args: &[String], env: &[(&str, &str)]) -> Result<Self, String> {
        let me =
            std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
        let mut child = Command::new(me)
            .arg("ceiling")
            .args(args)
            .env_remove(crate::ceiling::PG_ENV)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the ceiling server: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "ceiling server has no stdout".to_owned())?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| "the ceiling server did not start within 30 s".to_owned())?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the ceiling server exited".to_owned())?;
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected ceiling output: {line}"))?;
        Ok(Self { child, addr })
    }

    /// Kills it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The Python baseline (`python/baseline.py`: PyJWT + `json.loads` under gunicorn with 2
/// workers) as a child process.
pub struct PythonBaseline {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
}

impl PythonBaseline {
    /// Starts `python -m gunicorn --workers 2` on a free port with `secret` as the JWT key and
    /// waits until it accepts connections. gunicorn also reads `GUNICORN_CMD_ARGS` from the
    /// environment (e.g. `--worker-class gthread --threads 4`).
    pub async fn start(python: &str, secret: &str) -> Result<Self, String> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}")
            .parse()
            .map_err(|e| format!("address: {e}"))?;
        let mut child = Command::new(python)
            .args(["-m", "gunicorn", "--workers", "2", "--log-level", "warning"])
            .arg("--bind")
            .arg(addr.to_string())
            .arg("--chdir")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/python"))
            .arg("baseline:app")
            .env("BASELINE_JWT_SECRET", secret)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {python} -m gunicorn: {e}"))?;
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "gunicorn exited ({status}); install it with `{python} -m pip install gunicorn PyJWT`"
                ));
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err("gunicorn did not accept connections within 20 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self { child, addr })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
