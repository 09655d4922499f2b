//! Knotwork's session service: a person's health screening, their durable
//! self-treatment journal, and whether it is helping.
//!
//! Entry point: [`run`] serves `knotwork.session.v1.SessionService` and
//! `SessionAdminService` (plus health and reflection) on a listener the
//! caller bound. Layout: `service.rs` (gRPC handlers) and `convert.rs`
//! (protobuf <-> domain) are the only modules that know tonic and prost;
//! `store/` is the only one that knows redb; `domain/` holds every
//! medical and safety rule, pure; `catalog.rs` keeps the catalog's rules and
//! thresholds in memory, fetched from the catalog service.
//!
//! Invariants: a write is acknowledged only after its redb transaction
//! committed with full durability (group commit, one writer thread); every
//! call needs the internal credential and acts only on the user id the
//! gateway put beside it; health reports SERVING once storage is open and a
//! catalog view is loaded (fetched, or persisted by the last run), or after
//! a short wait for the catalog: a catalog outage never keeps a shard
//! from serving what does not need it.

#![forbid(unsafe_code)]

pub mod catalog;
mod config;
pub mod convert;
pub mod domain;
mod durable;
mod error;
mod overview;
pub mod raft;
pub mod service;
mod shards;
pub mod store;
pub mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use knotwork_proto::names::{SESSION_ADMIN_SERVICE, SESSION_SERVICE};
use knotwork_proto::session::v1::session_admin_service_server::SessionAdminServiceServer;
use knotwork_proto::session::v1::session_service_server::SessionServiceServer;
use knotwork_runtime::internal::InternalAuth;

pub use config::Config;
pub use error::Error;

/// How long a start without a persisted catalog view waits for the catalog
/// before reporting SERVING.
const FIRST_VIEW_WAIT: Duration = Duration::from_secs(10);

/// Largest request accepted: a full batch of 500 sessions with long notes.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The gRPC services this crate serves, by full name.
pub const SERVICES: [&str; 2] = [SESSION_SERVICE, SESSION_ADMIN_SERVICE];

/// Serves the session service on `listener` until `shutdown` resolves, then
/// finishes in-flight calls (open guided-session streams end with
/// UNAVAILABLE once `shutdown_grace_secs` have passed), stops the writer and
/// returns.
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
    // Settings first: a weak secret or a wrong path stops the service
    // before it opens storage.
    knotwork_runtime::prod::check_internal_tokens(
        config.mode,
        &config.internal_token,
        config.internal_token_next.as_deref(),
    )
    .map_err(Error::Startup)?;
    let tls = knotwork_runtime::tls::server_config(&config.tls)
        .map_err(|e| Error::Startup(e.to_string()))?;
    let backend_tls = knotwork_runtime::tls::BackendTls::load(&config.backend_tls)
        .map_err(|e| Error::Startup(e.to_string()))?;
    let dir = config.data_dir.clone();
    let options = store::StoreOptions {
        max_batch: config.commit_batch_max,
        max_batch_bytes: config.commit_batch_mib.saturating_mul(1024 * 1024),
        cache_bytes: config.cache_mib.saturating_mul(1024 * 1024),
        quota: domain::quota::Quota {
            max_sessions: config.quota_sessions,
            max_bytes: config.quota_mib.saturating_mul(1024 * 1024),
        },
    };
    let store = Arc::new(open_store(&config, &dir, options, &backend_tls).await?);
    tracing::info!(data_dir = %config.data_dir.display(), "storage open");
    let initial = knotwork_runtime::shardmap::parse_shards(&config.initial_shards)
        .map_err(|e| Error::Startup(format!("--initial-shards: {e}")))?;
    let ownership = Arc::new(shards::Ownership::open(
        store.clone(),
        &config.data_dir,
        &config.shard_id,
        &initial,
    )?);
    let metrics = knotwork_runtime::metrics::Metrics::new("session");
    store.instrument(&metrics);

    let (reporter, health) = knotwork_runtime::grpc::health().await;
    let admin_port = knotwork_runtime::spawn_admin(
        "session",
        admin,
        None,
        &config.limits,
        metrics.clone(),
        health.clone(),
    );
    let (catalog, catalog_task) = catalog::spawn(
        &config.catalog_url,
        &backend_tls,
        Duration::from_secs(config.catalog_poll_secs.max(1)),
        Some(&config.data_dir),
        config.catalog_memory.clone(),
    )?;
    let health_task = {
        let mut catalog = catalog.clone();
        let mut storage = store.health();
        tokio::spawn(async move {
            // The view persisted by the last run counts as loaded. Without
            // one, wait a little for the catalog, then serve anyway: calls
            // that need it answer UNAVAILABLE until it is reachable, the
            // rest (journal reads, exports) work, and the probes do not
            // restart the shard during a catalog outage.
            if tokio::time::timeout(FIRST_VIEW_WAIT, catalog.loaded())
                .await
                .is_err()
            {
                tracing::warn!("no catalog view yet; serving the calls that do not need it");
            }
            // SERVING while writes commit; a storage failure (full disk,
            // I/O error) flips it until the writer's probe commits again.
            loop {
                let ok = *storage.borrow_and_update();
                if ok {
                    knotwork_runtime::grpc::set_serving(&reporter, &SERVICES).await;
                    tracing::info!("serving");
                } else {
                    knotwork_runtime::grpc::set_not_serving(&reporter, &SERVICES).await;
                    tracing::warn!("not serving: storage is failing");
                }
                if storage.changed().await.is_err() {
                    return;
                }
            }
        })
    };
    let (reflection_v1, reflection_v1alpha) = knotwork_runtime::grpc::reflection(&SERVICES)
        .map_err(|e| Error::Startup(format!("reflection: {e}")))?;
    let drain = knotwork_runtime::drain::Drain::start(
        shutdown,
        Duration::from_secs(config.shutdown_grace_secs),
    );
    let auth =
        InternalAuth::new(&config.internal_token).with_next(config.internal_token_next.as_deref());
    let svc = service::Session::new(store.clone(), catalog, auth.clone(), config.guide_speedup)
        .with_drain(drain.clone())
        .with_ownership(ownership.clone());
    tracing::info!(catalog = %config.catalog_url, "reading the catalog's rules");
    // The Raft messages of a group of more than one, on the same port.
    let raft_service = (config.raft.members().map_err(Error::Startup)?.len() > 1)
        .then(|| store.raft().cloned())
        .flatten()
        .map(|r| raft::RaftServer::new(r, auth.clone()).into_service());
    // One ownership check before every user-scoped handler.
    let layers =
        knotwork_runtime::backend_layers(&metrics, shards::OwnershipLayer::new(ownership, auth));
    let routes = tonic::service::Routes::new(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            SessionServiceServer::new(svc.clone()).max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            SessionAdminServiceServer::new(svc).max_decoding_message_size(MAX_REQUEST_BYTES),
        );
    let routes = match raft_service {
        Some(raft) => routes.add_service(raft),
        None => routes,
    };
    let result = knotwork_runtime::serve_backend(
        "session service",
        layers,
        routes,
        listener,
        tls,
        &config.limits,
        &drain,
    )
    .await;
    health_task.abort();
    catalog_task.abort();
    admin_port.stop();
    // In-flight calls are done; dropping the last handle stops the writer
    // thread after it has committed everything queued.
    match Arc::try_unwrap(store) {
        Ok(mut store) => store.close().await,
        Err(store) => {
            if let Some(raft) = store.raft() {
                let _ = raft.shutdown().await;
            }
            tracing::warn!("storage still referenced at shutdown");
        }
    }
    tracing::info!("session service stopped");
    result.map_err(|e| Error::Startup(format!("server: {e}")))
}

/// Opens the store as the settings say: one copy, a Raft group of one, or a
/// replica of a larger group.
async fn open_store(
    config: &Config,
    dir: &std::path::Path,
    options: store::StoreOptions,
    backend_tls: &knotwork_runtime::tls::BackendTls,
) -> Result<store::Store, Error> {
    if config.raft.replication == config::Replication::None {
        let dir = dir.to_owned();
        return tokio::task::spawn_blocking(move || store::Store::open(&dir, options))
            .await
            .map_err(|e| Error::Startup(format!("opening storage: {e}")))?;
    }
    let members = config.raft.members().map_err(Error::Startup)?;
    let mut replica = store::ReplicaOptions::single();
    replica.heartbeat_ms = config.raft.raft_heartbeat_ms.max(10);
    replica.snapshot_logs = config.raft.raft_snapshot_logs.max(10);
    replica.flush_every = std::time::Duration::from_millis(config.raft.raft_flush_ms);
    replica.node_id = config.raft.raft_node_id;
    if members.len() <= 1 {
        replica.members = [(replica.node_id, openraft::BasicNode::default())].into();
        return store::Store::open_replicated(dir, options, replica, raft::NoNetwork).await;
    }
    replica.members = members
        .into_iter()
        .map(|(id, url)| (id, openraft::BasicNode::new(url)))
        .collect();
    let network = raft::GrpcNetwork::new(backend_tls.clone(), &config.internal_token)
        .map_err(Error::Startup)?;
    store::Store::open_replicated(dir, options, replica, network).await
}
