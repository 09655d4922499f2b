//! Prometheus metrics, the one metrics library of every service
//! (the `prometheus` crate, one registry per service instance, so the
//! all-in-one `knotwork up` and the tests that boot several services in one
//! process keep each service's numbers apart).
//!
//! Every service makes one [`Metrics`] with its name. It registers, under
//! the `knotwork_<service>_` prefix, the RED metrics per gRPC method
//! (`requests_total` and `errors_total` by method and code,
//! `request_duration_seconds` by method and code, `in_flight_requests`),
//! and `knotwork_build_info{service,version}`. [`RedLayer`] records them
//! for a tonic server; the gateway's edge layer uses [`Red::start`]
//! directly.
//!
//! Adding a metric is one line where it is counted:
//! `let refused = metrics.counter("quota_refusals_total", "Writes refused by the quota.");`
//! then `refused.inc()`. The name gets the service prefix; see also
//! [`Metrics::counter_vec`], [`Metrics::gauge`], [`Metrics::histogram`].
//!
//! [`serve_admin`] serves the admin port: `GET /metrics` over HTTP/1.1 and
//! `grpc.health.v1` over HTTP/2 (plain text, for the kubelet's gRPC probes,
//! like etcd's separate metrics listener).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Full};
use prometheus::{Encoder, HistogramOpts, Opts, Registry, TextEncoder};
/// The metric types the helpers return, so services need no direct
/// dependency on the library.
pub use prometheus::{
    Gauge, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};
use tower::{Layer, Service};

use knotwork_proto::BoxError;

/// Latency buckets for calls and commits, seconds: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The method label of calls whose path is not a known method (unknown
/// methods share it, so callers cannot inflate the label set).
pub(crate) const UNKNOWN_METHOD: &str = "unknown";

/// A hook run before each scrape, to refresh gauges that are cheaper to
/// read on demand than to keep current (sizes, counts).
type Hook = Box<dyn Fn() + Send + Sync>;

struct Inner {
    service: &'static str,
    registry: Registry,
    red: Red,
    hooks: Mutex<Vec<Hook>>,
}

/// One service's metrics registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry for `service` (`catalog`, `session`, `gateway`) with the
    /// RED metrics and the build info registered.
    pub fn new(service: &'static str) -> Self {
        let registry = Registry::new();
        let prefix = format!("knotwork_{service}_");
        let red = Red::new(&registry, &prefix);
        let this = Self {
            inner: Arc::new(Inner {
                service,
                registry,
                red,
                hooks: Mutex::new(Vec::new()),
            }),
        };
        let info = this.raw_gauge_vec(
            "knotwork_build_info",
            "Always 1; the labels name the service and its release.",
            &["service", "version"],
        );
        info.with_label_values(&[service, env!("CARGO_PKG_VERSION")])
            .set(1);
        this
    }

    /// The service name given to [`Metrics::new`].
    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// The RED metrics.
    pub fn red(&self) -> &Red {
        &self.inner.red
    }

    /// A tower layer recording the RED metrics of every call of a tonic
    /// server.
    pub fn layer(&self) -> RedLayer {
        RedLayer {
            red: self.inner.red.clone(),
        }
    }

    fn full_name(&self, name: &str) -> String {
        format!("knotwork_{}_{name}", self.inner.service)
    }

    /// Registers `collector`; a registration error (a name registered twice,
    /// an invalid name) is a programming error, logged, and the metric then
    /// simply is not exported.
    fn register<C: prometheus::core::Collector + Clone + 'static>(&self, c: C) -> C {
        if let Err(e) = self.inner.registry.register(Box::new(c.clone())) {
            tracing::error!(error = %e, "metric not registered");
        }
        c
    }

    /// Registers the metric `made`. An invalid one (a programming error) is
    /// logged and `fallback`, registered nowhere, stands in for it.
    fn made<C: prometheus::core::Collector + Clone + 'static>(
        &self,
        name: &str,
        made: prometheus::Result<C>,
        fallback: impl FnOnce() -> C,
    ) -> C {
        match made {
            Ok(c) => self.register(c),
            Err(e) => {
                tracing::error!(error = %e, name, "invalid metric");
                fallback()
            }
        }
    }

    fn raw_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let made = IntGaugeVec::new(Opts::new(name, help), labels);
        self.made(name, made, || fallback_gauge_vec(labels))
    }

    /// A counter named `knotwork_<service>_<name>` (end it in `_total`).
    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        let made = IntCounter::new(self.full_name(name), help);
        self.made(name, made, fallback_counter)
    }

    /// A counter with labels.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let made = IntCounterVec::new(Opts::new(self.full_name(name), help), labels);
        self.made(name, made, || fallback_counter_vec(labels))
    }

    /// A gauge named `knotwork_<service>_<name>`.
    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        let made = IntGauge::new(self.full_name(name), help);
        self.made(name, made, fallback_gauge)
    }

    /// A gauge named `knotwork_<service>_<name>` holding a fraction or
    /// another non-integer value (a ratio).
    pub fn float_gauge(&self, name: &str, help: &str) -> Gauge {
        let made = Gauge::new(self.full_name(name), help);
        self.made(name, made, || {
            Gauge::new("knotwork_invalid", "invalid")
                .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
        })
    }

    /// A gauge with labels.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.raw_gauge_vec(&self.full_name(name), help, labels)
    }

    /// A histogram with the given bucket bounds.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        let made = Histogram::with_opts(
            HistogramOpts::new(self.full_name(name), help).buckets(buckets.to_vec()),
        );
        self.made(name, made, fallback_histogram)
    }

    /// A histogram with labels.
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        histogram_vec(
            &self.inner.registry,
            &self.full_name(name),
            help,
            labels,
            buckets,
        )
    }

    /// Runs `hook` before each scrape (to refresh gauges read on demand).
    pub fn on_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.inner.hooks.lock() {
            hooks.push(Box::new(hook));
        }
    }

    /// Every metric in the Prometheus text format (runs the scrape hooks
    /// first; they may block briefly, so async callers use
    /// `spawn_blocking`).
    pub fn render(&self) -> String {
        if let Ok(hooks) = self.inner.hooks.lock() {
            for hook in hooks.iter() {
                hook();
            }
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.inner.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// The names of every metric family registered (for the dashboard check).
    pub fn names(&self) -> Vec<String> {
        self.inner
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect()
    }
}

// Fallbacks for a metric whose options are invalid (a programming error,
// logged): an unregistered metric with a fixed valid name, so the caller's
// code keeps working. These constructions cannot fail: the names, help
// texts and label names are valid constants.
fn fallback_counter() -> IntCounter {
    IntCounter::new("knotwork_invalid", "invalid")
        .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
}
fn fallback_gauge() -> IntGauge {
    IntGauge::new("knotwork_invalid", "invalid")
        .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
}
fn fallback_histogram() -> Histogram {
    Histogram::with_opts(HistogramOpts::new("knotwork_invalid", "invalid"))
        .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
}
fn safe_labels(labels: &[&str]) -> Vec<String> {
    (0..labels.len()).map(|i| format!("l{i}")).collect()
}
fn fallback_counter_vec(labels: &[&str]) -> IntCounterVec {
    let names = safe_labels(labels);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    IntCounterVec::new(Opts::new("knotwork_invalid", "invalid"), &names)
        .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
}
fn fallback_gauge_vec(labels: &[&str]) -> IntGaugeVec {
    let names = safe_labels(labels);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    IntGaugeVec::new(Opts::new("knotwork_invalid", "invalid"), &names)
        .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
}
fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let made = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    );
    match made {
        Ok(h) => {
            if let Err(e) = registry.register(Box::new(h.clone())) {
                tracing::error!(error = %e, name, "metric not registered");
            }
            h
        }
        Err(e) => {
            tracing::error!(error = %e, name, "invalid metric");
            let names = safe_labels(labels);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            HistogramVec::new(HistogramOpts::new("knotwork_invalid", "invalid"), &names)
                .unwrap_or_else(|_| unreachable!("constant metric options are valid"))
        }
    }
}

/// The RED metrics of one service: rate, errors, duration per method, and
/// the calls in flight.
#[derive(Clone)]
pub struct Red {
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
}

impl std::fmt::Debug for Red {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Red").finish_non_exhaustive()
    }
}

impl Red {
    fn new(registry: &Registry, prefix: &str) -> Self {
        let counter = |name: &str, help: &str| {
            let c = IntCounterVec::new(
                Opts::new(format!("{prefix}{name}"), help),
                &["method", "code"],
            )
            .unwrap_or_else(|_| fallback_counter_vec(&["method", "code"]));
            if let Err(e) = registry.register(Box::new(c.clone())) {
                tracing::error!(error = %e, "metric not registered");
            }
            c
        };
        let requests = counter(
            "requests_total",
            "Calls answered, by method and gRPC status code.",
        );
        let errors = counter(
            "errors_total",
            "Calls answered with a status other than OK.",
        );
        let latency = histogram_vec(
            registry,
            &format!("{prefix}request_duration_seconds"),
            "Call latency (to the end of the response stream), by method and code.",
            &["method", "code"],
            LATENCY_BUCKETS,
        );
        let in_flight = IntGauge::new(
            format!("{prefix}in_flight_requests"),
            "Calls started and not yet answered (open streams included).",
        )
        .unwrap_or_else(|_| fallback_gauge());
        if let Err(e) = registry.register(Box::new(in_flight.clone())) {
            tracing::error!(error = %e, "metric not registered");
        }
        Self {
            requests,
            errors,
            latency,
            in_flight,
        }
    }

    /// Records one finished call.
    pub fn observe(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        let code = crate::grpc::code_name(code);
        self.requests.with_label_values(&[method, code]).inc();
        if code != "OK" {
            self.errors.with_label_values(&[method, code]).inc();
        }
        self.latency
            .with_label_values(&[method, code])
            .observe(elapsed.as_secs_f64());
    }

    /// Starts timing a call to `path` (the HTTP/2 path, `/pkg.Service/Method`);
    /// the call counts as in flight until [`Call::record`] or until the
    /// guard is dropped (then it counts as CANCELLED).
    pub fn start(&self, path: &str) -> Call {
        self.in_flight.inc();
        Call {
            red: self.clone(),
            method: if path.len() <= 128 {
                path.to_owned()
            } else {
                UNKNOWN_METHOD.to_owned()
            },
            start: Instant::now(),
            done: false,
        }
    }
}

/// One call being timed; see [`Red::start`].
#[derive(Debug)]
pub struct Call {
    red: Red,
    method: String,
    start: Instant,
    done: bool,
}

impl Call {
    /// Records the call's status once; later calls do nothing.
    pub fn record(&mut self, code: tonic::Code) {
        if self.done {
            return;
        }
        self.done = true;
        self.red.in_flight.dec();
        let method = if code == tonic::Code::Unimplemented {
            UNKNOWN_METHOD
        } else {
            self.method.as_str()
        };
        self.red.observe(method, code, self.start.elapsed());
    }

    /// Records the status found in `headers` (a trailers-only answer or
    /// the trailers), if any.
    pub fn record_from(&mut self, headers: &HeaderMap) {
        if let Some(code) = grpc_status(headers) {
            self.record(code);
        }
    }

    /// Wraps a response body so the call is recorded when its trailers
    /// pass (or as CANCELLED when the body is dropped before them).
    pub fn watch_body<B>(mut self, parts: &http::response::Parts, body: B) -> tonic::body::Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.record_from(&parts.headers);
        tonic::body::Body::new(body.map_frame(move |frame| {
            if let Some(t) = frame.trailers_ref() {
                self.record_from(t);
            }
            frame
        }))
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record(tonic::Code::Cancelled);
    }
}

/// The gRPC status of a header or trailer block.
pub fn grpc_status(headers: &HeaderMap) -> Option<tonic::Code> {
    let v = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(tonic::Code::from_i32(v))
}

/// Records [`Red`] for every call of the wrapped server.
#[derive(Debug, Clone)]
pub struct RedLayer {
    red: Red,
}

impl<S> Layer<S> for RedLayer {
    type Service = RedService<S>;
    fn layer(&self, inner: S) -> RedService<S> {
        RedService {
            inner,
            red: self.red.clone(),
        }
    }
}

/// See [`RedLayer`].
#[derive(Debug, Clone)]
pub struct RedService<S> {
    inner: S,
    red: Red,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RedService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = self.red.start(req.uri().path());
        Box::pin(async move {
            let resp = inner.call(req).await?;
            let (parts, body) = resp.into_parts();
            let body = call.watch_body(&parts, body);
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// Serves the admin port until `stop` resolves: `GET /metrics` (HTTP/1.1
/// or HTTP/2) and every other request to `grpc` (the health service, for
/// the kubelet's gRPC probes).
pub async fn serve_admin<I, C, G>(
    incoming: I,
    metrics: Metrics,
    grpc: G,
    stop: impl Future<Output = ()> + Send,
) where
    I: futures::Stream<Item = std::io::Result<C>> + Send + Unpin,
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    G: Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    G::Future: Send + 'static,
{
    use futures::StreamExt as _;
    let mut incoming = incoming;
    let mut stop = std::pin::pin!(stop);
    loop {
        let conn = tokio::select! {
            accepted = incoming.next() => match accepted {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "admin accept failed");
                    continue;
                }
                None => return,
            },
            () = &mut stop => return,
        };
        let metrics = metrics.clone();
        let grpc = grpc.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    let mut grpc = grpc.clone();
                    async move {
                        if req.uri().path() == "/metrics" {
                            let text = tokio::task::spawn_blocking(move || metrics.render())
                                .await
                                .unwrap_or_default();
                            let resp = http::Response::builder()
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(tonic::body::Body::new(Full::new(Bytes::from(text))))
                                .unwrap_or_default();
                            return Ok::<_, Infallible>(resp);
                        }
                        if req
                            .headers()
                            .get(http::header::CONTENT_TYPE)
                            .is_none_or(|v| !v.as_bytes().starts_with(b"application/grpc"))
                        {
                            let resp = http::Response::builder()
                                .status(http::StatusCode::NOT_FOUND)
                                .body(tonic::body::Body::new(Full::new(Bytes::from_static(
                                    b"not found; try /metrics\n",
                                ))))
                                .unwrap_or_default();
                            return Ok(resp);
                        }
                        grpc.call(req).await
                    }
                });
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(hyper_util::rt::TokioIo::new(conn), svc)
                .await
            {
                tracing::debug!(error = %e, "admin connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_and_build_info_render() {
        let m = Metrics::new("demo");
        m.red()
            .observe("/a.B/C", tonic::Code::Ok, Duration::from_millis(3));
        m.red()
            .observe("/a.B/C", tonic::Code::NotFound, Duration::from_millis(1));
        {
            let mut call = m.red().start("/a.B/D");
            assert!(m.render().contains("knotwork_demo_in_flight_requests 1"));
            call.record(tonic::Code::Unimplemented);
        }
        drop(m.red().start("/a.B/E"));
        let text = m.render();
        for line in [
            r#"knotwork_demo_requests_total{code="OK",method="/a.B/C"} 1"#,
            r#"knotwork_demo_errors_total{code="NOT_FOUND",method="/a.B/C"} 1"#,
            r#"knotwork_demo_requests_total{code="UNIMPLEMENTED",method="unknown"} 1"#,
            r#"knotwork_demo_requests_total{code="CANCELLED",method="/a.B/E"} 1"#,
            "knotwork_demo_in_flight_requests 0",
            r#"knotwork_build_info{service="demo",version=""#,
            "knotwork_demo_request_duration_seconds_bucket",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn one_line_metrics_get_the_prefix_and_hooks_run() {
        let m = Metrics::new("demo");
        let refused = m.counter("quota_refusals_total", "Writes refused by the quota.");
        refused.inc();
        let size = m.gauge("storage_bytes", "Bytes.");
        let seen = Arc::new(std::sync::atomic::AtomicI64::new(0));
        {
            let seen = seen.clone();
            m.on_scrape(move || {
                size.set(seen.fetch_add(10, std::sync::atomic::Ordering::Relaxed) + 10)
            });
        }
        let text = m.render();
        assert!(
            text.contains("knotwork_demo_quota_refusals_total 1"),
            "{text}"
        );
        assert!(text.contains("knotwork_demo_storage_bytes 10"), "{text}");
        // A second registration of the same name is logged, not a panic.
        let again = m.counter("quota_refusals_total", "dup");
        again.inc();
        assert!(
            m.names()
                .iter()
                .any(|n| n == "knotwork_demo_quota_refusals_total")
        );
    }
}
