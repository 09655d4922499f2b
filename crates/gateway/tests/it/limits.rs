//! Rate limits, message size limits and metrics.

use std::time::Duration;

use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::catalog::v1::{GetCatalogVersionRequest, SearchRequest};
use knotwork_proto::session::v1::GetProfileRequest;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

async fn scrape(addr: std::net::SocketAddr) -> String {
    let resp = http1(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(resp.status, 200);
    String::from_utf8(resp.body).unwrap()
}

#[tokio::test]
async fn per_user_token_bucket() {
    let s = stack_with(|c| {
        c.user_rate = 1;
        c.user_burst = 3;
    })
    .await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    let alice = token("alice");
    for _ in 0..3 {
        client
            .get_profile(authed(GetProfileRequest {}, &alice))
            .await
            .unwrap();
    }
    let err = client
        .get_profile(authed(GetProfileRequest {}, &alice))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let details = err.get_error_details();
    let delay = details.retry_info().unwrap().retry_delay.unwrap();
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );
    assert_eq!(details.error_info().unwrap().reason, "RATE_LIMITED");
    // Bob has his own bucket.
    client
        .get_profile(authed(GetProfileRequest {}, &token("bob")))
        .await
        .unwrap();

    let text = scrape(s.gateway.admin).await;
    assert!(
        text.contains(r#"knotwork_gateway_rate_limited_total{scope="user"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"knotwork_gateway_requests_total{code="OK",method="/knotwork.session.v1.SessionService/GetProfile"} 4"#), "{text}");
    assert!(text.contains(r#"knotwork_gateway_errors_total{code="RESOURCE_EXHAUSTED",method="/knotwork.session.v1.SessionService/GetProfile"} 1"#));
    assert!(text.contains("knotwork_gateway_request_duration_seconds_bucket"));
    // Backend health appears once the first poll finished.
    let admin = s.gateway.admin;
    assert!(
        eventually(Duration::from_secs(5), || async move {
            scrape(admin).await.contains("knotwork_gateway_backend_up{")
        })
        .await
    );
}

#[tokio::test]
async fn per_address_token_bucket() {
    let s = stack_with(|c| {
        c.addr_rate = 1;
        c.addr_burst = 2;
    })
    .await;
    let mut client = CatalogServiceClient::new(channel(&s.gateway.url()).await);
    client
        .get_catalog_version(GetCatalogVersionRequest {})
        .await
        .unwrap();
    client
        .get_catalog_version(GetCatalogVersionRequest {})
        .await
        .unwrap();
    let err = client
        .get_catalog_version(GetCatalogVersionRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.get_error_details().retry_info().is_some());
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let s = stack_with(|c| c.max_message_bytes = 1024).await;
    let mut client = CatalogServiceClient::new(channel(&s.gateway.url()).await);
    let big = SearchRequest {
        query: "x".repeat(4096),
        ..Default::default()
    };
    let err = client.search(big).await.unwrap_err();
    // tonic's decoder refuses it before any handler runs; its OUT_OF_RANGE
    // is answered as RESOURCE_EXHAUSTED (knotwork_runtime::status).
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(s.catalog.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}
