//! Knotwork's catalog service: the trigger point chart (body regions,
//! muscles, trigger points, referral zones, tools, technique guidance,
//! contraindications and red flags) over gRPC.
//!
//! Entry point: [`run`], which validates the catalog data file (the copy
//! built in from `data/catalog.toml`, or `--catalog-file`), imports it into
//! `<data_dir>/catalog.redb` when its content hash differs from the stored
//! one, loads the stored version and serves `knotwork.catalog.v1` until the
//! shutdown future resolves.
//!
//! Invariants:
//! - a catalog that fails validation is never served: `run` refuses to start,
//!   a reload is refused and the old version keeps serving;
//! - every response comes from exactly one catalog version and carries it;
//! - reads are served from memory; only `store.rs` knows redb, only
//!   `service.rs`/`convert.rs` know tonic and prost, `domain` is pure.

#![forbid(unsafe_code)]

mod config;
mod convert;
pub mod domain;
mod encoded;
mod error;
pub mod server;
mod service;
mod stamp;
pub mod state;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use knotwork_proto::catalog::v1::catalog_admin_service_server::CatalogAdminServiceServer;
use knotwork_runtime::drain::Drain;
use knotwork_runtime::internal::InternalAuth;
use tonic::codec::CompressionEncoding;

pub use config::Config;
pub use error::Error;

use crate::server::CatalogServer;
use crate::service::AdminApi;
use crate::state::{CatalogSource, ServedCatalog};
use crate::store::Store;

pub use knotwork_proto::names::{CATALOG_ADMIN_SERVICE as ADMIN_SERVICE, CATALOG_SERVICE};

/// Runs the catalog service on `listener` until `shutdown` resolves, then
/// finishes in-flight calls (connections still open `shutdown_grace_secs`
/// later are closed) and returns. Fails before serving when the store
/// cannot be opened or the catalog data file is invalid (the error names the
/// entry).
pub async fn run(
    config: Config,
    listener: impl Into<knotwork_runtime::listen::Listener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    run_with_admin(config, listener, None, shutdown).await
}

/// [`run`], plus the admin port on `admin` when given: Prometheus metrics
/// at `/metrics` and gRPC health (plain text, for the kubelet's probes).
pub async fn run_with_admin(
    config: Config,
    listener: impl Into<knotwork_runtime::listen::Listener>,
    admin: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    knotwork_runtime::prod::check_internal_tokens(
        config.mode,
        &config.internal_token,
        config.internal_token_next.as_deref(),
    )
    .map_err(Error::Config)?;
    let tls = knotwork_runtime::tls::server_config(&config.tls)?;
    let (reporter, health) = knotwork_runtime::grpc::health().await;
    let metrics = knotwork_runtime::metrics::Metrics::new("catalog");
    let store = Store::open(&config.data_dir).await?;
    let source = match &config.catalog_file {
        Some(path) => CatalogSource::File(path.clone()),
        None => CatalogSource::Embedded,
    };
    let served = Arc::new(ServedCatalog::start(source, store).await?);
    served.instrument(&metrics);
    // The admin port opens once the catalog is loaded: its startup probe
    // then measures the seeding.
    let admin_port = knotwork_runtime::spawn_admin(
        "catalog",
        admin,
        None,
        &config.limits,
        metrics.clone(),
        health.clone(),
    );
    let (reflection_v1, reflection_v1alpha) =
        knotwork_runtime::grpc::reflection(&[CATALOG_SERVICE])?;
    let sighup = spawn_sighup_reloader(served.clone());

    // The hot reads are written from answers encoded once per version
    // (`encoded`); the rest go through the generated server.
    let api = CatalogServer::new(served.clone(), Some(CompressionEncoding::Gzip));
    let admin = CatalogAdminServiceServer::new(AdminApi::new(
        served.clone(),
        InternalAuth::new(&config.internal_token).with_next(config.internal_token_next.as_deref()),
    ));
    knotwork_runtime::grpc::set_serving(&reporter, &[CATALOG_SERVICE, ADMIN_SERVICE]).await;
    let drain = Drain::start(shutdown, Duration::from_secs(config.shutdown_grace_secs));
    let layers = knotwork_runtime::backend_layers(&metrics, stamp::StampLayer::new(served.clone()));
    let routes = tonic::service::Routes::new(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api)
        .add_service(admin);
    let served = knotwork_runtime::serve_backend(
        "catalog service",
        layers,
        routes,
        listener,
        tls,
        &config.limits,
        &drain,
    )
    .await;
    if let Some(task) = sighup {
        task.abort();
    }
    knotwork_runtime::grpc::set_not_serving(&reporter, &[CATALOG_SERVICE, ADMIN_SERVICE]).await;
    admin_port.stop();
    served?;
    tracing::info!("catalog service stopped");
    Ok(())
}

/// On unix, SIGHUP reloads the catalog data file (like the admin call).
#[cfg(unix)]
fn spawn_sighup_reloader(served: Arc<ServedCatalog>) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with the admin call");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the catalog");
            if let Err(e) = served.reload().await {
                tracing::error!(error = %e, "catalog reload refused; the old version keeps serving");
            }
        }
    }))
}

#[cfg(not(unix))]
fn spawn_sighup_reloader(_catalogs: Arc<ServedCatalog>) -> Option<tokio::task::JoinHandle<()>> {
    None
}
