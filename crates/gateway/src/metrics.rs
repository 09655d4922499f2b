//! Prometheus metrics, one registry per gateway instance, served on the
//! admin listener at `/metrics`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use knotwork_runtime::listen::Conn;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio_stream::StreamExt as _;

use crate::Error;

/// The gateway's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    backend_up: IntGaugeVec,
    rate_limited: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Result<Self, Error> {
        let err = |e: prometheus::Error| Error::Internal(format!("metrics: {e}"));
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "knotwork_gateway_requests_total",
                "Calls answered, by method and gRPC status code.",
            ),
            &["method", "code"],
        )
        .map_err(err)?;
        let errors = IntCounterVec::new(
            Opts::new(
                "knotwork_gateway_errors_total",
                "Calls answered with a status other than OK.",
            ),
            &["method", "code"],
        )
        .map_err(err)?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "knotwork_gateway_request_duration_seconds",
                "Call latency, by method and code.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "code"],
        )
        .map_err(err)?;
        let backend_up = IntGaugeVec::new(
            Opts::new(
                "knotwork_gateway_backend_up",
                "1 when the backend's health check answered SERVING.",
            ),
            &["role", "backend"],
        )
        .map_err(err)?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "knotwork_gateway_rate_limited_total",
                "Calls refused by a rate limit, by scope.",
            ),
            &["scope"],
        )
        .map_err(err)?;
        registry.register(Box::new(requests.clone())).map_err(err)?;
        registry.register(Box::new(errors.clone())).map_err(err)?;
        registry.register(Box::new(latency.clone())).map_err(err)?;
        registry
            .register(Box::new(backend_up.clone()))
            .map_err(err)?;
        registry
            .register(Box::new(rate_limited.clone()))
            .map_err(err)?;
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                errors,
                latency,
                backend_up,
                rate_limited,
            }),
        })
    }

    /// Registers another collector (the JWKS fetch metrics of `auth`) so
    /// that `/metrics` serves it too.
    pub(crate) fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), Error> {
        self.inner
            .registry
            .register(collector)
            .map_err(|e| Error::Internal(format!("metrics: {e}")))
    }

    /// Records one finished call.
    pub fn observe(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        let code = knotwork_runtime::grpc::code_name(code);
        self.inner.requests.with_label_values(&[method, code]).inc();
        if code != "OK" {
            self.inner.errors.with_label_values(&[method, code]).inc();
        }
        self.inner
            .latency
            .with_label_values(&[method, code])
            .observe(elapsed.as_secs_f64());
    }

    /// Records a backend's health.
    pub fn backend_up(&self, role: &str, backend: &str, up: bool) {
        self.inner
            .backend_up
            .with_label_values(&[role, backend])
            .set(i64::from(up));
    }

    /// Records a rate-limit refusal.
    pub fn rate_limited(&self, scope: &str) {
        self.inner.rate_limited.with_label_values(&[scope]).inc();
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.inner.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Serves `GET /metrics` on the accepted connections (TLS and the
    /// header timeout already applied, see `knotwork_runtime::listen`)
    /// until `stop` turns true.
    pub async fn serve(
        self,
        incoming: impl tokio_stream::Stream<Item = std::io::Result<Conn>> + Unpin,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut incoming = incoming;
        loop {
            let stream = tokio::select! {
                accepted = incoming.next() => match accepted {
                    Some(Ok(s)) => s,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "admin accept failed");
                        continue;
                    }
                    None => return,
                },
                _ = stop.changed() => return,
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move {
                        let resp = if req.uri().path() == "/metrics" {
                            hyper::Response::builder()
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(metrics.render())))
                        } else {
                            hyper::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"not found\n")))
                        };
                        Ok::<_, Infallible>(resp.unwrap_or_default())
                    }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    tracing::debug!(error = %e, "admin connection ended");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_was_observed() {
        let m = Metrics::new().unwrap();
        m.observe("/a.B/C", tonic::Code::Ok, Duration::from_millis(3));
        m.observe(
            "/a.B/C",
            tonic::Code::Unauthenticated,
            Duration::from_millis(1),
        );
        m.rate_limited("user");
        m.backend_up("catalog", "http://x", true);
        let text = m.render();
        assert!(
            text.contains(r#"knotwork_gateway_requests_total{code="OK",method="/a.B/C"} 1"#),
            "{text}"
        );
        assert!(text.contains(
            r#"knotwork_gateway_errors_total{code="UNAUTHENTICATED",method="/a.B/C"} 1"#
        ));
        assert!(text.contains(r#"knotwork_gateway_rate_limited_total{scope="user"} 1"#));
        assert!(
            text.contains(r#"knotwork_gateway_backend_up{backend="http://x",role="catalog"} 1"#)
        );
        assert!(text.contains("knotwork_gateway_request_duration_seconds_bucket"));
    }
}
