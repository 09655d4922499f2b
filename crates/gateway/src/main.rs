//! The `knotwork-gateway` binary: parses the configuration, starts logging,
//! binds the gRPC and admin listeners and runs [`knotwork_gateway::run`]
//! until SIGTERM or Ctrl-C.

#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use knotwork_gateway::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Held to the end of main: dropping it sends the last spans.
    let _telemetry = knotwork_runtime::telemetry::start(
        &config.log,
        "gateway",
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let admin = tokio::net::TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.admin_listen))?;
    knotwork_gateway::run(
        config,
        listener,
        Some(admin),
        knotwork_runtime::shutdown::signal(),
    )
    .await
    .context("gateway failed")
}
