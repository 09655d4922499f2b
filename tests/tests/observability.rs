//! Operability: every service serves its admin port (Prometheus text at
//! `/metrics`, gRPC health for the kubelet), the metrics move with real
//! traffic, and the metric families the services export are exactly the
//! ones listed in `deploy/observability/metrics.txt`, the list the
//! dashboard and alert checks of `deploy/check.sh` read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::{INTERNAL_TOKEN, TestStack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// `GET /metrics` over HTTP/1.1, the body as text.
async fn scrape(addr: SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("scrape answered in time")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The metric families (`# TYPE name kind`) of a scrape.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The value of the first sample line starting with `prefix`.
fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
}

async fn health(addr: SocketAddr, service: &str) -> ServingStatus {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exports_the_listed_metrics() {
    // A user burst of 6 so that the test can meet the rate limit.
    let stack = TestStack::start_with(1, |g| {
        g.user_burst = 6;
        g.user_rate = 1;
    })
    .await;
    let admin = stack.admin.clone();

    // The kubelet's probes on the admin ports: readiness ("") and liveness.
    for addr in [admin.catalog, admin.sessions[0], admin.gateway] {
        assert_eq!(health(addr, "").await, ServingStatus::Serving, "{addr}");
        assert_eq!(
            health(addr, knotwork_runtime::grpc::LIVENESS).await,
            ServingStatus::Serving,
            "{addr}"
        );
    }

    // Traffic: a catalog read, a catalog miss, a write, a session miss.
    let mut catalog = stack.catalog().await;
    catalog
        .search(cat::SearchRequest {
            query: "trapezius".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let miss = catalog
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: "triggerPoints/nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(miss.code(), tonic::Code::NotFound);
    let mut session = stack.session().await;
    session
        .update_profile(stack.as_user(
            "olive",
            ses::UpdateProfileRequest {
                profile: Some(ses::Profile {
                    time_zone: "Europe/Paris".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let miss = session
        .get_session(stack.as_user(
            "olive",
            ses::GetSessionRequest {
                name: "sessions/nope".into(),
            },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            miss.code(),
            tonic::Code::NotFound | tonic::Code::InvalidArgument
        ),
        "{miss:?}"
    );
    // Past the user's burst: a rate-limit refusal.
    let mut limited = false;
    for _ in 0..10 {
        let r = session
            .get_profile(stack.as_user("olive", ses::GetProfileRequest::default()))
            .await;
        if matches!(&r, Err(s) if s.code() == tonic::Code::ResourceExhausted) {
            limited = true;
            break;
        }
    }
    assert!(limited, "the user's burst was never exhausted");
    // A catalog reload (same file: unchanged).
    let mut reload = cat::catalog_admin_service_client::CatalogAdminServiceClient::new(
        tonic::transport::Endpoint::from_shared(stack.catalog_url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let mut req = tonic::Request::new(cat::ReloadCatalogRequest {});
    req.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        INTERNAL_TOKEN.parse().unwrap(),
    );
    reload.reload_catalog(req).await.unwrap();

    let gateway = scrape(admin.gateway).await;
    let catalog = scrape(admin.catalog).await;
    let session = scrape(admin.sessions[0]).await;

    // The numbers move with the traffic above.
    assert_eq!(
        value(
            &gateway,
            r#"knotwork_gateway_errors_total{code="NOT_FOUND",method="/knotwork.catalog.v1.CatalogService/GetTriggerPoint"}"#
        ),
        1.0
    );
    assert!(value(&gateway, r#"knotwork_gateway_backend_requests_total{"#) >= 1.0);
    assert_eq!(value(&gateway, "knotwork_gateway_in_flight_requests"), 0.0);
    assert_eq!(
        value(
            &catalog,
            r#"knotwork_catalog_requests_total{code="OK",method="/knotwork.catalog.v1.CatalogService/Search"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &catalog,
            r#"knotwork_catalog_reloads_total{result="unchanged"}"#
        ),
        1.0
    );
    assert_eq!(value(&catalog, "knotwork_catalog_info{"), 1.0);
    assert!(value(&session, "knotwork_session_commit_duration_seconds_count") >= 1.0);
    assert!(value(&session, "knotwork_session_commit_batch_size_sum") >= 1.0);
    assert_eq!(value(&session, "knotwork_session_users"), 1.0);
    assert!(value(&session, "knotwork_session_storage_bytes") > 0.0);
    assert_eq!(value(&session, "knotwork_session_writer_queue_depth"), 0.0);
    for (text, service) in [
        (&gateway, "gateway"),
        (&catalog, "catalog"),
        (&session, "session"),
    ] {
        assert!(
            text.contains(&format!(r#"knotwork_build_info{{service="{service}","#)),
            "{text}"
        );
    }

    // Exactly the listed families: the dashboard and the alerts are
    // checked against this list (deploy/check.sh).
    let mut exported: BTreeSet<String> = BTreeSet::new();
    for text in [&gateway, &catalog, &session] {
        exported.extend(families(text));
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/observability/metrics.txt"
    );
    let listed: BTreeSet<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .collect();
    let exported_list: Vec<String> = exported.iter().cloned().collect();
    assert_eq!(
        exported,
        listed,
        "deploy/observability/metrics.txt must list exactly what the services export; now:\n{}",
        exported_list.join("\n")
    );
}

/// The real binaries: the admin port setting, liveness that does not wait
/// for the catalog, and logs without colour codes when not on a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binaries_serve_admin_ports_and_plain_logs() {
    use knotwork_tests::procs;
    let dir = tempfile::tempdir().unwrap();
    // The session service first, with its catalog not running at all: it
    // must open its storage and answer liveness (no restart loop); readiness
    // first waits a while for the catalog (then serves without it, see
    // catalog_away.rs).
    let missing_catalog = format!("http://{}", procs::free_addr());
    let session_admin = procs::free_addr();
    let session = procs::session(
        dir.path(),
        &missing_catalog,
        &[
            ("KNOTWORK_SESSION_ADMIN_LISTEN", session_admin.clone()),
            ("KNOTWORK_LOG_FORMAT", "text".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ],
    );
    let admin_url = format!("http://{session_admin}");
    procs::wait_serving(
        &admin_url,
        knotwork_runtime::grpc::LIVENESS,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        health(session_admin.parse().unwrap(), "").await,
        ServingStatus::NotServing,
        "readiness waits a while for the catalog"
    );
    let metrics = scrape(session_admin.parse().unwrap()).await;
    assert!(
        metrics.contains("knotwork_session_storage_bytes"),
        "{metrics}"
    );

    let catalog_admin = procs::free_addr();
    let catalog = procs::catalog(
        dir.path(),
        &[
            ("KNOTWORK_CATALOG_ADMIN_LISTEN", catalog_admin.clone()),
            ("KNOTWORK_LOG_FORMAT", "text".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ],
    );
    procs::wait_serving(
        &format!("http://{catalog_admin}"),
        "",
        Duration::from_secs(30),
    )
    .await;
    let metrics = scrape(catalog_admin.parse().unwrap()).await;
    assert!(metrics.contains("knotwork_catalog_info{"), "{metrics}");

    for p in [&session, &catalog] {
        let log = p.log_text();
        assert!(log.contains("listening"), "{log}");
        assert!(
            !log.contains('\u{1b}'),
            "colour codes in a log file:\n{log:?}"
        );
    }
}
