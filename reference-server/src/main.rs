//! `reference-server` binary: `serve` and `simulate-jira`.

use clap::Parser as _;
use reference_server::config::{Cli, Command};
use tracing_subscriber::EnvFilter;

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core), and memory
/// freed in one arena is not reused by another: with sled's I/O threads, tokio's blocking
/// threads and the worker, about 70 MB more stayed resident after the load harness's webhook
/// mixes with 10^6 links (242 MB peak, 127 MB with two arenas; see the README's Memory section).
/// glibc reads `MALLOC_ARENA_MAX` only when the process starts, so when it is unset the binary
/// sets it to 2 and executes itself again, once, with the same arguments and process id. An
/// explicit `MALLOC_ARENA_MAX` (any value) is left alone.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    // Only reached when the exec failed: go on with glibc's default arenas.
    eprintln!(
        "note: could not restart with MALLOC_ARENA_MAX=2 ({err}); using glibc's default malloc arenas"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("REFERENCE_SERVER_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = runtime.block_on(async move {
        match cli.command {
            Command::Serve(config) => reference_server::server::run(config)
                .await
                .map_err(|e| e.to_string()),
            Command::SimulateJira(args) => reference_server::simulated_jira::run(args)
                .await
                .map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
