//! The system as ops deploys it: each service a separate OS process of its
//! real binary, configured only through the `KNOTWORK_*` environment names
//! the manifests in `deploy/` use (one gateway, two catalog replicas, three
//! session shards, each with its own data folder). A scenario runs through
//! the gateway, one session shard is killed (SIGKILL) and restarted, one
//! catalog replica is stopped and restarted, and nothing acknowledged is lost.
//!
//! The binaries come from the same target folder as this test (`cargo test
//! --workspace` builds them, as the service crates have integration tests),
//! or from `KNOTWORK_BIN_DIR` (e.g. release builds).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test panics to fail.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, as_user, wait_serving};
use tonic::transport::Endpoint;

fn record(point: &str, tool: &str, minute: u64) -> ses::SessionRecord {
    let when = std::time::SystemTime::now() - Duration::from_secs(3600 - minute * 10);
    ses::SessionRecord {
        trigger_point: point.to_owned(),
        tool: tool.to_owned(),
        side: cat::Side::Right as i32,
        pressure: 5,
        duration_seconds: 200,
        tenderness_before: Some(5),
        tenderness_after: Some(3),
        perform_time: Some(prost_types::Timestamp::from(when)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_wired_like_the_manifests_recover_from_restarts() {
    let root = tempfile::tempdir().unwrap();
    let limit = Duration::from_secs(30);
    let dir = |name: &str| {
        let d = root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };

    let mut catalogs: Vec<procs::Proc> = (0..2)
        .map(|i| procs::catalog(&dir(&format!("catalog-{i}")), &[]))
        .collect();
    for c in &catalogs {
        wait_serving(&c.url(), "", limit).await;
    }
    let catalog_urls: Vec<String> = catalogs.iter().map(procs::Proc::url).collect();

    let mut shards: Vec<procs::Proc> = (0..3)
        .map(|i| procs::session(&dir(&format!("session-{i}")), &catalog_urls[i % 2], &[]))
        .collect();
    let shard_urls: Vec<String> = shards.iter().map(procs::Proc::url).collect();

    // KNOTWORK_CATALOG_URLS is a comma list: both replicas.
    let gateway_proc = procs::gateway(&dir("gateway"), &catalog_urls.join(","), &shard_urls, &[]);
    let gateway = gateway_proc.url();
    for service in [
        "",
        "knotwork.catalog.v1.CatalogService",
        "knotwork.session.v1.SessionService",
    ] {
        wait_serving(&gateway, service, limit).await;
    }
    let channel = Endpoint::from_shared(gateway.clone())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();

    // A real point and tool from the catalog, through the gateway.
    let mut catalog =
        knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient::new(
            channel.clone(),
        );
    let tp = catalog
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: "triggerPoints/quadratus_lumborum_superficial".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap();
    let tool = tp.techniques[0].tool.clone();

    // Twelve users, two sessions each: spread over the three shards.
    let mut session = SessionServiceClient::new(channel.clone());
    let users: Vec<String> = (0..12).map(|i| format!("proc-user-{i}")).collect();
    let mut acknowledged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, user) in users.iter().enumerate() {
        for j in 0..2 {
            let resp = session
                .log_session(as_user(
                    user,
                    ses::LogSessionRequest {
                        request_id: format!("{user}-{j}"),
                        session: Some(record(&tp.name, &tool, (i * 2 + j) as u64)),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            acknowledged
                .entry(user.clone())
                .or_default()
                .push(resp.session.unwrap().name);
        }
    }

    // Kill shard 1 without warning and bring it back on the same data.
    shards[1].kill();
    shards[1].start();
    wait_serving(&shards[1].url(), "", limit).await;
    // Stop one catalog replica cleanly and start it again.
    catalogs[0]
        .terminate(Duration::from_secs(15))
        .expect("catalog stops on SIGTERM");
    // While it is down the other replica answers catalog reads.
    for _ in 0..4 {
        catalog
            .get_trigger_point(cat::GetTriggerPointRequest {
                name: tp.name.clone(),
            })
            .await
            .expect("catalog reads survive one replica down");
    }
    catalogs[0].start();
    wait_serving(&catalogs[0].url(), "", limit).await;
    wait_serving(&gateway, "knotwork.session.v1.SessionService", limit).await;

    // Every acknowledged session is there, exactly once, for its owner.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (user, names) in &acknowledged {
        let listed = loop {
            match session
                .list_sessions(as_user(user, ses::ListSessionsRequest::default()))
                .await
            {
                Ok(r) => break r.into_inner().sessions,
                Err(s) if Instant::now() < deadline && s.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(s) => panic!("{user}: {s:?}"),
            }
        };
        let mut got: Vec<String> = listed.into_iter().map(|s| s.name).collect();
        got.sort();
        let mut want = names.clone();
        want.sort();
        assert_eq!(got, want, "{user}'s sessions after restarts");
    }

    // And the system takes new writes again on every shard.
    for user in &users {
        session
            .log_session(as_user(
                user,
                ses::LogSessionRequest {
                    request_id: format!("{user}-after"),
                    session: Some(record(&tp.name, &tool, 300)),
                },
            ))
            .await
            .unwrap_or_else(|s| panic!("{user} after restart: {s:?}"));
    }
    drop(gateway_proc);
    drop(shards);
    drop(catalogs);
}

/// A guided session's clock survives a restart of the session service: the
/// first attach stores when the clock started, so after a SIGKILL and a
/// restart on the same data, a reattach resumes at the real elapsed time,
/// neither at 0:00 nor at the time since the session was started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guide_reattaches_at_its_elapsed_time_after_a_session_restart() {
    const SPEEDUP: f64 = 10.0;
    let root = tempfile::tempdir().unwrap();
    let limit = Duration::from_secs(30);
    let catalog_proc = procs::catalog(root.path(), &[]);
    wait_serving(&catalog_proc.url(), "", limit).await;
    let mut shard = procs::session(
        root.path(),
        &catalog_proc.url(),
        &[("KNOTWORK_GUIDE_SPEEDUP", "10".into())],
    );
    wait_serving(&shard.url(), "", limit).await;
    let channel = procs::channel(&shard.url(), Duration::from_secs(10));
    let mut catalog =
        knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient::new(
            procs::channel(&catalog_proc.url(), Duration::from_secs(10)),
        );
    let conditions = catalog
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .contraindications;
    let mut session = SessionServiceClient::new(channel.clone());
    let user = "guide-user";
    session
        .submit_screening(procs::internal(
            user,
            ses::SubmitScreeningRequest {
                answers: conditions
                    .iter()
                    .map(|c| ses::ScreeningAnswer {
                        contraindication: c.name.clone(),
                        ..Default::default()
                    })
                    .collect(),
            },
        ))
        .await
        .unwrap();
    let tp = "triggerPoints/quadratus_lumborum_superficial";
    let tool = catalog
        .get_trigger_point(cat::GetTriggerPointRequest { name: tp.into() })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap()
        .techniques[0]
        .tool
        .clone();
    // 300 s on one side at 10x: 30 s of wall time.
    let g = session
        .start_guided_session(procs::internal(
            user,
            ses::StartGuidedSessionRequest {
                request_id: "guide-1".into(),
                trigger_point: tp.into(),
                tool,
                side: cat::Side::Right as i32,
                duration_seconds: 300,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .guided_session
        .unwrap();
    // The app opens the stream a moment after the start (within the grace
    // period), so the clock starts at the attach, not at the start: a
    // restart that forgot the attach would resume 20 guide-seconds late.
    let wait = Duration::from_secs(2);
    tokio::time::sleep(wait).await;
    let attach_before = Instant::now();
    let mut stream = session
        .guide_session(procs::internal(
            user,
            ses::GuideSessionRequest {
                name: g.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let attach_after = Instant::now();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.elapsed_seconds, 0, "{first:?}");
    drop(stream);

    // SIGKILL and restart on the same data.
    shard.kill();
    shard.start();
    wait_serving(&shard.url(), "knotwork.session.v1.SessionService", limit).await;
    let mut session =
        SessionServiceClient::new(procs::channel(&shard.url(), Duration::from_secs(10)));
    // A restart can take a few milliseconds: let at least one guide-second
    // pass, so the reattach must resume (at 0 it would start over).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let re_before = Instant::now();
    let mut stream = session
        .guide_session(procs::internal(
            user,
            ses::GuideSessionRequest {
                name: g.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let re_after = Instant::now();
    let resumed = stream.message().await.unwrap().unwrap();
    assert!(resumed.resumed, "{resumed:?}");
    let low = (re_before - attach_after).as_secs_f64() * SPEEDUP - 1.0;
    let high = (re_after - attach_before).as_secs_f64() * SPEEDUP + 1.0;
    let got = f64::from(resumed.elapsed_seconds);
    assert!(
        (low..=high).contains(&got),
        "resumed at {got} s, expected {low:.1}..{high:.1} (the clock from the first attach)"
    );
    assert!(got < 300.0, "still running: {resumed:?}");
    drop(shard);
    drop(catalog_proc);
}

/// A child that exits instead of serving fails the harness's wait at once,
/// naming the process and quoting its log, not after the wait's limit (or
/// never, when something else answers on its port).
#[tokio::test]
async fn waiting_on_a_child_that_exited_fails_at_once_with_its_log() {
    let root = tempfile::tempdir().unwrap();
    // A setting the catalog refuses: it exits at start.
    let catalog = procs::catalog(
        root.path(),
        &[("KNOTWORK_LOG_FORMAT", "no-such-format".to_owned())],
    );
    let url = catalog.url();
    let started = Instant::now();
    let waited =
        tokio::spawn(async move { wait_serving(&url, "", Duration::from_secs(120)).await })
            .await
            .unwrap_err();
    let why = *waited.into_panic().downcast::<String>().unwrap();
    assert!(why.starts_with("catalog (pid "), "{why}");
    assert!(why.contains("exited instead of serving"), "{why}");
    assert!(why.contains("no-such-format"), "the log's end: {why}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    drop(catalog);
}
