//! Knotwork's gateway: the only part apps and browsers talk to.
//!
//! One port serves `knotwork.catalog.v1.CatalogService` (public),
//! `knotwork.session.v1.SessionService` and `knotwork.gateway.v1.ViewService`
//! (bearer token) over gRPC (HTTP/2) and grpc-web (binary and text, HTTP/1.1
//! and HTTP/2) with CORS preflights, plus `grpc.health.v1` (reflecting the
//! backends' health) and server reflection for those services. The admin
//! services of the backends are never exposed. Prometheus metrics are served
//! on a separate admin listener.
//!
//! Entry points: [`run`] (the seam `main.rs`, `knotwork up` and the tests
//! use), [`mint_dev_token`] (for `knotwork token`) and [`reshard`] (for
//! `knotwork reshard`).
//!
//! How a call travels: CORS ([`tower_http::cors`]) -> grpc-web translation
//! ([`tonic_web`]) -> the edge layer ([`layer`]: strips client-supplied
//! `x-knotwork-user-id`/`x-knotwork-internal-token`, request id, tracing
//! span, metrics) -> [`intake`] (header size, pending-body caps per
//! connection and caller, the body timeout) -> the catch of a handler's
//! panic ([`knotwork_runtime::unwind`], INTERNAL) -> a handler in [`service`] (address and user rate
//! limits, JWT check in [`auth`], deadline) -> [`upstream`] (catalog round
//! robin with one retry, session shard by [`route::shard_for`]).
//!
//! Invariants: outgoing requests carry only the message and the metadata
//! the gateway sets itself, so no client can speak as another user; nothing
//! unauthenticated reaches a session shard; tokens and secrets are never
//! logged; every backend call has a deadline.
//!
//! # Adding a session shard
//! Users are placed by a jump consistent hash of SHA-256(user id) over the
//! shard list in order ([`route`]). Appending a shard moves about 1/(n+1)
//! of the users, all to the new shard; reordering or removing shards moves
//! more. To change the list:
//! 1. start the new shard (empty) and drain or pause client traffic;
//! 2. run `knotwork reshard --from OLD_LIST --to NEW_LIST` ([`reshard`]):
//!    for each user whose shard changes it exports, imports on the new
//!    shard, verifies the copy by exporting again, and only then deletes the
//!    user from the old shard (rerunnable: import replaces);
//! 3. restart every gateway with the new `--session-shards` list.

#![forbid(unsafe_code)]

mod auth;
mod backend;
mod catalog_cache;
mod config;
mod convert;
mod domain;
mod error;
mod intake;
mod layer;
mod limit;
mod metrics;
mod reshard;
mod route;
mod service;
mod shards;
mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use knotwork_proto::gateway::v1::view_service_server::ViewServiceServer;
use knotwork_proto::names::{CATALOG_SERVICE, SESSION_SERVICE, VIEW_SERVICE};
use knotwork_proto::session::v1::session_service_server::SessionServiceServer;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use auth::{mint_dev_token, scope_of};
pub use config::{Config, Mode};
pub use error::Error;
pub use reshard::online::{OnlineOptions, OnlineReport, parse as parse_shard_list, reshard_online};
pub use reshard::{ReshardReport, reshard, reshard_with_tls};
pub use route::shard_for;
pub use service::relief_plan_query;

/// The CORS policy: the listed origins; with none listed, any origin in dev
/// mode and none in prod mode.
fn cors(config: &Config) -> Result<CorsLayer, Error> {
    let listed: Vec<&str> = config
        .cors_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    let allow_origin =
        if listed.contains(&"*") || (listed.is_empty() && config.mode == config::Mode::Dev) {
            AllowOrigin::any()
        } else {
            let origins = listed
                .iter()
                .map(|o| {
                    HeaderValue::from_str(o)
                        .map_err(|_| Error::Config(format!("bad CORS origin {o:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            AllowOrigin::list(origins)
        };
    let header = HeaderName::from_static;
    Ok(CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header("authorization"),
            header("content-type"),
            header("x-grpc-web"),
            header("x-user-agent"),
            header("grpc-timeout"),
            header("x-request-id"),
            header("traceparent"),
            header("tracestate"),
        ])
        .expose_headers([
            header("grpc-status"),
            header("grpc-message"),
            header("grpc-status-details-bin"),
            header("x-request-id"),
        ])
        .max_age(Duration::from_secs(24 * 3600)))
}

/// Serves the gateway on `listener` (and metrics on `admin`) until
/// `shutdown` resolves; in-flight calls finish first, and forwarded streams
/// still open `shutdown_grace_secs` later end with UNAVAILABLE.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.validate()?;
    // TLS files first: a wrong path stops the gateway before it serves.
    let tls = knotwork_runtime::tls::server_config(&config.tls)
        .map_err(|e| Error::Config(e.to_string()))?;
    let backend_tls = knotwork_runtime::tls::BackendTls::load(&config.backend_tls)
        .map_err(|e| Error::Config(e.to_string()))?;
    if config.mode == config::Mode::Prod {
        if tls.is_none() {
            tracing::warn!(
                "prod mode without --tls-cert: the gateway serves plain text; \
                 TLS must end in front of it (ingress, load balancer)"
            );
        }
        if backend_tls.enabled() && !backend_tls.has_client_identity() {
            tracing::warn!(
                "prod mode without --backend-client-cert: backends cannot verify \
                 the gateway by certificate (mTLS), only by the internal credential"
            );
        }
    }
    let metrics = metrics::Metrics::new()?;
    // OpenID providers are discovered before serving: a wrong issuer, an
    // unreachable provider or an unusable JWKS stops the gateway here.
    let authenticator = auth::Authenticator::from_config(&config, &metrics).await?;
    let internal_token: tonic::metadata::AsciiMetadataValue =
        config.internal_token.parse().map_err(|_| {
            Error::Config("the internal credential is not a valid header value".to_owned())
        })?;
    let upstreams = Arc::new(upstream::Upstreams::new(
        &config.catalog_urls,
        &config.session_shards,
        &backend_tls,
        Duration::from_millis(config.backend_connect_timeout_ms),
        config.backend_connections,
        &config.memory_backends,
        (config.catalog_resolve_secs > 0).then(|| Duration::from_secs(config.catalog_resolve_secs)),
        &metrics,
        internal_token.clone(),
    )?);
    let trusted_proxies = config.trusted_proxies()?;
    let catalog_cache = catalog_cache::CatalogCache::new(config.catalog_cache_bytes, &metrics);
    let shared = Arc::new(service::Shared {
        auth: authenticator,
        upstreams: upstreams.clone(),
        limits: limit::Limits::new(
            config.user_rate,
            config.user_burst,
            config.addr_rate,
            config.addr_burst,
            metrics.clone(),
        ),
        internal_token,
        max_timeout: config.max_backend_timeout(),
        max_stream_timeout: Duration::from_millis(config.max_stream_timeout_ms),
        max_message: config.max_message_bytes,
        metrics: metrics.clone(),
        trusted_proxies,
        forwarded_header: config.forwarded_header,
        guide_streams: limit::Slots::new(config.max_guide_streams_per_user),
        catalog_cache: catalog_cache.clone(),
    });
    let intake = intake::Intake::new(
        shared.clone(),
        config.limits.max_header_bytes as usize,
        Duration::from_millis(config.body_timeout_ms),
        config.max_pending_per_connection,
        config.max_pending_per_user,
    );

    let (reporter, health) = knotwork_runtime::grpc::health().await;
    let (reflection_v1, reflection_v1alpha) =
        knotwork_runtime::grpc::reflection(&[CATALOG_SERVICE, SESSION_SERVICE, VIEW_SERVICE])
            .map_err(|e| Error::Internal(format!("reflection: {e}")))?;

    // Dropping or signalling the sender stops the background tasks.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    shared.auth.spawn_refresh(&stop_rx);
    tokio::spawn(catalog_cache::poll_versions(
        catalog_cache,
        upstreams.clone(),
        Duration::from_millis(config.catalog_cache_poll_ms.max(10)),
        stop_rx.clone(),
    ));
    tokio::spawn(upstream::poll_health(
        upstreams,
        reporter,
        metrics.clone(),
        Duration::from_millis(config.health_interval_ms.max(10)),
        stop_rx.clone(),
    ));
    let admin_port = knotwork_runtime::spawn_admin(
        "gateway",
        admin,
        tls.clone(),
        &config.limits,
        metrics.registry().clone(),
        health.clone(),
    );
    {
        let shared = shared.clone();
        let mut stop = stop_rx;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => shared.limits.sweep(),
                    _ = stop.changed() => return,
                }
            }
        });
    }

    let max = config.max_message_bytes;
    let drain = knotwork_runtime::drain::Drain::start(
        async move {
            shutdown.await;
            tracing::info!("gateway shutting down");
            let _ = stop_tx.send(true);
            admin_port.stop();
        },
        Duration::from_secs(config.shutdown_grace_secs),
    );
    let mut server = knotwork_runtime::listen::server(&config.limits);
    if config.max_connection_age_secs > 0 {
        // GOAWAY after this age: clients reconnect, through the load
        // balancer, and new gateway replicas get their share.
        server = server
            .max_connection_age(Duration::from_secs(config.max_connection_age_secs))
            .max_connection_age_grace(Duration::from_secs(config.max_connection_age_grace_secs));
    }
    // Innermost: a handler's panic is answered INTERNAL, and the edge's
    // span and RED metrics see that answer.
    let catch_panics = knotwork_runtime::unwind::CatchPanicLayer::new(metrics.registry());
    let router = server
        .accept_http1(true)
        .tcp_nodelay(true)
        .layer(cors(&config)?)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(layer::EdgeLayer::new(metrics))
        .layer(intake::IntakeLayer::new(intake))
        .layer(knotwork_runtime::status::StatusLayer)
        .layer(catch_panics)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // Catalog reads are forwarded as encoded bytes (the size limits
        // are the shared ones, applied inside).
        .add_service(service::CatalogForward::new(shared.clone()))
        // Unary session calls too; the server streams go typed.
        .add_service(service::SessionBytes::new(
            shared.clone(),
            SessionServiceServer::new(
                service::SessionForward::new(shared.clone()).with_drain(drain.clone()),
            )
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        ))
        .add_service(
            ViewServiceServer::new(service::Views::new(shared))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        );
    knotwork_runtime::serve("gateway", router, listener, tls, &config.limits, &drain).await?;
    Ok(())
}
