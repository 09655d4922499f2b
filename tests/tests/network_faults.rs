//! Network faults between the gateway and its backends, with real processes
//! so that a backend can be killed, paused (SIGSTOP) and resumed (SIGCONT):
//! calls fail fast with the right status, deadlines hold, nothing hangs, a
//! fault in one backend does not spread to the other, and the gateway
//! recovers within seconds of the backend coming back on its port.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs;
use tonic::Code;
use tonic::transport::Channel;

const SESSION: &str = "knotwork.session.v1.SessionService";
const CATALOG: &str = "knotwork.catalog.v1.CatalogService";
/// The gateway's cap on a backend call in this test.
const CAP: Duration = Duration::from_millis(2000);

async fn list(
    client: &mut SessionServiceClient<Channel>,
    timeout: Option<Duration>,
) -> (Result<usize, tonic::Status>, Duration) {
    let mut req = procs::as_user("net-user", ses::ListSessionsRequest::default());
    if let Some(t) = timeout {
        req.set_timeout(t);
    }
    let started = Instant::now();
    let r = client
        .list_sessions(req)
        .await
        .map(|r| r.into_inner().sessions.len());
    (r, started.elapsed())
}

async fn version(
    client: &mut CatalogServiceClient<Channel>,
) -> (Result<String, tonic::Status>, Duration) {
    let started = Instant::now();
    let r = client
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .map(|r| r.into_inner().catalog_version);
    (r, started.elapsed())
}

/// A catalog read the gateway never has cached: a muscle that does not
/// exist (NOT_FOUND while the catalog is up; errors are never kept).
async fn uncached(
    client: &mut CatalogServiceClient<Channel>,
) -> (Result<(), tonic::Status>, Duration) {
    let started = Instant::now();
    let r = client
        .get_muscle(cat::GetMuscleRequest {
            name: "muscles/not-cached-while-the-catalog-is-down".into(),
        })
        .await
        .map(drop);
    (r, started.elapsed())
}

/// Polls `list` until it succeeds; returns how long that took.
async fn recovery(client: &mut SessionServiceClient<Channel>, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let (Ok(n), _) = list(client, Some(Duration::from_secs(2))).await {
            assert_eq!(n, 1, "the journal came back whole");
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "no recovery within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Catalog, session and gateway processes, the gateway polling health
/// every 200 ms and capping backend calls at [`CAP`].
async fn stack(root: &std::path::Path) -> (procs::Proc, procs::Proc, procs::Proc, String) {
    let catalog = procs::catalog(root, &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let session = procs::session(root, &catalog.url(), &[]);
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;
    let gateway = procs::gateway(
        root,
        &catalog.url(),
        &[session.url()],
        &[
            ("KNOTWORK_HEALTH_INTERVAL_MS", "200".into()),
            (
                "KNOTWORK_MAX_BACKEND_TIMEOUT_MS",
                CAP.as_millis().to_string(),
            ),
            ("KNOTWORK_BACKEND_CONNECT_TIMEOUT_MS", "500".into()),
        ],
    );
    for s in ["", SESSION, CATALOG] {
        procs::wait_serving(&gateway.url(), s, Duration::from_secs(30)).await;
    }
    (catalog, session, gateway, tool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_fails_fast_and_recovers_from_backend_faults() {
    let root = tempfile::tempdir().unwrap();
    let (mut catalog, mut session, gateway, tool) = stack(root.path()).await;
    // The client's own deadline is long: the gateway must answer first.
    let ch = procs::channel(&gateway.url(), Duration::from_secs(8));
    let mut sessions = SessionServiceClient::new(ch.clone());
    let mut catalogs = CatalogServiceClient::new(ch);
    sessions
        .log_session(procs::as_user(
            "net-user",
            ses::LogSessionRequest {
                request_id: "net-1".into(),
                session: Some(procs::record(&tool, 5, "net")),
            },
        ))
        .await
        .unwrap();
    assert_eq!(list(&mut sessions, None).await.0.unwrap(), 1);
    let mut report = Vec::new();

    // 1. Session backend killed: UNAVAILABLE, fast, every time.
    session.kill();
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        let (r, took) = list(&mut sessions, None).await;
        let s = r.expect_err("backend is down");
        assert_eq!(s.code(), Code::Unavailable, "{s:?}");
        assert!(took < Duration::from_secs(2), "killed backend: {took:?}");
        worst = worst.max(took);
    }
    report.push(format!("killed: UNAVAILABLE in <= {worst:?}"));
    // The catalog keeps answering: the fault does not spread.
    version(&mut catalogs).await.0.expect("catalog unaffected");
    // The gateway's health reports the shard down.
    let started = Instant::now();
    while procs::serving(&gateway.url(), SESSION).await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "health still SERVING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.push(format!("health NOT_SERVING after {:?}", started.elapsed()));

    // 2. Restarted on the same port: recovers.
    session.start();
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;
    let took = recovery(&mut sessions, Duration::from_secs(5)).await;
    report.push(format!("restarted: recovered in {took:?}"));

    // 3. Paused (SIGSTOP): the call's deadline holds, with or without a
    // client deadline, and nothing hangs. (With a client deadline tonic's
    // own server-side timer may answer CANCELLED first: see
    // `client_deadline_expiry_is_deadline_exceeded`.)
    session.signal("STOP");
    let (r, took) = list(&mut sessions, Some(Duration::from_millis(1500))).await;
    let s = r.expect_err("backend is paused");
    assert!(
        matches!(
            s.code(),
            Code::DeadlineExceeded | Code::Unavailable | Code::Cancelled
        ),
        "{s:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "client deadline 1.5 s: {took:?}"
    );
    report.push(format!(
        "paused, client deadline 1.5 s: {:?} in {took:?}",
        s.code()
    ));
    let (r, took) = list(&mut sessions, None).await;
    let s = r.expect_err("backend is paused");
    assert!(
        matches!(s.code(), Code::DeadlineExceeded | Code::Unavailable),
        "{s:?}"
    );
    assert!(
        took < CAP + Duration::from_millis(1000),
        "gateway cap {CAP:?}: {took:?}"
    );
    report.push(format!(
        "paused, no client deadline: {:?} in {took:?} (cap {CAP:?})",
        s.code()
    ));
    version(&mut catalogs)
        .await
        .0
        .expect("catalog unaffected by a paused shard");

    // 4. Resumed (SIGCONT): recovers within a few seconds.
    session.signal("CONT");
    let took = recovery(&mut sessions, Duration::from_secs(5)).await;
    report.push(format!("resumed: recovered in {took:?}"));

    // 4b. Slow, not dead: a backend stalled for 400 ms in the middle of a
    // call with a 3 s deadline answers late but correctly.
    session.signal("STOP");
    let resume = {
        let pid = session.pid().expect("running").to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &pid])
                .status();
        })
    };
    let (r, took) = list(&mut sessions, Some(Duration::from_secs(3))).await;
    resume.await.unwrap();
    assert_eq!(r.expect("a slow backend still answers"), 1);
    assert!(took >= Duration::from_millis(350), "not stalled? {took:?}");
    report.push(format!("stalled 400 ms: answered OK in {took:?}"));

    // 5. Catalog killed: a read the gateway has cached still answers; a read
    // it has not fails UNAVAILABLE fast; the journal keeps taking writes (the
    // session service holds its catalog snapshot).
    let served = version(&mut catalogs).await.0.expect("catalog up");
    catalog.kill();
    let (r, _) = version(&mut catalogs).await;
    assert_eq!(
        r.expect("a cached read answers through a catalog outage"),
        served
    );
    let (r, took) = uncached(&mut catalogs).await;
    assert_eq!(r.expect_err("catalog down").code(), Code::Unavailable);
    assert!(took < Duration::from_secs(2), "killed catalog: {took:?}");
    report.push(format!(
        "catalog killed: cached reads answer, others UNAVAILABLE in {took:?}"
    ));
    sessions
        .log_session(procs::as_user(
            "net-user-2",
            ses::LogSessionRequest {
                request_id: "net-2".into(),
                session: Some(procs::record(&tool, 5, "net")),
            },
        ))
        .await
        .expect("journal writes survive a catalog outage");
    catalog.start();
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let started = Instant::now();
    while uncached(&mut catalogs)
        .await
        .0
        .is_err_and(|s| s.code() == Code::Unavailable)
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "catalog not back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.push(format!(
        "catalog restarted: recovered in {:?}",
        started.elapsed()
    ));
    println!("network faults:\n  {}", report.join("\n  "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_deadline_expiry_is_deadline_exceeded() {
    let root = tempfile::tempdir().unwrap();
    let (_catalog, session, gateway, _tool) = stack(root.path()).await;
    let mut sessions =
        SessionServiceClient::new(procs::channel(&gateway.url(), Duration::from_secs(8)));
    list(&mut sessions, None).await.0.expect("baseline");
    session.signal("STOP");
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (r, _) = list(&mut sessions, Some(Duration::from_millis(500))).await;
        codes.push(r.expect_err("paused").code());
    }
    session.signal("CONT");
    assert!(
        codes.iter().all(|c| *c == Code::DeadlineExceeded),
        "client deadline expiry answered {codes:?}"
    );
}
