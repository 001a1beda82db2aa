//! `reference-server` binary: `serve`.

use std::io::IsTerminal as _;

use clap::Parser as _;
use reference_server::config::{Cli, Command};
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: with 10^6 links glibc's per-thread arenas and
/// fragmentation from the embedded store's node churn kept 143 MB resident after seeding and 172 MB after
/// 100 000 assignee deliveries (with `MALLOC_ARENA_MAX=2`; 242 MB without); jemalloc kept
/// 117 MB and 148 MB, and seeding and the worker were faster (see docs/operating.md, "Memory").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        // Colour only on a terminal: escape codes in a log file or a journal are noise.
        .with_ansi(std::io::stdout().is_terminal())
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(config) => reference_server::server::run(config).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // 2 for a PostgreSQL store that cannot be used (configuration or environment).
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
