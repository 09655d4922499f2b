//! The two ends of a call forwarded as encoded bytes ([`RawCodec`]), shared
//! by the catalog forwarder and the session's unary calls: serving the
//! caller (tonic's server framing with the gateway's size limits) and
//! calling the backend (the same limits, the method named for tracing).

use std::convert::Infallible;

use bytes::Bytes;
use http::uri::PathAndQuery;
use knotwork_proto::codec::RawCodec;
use knotwork_proto::{BoxError, BoxFuture};
use knotwork_runtime::memory::Link;
use tonic::codegen::GrpcMethod;
use tonic::server::UnaryService;
use tonic::{Request, Response, Status};

/// Answers `req` with `service`, the message left encoded both ways and at
/// most `max` bytes in each direction.
pub(super) fn serve<S, B>(
    max: usize,
    service: S,
    req: http::Request<B>,
) -> BoxFuture<Result<http::Response<tonic::body::Body>, Infallible>>
where
    S: UnaryService<Bytes, Response = Bytes> + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    Box::pin(async move {
        let mut grpc = tonic::server::Grpc::new(RawCodec)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        Ok(grpc.unary(service, req).await)
    })
}

/// Sends the encoded message of `request` over `channel` to `method` of
/// `service` (request path `path`) and returns the answer still encoded,
/// at most `max` bytes each way.
pub(super) async fn call(
    channel: Link,
    mut request: Request<Bytes>,
    max: usize,
    service: &'static str,
    method: &'static str,
    path: &'static str,
) -> Result<Response<Bytes>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
    request
        .extensions_mut()
        .insert(GrpcMethod::new(service, method));
    grpc.unary(request, PathAndQuery::from_static(path), RawCodec)
        .await
}
