//! Traffic that spreads: client connections to the gateway age out (GOAWAY
//! after `KNOTWORK_MAX_CONNECTION_AGE_SECS`), and the gateway finds catalog
//! replicas by resolving a host name (`KNOTWORK_CATALOG_RESOLVE_SECS`).

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1::ListRegionsRequest;
use knotwork_tests::TestStack;

#[tokio::test]
async fn client_connections_age_out_with_a_goaway() {
    let stack = TestStack::start_with(1, |c| {
        c.max_connection_age_secs = 1;
        c.max_connection_age_grace_secs = 1;
    })
    .await;
    let addr = stack.gateway_url.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (_client, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    // The connection ends by itself once the gateway has sent its GOAWAY
    // (age 1 s, grace 1 s); without an age it would stay open.
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), conn).await;
    assert!(ended.is_ok(), "the connection was not aged out in 10 s");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed too early: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn catalog_replicas_are_found_by_name() {
    // `localhost` resolves to the catalog's loopback address; the gateway
    // balances over what it resolves and keeps resolving.
    let stack = TestStack::start_with(1, |_| {}).await;
    let port = stack
        .catalog_url
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let by_name = TestStack::start_with(1, move |c| {
        c.catalog_urls = vec![format!("http://localhost:{port}")];
        c.catalog_resolve_secs = 1;
    })
    .await;
    let mut catalog = by_name.catalog().await;
    for _ in 0..5 {
        let regions = catalog
            .list_regions(ListRegionsRequest::default())
            .await
            .expect("a catalog call through the resolved replicas")
            .into_inner();
        assert!(!regions.regions.is_empty());
    }
}
