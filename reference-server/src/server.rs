//! Starting and stopping a server: data directory, admin token, storage, worker, HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{AppState, TokenIndex};
use crate::config::ServeConfig;
use crate::http::ConnSettings;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::storage::postgres::{PgStartError, PgUrl};
use crate::storage::{Inbox as _, Storage, StorageConfig, StorageError};
use crate::worker::Worker;

const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Errors while starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory or admin token file could not be used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// Path involved.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The storage could not be opened or read back (another server using the same data
    /// directory holds its lock, or the files are damaged); the message says which part.
    #[error(transparent)]
    Storage(StorageError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is the port in use? choose another with --listen)")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The worker thread could not be started (the system is out of threads or memory).
    #[error("cannot start the worker thread: {0}")]
    Worker(std::io::Error),
    /// Flushing the storage at shutdown failed.
    #[error("flushing the store at shutdown failed: {0}")]
    Flush(StorageError),
    /// The store failed while running in a way it cannot recover from (sled keeps its first
    /// I/O error, such as a full disk, and fails every later write): the server stopped.
    #[error(
        "the store failed and cannot recover without a restart: {0}; start the server again (after a disk error, first fix the disk: free space, check the kernel log for I/O errors)"
    )]
    StoreFailed(String),
    /// The PostgreSQL store (`--store postgres://...`) could not be used at start.
    #[error(transparent)]
    Postgres(#[from] PgStartError),
    /// Settings that cannot work together.
    #[error("{0}")]
    Settings(String),
}

impl ServerError {
    /// The process exit code for this failure: [`PgStartError::EXIT_CODE`] (2) for a
    /// PostgreSQL store that cannot be used, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Postgres(_) => u8::try_from(PgStartError::EXIT_CODE).unwrap_or(2),
            Self::Settings(_) => 2,
            _ => 1,
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct ServerHandle {
    /// Address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// Public URL.
    pub public_url: String,
    /// Admin token.
    pub admin_token: Secret,
    /// Shared state (tests may inspect the store and metrics).
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl ServerHandle {
    /// Stops accepting, lets in-flight requests finish, stops the worker, flushes the store.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        drop(self.state);
        match self.task.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "server task failed");
                Ok(())
            }
        }
    }

    /// Waits until the server stops (after [`ServerHandle::request_shutdown`]).
    pub async fn wait(self) -> Result<(), ServerError> {
        drop(self.state);
        self.task.await.unwrap_or(Ok(()))
    }

    /// Asks the server to stop (non-blocking).
    pub fn request_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Where the admin token comes from.
enum AdminToken {
    /// `--admin-token` or `REFERENCE_SERVER_ADMIN_TOKEN`.
    Configured(Secret),
    /// The file in the data directory, from an earlier start.
    Stored(Secret, PathBuf),
    /// None yet: a new one, written to the file and printed once the server is up.
    New(Secret, PathBuf),
}

impl AdminToken {
    fn secret(&self) -> &Secret {
        match self {
            Self::Configured(t) | Self::Stored(t, _) | Self::New(t, _) => t,
        }
    }
}

/// Reads the admin token: the configured one, else the stored one, else a new one (in memory
/// only: it is stored and printed by [`AdminToken::announce`] once the server is up, so a start
/// that fails leaves nothing behind and the next good start prints it).
fn admin_token(config: &ServeConfig) -> Result<AdminToken, ServerError> {
    if let Some(t) = &config.admin_token {
        return Ok(AdminToken::Configured(t.clone()));
    }
    let path = config.data_dir.join(ADMIN_TOKEN_FILE);
    let io = |source| ServerError::DataDir {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => {
            return Ok(AdminToken::Stored(Secret::new(s.trim()), path));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let token = Secret::generate().map_err(io)?;
    Ok(AdminToken::New(token, path))
}

impl AdminToken {
    /// Once the server is up: stores a new token and prints it (once, on the terminal, not
    /// through the logs), and logs on every start where the token comes from (never the token).
    fn announce(&self) -> Result<(), ServerError> {
        match self {
            Self::Configured(_) => {
                tracing::info!("admin token: from --admin-token (REFERENCE_SERVER_ADMIN_TOKEN)");
            }
            Self::Stored(_, path) => {
                tracing::info!(path = %path.display(), "admin token: stored in this file");
            }
            Self::New(token, path) => {
                write_private(path, token.expose()).map_err(|source| ServerError::DataDir {
                    path: path.display().to_string(),
                    source,
                })?;
                eprintln!(
                    "Generated admin token (stored in {}): {}",
                    path.display(),
                    token.expose()
                );
                tracing::info!(path = %path.display(), "admin token: generated and stored in this file");
            }
        }
        Ok(())
    }
}

/// Creates `--data-dir` if missing, readable by its owner only (mode 0700; its parent
/// synced), with a message that names the fix when it cannot be. An existing directory that
/// other users may read or enter is logged as a warning.
fn create_data_dir(dir: &Path) -> Result<(), ServerError> {
    if dir.is_dir() {
        if let Some(warning) = loose_mode(dir) {
            tracing::warn!(data_dir = %dir.display(), "{warning}");
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    let Err(source) = builder.create(dir) else {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty())
            && let Err(e) = std::fs::File::open(parent).and_then(|f| f.sync_all())
        {
            tracing::warn!(error = %e, parent = %parent.display(), "cannot sync the data directory's parent");
        }
        return Ok(());
    };
    let path = dir.display().to_string();
    let reason = if dir.exists() && !dir.is_dir() {
        "it exists and is not a directory: give --data-dir a directory (created if missing)"
    } else if dir.ancestors().skip(1).any(|a| a.exists() && !a.is_dir()) {
        "a part of the path is a file, not a directory: give --data-dir a path under a directory"
    } else if source.kind() == std::io::ErrorKind::PermissionDenied {
        "no permission to create it: create it as an administrator and give it to the user \
         running the server, or choose a path that user may write"
    } else {
        return Err(ServerError::DataDir { path, source });
    };
    Err(ServerError::DataDir {
        path,
        source: std::io::Error::new(source.kind(), reason),
    })
}

/// What is wrong with the mode of an existing data directory, if anything: other users may
/// read or enter it (the deliveries, the links, the admin token are in it).
fn loose_mode(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the data directory has mode {mode:o}: other users may read it (webhook deliveries, links, the admin token); run `chmod 700` on it"
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Makes every file under `dir` readable by its owner only (0600) and every directory under it
/// 0700 (sled creates its files with the process's umask); `dir` itself is left as it is.
fn make_private(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                if mode != 0o700 {
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700))?;
                }
                make_private(&entry.path())?;
            } else if meta.is_file() && mode & 0o077 != 0 {
                std::fs::set_permissions(
                    entry.path(),
                    std::fs::Permissions::from_mode(mode & 0o700),
                )?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// Segments of `--inbox-segment-kb` that `--inbox-max-mb` must hold at least (sled).
const INBOX_LIMIT_SEGMENTS: u64 = 4;

/// On sled the limit counts the bytes of the inbox's segment files, and a segment's bytes are
/// released only once it is sealed (full) and all of it applied: a limit below a few segments
/// could be reached inside the open segment, which would then never fill, rotate and free its
/// bytes, and every delivery would be refused for good. Such a pair is refused at start.
fn check_inbox_limit(config: &ServeConfig) -> Result<(), ServerError> {
    let max_kb = config.inbox_max_mb.saturating_mul(1024);
    let needed_kb = config.inbox_segment_kb.saturating_mul(INBOX_LIMIT_SEGMENTS);
    if config.store == "sled" && config.inbox_max_mb > 0 && max_kb < needed_kb {
        return Err(ServerError::Settings(format!(
            "--inbox-max-mb {} is below {INBOX_LIMIT_SEGMENTS} inbox segments of --inbox-segment-kb {} ({} MiB): the inbox frees space a whole segment at a time, so it could stop taking deliveries for good; raise --inbox-max-mb to at least {} or lower --inbox-segment-kb (or 0 for no limit)",
            config.inbox_max_mb,
            config.inbox_segment_kb,
            needed_kb.div_ceil(1024),
            needed_kb.div_ceil(1024),
        )));
    }
    Ok(())
}

/// Starts a server (opens the storage, which replays the inbox; binds; serves).
pub async fn start(config: ServeConfig) -> Result<ServerHandle, ServerError> {
    check_inbox_limit(&config)?;
    // First, before the store opens its files: raise the open-file limit.
    let max_connections = crate::http::fd_limit::connection_budget(config.max_connections);
    create_data_dir(&config.data_dir)?;
    let token_source = admin_token(&config)?;
    let admin_token = token_source.secret().clone();
    let metrics = Arc::new(Metrics::default());
    let storage_config = StorageConfig {
        data_dir: config.data_dir.clone(),
        cache_mb: config.cache_mb,
        inbox_segment_bytes: config.inbox_segment_kb.saturating_mul(1024),
        inbox_max_bytes: config.inbox_max_mb.saturating_mul(1 << 20),
        faults: config.faults.clone(),
    };
    let (storage, storage_tasks) = if config.store == "sled" {
        let opened = Storage::open(&storage_config, metrics.clone())
            .await
            .map_err(ServerError::Storage)?;
        // sled's files get the umask's mode: owner only, like everything else in the directory.
        make_private(&config.data_dir).map_err(|source| ServerError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        opened
    } else {
        let url = PgUrl::parse(&config.store).map_err(PgStartError::from)?;
        let pool_size = usize::try_from(config.pg_pool_size).unwrap_or(usize::MAX);
        let (storage, tasks) =
            Storage::open_postgres(&url, pool_size, metrics.clone(), config.faults.clone()).await?;
        storage
            .set_inbox_max_bytes(config.inbox_max_mb.saturating_mul(1 << 20))
            .await;
        (storage, tasks)
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let public_url = config.public_url_for(addr);
    // Up (storage open, port bound): only now is a new admin token stored and printed.
    token_source.announce()?;
    let pending = storage
        .pending_count()
        .await
        .map_err(ServerError::Storage)?;
    let state = Arc::new(AppState {
        storage,
        metrics,
        admin_token: admin_token.clone(),
        public_url: public_url.clone(),
        body_limit: config.body_limit,
        body_timeout: Duration::from_secs(if config.body_timeout_secs == 0 {
            config.header_timeout_secs.max(1)
        } else {
            config.body_timeout_secs
        }),
        tokens: TokenIndex::default(),
        delivery_log_keep: config.delivery_log_keep,
        ignored: crate::webhook::IgnoredRing::default(),
        jira: crate::integration_jira::JiraSettings {
            timeout: Duration::from_secs(config.jira_timeout_secs.max(1)),
            max_response_bytes: config.jira_max_response_bytes,
            status_cache_ttl: Duration::from_secs(config.jira_status_cache_ttl_secs),
        },
        install_locks: crate::integration_jira::InstallLocks::default(),
        shutting_down: std::sync::atomic::AtomicBool::new(false),
        retry: crate::worker::RetryPolicy {
            max_attempts: config.retry_max_attempts,
            max_age: Duration::from_secs(config.retry_max_age_secs),
        },
        faults: config.faults.clone(),
    });
    let (tx, rx) = watch::channel(false);
    if pending > 0 {
        tracing::info!(pending, "replaying deliveries stored before the last stop");
    }
    let worker = spawn_worker(state.clone(), rx.clone())?;
    let settings = ConnSettings {
        header_read_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
        shutdown_grace: Duration::from_secs(config.shutdown_timeout_secs),
        write_timeout: Duration::from_secs(config.write_timeout_secs.max(1)),
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
    };
    let serve_state = state.clone();
    let mut serve_rx = rx;
    let stop_tx = tx.clone();
    let task = tokio::spawn(async move {
        let signal_state = serve_state.clone();
        let (failed_tx, failed_rx) = tokio::sync::oneshot::channel();
        crate::http::serve(listener, serve_state.clone(), settings, async move {
            tokio::select! {
                _ = serve_rx.wait_for(|stop| *stop) => {}
                reason = signal_state.storage.failed() => {
                    tracing::error!(
                        error = %reason,
                        "the store failed and cannot recover without a restart (sled keeps its first I/O error; or the inbox writer died); stopping with a non-zero exit so a supervisor restarts the server"
                    );
                    let _ = failed_tx.send(reason);
                    let _ = stop_tx.send(true);
                }
            }
            signal_state
                .shutting_down
                .store(true, std::sync::atomic::Ordering::Relaxed);
        })
        .await;
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "worker thread failed");
        }
        drop(serve_state);
        let stopped = storage_tasks.stop().await;
        if let Ok(reason) = failed_rx.await {
            return Err(ServerError::StoreFailed(reason));
        }
        stopped.map_err(ServerError::Flush)?;
        tracing::info!("store flushed; bye");
        Ok(())
    });
    tracing::info!(%addr, %public_url, data_dir = %config.data_dir.display(), max_connections, "reference-server listening");
    Ok(ServerHandle {
        addr,
        public_url,
        admin_token,
        state,
        shutdown: tx,
        task,
    })
}

/// Runs the worker on its own thread with its own single-threaded runtime, so that applying
/// deliveries (CPU-heavy: full parse, sync, storage writes) never holds up the runtime threads that
/// answer webhooks. The returned task completes when the worker stops.
///
/// The worker is supervised: when it panics (a bug), the panic is logged as an error, counted
/// in `reference_server_worker_restarts_total`, and a new worker starts on the same runtime
/// after a pause (1 s, doubling to 60 s while it keeps panicking within a minute of its
/// start), so the inbox is never left undrained while webhooks are answered 200. What the
/// panicked worker had claimed and not finished stays pending and is applied again.
fn spawn_worker(
    state: Arc<AppState>,
    shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ServerError> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("sync-worker".to_owned())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => supervise_worker(&rt, &state, &shutdown),
                Err(e) => tracing::error!(error = %e, "cannot start the worker's runtime"),
            }
            // The server closes the storage once this is sent: no handle on it may be left.
            drop(state);
            let _ = done_tx.send(());
        })
        .map_err(ServerError::Worker)?;
    Ok(tokio::spawn(async move {
        let _ = done_rx.await;
    }))
}

/// Runs the worker on `rt` until it stops, restarting it after a panic (see [`spawn_worker`]).
fn supervise_worker(
    rt: &tokio::runtime::Runtime,
    state: &Arc<AppState>,
    shutdown: &watch::Receiver<bool>,
) {
    const FIRST_PAUSE: Duration = Duration::from_secs(1);
    const MAX_PAUSE: Duration = Duration::from_mins(1);
    let mut pause = FIRST_PAUSE;
    loop {
        let started = std::time::Instant::now();
        let worker = Worker::new(state.clone());
        // The worker's lanes are local tasks: they run on this thread, in this set.
        let lanes = tokio::task::LocalSet::new();
        let run = std::panic::AssertUnwindSafe(|| {
            rt.block_on(lanes.run_until(worker.run(shutdown.clone())));
        });
        let Err(panic) = std::panic::catch_unwind(run) else {
            return;
        };
        let message = crate::app::panic_message(&*panic);
        state.metrics.worker_restart();
        if started.elapsed() > MAX_PAUSE {
            pause = FIRST_PAUSE;
        }
        tracing::error!(panic = %message, restart_in = ?pause, "the worker panicked; restarting it (its unfinished deliveries stay in the inbox)");
        let mut stop = shutdown.clone();
        let stopping = rt.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(pause) => false,
                r = stop.wait_for(|s| *s) => r.is_ok(),
            }
        });
        if stopping || *shutdown.borrow() {
            return;
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(config: ServeConfig) -> Result<(), ServerError> {
    // Listen for the signals before starting: a SIGTERM that arrives while the server starts
    // (a supervisor stopping it right away) is a graceful stop once it is up, not a kill.
    let signals = ShutdownSignals::listen();
    let handle = start(config).await?;
    signals.received().await;
    tracing::info!("shutdown requested");
    handle.shutdown().await
}

/// SIGINT and SIGTERM, listened for from creation on.
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for {name}");
                    None
                }
            };
            Self {
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn received(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.interrupt) => {}
                () = next(self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn a_data_directory_others_may_read_is_warned_about() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let warning = loose_mode(dir.path()).expect("a warning");
        assert!(
            warning.contains("755") && warning.contains("chmod 700"),
            "{warning}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        assert_eq!(loose_mode(dir.path()), None);
    }

    #[test]
    fn a_new_data_directory_is_0700_and_files_under_it_become_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("a").join("data");
        create_data_dir(&data).expect("created");
        assert_eq!(mode(&data), 0o700);
        std::fs::create_dir(data.join("db")).expect("mkdir");
        std::fs::set_permissions(data.join("db"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::write(data.join("db").join("conf"), b"x").expect("write");
        std::fs::set_permissions(
            data.join("db").join("conf"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        make_private(&data).expect("modes fixed");
        assert_eq!(mode(&data.join("db")), 0o700);
        assert_eq!(mode(&data.join("db").join("conf")), 0o600);
    }
}
