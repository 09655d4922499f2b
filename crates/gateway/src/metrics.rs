//! Prometheus metrics, one registry per gateway instance, served on the
//! admin listener at `/metrics` (with gRPC health beside it, see
//! [`knotwork_runtime::metrics::serve_admin`]).

use std::time::Duration;

use knotwork_runtime::metrics::{
    HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, LATENCY_BUCKETS, Red,
};

use crate::Error;

/// The gateway's metrics: the shared registry of
/// [`knotwork_runtime::metrics`] (RED per method, in-flight calls, build
/// info) plus the gateway's own. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: knotwork_runtime::metrics::Metrics,
    backend_up: IntGaugeVec,
    backend_calls: IntCounterVec,
    backend_latency: HistogramVec,
    rate_limited: IntCounterVec,
    guide_streams: IntGauge,
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Result<Self, Error> {
        let registry = knotwork_runtime::metrics::Metrics::new("gateway");
        Ok(Self {
            backend_up: registry.gauge_vec(
                "backend_up",
                "1 when the backend's health check answered SERVING.",
                &["role", "backend"],
            ),
            backend_calls: registry.counter_vec(
                "backend_requests_total",
                "Calls to a backend (a catalog replica or a session shard), by gRPC code \
                 (UNAVAILABLE and DEADLINE_EXCEEDED include failures to reach it).",
                &["role", "backend", "code"],
            ),
            backend_latency: registry.histogram_vec(
                "backend_request_duration_seconds",
                "Latency of calls to a backend, to its response headers.",
                &["role", "backend"],
                LATENCY_BUCKETS,
            ),
            rate_limited: registry.counter_vec(
                "rate_limited_total",
                "Calls refused by a rate limit, by scope.",
                &["scope"],
            ),
            guide_streams: registry.gauge(
                "guide_streams_open",
                "Guided-session streams being forwarded now.",
            ),
            registry,
        })
    }

    /// The shared registry (to add a metric: one line, see
    /// [`knotwork_runtime::metrics`]).
    pub fn registry(&self) -> &knotwork_runtime::metrics::Metrics {
        &self.registry
    }

    /// The RED metrics of the gateway's own calls.
    pub fn red(&self) -> &Red {
        self.registry.red()
    }

    /// Records one finished call.
    #[cfg(test)]
    pub fn observe(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        self.red().observe(method, code, elapsed);
    }

    /// Records a backend's health.
    pub fn backend_up(&self, role: &str, backend: &str, up: bool) {
        self.backend_up
            .with_label_values(&[role, backend])
            .set(i64::from(up));
    }

    /// Records one call to a backend.
    pub fn backend_call(&self, role: &str, backend: &str, code: tonic::Code, elapsed: Duration) {
        self.backend_calls
            .with_label_values(&[role, backend, knotwork_runtime::grpc::code_name(code)])
            .inc();
        self.backend_latency
            .with_label_values(&[role, backend])
            .observe(elapsed.as_secs_f64());
    }

    /// Records a rate-limit refusal.
    pub fn rate_limited(&self, scope: &str) {
        self.rate_limited.with_label_values(&[scope]).inc();
    }

    /// Counts a forwarded guided-session stream as open until the guard
    /// is dropped.
    pub fn guide_stream(&self) -> GuideStreamGuard {
        self.guide_streams.inc();
        GuideStreamGuard(self.guide_streams.clone())
    }

    /// The metrics in the Prometheus text format.
    #[cfg(test)]
    pub fn render(&self) -> String {
        self.registry.render()
    }
}

/// See [`Metrics::guide_stream`].
#[derive(Debug)]
pub struct GuideStreamGuard(IntGauge);

impl Drop for GuideStreamGuard {
    fn drop(&mut self) {
        self.0.dec();
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
        m.backend_call(
            "session",
            "http://s0",
            tonic::Code::Unavailable,
            Duration::from_millis(2),
        );
        let guard = m.guide_stream();
        assert!(m.render().contains("knotwork_gateway_guide_streams_open 1"));
        drop(guard);
        let text = m.render();
        assert!(text.contains("knotwork_gateway_guide_streams_open 0"));
        assert!(text.contains(
            r#"knotwork_gateway_backend_requests_total{backend="http://s0",code="UNAVAILABLE",role="session"} 1"#
        ));
        assert!(text.contains(r#"knotwork_build_info{service="gateway""#));
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
