//! The `knotwork-session` binary: runs the session service on its own.
//! Settings come from flags or `KNOTWORK_*` variables (`--help` lists them).

#![forbid(unsafe_code)]

use clap::Parser;
use knotwork_session::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    knotwork_runtime::telemetry::init(
        config.log.log_format,
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    knotwork_session::run(config, listener, knotwork_runtime::shutdown::signal()).await?;
    Ok(())
}
