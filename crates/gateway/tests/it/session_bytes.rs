//! Session calls cross the gateway as encoded bytes: the shard receives the
//! caller's message bytes unchanged (even fields this build does not know)
//! and the caller receives the shard's answer unchanged, while the token,
//! the user id and the internal credential are handled as for typed calls.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::PathAndQuery;
use knotwork_proto::codec::RawCodec;
use knotwork_proto::metadata::{INTERNAL_TOKEN, USER_ID};
use knotwork_proto::names::SESSION_SERVICE;
use knotwork_proto::session::v1 as ses;
use prost::Message as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic::{Code, Request, Response, Status};

use crate::support::*;

/// A shard that answers every unary session call with the request's own
/// bytes and keeps the user id and credential it was called with.
#[derive(Clone, Default)]
struct EchoShard {
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl NamedService for EchoShard {
    const NAME: &'static str = SESSION_SERVICE;
}

impl tower::Service<http::Request<tonic::body::Body>> for EchoShard {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = knotwork_proto::BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let echo = Echo(self.seen.clone());
        Box::pin(async move { Ok(tonic::server::Grpc::new(RawCodec).unary(echo, req).await) })
    }
}

struct Echo(Arc<Mutex<Vec<(String, bool)>>>);

impl tonic::server::UnaryService<Bytes> for Echo {
    type Response = Bytes;
    type Future = knotwork_proto::BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let md = request.metadata();
        let user = md
            .get(USER_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.0
            .lock()
            .unwrap()
            .push((user, md.get(INTERNAL_TOKEN).is_some()));
        let body = request.into_inner();
        Box::pin(async move { Ok(Response::new(body)) })
    }
}

async fn call(
    gateway: &str,
    path: &'static str,
    body: Bytes,
    token: Option<&str>,
) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel(gateway).await);
    grpc.ready().await.unwrap();
    let mut req = Request::new(body);
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    grpc.unary(req, PathAndQuery::from_static(path), RawCodec)
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn unary_session_calls_pass_through_as_bytes() {
    let shard = EchoShard::default();
    let listener = bind(None).await;
    let shard_url = format!("http://{}", listener.local_addr().unwrap());
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(shard.clone())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let catalog = spawn_catalog(FakeCatalog::default(), None).await;
    let gateway = spawn_gateway(config(&[catalog.url()], &[shard_url])).await;

    // A LogSession request followed by a field no contract has (number
    // 1000, varint 7): a gateway that decoded the message would drop it.
    let mut body = ses::LogSessionRequest {
        request_id: "r-1".into(),
        ..Default::default()
    }
    .encode_to_vec();
    body.extend_from_slice(&[0xc0, 0x3e, 0x07]);
    let body = Bytes::from(body);
    let path = "/knotwork.session.v1.SessionService/LogSession";
    let answer = call(&gateway.url(), path, body.clone(), Some(&token("alice")))
        .await
        .unwrap();
    assert_eq!(answer, body, "the shard's answer came back changed");
    assert_eq!(
        shard.seen.lock().unwrap().as_slice(),
        &[("alice".to_owned(), true)],
        "the shard was called with the verified user and the credential"
    );

    // Without a token the call stops at the gateway, as a typed one does.
    let refused = call(&gateway.url(), path, body, None).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(shard.seen.lock().unwrap().len(), 1);
    server.abort();
}
