//! How every service serves its listener until shutdown, so the three
//! `run` functions keep only what is theirs: accepting connections under
//! the listener limits (and TLS when configured), graceful shutdown when
//! the drain starts, and the hard stop after the drain deadline.

use std::sync::Arc;

use bytes::Bytes;
use knotwork_proto::BoxError;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service};

use crate::drain::Drain;
use crate::listen::LimitArgs;
use crate::metrics::{Metrics, RedLayer};
use crate::status::StatusLayer;
use crate::trace::TraceLayer;

/// The layers every backend service (catalog, session) runs each call
/// through, outermost first: its RED metrics, its span, the status checks.
pub type BackendLayers = Stack<StatusLayer, Stack<TraceLayer, Stack<RedLayer, Identity>>>;

/// The server of a backend service: [`crate::listen::server`] under
/// `limits`, with [`BackendLayers`] recording into `metrics`. The service
/// adds its own layer (innermost) and services.
pub fn backend_server(limits: &LimitArgs, metrics: &Metrics) -> Server<BackendLayers> {
    crate::listen::server(limits)
        .layer(metrics.layer())
        .layer(TraceLayer)
        .layer(StatusLayer)
}

/// Serves `router` on `listener` (TLS-wrapped when `tls` is set, under
/// `limits`) until `drain` starts draining, then lets in-flight calls
/// finish. Connections still open [`crate::drain::HARD_STOP_MARGIN`] after
/// the drain deadline are closed: nothing (a stuck peer, a stream not
/// bounded by the drain) holds the process past it. `service` names the
/// service in the log lines (`"catalog service"`: "catalog service listening").
pub async fn serve<L, ResBody>(
    service: &str,
    router: Router<L>,
    listener: impl Into<crate::listen::Listener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &LimitArgs,
    drain: &Drain,
) -> Result<(), tonic::transport::Error>
where
    L: Layer<Routes>,
    L::Service:
        Service<http::Request<Body>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    <L::Service as Service<http::Request<Body>>>::Future: Send,
    <L::Service as Service<http::Request<Body>>>::Error: Into<BoxError> + Send,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let listener: crate::listen::Listener = listener.into();
    // Tests and tools read the bound address from this line.
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, tls = tls.is_some(), "{service} listening"),
        Err(e) => tracing::warn!(error = %e, tls = tls.is_some(), "{service} listening"),
    }
    let served = router.serve_with_incoming_shutdown(
        crate::listen::incoming(listener, tls, limits),
        drain.draining(),
    );
    let result = tokio::select! {
        r = served => r,
        () = drain.hard_stop() => {
            tracing::warn!("connections still open after the drain deadline; closing them");
            Ok(())
        }
    };
    tracing::info!("{service} stopped serving");
    result
}

/// Stops the admin port when dropped (or when [`AdminPort::stop`] is called).
#[derive(Debug)]
#[must_use = "the admin port stops when this is dropped"]
pub struct AdminPort(Option<tokio::sync::oneshot::Sender<()>>);

impl AdminPort {
    /// Stops the admin port now.
    pub fn stop(mut self) {
        self.0.take();
    }
}

/// Serves the admin port, when there is one, in a task until the returned
/// [`AdminPort`] is dropped: Prometheus metrics at `/metrics` and gRPC
/// health (`health`) for the kubelet's probes
/// ([`crate::metrics::serve_admin`]).
pub fn spawn_admin<G>(
    service: &str,
    admin: Option<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &LimitArgs,
    metrics: Metrics,
    health: G,
) -> AdminPort
where
    G: Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    G::Future: Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let Some(admin) = admin else {
        return AdminPort(Some(stop));
    };
    tracing::info!(addr = ?admin.local_addr().ok(), tls = tls.is_some(), "{service} admin (metrics, health) listening");
    tokio::spawn(crate::metrics::serve_admin(
        crate::listen::incoming(admin, tls, limits),
        metrics,
        health,
        async move {
            let _ = stopped.await;
        },
    ));
    AdminPort(Some(stop))
}
