//! Every route a client could use to speak as someone else or as the
//! gateway: the backend must only ever see the verified user and the
//! gateway's own credential.

use std::sync::atomic::Ordering;

use base64::Engine;
use knotwork_proto::catalog::v1::GetCatalogVersionRequest;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::metadata::{INTERNAL_TOKEN, REQUEST_ID, USER_ID};
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::{
    ExportUserDataRequest, ExportUserDataResponse, GetProfileRequest,
};
use prost::Message;
use tonic::Code;

use crate::support::*;

/// What the fake shard saw: the user ids (comma-joined) and
/// "<shard>:<number of internal credential values>".
fn seen(resp: &ExportUserDataResponse) -> (String, String) {
    let e = resp.export.as_ref().unwrap();
    (e.user_id.clone(), e.request_ids[0].resource.clone())
}

#[tokio::test]
async fn grpc_spoofing_routes() {
    let s = stack().await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    let alice = token("alice");
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("user id header", &[(USER_ID, "mallory")]),
        (
            "two user id headers",
            &[(USER_ID, "mallory"), (USER_ID, "eve")],
        ),
        ("wrong internal credential", &[(INTERNAL_TOKEN, "guess")]),
        (
            "right internal credential and user id",
            &[(INTERNAL_TOKEN, INTERNAL), (USER_ID, "mallory")],
        ),
        (
            "two credentials",
            &[(INTERNAL_TOKEN, INTERNAL), (INTERNAL_TOKEN, "x")],
        ),
    ];
    for (name, headers) in cases {
        let mut req = authed(ExportUserDataRequest {}, &alice);
        for (k, v) in *headers {
            req.metadata_mut().append(*k, v.parse().unwrap());
        }
        let resp = client
            .export_user_data(req)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(
            seen(resp.get_ref()),
            ("alice".into(), "s0:1".into()),
            "{name}"
        );
    }

    // Without a token, internal headers get nobody in.
    let before = s.session.calls.load(Ordering::SeqCst);
    let mut req = tonic::Request::new(GetProfileRequest {});
    req.metadata_mut().insert(USER_ID, "alice".parse().unwrap());
    req.metadata_mut()
        .insert(INTERNAL_TOKEN, INTERNAL.parse().unwrap());
    assert_eq!(
        client.get_profile(req).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(s.session.calls.load(Ordering::SeqCst), before);

    // Public catalog calls never carry internal metadata to the backend.
    let mut catalog = CatalogServiceClient::new(channel(&s.gateway.url()).await);
    let mut req = tonic::Request::new(GetCatalogVersionRequest {});
    req.metadata_mut().insert(USER_ID, "alice".parse().unwrap());
    req.metadata_mut()
        .insert(INTERNAL_TOKEN, INTERNAL.parse().unwrap());
    catalog.get_catalog_version(req).await.unwrap();
    assert_eq!(s.catalog.leaked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn user_isolation_two_users() {
    let s = stack().await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    for user in ["alice", "bob"] {
        let resp = client
            .export_user_data(authed(ExportUserDataRequest {}, &token(user)))
            .await
            .unwrap();
        assert_eq!(seen(resp.get_ref()).0, user);
    }
}

#[tokio::test]
async fn grpc_web_spoofing_routes() {
    let s = stack().await;
    let alice = format!("Bearer {}", token("alice"));
    let body = frame(&ExportUserDataRequest {});
    let path = "/knotwork.session.v1.SessionService/ExportUserData";
    // Raw header lines: mixed case and duplicates as a browser proxy could send them.
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("mixed case user id", &[("X-Knotwork-User-Id", "mallory")]),
        ("upper case user id", &[("X-KNOTWORK-USER-ID", "mallory")]),
        (
            "duplicate user ids",
            &[
                ("x-knotwork-user-id", "mallory"),
                ("X-Knotwork-User-ID", "eve"),
            ],
        ),
        (
            "mixed case credential",
            &[
                ("X-Knotwork-Internal-Token", INTERNAL),
                ("x-knotwork-user-id", "mallory"),
            ],
        ),
    ];
    for text in [false, true] {
        for (name, extra) in cases {
            let ct = if text {
                "application/grpc-web-text"
            } else {
                "application/grpc-web+proto"
            };
            let mut headers = vec![
                ("Content-Type", ct),
                ("Accept", ct),
                ("X-Grpc-Web", "1"),
                ("Authorization", alice.as_str()),
            ];
            headers.extend_from_slice(extra);
            let payload = if text {
                base64::engine::general_purpose::STANDARD
                    .encode(&body)
                    .into_bytes()
            } else {
                body.clone()
            };
            let resp = http1(s.gateway.addr, "POST", path, &headers, &payload).await;
            assert_eq!(resp.status, 200, "{name}");
            assert_eq!(
                resp.header("content-type")
                    .unwrap()
                    .starts_with("application/grpc-web-text"),
                text
            );
            let (data, trailers) = decode_web(&resp);
            assert!(trailers.contains("grpc-status:0"), "{name}: {trailers}");
            let msg = ExportUserDataResponse::decode(data[0].as_slice()).unwrap();
            assert_eq!(
                seen(&msg),
                ("alice".into(), "s0:1".into()),
                "{name} (text: {text})"
            );
        }
    }
}

#[tokio::test]
async fn request_id_is_kept_returned_and_forwarded() {
    let s = stack().await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    let mut req = authed(ExportUserDataRequest {}, &token("alice"));
    req.metadata_mut()
        .insert(REQUEST_ID, "req-123".parse().unwrap());
    let resp = client.export_user_data(req).await.unwrap();
    assert_eq!(resp.metadata().get(REQUEST_ID).unwrap(), "req-123");
    assert_eq!(
        resp.get_ref().export.as_ref().unwrap().request_ids[0].request_id,
        "req-123"
    );

    // Minted when absent, and returned with errors too.
    let resp = client
        .export_user_data(authed(ExportUserDataRequest {}, &token("alice")))
        .await
        .unwrap();
    let minted = resp
        .metadata()
        .get(REQUEST_ID)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(minted.len(), 36);
    assert_eq!(
        resp.get_ref().export.as_ref().unwrap().request_ids[0].request_id,
        minted
    );
    let err = client.get_profile(GetProfileRequest {}).await.unwrap_err();
    assert!(err.metadata().get(REQUEST_ID).is_some());
}
