//! Distributed traces across the hops of a call (W3C trace context,
//! OpenTelemetry).
//!
//! Every served call gets a span ([`server_span`]; [`TraceLayer`] for a
//! tonic server, the gateway's edge layer calls it directly) whose parent
//! is the caller's `traceparent`/`tracestate`. Every outgoing call carries
//! the current trace context ([`inject`]). With an OTLP exporter installed
//! ([`crate::telemetry::start`]) the spans are exported and the context
//! sent on is the current span's; without one nothing is recorded and the
//! caller's own context passes through unchanged, so a mesh or a later
//! hop still joins the path. The span's `trace_id` and `span_id` fields
//! put the ids into every log line written inside the call.
//!
//! Health checks without a `traceparent` get no span: probes and the
//! gateway's health polling would otherwise flood the trace store.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt as _;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use knotwork_proto::BoxError;

/// The W3C header naming the caller's trace and span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header with vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::AsciiMetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// The caller's trace context from its `traceparent`/`tracestate`
/// headers; empty when absent or malformed (the call then starts a trace).
pub fn extract(headers: &HeaderMap) -> Context {
    if !headers.contains_key(TRACEPARENT) {
        return Context::new();
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &Headers(headers))
}

/// Sets the current trace context on an outgoing call's metadata
/// (`traceparent`, and `tracestate` when there is one); nothing outside a
/// traced call.
pub fn inject(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = Context::current();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut Metadata(metadata));
    }
}

/// The span of one served call to `path` (`/package.Service/Method`), its
/// parent the context in `headers`, and that parent context. Run the call
/// with [`in_call`] so outgoing calls made inside it carry the trace on.
pub fn server_span(path: &str, headers: &HeaderMap) -> (tracing::Span, Context) {
    let parent = extract(headers);
    // Unknown long paths are not echoed into spans (callers choose them).
    let name = if path.len() <= 128 {
        path.trim_start_matches('/')
    } else {
        crate::metrics::UNKNOWN_METHOD
    };
    let request_id = headers
        .get(knotwork_proto::metadata::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| s.len() <= 128)
        .unwrap_or("");
    let span = tracing::info_span!(
        "call",
        otel.name = name,
        otel.kind = "server",
        rpc.system = "grpc",
        method = name,
        request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        rpc.grpc.status_code = tracing::field::Empty,
    );
    // Fails only when no exporter is installed (nothing to parent then).
    let _ = span.set_parent(parent.clone());
    let own = span.context();
    let ids = if own.span().span_context().is_valid() {
        own.span().span_context().clone()
    } else {
        parent.span().span_context().clone()
    };
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        if own.span().span_context().is_valid() {
            span.record("span_id", tracing::field::display(ids.span_id()));
        }
    }
    (span, parent)
}

/// Runs `call` inside `span` with `parent` as the current trace context
/// beneath it, so [`inject`] finds the span's context when traces are
/// exported and the caller's own otherwise.
pub fn in_call<F: Future>(
    call: F,
    span: tracing::Span,
    parent: Context,
) -> impl Future<Output = F::Output> {
    call.instrument(span).with_context(parent)
}

/// Records the call's gRPC status on its span when the status passes (the
/// response headers of a trailers-only answer, otherwise the trailers),
/// and keeps the span open until the body is done, so a stream's span
/// lasts as long as the stream.
pub fn watch_body<B>(
    span: tracing::Span,
    parts: &http::response::Parts,
    body: B,
) -> tonic::body::Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    record_status(&span, &parts.headers);
    tonic::body::Body::new(body.map_frame(move |frame| {
        if let Some(t) = frame.trailers_ref() {
            record_status(&span, t);
        }
        frame
    }))
}

fn record_status(span: &tracing::Span, headers: &HeaderMap) {
    if let Some(code) = crate::metrics::grpc_status(headers) {
        span.record("rpc.grpc.status_code", code as i32);
    }
}

/// Whether a call to `path` gets a span: everything except health checks
/// that carry no trace context.
fn traced(path: &str, headers: &HeaderMap) -> bool {
    !path.starts_with("/grpc.health.v1.Health/") || headers.contains_key(TRACEPARENT)
}

/// A tower layer giving every call of a tonic server its span
/// ([`server_span`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;
    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService { inner }
    }
}

/// See [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TraceService<S>
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

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !traced(req.uri().path(), req.headers()) {
            return Box::pin(async move {
                let resp = inner.call(req).await?;
                let (parts, body) = resp.into_parts();
                Ok(http::Response::from_parts(
                    parts,
                    tonic::body::Body::new(body),
                ))
            });
        }
        let (span, parent) = server_span(req.uri().path(), req.headers());
        let watched = span.clone();
        Box::pin(async move {
            let resp = in_call(inner.call(req), span, parent).await?;
            let (parts, body) = resp.into_parts();
            let body = watch_body(watched, &parts, body);
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn extracts_and_passes_the_callers_context_through() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, PARENT.parse().unwrap());
        headers.insert(TRACESTATE, "vendor=abc".parse().unwrap());
        let cx = extract(&headers);
        assert!(cx.span().span_context().is_valid());
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // Without an exporter the caller's context is what goes on.
        let _guard = cx.attach();
        let mut md = tonic::metadata::MetadataMap::new();
        inject(&mut md);
        assert_eq!(md.get(TRACEPARENT).unwrap(), PARENT);
        assert_eq!(md.get(TRACESTATE).unwrap(), "vendor=abc");
    }

    #[test]
    fn nothing_without_a_valid_context() {
        let mut headers = HeaderMap::new();
        assert!(!extract(&headers).span().span_context().is_valid());
        headers.insert(TRACEPARENT, "00-zz-00-01".parse().unwrap());
        assert!(!extract(&headers).span().span_context().is_valid());
        let mut md = tonic::metadata::MetadataMap::new();
        inject(&mut md);
        assert!(md.get(TRACEPARENT).is_none());
    }

    #[test]
    fn health_checks_untraced_unless_asked() {
        let mut headers = HeaderMap::new();
        assert!(!traced("/grpc.health.v1.Health/Check", &headers));
        assert!(traced(
            "/knotwork.session.v1.SessionService/GetDay",
            &headers
        ));
        headers.insert(TRACEPARENT, PARENT.parse().unwrap());
        assert!(traced("/grpc.health.v1.Health/Check", &headers));
    }
}
