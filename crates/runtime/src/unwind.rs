//! A handler's panic answered as INTERNAL, not as a reset stream.
//!
//! tonic does not catch panics. A handler that panics ends the task of its
//! HTTP/2 stream: the caller sees the stream reset (no status, which tonic
//! reports as UNKNOWN or CANCELLED), the service's metrics never hear of
//! the call, and in `knotwork up`, where the gateway calls the catalog and
//! the session in process ([`crate::memory`]), a backend's panic unwinds
//! through the gateway's own call.
//!
//! [`CatchPanicLayer`] catches the unwind wherever a call's code runs: in
//! the service's `call`, in its future (a unary handler, a stream's
//! opening), and in the response body (a server stream's messages). The
//! panic's message is logged (with the call's span, so its trace and
//! method) and counted (`knotwork_<service>_panics_total`); the caller gets
//! INTERNAL, trailers-only before the answer started, or as the stream's
//! trailers after some messages. Nothing else changes: a call that does not
//! panic costs one check of a flag per poll.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use prometheus::IntCounter;
use tower::{Layer, Service};

use crate::metrics::Metrics;

/// What the caller reads; the panic's own message goes to the log only.
const MESSAGE: &str = "the service failed while answering this call; the failure is logged";

/// Catches panics of the services it wraps (see the module docs).
#[derive(Debug, Clone)]
pub struct CatchPanicLayer {
    panics: IntCounter,
}

impl CatchPanicLayer {
    /// Counts the panics it catches in `metrics`
    /// (`knotwork_<service>_panics_total`).
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            panics: metrics.counter(
                "panics_total",
                "Calls whose handler panicked, answered INTERNAL (the panic is logged).",
            ),
        }
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic {
            inner,
            panics: self.panics.clone(),
        }
    }
}

/// The service [`CatchPanicLayer`] makes.
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
    panics: IntCounter,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CatchPanic<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<CaughtBody<ResBody>>;
    type Error = S::Error;
    type Future = Caught<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let inner = &mut self.inner;
        let future = catch_unwind(AssertUnwindSafe(|| inner.call(req)))
            .map_err(|payload| caught(&self.panics, &*payload))
            .ok();
        Caught {
            future,
            panics: self.panics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`CatchPanic`] call.
    pub struct Caught<F> {
        // `None` once the call panicked (in `call` or in a poll).
        #[pin]
        future: Option<F>,
        panics: IntCounter,
    }
}

impl<F, B, E> Future for Caught<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<CaughtBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(Ok(internal()));
        };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(answer)) => Poll::Ready(answer.map(|response| {
                let panics = this.panics.clone();
                response.map(|body| CaughtBody::new(body, panics))
            })),
            Err(payload) => {
                caught(this.panics, &*payload);
                // Dropped here, so nothing polls what panicked again.
                this.future.set(None);
                Poll::Ready(Ok(internal()))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body whose panic ends the stream with INTERNAL trailers.
    pub struct CaughtBody<B> {
        // The handler's body; `None` when the answer was INTERNAL before
        // any body, or once the panic's trailers were sent.
        #[pin]
        body: Option<B>,
        panics: Option<IntCounter>,
    }
}

impl<B> Default for CaughtBody<B> {
    fn default() -> Self {
        Self {
            body: None,
            panics: None,
        }
    }
}

impl<B> CaughtBody<B> {
    fn new(body: B, panics: IntCounter) -> Self {
        Self {
            body: Some(body),
            panics: Some(panics),
        }
    }
}

impl<B> Body for CaughtBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let Some(body) = this.body.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        match catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx))) {
            Ok(frame) => frame,
            Err(payload) => {
                if let Some(panics) = this.panics {
                    caught(panics, &*payload);
                }
                this.body.set(None);
                Poll::Ready(Some(Ok(Frame::trailers(internal_trailers()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// Logs and counts a caught panic.
fn caught(panics: &IntCounter, payload: &(dyn Any + Send)) {
    panics.inc();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a handler panicked; answered INTERNAL");
}

/// The trailers-only INTERNAL answer.
fn internal<B>() -> http::Response<CaughtBody<B>> {
    tonic::Status::internal(MESSAGE).into_http()
}

/// INTERNAL as the trailers of a stream already answering.
fn internal_trailers() -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    // `add_header` fails only on a message it cannot encode as a header
    // value; this fixed ASCII one always encodes.
    let _ = tonic::Status::internal(MESSAGE).add_header(&mut trailers);
    trailers
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, Full};

    use super::*;

    fn layer() -> (Metrics, CatchPanicLayer) {
        let metrics = Metrics::new("catalog");
        let layer = CatchPanicLayer::new(&metrics);
        (metrics, layer)
    }

    fn panics(metrics: &Metrics) -> String {
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with("knotwork_catalog_panics_total "))
            .map(str::to_owned)
            .unwrap_or_default()
    }

    fn status(headers: &http::HeaderMap) -> Option<&str> {
        headers.get("grpc-status").and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_panicking_future_is_answered_internal_and_counted() {
        let (metrics, layer) = layer();
        let mut svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
            if true {
                panic!("the handler broke");
            }
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        }));
        let answer = svc.call(http::Request::new(())).await.unwrap();
        assert_eq!(status(answer.headers()), Some("13"));
        // The caller reads the fixed message, never the panic's own text
        // (an internal detail, for the log).
        let message = answer
            .headers()
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(message, MESSAGE.replace(' ', "%20"));
        assert!(!message.contains("broke"), "{message}");
        // Trailers-only: no body, no trailers after it.
        let body = answer.into_body().collect().await.unwrap();
        assert!(body.trailers().is_none());
        assert_eq!(body.to_bytes().len(), 0);
        assert_eq!(panics(&metrics), "knotwork_catalog_panics_total 1");
    }

    /// A service whose `call` panics before making a future.
    #[derive(Clone)]
    struct PanicsInCall;

    impl Service<http::Request<()>> for PanicsInCall {
        type Response = http::Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            panic!("routing broke");
        }
    }

    #[tokio::test]
    async fn a_panicking_call_is_answered_internal_and_counted() {
        let (metrics, layer) = layer();
        let answer = layer
            .layer(PanicsInCall)
            .call(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(status(answer.headers()), Some("13"));
        assert_eq!(panics(&metrics), "knotwork_catalog_panics_total 1");
    }

    /// A body that yields one frame, then panics (a server stream whose
    /// second message broke).
    struct OneThenPanic(bool);

    impl Body for OneThenPanic {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0 {
                panic!("the stream broke");
            }
            self.0 = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first")))))
        }
    }

    #[tokio::test]
    async fn a_stream_that_panics_ends_with_internal_trailers() {
        let (metrics, layer) = layer();
        let mut svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(OneThenPanic(false)))
        }));
        let answer = svc.call(http::Request::new(())).await.unwrap();
        assert_eq!(status(answer.headers()), None, "answered normally at first");
        let body = answer.into_body().collect().await.unwrap();
        let trailers = body.trailers().cloned().expect("INTERNAL trailers");
        assert_eq!(status(&trailers), Some("13"));
        assert_eq!(body.to_bytes(), Bytes::from_static(b"first"));
        assert_eq!(panics(&metrics), "knotwork_catalog_panics_total 1");
    }

    #[tokio::test]
    async fn an_answer_without_a_panic_passes_as_it_is() {
        let (metrics, layer) = layer();
        let mut svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let body = Full::new(Bytes::from_static(b"answer"))
                .with_trailers(async move { Some(Ok(trailers)) });
            Ok::<_, Infallible>(http::Response::new(body))
        }));
        let answer = svc.call(http::Request::new(())).await.unwrap();
        let body = answer.into_body().collect().await.unwrap();
        assert_eq!(body.trailers().and_then(status), Some("0"));
        assert_eq!(body.to_bytes(), Bytes::from_static(b"answer"));
        assert_eq!(panics(&metrics), "knotwork_catalog_panics_total 0");
    }
}
