//! Dead, slow and failing backends.

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::catalog::v1::{GetCatalogVersionRequest, SearchRequest};
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::{GetProfileRequest, GetSessionRequest, GuideSessionRequest};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::support::*;

fn search(q: &str) -> SearchRequest {
    SearchRequest {
        query: q.into(),
        ..Default::default()
    }
}

async fn health(url: &str, service: &str) -> i32 {
    let mut client = HealthClient::new(channel(url).await);
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.get_ref().status)
        .unwrap_or(-1)
}

#[tokio::test]
async fn backend_killed_then_back() {
    let s = stack().await;
    let url = s.gateway.url();
    let mut catalog = CatalogServiceClient::new(channel(&url).await);
    catalog
        .get_catalog_version(GetCatalogVersionRequest {})
        .await
        .unwrap();
    let serving = ServingStatus::Serving as i32;
    assert!(
        eventually(Duration::from_secs(5), || async {
            health(&url, "").await == serving
        })
        .await
    );

    let addr = s.catalog_srv.addr;
    let Stack {
        catalog_srv,
        session,
        session_srv,
        gateway,
        ..
    } = s;
    catalog_srv.kill();
    let start = Instant::now();
    let err = catalog
        .get_catalog_version(GetCatalogVersionRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    // Health reflects it under the catalog's name; the gateway itself ("")
    // keeps serving the calls that do not need the catalog.
    assert!(
        eventually(Duration::from_secs(5), || async {
            health(&url, knotwork_proto::names::CATALOG_SERVICE).await
                == ServingStatus::NotServing as i32
        })
        .await
    );
    assert_eq!(health(&url, "").await, serving);

    // Back on the same address: used again without a gateway restart.
    let _back = spawn_catalog(
        FakeCatalog {
            name: "back".into(),
            ..Default::default()
        },
        Some(addr),
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || {
            let mut c = catalog.clone();
            async move {
                c.get_catalog_version(GetCatalogVersionRequest {})
                    .await
                    .is_ok_and(|r| r.get_ref().catalog_version == "back")
            }
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            health(&url, knotwork_proto::names::CATALOG_SERVICE).await == serving
        })
        .await
    );
    drop((session, session_srv, gateway));
}

#[tokio::test]
async fn dead_session_shard_is_unavailable_fast() {
    let s = stack().await;
    let mut client = SessionServiceClient::new(channel(&s.gateway.url()).await);
    client
        .get_profile(authed(GetProfileRequest {}, &token("alice")))
        .await
        .unwrap();
    let Stack {
        session_srv,
        catalog_srv,
        gateway,
        ..
    } = s;
    session_srv.kill();
    let start = Instant::now();
    let err = client
        .get_profile(authed(GetProfileRequest {}, &token("alice")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(start.elapsed() < Duration::from_secs(2));
    drop((catalog_srv, gateway));
}

#[tokio::test]
async fn catalog_retry_on_another_replica() {
    let live = FakeCatalog {
        name: "live".into(),
        ..Default::default()
    };
    let live_srv = spawn_catalog(live, None).await;
    let dead = spawn_catalog(FakeCatalog::default(), None).await;
    let dead_url = dead.url();
    dead.kill();
    let session = spawn_session(FakeSession::new("s"), None).await;
    // A slow health poll, so the dead replica is still in the rotation.
    let mut cfg = config(&[dead_url, live_srv.url()], &[session.url()]);
    cfg.health_interval_ms = 60_000;
    let gw = spawn_gateway(cfg).await;
    let mut client = CatalogServiceClient::new(channel(&gw.url()).await);
    for _ in 0..6 {
        let r = client
            .get_catalog_version(GetCatalogVersionRequest {})
            .await
            .unwrap();
        assert_eq!(r.get_ref().catalog_version, "live");
    }
}

#[tokio::test]
async fn deadlines_are_capped_and_mapped() {
    let s = stack_with(|c| c.max_backend_timeout_ms = 300).await;
    let mut client = CatalogServiceClient::new(channel(&s.gateway.url()).await);
    // The gateway's cap.
    let start = Instant::now();
    let err = client.search(search("sleep:3000")).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(start.elapsed() < Duration::from_secs(2));
    // The client's shorter deadline wins.
    let mut req = tonic::Request::new(search("sleep:3000"));
    req.set_timeout(Duration::from_millis(100));
    let start = Instant::now();
    let err = client.search(req).await.unwrap_err();
    // The gateway answers 10 ms early (DEADLINE_EXCEEDED); on a loaded
    // machine the caller's own timer may still win (CANCELLED). Either way
    // the slow backend call was cut at the caller's deadline, not the cap.
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(280),
        "{:?}",
        start.elapsed()
    );
    client.search(search("sleep:10")).await.unwrap();
}

#[tokio::test]
async fn upstream_status_passes_through() {
    let s = stack().await;
    let mut client = CatalogServiceClient::new(channel(&s.gateway.url()).await);
    let err = client.search(search("missing")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "no such thing");
    assert_eq!(
        err.get_error_details().error_info().unwrap().reason,
        "NOT_THERE"
    );
}

#[tokio::test]
async fn health_and_reflection() {
    let s = stack().await;
    let url = s.gateway.url();
    for svc in [
        "",
        knotwork_proto::names::CATALOG_SERVICE,
        knotwork_proto::names::SESSION_SERVICE,
        knotwork_proto::names::VIEW_SERVICE,
    ] {
        assert!(
            eventually(Duration::from_secs(5), || async {
                health(&url, svc).await == ServingStatus::Serving as i32
            })
            .await,
            "{svc}"
        );
    }
    // Reflection lists the public services and not the admin ones.
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel(&url).await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!()
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        knotwork_proto::names::CATALOG_SERVICE,
        knotwork_proto::names::SESSION_SERVICE,
        knotwork_proto::names::VIEW_SERVICE,
    ] {
        assert!(names.iter().any(|n| n == want), "{names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("Admin")), "{names:?}");
}

/// A backend whose error reply is larger than HTTP/2's default header list
/// (16 KiB) does not break the shared gateway-to-backend connection: a
/// reply under the gateway's 1 MiB limit passes on bounded, one over it
/// fails only its own call with RESOURCE_EXHAUSTED, and another user's
/// guided streams on the same connection run to their end.
#[tokio::test]
async fn oversized_backend_reply_fails_only_its_call() {
    let catalog_srv = spawn_catalog(FakeCatalog::default(), None).await;
    let mut fake = FakeSession::new("s0");
    fake.cue_interval = Duration::from_millis(150);
    let session_srv = spawn_session(fake, None).await;
    let mut cfg = config(&[catalog_srv.url()], &[session_srv.url()]);
    cfg.backend_connections = 1;
    let gateway = spawn_gateway(cfg).await;
    let url = gateway.url();
    let mut a = SessionServiceClient::new(channel(&url).await);
    let mut b = SessionServiceClient::new(channel(&url).await);
    let (ta, tb) = (token("user-a"), token("user-b"));

    let mut streams = Vec::new();
    for _ in 0..6 {
        let s = a
            .guide_session(authed(GuideSessionRequest::default(), &ta))
            .await
            .unwrap()
            .into_inner();
        streams.push(s);
    }
    let get = |n: usize| GetSessionRequest {
        name: format!("sessions/huge-{n}"),
    };
    for _ in 0..3 {
        // 64 KiB: passes, cut to the bounded size.
        let s = b.get_session(authed(get(64 << 10), &tb)).await.unwrap_err();
        assert_eq!(s.code(), Code::NotFound, "{s:?}");
        assert!(s.message().len() <= 1024, "{}", s.message().len());
        // 1.5 MiB (about 0.9 MiB on the wire): over the limit, this call only.
        let s = b.get_session(authed(get(3 << 19), &tb)).await.unwrap_err();
        assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    }
    for mut s in streams {
        let mut cues = 0;
        while let Some(item) = s.message().await.transpose() {
            item.unwrap();
            cues += 1;
        }
        assert_eq!(cues, 4, "another user's stream ran to its end");
    }
}
