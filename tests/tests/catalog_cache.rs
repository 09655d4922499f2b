//! The gateway's catalog cache (`crates/gateway/src/catalog_cache.rs`): repeated
//! catalog reads are answered at the edge, and after a catalog reload every
//! gateway serves the new version within the documented bound (one version
//! poll interval plus one round trip), never the old one again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_admin_service_client::CatalogAdminServiceClient;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

const INTERNAL: &str = "cache-test-internal";
/// The gateways' version poll interval.
const POLL: Duration = Duration::from_millis(200);
/// The documented bound (interval plus a round trip), with room for a
/// loaded 2-core test machine.
const BOUND: Duration = Duration::from_millis(200 + 1800);
const POINT: &str = "triggerPoints/quadratus_lumborum_superficial";

async fn channel(url: &str) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

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
    String::from_utf8(buf).unwrap()
}

fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

async fn point_version(client: &mut CatalogServiceClient<Channel>) -> String {
    client
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: POINT.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .catalog_version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gateway_serves_a_reloaded_catalog_within_the_bound() {
    let (stop, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    // A catalog served from a file, so the test can change it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.toml");
    std::fs::write(&file, knotwork_catalog::state::EMBEDDED_CATALOG).unwrap();
    std::fs::write(
        dir.path().join("guides.toml"),
        knotwork_catalog::state::EMBEDDED_GUIDES,
    )
    .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let catalog_url = format!("http://{}", l.local_addr().unwrap());
    let mut config = knotwork_catalog::Config::local(dir.path().join("data"));
    config.catalog_file = Some(file.clone());
    config.internal_token = INTERNAL.to_owned();
    tokio::spawn(knotwork_catalog::run(config, l, stopped(stop_rx.clone())));

    // Two gateways in front of it (no session shard is needed for reads).
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let admin_addr = admin.local_addr().unwrap();
        let mut g = knotwork_gateway::Config::local(
            vec![catalog_url.clone()],
            vec!["http://127.0.0.1:9".to_owned()],
        );
        g.internal_token = INTERNAL.to_owned();
        g.catalog_cache_poll_ms = POLL.as_millis() as u64;
        g.addr_rate = 0;
        tokio::spawn(knotwork_gateway::run(
            g,
            l,
            Some(admin),
            stopped(stop_rx.clone()),
        ));
        gateways.push((url, admin_addr));
    }
    let mut direct = CatalogServiceClient::new(channel(&catalog_url).await);
    let v1 = direct
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner()
        .catalog_version;

    // Each gateway answers from its cache once it knows the version.
    let mut clients = Vec::new();
    for (url, admin) in &gateways {
        let mut c = CatalogServiceClient::new(channel(url).await);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert_eq!(point_version(&mut c).await, v1);
            let text = scrape(*admin).await;
            if value(&text, "knotwork_gateway_catalog_cache_hits_total") >= 3.0 {
                assert!(value(&text, "knotwork_gateway_catalog_cache_entries") >= 1.0);
                assert!(value(&text, "knotwork_gateway_catalog_cache_bytes") > 1000.0);
                assert!(value(&text, "knotwork_gateway_catalog_cache_hit_ratio") > 0.0);
                break;
            }
            assert!(Instant::now() < deadline, "no cache hits: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        clients.push(c);
    }

    // A new edition: a new content hash.
    let changed = knotwork_catalog::state::EMBEDDED_CATALOG.replacen(
        "edition = \"",
        "edition = \"cache-test ",
        1,
    );
    assert_ne!(changed, knotwork_catalog::state::EMBEDDED_CATALOG);
    std::fs::write(&file, changed).unwrap();
    let mut admin = CatalogAdminServiceClient::new(channel(&catalog_url).await);
    let mut req = tonic::Request::new(cat::ReloadCatalogRequest {});
    req.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        INTERNAL.parse().unwrap(),
    );
    admin.reload_catalog(req).await.unwrap();
    let reloaded = Instant::now();
    let v2 = direct
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner()
        .catalog_version;
    assert_ne!(v1, v2);

    for c in &mut clients {
        loop {
            let v = point_version(c).await;
            if v == v2 {
                break;
            }
            assert_eq!(v, v1, "an answer of neither version");
            assert!(
                reloaded.elapsed() < BOUND,
                "still the old version {:?} after the reload",
                reloaded.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Once the new version is served, the old one never comes back.
        for _ in 0..20 {
            assert_eq!(point_version(c).await, v2);
        }
    }
    let _ = stop.send(true);
}

/// The screens' own catalog reads go through the same cache: a relief plan
/// asked twice reads FindByPain, the technique guidance, the conditions
/// and the tools from the edge the second time, and names the version it
/// came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relief_plan_reads_the_catalog_at_the_edge() {
    use knotwork_proto::gateway::v1 as gw;
    use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
    use knotwork_tests::TestStack;

    let stack = TestStack::start_with(1, |g| {
        g.catalog_cache_poll_ms = POLL.as_millis() as u64;
        g.addr_rate = 0;
        g.user_rate = 0;
    })
    .await;
    let version = stack
        .catalog()
        .await
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner()
        .catalog_version;
    // The gateway knows the version once a repeated read is a hit.
    let mut reads = CatalogServiceClient::new(stack.channel().await);
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(
        &scrape(stack.admin.gateway).await,
        "knotwork_gateway_catalog_cache_hits_total",
    ) < 1.0
    {
        assert_eq!(point_version(&mut reads).await, version);
        assert!(Instant::now() < deadline, "the cache never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let views = ViewServiceClient::new(stack.channel().await);
    let plan = || {
        let mut views = views.clone();
        let req = stack.as_user(
            "edge-reader",
            gw::GetReliefPlanRequest {
                locations: vec![cat::PainLocation {
                    region: "low back".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        async move { views.get_relief_plan(req).await }
    };
    let first = plan().await.unwrap().into_inner();
    let text = scrape(stack.admin.gateway).await;
    let (hits, misses) = (
        value(&text, "knotwork_gateway_catalog_cache_hits_total"),
        value(&text, "knotwork_gateway_catalog_cache_misses_total"),
    );
    let second = plan().await.unwrap().into_inner();
    let text = scrape(stack.admin.gateway).await;
    assert_eq!(
        value(&text, "knotwork_gateway_catalog_cache_hits_total") - hits,
        4.0,
        "the second plan's four catalog reads (pain, guidance, conditions, tools) are hits"
    );
    assert_eq!(
        value(&text, "knotwork_gateway_catalog_cache_misses_total"),
        misses
    );
    assert!(!first.candidates.is_empty());
    assert_eq!(first.candidates, second.candidates);
    assert_eq!(second.catalog_version, version);
}
