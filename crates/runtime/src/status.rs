//! Status codes tonic picks that Knotwork's contract names differently.
//!
//! [`StatusLayer`] rewrites exactly these refusals, which tonic makes
//! before any handler runs (the trailers-only response of a unary or
//! server-streaming request), and leaves every other status alone:
//!
//! - a request over the receiving side's message size limit: tonic says
//!   OUT_OF_RANGE, the gRPC specification (and RELIABILITY.md) want
//!   RESOURCE_EXHAUSTED;
//! - malformed framing (a grpc-web-text body that is not base64, a length
//!   prefix longer than the body, a compressed flag without
//!   `grpc-encoding` or with an unknown value, a body that does not
//!   decompress, no message at all): tonic says INTERNAL, which reads as a
//!   server fault; it is the caller's, so INVALID_ARGUMENT, the message
//!   kept (prefixed "malformed request framing: ").
//!
//! (The gRPC compression document asks for INTERNAL on a compressed flag
//! without `grpc-encoding`; Knotwork answers INVALID_ARGUMENT so that every
//! refusal of client bytes has a client-error code.) Undecodable message
//! bytes are handled by the codec (`knotwork_proto::codec`), not here.

use std::task::{Context, Poll};

use futures::future::{MapOk, TryFutureExt};
use http::HeaderValue;

/// The start of tonic's message for a request over the decoding limit, as
/// `grpc-message` carries it (percent-encoded).
const TONIC_TOO_LARGE: &[u8] = b"Error,%20decoded%20message%20length%20too%20large";
/// `grpc-status` of OUT_OF_RANGE, RESOURCE_EXHAUSTED, INTERNAL and
/// INVALID_ARGUMENT.
const OUT_OF_RANGE: &[u8] = b"11";
const RESOURCE_EXHAUSTED: &str = "8";
const INTERNAL: &[u8] = b"13";
const INVALID_ARGUMENT: &str = "3";

/// The starts of tonic's and tonic-web's messages for malformed framing
/// of a request, as tonic keeps them in the response's `Status`.
const FRAMING: &[&str] = &[
    "protocol error: received message with compressed-flag but no grpc-encoding",
    "protocol error: received message with invalid compression flag",
    "Unexpected EOF decoding stream",
    "Missing request message",
    "Error decompressing",
    "tonic-web: ",
];

/// Answers requests over the message size limit with RESOURCE_EXHAUSTED and
/// malformed request framing with INVALID_ARGUMENT (see the module docs).
/// Add it to a `tonic::transport::Server` with `.layer(StatusLayer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusLayer;

impl<S> tower::Layer<S> for StatusLayer {
    type Service = StatusRewrite<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StatusRewrite { inner }
    }
}

/// The service [`StatusLayer`] makes.
#[derive(Debug, Clone)]
pub struct StatusRewrite<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for StatusRewrite<S>
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
        return res;
    }
    let internal = res
        .headers()
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == INTERNAL);
    if !internal {
        return res;
    }
    // tonic keeps the status it answered with in the response's extensions.
    let framing = res
        .extensions()
        .get::<tonic::Status>()
        .filter(|s| FRAMING.iter().any(|f| s.message().starts_with(f)))
        .map(|s| {
            tonic::Status::invalid_argument(crate::bounded::cut(
                &format!("malformed request framing: {}", s.message()),
                crate::bounded::MESSAGE_LIMIT,
            ))
        });
    if let Some(status) = framing {
        let headers = res.headers_mut();
        headers.insert("grpc-status", HeaderValue::from_static(INVALID_ARGUMENT));
        if let Ok(message) = HeaderValue::from_str(&percent_encode(status.message())) {
            headers.insert("grpc-message", message);
        }
        res.extensions_mut().insert(status);
    }
    res
}

/// `grpc-message`'s percent-encoding: printable ASCII other than `%` as is.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

    #[track_caller]
    fn check(tonic: tonic::Status, expected: &[u8]) {
        let r = rewrite(tonic.into_http::<()>());
        assert_eq!(status(&r), expected);
        let kept = r
            .extensions()
            .get::<tonic::Status>()
            .map(tonic::Status::code);
        assert_eq!(
            kept.map(|c| c as i32).unwrap_or(-1).to_string().as_bytes(),
            expected
        );
    }

    #[test]
    fn malformed_framing_is_invalid_argument() {
        // Exactly what tonic and tonic-web send.
        for m in [
            "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            "protocol error: received message with invalid compression flag: 7 (valid flags are 0 and 1), while sending request",
            "Unexpected EOF decoding stream.",
            "Missing request message.",
            "Error decompressing: corrupt deflate stream, while sending request",
            "tonic-web: Invalid symbol 33, offset 0.",
            "tonic-web: malformed base64 request",
        ] {
            check(tonic::Status::internal(m), b"3");
        }
        // Our own INTERNAL (a storage failure) stays INTERNAL.
        check(tonic::Status::internal("internal error"), b"13");
        let r =
            rewrite(tonic::Status::internal("Unexpected EOF decoding stream.").into_http::<()>());
        let m = r.headers().get("grpc-message").map(HeaderValue::as_bytes);
        assert_eq!(
            m,
            Some(&b"malformed request framing: Unexpected EOF decoding stream."[..])
        );
    }
}
