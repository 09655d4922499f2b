//! The `knotwork-session` binary: runs the session service on its own.
//! Settings come from flags or `KNOTWORK_*` variables (`--help` lists them).

#![forbid(unsafe_code)]

use clap::Parser;
use knotwork_session::Config;

/// glibc malloc arenas for this process. With glibc's default (8 per core)
/// the reader and writer threads spread redb's page buffers over many
/// arenas, and under a steady write load resident memory kept growing while
/// the live heap stayed flat; with 2 it levels off (BENCHMARKS.md, soak).
const MALLOC_ARENA_MAX: &str = "2";

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::parse();
    // Held to the end of main: dropping it sends the last spans.
    let _telemetry = knotwork_runtime::telemetry::start(
        &config.log,
        "session",
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let admin = match config.admin_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
        None => None,
    };
    knotwork_session::run_with_admin(
        config,
        listener,
        admin,
        knotwork_runtime::shutdown::signal(),
    )
    .await?;
    Ok(())
}

/// glibc reads `MALLOC_ARENA_MAX` only at start-up, so when it is unset the
/// binary runs itself again with it set (same process id and arguments). A
/// value set by the operator is kept; other C libraries ignore it.
#[cfg(target_os = "linux")]
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
        .env("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
        .exec();
    // Only reached when the exec failed: run on with glibc's default.
    eprintln!("knotwork-session: cannot restart with MALLOC_ARENA_MAX={MALLOC_ARENA_MAX}: {err}");
}

#[cfg(not(target_os = "linux"))]
fn limit_malloc_arenas() {}
