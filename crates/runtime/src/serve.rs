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
use tonic::transport::server::Router;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service, ServiceExt};

use crate::drain::Drain;
use crate::listen::LimitArgs;
use crate::metrics::{Metrics, RedLayer};
use crate::status::StatusLayer;
use crate::trace::TraceLayer;
use crate::unwind::CatchPanicLayer;

/// The layers every backend service (catalog, session) runs each call
/// through, outermost first: its RED metrics, its span, the status checks,
/// and the catch of a handler's panic (INTERNAL, logged in the call's span
/// and counted by RED as such).
pub type BackendLayers =
    Stack<CatchPanicLayer, Stack<StatusLayer, Stack<TraceLayer, Stack<RedLayer, Identity>>>>;

/// The layers of a backend service, [`BackendLayers`], recording into
/// `metrics`, with the service's own `inner` layer innermost.
pub fn backend_layers<I>(metrics: &Metrics, inner: I) -> Stack<I, BackendLayers> {
    Stack::new(
        inner,
        Stack::new(
            CatchPanicLayer::new(metrics),
            Stack::new(
                StatusLayer,
                Stack::new(TraceLayer, Stack::new(metrics.layer(), Identity::new())),
            ),
        ),
    )
}

/// Serves a backend service (catalog, session): `routes` under `layers`
/// ([`backend_layers`]), as [`serve`] does. When `listener` has in-process
/// connections (`knotwork up`), the same stack is also served to the
/// in-process [`crate::memory::Link`]s: put in their slot now, taken out
/// when the drain starts, so a call in process meets the same layers and
/// handlers as one over TCP, and one after the drain is refused as a new
/// connection would be.
pub async fn serve_backend<L, ResBody>(
    service: &str,
    layers: L,
    routes: Routes,
    listener: impl Into<crate::listen::Listener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &LimitArgs,
    drain: &Drain,
) -> Result<(), tonic::transport::Error>
where
    L: Layer<Routes> + Clone,
    L::Service: Service<http::Request<Body>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as Service<http::Request<Body>>>::Future: Send + 'static,
    <L::Service as Service<http::Request<Body>>>::Error: Into<BoxError> + Send,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let listener: crate::listen::Listener = listener.into();
    let local = listener.local_slot();
    if let Some(slot) = &local {
        // One boxed service, as tonic's server runs each call: errors a
        // layer returns become statuses first.
        let stack = tonic::service::RecoverErrorLayer::new()
            .layer(layers.clone().layer(routes.clone().prepare()));
        slot.install(tower::util::BoxCloneSyncService::new(
            stack.map_response(|response: http::Response<_>| response.map(Body::new)),
        ));
    }
    let router = crate::listen::server(limits)
        .layer(layers)
        .add_routes(routes);
    let served = serve(service, router, listener, tls, limits, drain);
    let Some(slot) = local else {
        return served.await;
    };
    let draining = drain.draining();
    tokio::pin!(served, draining);
    let result = tokio::select! {
        r = &mut served => r,
        () = &mut draining => {
            slot.clear();
            served.await
        }
    };
    slot.clear();
    result
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    /// Serves `routes` under the backend layers on `listener` (TCP and the
    /// in-process slot it carries) until the sender fires; the task ends
    /// with the service's metrics.
    fn serve_until_stopped(
        listener: crate::listen::Listener,
        metrics: Metrics,
        routes: Routes,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<Metrics, tonic::transport::Error>>,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let drain = Drain::start(
            async move {
                let _ = stop_rx.await;
            },
            Duration::from_secs(1),
        );
        let server = tokio::spawn(async move {
            serve_backend(
                "test service",
                backend_layers(&metrics, Identity::new()),
                routes,
                listener,
                None,
                &LimitArgs::default(),
                &drain,
            )
            .await
            .map(|()| metrics)
        });
        (stop_tx, server)
    }

    /// A link reaches the service's stack in process: the call is answered
    /// by its handler and counted by its layers (RED metrics), with no
    /// connection made; before the service serves and once it drains, the
    /// link's calls are refused as an unreachable backend's are.
    #[tokio::test]
    async fn a_link_calls_the_served_stack_until_the_drain() {
        let slot = crate::memory::LocalSlot::default();
        let mut client = HealthClient::new(slot.link());
        let check = HealthCheckRequest {
            service: crate::grpc::LIVENESS.to_owned(),
        };

        let refused = client.check(check.clone()).await.unwrap_err();
        assert!(std::error::Error::source(&refused).is_some(), "{refused:?}");

        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = crate::listen::Listener::from(tcp).with_local(slot);
        let metrics = Metrics::new("catalog");
        let (_reporter, health) = crate::grpc::health().await;
        let (stop_tx, server) = serve_until_stopped(listener, metrics, Routes::new(health));

        let mut tries = 0;
        let answer = loop {
            match client.check(check.clone()).await {
                Ok(answer) => break answer.into_inner(),
                Err(e) if tries < 400 => {
                    tries += 1;
                    tracing::debug!(error = %e, "not serving yet");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => panic!("the link never reached the service: {e:?}"),
            }
        };
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );

        stop_tx.send(()).unwrap();
        let metrics = server.await.unwrap().unwrap();
        let refused = client.check(check).await.unwrap_err();
        assert!(std::error::Error::source(&refused).is_some(), "{refused:?}");
        // The handler ran under the service's layers: its RED metrics
        // counted the call answered in process.
        let rendered = metrics.render();
        assert!(
            rendered
                .lines()
                .any(|l| l.starts_with("knotwork_catalog_requests_total")
                    && l.contains("Check")
                    && l.contains("code=\"OK\"")
                    && !l.ends_with(" 0")),
            "{rendered}"
        );
    }

    /// Stands in for the health service, and panics on every call.
    #[derive(Clone)]
    struct Panics;

    impl tonic::server::NamedService for Panics {
        const NAME: &'static str = "grpc.health.v1.Health";
    }

    impl Service<http::Request<Body>> for Panics {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = knotwork_proto::BoxFuture<Result<Self::Response, Self::Error>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            Box::pin(async { panic!("a handler bug") })
        }
    }

    /// A backend handler that panics is answered INTERNAL, over TCP and in
    /// process alike (where, without the catch, the panic would unwind
    /// through the caller's own task: this test's), and counted.
    #[tokio::test]
    async fn a_handler_that_panics_is_answered_internal_in_process_and_over_tcp() {
        let slot = crate::memory::LocalSlot::default();
        let mut local = HealthClient::new(slot.link());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = crate::listen::Listener::from(tcp).with_local(slot);
        let metrics = Metrics::new("session");
        let (stop_tx, server) = serve_until_stopped(listener, metrics, Routes::new(Panics));
        let check = HealthCheckRequest::default();

        let mut tries = 0;
        let in_process = loop {
            match local.check(check.clone()).await {
                Err(e) if std::error::Error::source(&e).is_some() && tries < 400 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                answer => break answer.unwrap_err(),
            }
        };
        assert_eq!(in_process.code(), tonic::Code::Internal, "{in_process:?}");
        assert!(
            !in_process.message().contains("bug"),
            "the panic's text stays in the log: {in_process:?}"
        );

        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut remote = HealthClient::new(channel);
        let over_tcp = remote.check(check).await.unwrap_err();
        assert_eq!(over_tcp.code(), tonic::Code::Internal, "{over_tcp:?}");
        assert_eq!(over_tcp.message(), in_process.message());

        stop_tx.send(()).unwrap();
        drop(remote);
        let rendered = server.await.unwrap().unwrap().render();
        assert!(
            rendered
                .lines()
                .any(|l| l == "knotwork_session_panics_total 2"),
            "{rendered}"
        );
        // RED saw the answer the caller got.
        assert!(
            rendered
                .lines()
                .any(|l| l.starts_with("knotwork_session_requests_total")
                    && l.contains("code=\"INTERNAL\"")
                    && l.ends_with(" 2")),
            "{rendered}"
        );
    }
}
