//! The edge layer every call passes through (inside tonic-web, so it sees
//! plain gRPC for grpc-web calls too): it strips client-supplied internal
//! metadata, keeps or mints the request id, opens the call's span (child of
//! the caller's W3C `traceparent`, see `knotwork_runtime::trace`) that
//! carries the request and trace ids into every log line, returns the
//! request id to the client, and records
//! request metrics when the gRPC status is known (in the response headers
//! for trailers-only answers, otherwise in the trailers at the end of the
//! body, so server streams are timed to their end).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use knotwork_proto::metadata::{INTERNAL_TOKEN, REQUEST_ID, USER_ID, USER_ID_BIN};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::{Layer, Service};

use crate::metrics::Metrics;

use knotwork_proto::BoxError;

/// When the call reached the gateway's own code: tonic starts its
/// `grpc-timeout` timer then, so the handler's deadline counts from here,
/// not from when admission let the call through (a deadline started later
/// would lose the race to tonic's timer, which answers CANCELLED).
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub std::time::Instant);

/// Adds the [`Edge`] service.
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    metrics: Metrics,
}

impl EdgeLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    metrics: Metrics,
}

/// Removes every value of the internal headers. Header names are
/// case-insensitive and normalized to lower case by the HTTP parser, so
/// `X-Knotwork-User-Id` and duplicates are all removed here.
pub fn strip_internal(headers: &mut HeaderMap) {
    while headers.remove(USER_ID).is_some() {}
    while headers.remove(USER_ID_BIN).is_some() {}
    while headers.remove(INTERNAL_TOKEN).is_some() {}
}

/// The caller's request id when usable, otherwise a fresh UUID.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let mut values = headers.get_all(REQUEST_ID).iter();
    let given = match (values.next(), values.next()) {
        (Some(v), None) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic())),
        _ => None,
    };
    given
        .and_then(|s| HeaderValue::from_str(s).ok())
        .unwrap_or_else(mint_request_id)
}

/// A fresh request id in UUID form: a random per-process value combined
/// with a counter, so minting costs no system call per request.
fn mint_request_id() -> HeaderValue {
    static SEED: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| uuid::Uuid::new_v4().as_u128());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = uuid::Uuid::from_u128(seed ^ u128::from(n)).to_string();
    HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Edge<S>
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

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        req.extensions_mut()
            .insert(Arrived(std::time::Instant::now()));
        strip_internal(req.headers_mut());
        let id = request_id(req.headers());
        req.headers_mut().insert(REQUEST_ID, id.clone());
        let path = req.uri().path();
        let call = self.metrics.red().start(path);
        // The call's span, child of the caller's `traceparent` (the backends'
        // spans become its children through `Shared::setup`).
        let (span, parent) = knotwork_runtime::trace::server_span(path, req.headers());
        let watched = span.clone();
        Box::pin(async move {
            let resp = knotwork_runtime::trace::in_call(inner.call(req), span, parent).await?;
            let (mut parts, body) = resp.into_parts();
            parts.headers.insert(REQUEST_ID, id);
            let body = call.watch_body(&parts, body);
            let body = knotwork_runtime::trace::watch_body(watched, &parts, body);
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_every_internal_value() {
        let mut h = HeaderMap::new();
        h.append(USER_ID, HeaderValue::from_static("mallory"));
        h.append(USER_ID, HeaderValue::from_static("eve"));
        h.append(USER_ID_BIN, HeaderValue::from_static("ZXZl"));
        h.append(INTERNAL_TOKEN, HeaderValue::from_static("guess"));
        h.append("x-other", HeaderValue::from_static("kept"));
        strip_internal(&mut h);
        assert!(h.get(USER_ID).is_none());
        assert!(h.get(USER_ID_BIN).is_none());
        assert!(h.get(INTERNAL_TOKEN).is_none());
        assert_eq!(h.get("x-other").unwrap(), "kept");
    }

    #[test]
    fn request_id_kept_or_minted() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h).len(), 36);
        h.insert(REQUEST_ID, HeaderValue::from_static("abc"));
        assert_eq!(request_id(&h), "abc");
        h.append(REQUEST_ID, HeaderValue::from_static("def"));
        assert_eq!(request_id(&h).len(), 36);
        h.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert_eq!(request_id(&h).len(), 36);
    }
}
