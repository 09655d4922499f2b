//! Status codes tonic picks that Knotwork's contract names differently.
//!
//! A request over the receiving side's message size limit is refused by
//! tonic with OUT_OF_RANGE before any handler runs; the gRPC specification
//! (and RELIABILITY.md) want RESOURCE_EXHAUSTED for "message too large".
//! [`TooLargeLayer`] rewrites exactly that refusal (the trailers-only
//! response tonic sends for a unary or server-streaming request) and leaves
//! every other status alone. Undecodable bytes are handled by the codec
//! (`knotwork_proto::codec`), not here.

use std::task::{Context, Poll};

use futures::future::{MapOk, TryFutureExt};
use http::HeaderValue;

/// The start of tonic's message for a request over the decoding limit, as
/// `grpc-message` carries it (percent-encoded).
const TONIC_TOO_LARGE: &[u8] = b"Error,%20decoded%20message%20length%20too%20large";
/// `grpc-status` of OUT_OF_RANGE and RESOURCE_EXHAUSTED.
const OUT_OF_RANGE: &[u8] = b"11";
const RESOURCE_EXHAUSTED: &str = "8";

/// Answers requests over the message size limit with RESOURCE_EXHAUSTED.
/// Add it to a `tonic::transport::Server` with `.layer(TooLargeLayer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TooLargeLayer;

impl<S> tower::Layer<S> for TooLargeLayer {
    type Service = TooLarge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TooLarge { inner }
    }
}

/// The service [`TooLargeLayer`] makes.
#[derive(Debug, Clone)]
pub struct TooLarge<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for TooLarge<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = MapOk<S::Future, fn(http::Response<ResBody>) -> http::Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        self.inner.call(req).map_ok(rewrite::<ResBody>)
    }
}

fn rewrite<B>(mut res: http::Response<B>) -> http::Response<B> {
    let headers = res.headers_mut();
    let too_large = headers
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == OUT_OF_RANGE)
        && headers
            .get("grpc-message")
            .is_some_and(|m| m.as_bytes().starts_with(TONIC_TOO_LARGE));
    if too_large {
        headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
        // tonic also keeps the status in the response's extensions.
        if let Some(status) = res.extensions_mut().get_mut::<tonic::Status>() {
            *status = tonic::Status::resource_exhausted(status.message().to_owned());
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &'static str, message: &'static str) -> http::Response<()> {
        let mut r = http::Response::new(());
        r.headers_mut()
            .insert("grpc-status", HeaderValue::from_static(status));
        r.headers_mut()
            .insert("grpc-message", HeaderValue::from_static(message));
        r
    }

    fn status(r: &http::Response<()>) -> &[u8] {
        r.headers()
            .get("grpc-status")
            .map_or(&b""[..], HeaderValue::as_bytes)
    }

    #[test]
    fn rewrites_only_tonics_too_large() {
        // Exactly what tonic sends.
        let mut tonic = tonic::Status::out_of_range(
            "Error, decoded message length too large: found 5242885 bytes, the limit is: 4194304 bytes",
        )
        .into_http::<()>();
        tonic = rewrite(tonic);
        assert_eq!(status(&tonic), b"8");
        assert_eq!(
            tonic
                .extensions()
                .get::<tonic::Status>()
                .map(tonic::Status::code),
            Some(tonic::Code::ResourceExhausted)
        );
        let tonic = "Error,%20decoded%20message%20length%20too%20large:%20found%201%20bytes";
        // A handler's own OUT_OF_RANGE and other codes stay as they are.
        assert_eq!(status(&rewrite(response("11", "page 9 of 3"))), b"11");
        assert_eq!(status(&rewrite(response("3", tonic))), b"3");
        assert_eq!(status(&rewrite(http::Response::new(()))), b"");
    }
}
