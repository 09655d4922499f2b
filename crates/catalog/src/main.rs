//! `knotwork-catalog`: runs the catalog service on its own. Settings come from
//! flags and `KNOTWORK_*` environment variables (`--help` lists them); an
//! invalid catalog data file or store makes it exit non-zero without serving.

#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::Parser as _;
use knotwork_catalog::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Held to the end of main: dropping it sends the last spans.
    let _telemetry = knotwork_runtime::telemetry::start(
        &config.log,
        "catalog",
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let admin = match config.admin_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?,
        ),
        None => None,
    };
    knotwork_catalog::run_with_admin(
        config,
        listener,
        admin,
        knotwork_runtime::shutdown::signal(),
    )
    .await
    .context("catalog service failed")?;
    Ok(())
}
