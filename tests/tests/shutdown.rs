//! Graceful shutdown under load: SIGTERM reaches a session process while
//! writers run and a guided session streams. The stream in flight finishes
//! (every cue up to STOP), new connections are refused, the process exits
//! cleanly well within its grace period (45 s in deploy/k8s), and every
//! acknowledged write is there after a restart.
//!
//! And the drain deadline: streams that would outlive the grace (a guided
//! session at normal speed lasts minutes) end with UNAVAILABLE after
//! `KNOTWORK_SHUTDOWN_GRACE_SECONDS`, at the session and at the gateway, and
//! each process then exits 0.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, POINT};

const SESSION: &str = "knotwork.session.v1.SessionService";
const GATEWAY_HEALTH: &str = "";
/// The session pods' terminationGracePeriodSeconds.
const GRACE: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_calls_and_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let catalog = procs::catalog(root.path(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    // 180 s guided sessions last 3 s at 60x.
    let mut session = procs::session(
        root.path(),
        &catalog.url(),
        &[("KNOTWORK_GUIDE_SPEEDUP", "60".into())],
    );
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;

    let (mut stream, first) =
        open_guided(&catalog.url(), &session.url(), "guided-user", false, &tool).await;

    // Writers, each on its own connection.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<BTreeMap<String, (String, String)>>> = Arc::default();
    let errors = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    // (user, request id) of every write that got an error.
    let failed: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, tool, stop, acked, errors, failed) = (
                session.url(),
                tool.clone(),
                stop.clone(),
                acked.clone(),
                errors.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let mut c = SessionServiceClient::new(procs::channel(&url, Duration::from_secs(5)));
                let user = format!("term-user-{w}");
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let rid = format!("t{w}-{seq}");
                    match c
                        .log_session(procs::internal(
                            &user,
                            ses::LogSessionRequest {
                                request_id: rid.clone(),
                                session: Some(procs::record(&tool, seq % 100, &rid)),
                            },
                        ))
                        .await
                    {
                        Ok(r) => {
                            acked
                                .lock()
                                .unwrap()
                                .insert(rid, (user.clone(), r.into_inner().session.unwrap().name));
                        }
                        Err(s) => {
                            {
                                let mut e = errors.lock().unwrap();
                                *e.entry(format!("{:?}", s.code())).or_default() += 1;
                                failed.lock().unwrap().push((user.clone(), rid));
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_term = acked.lock().unwrap().len();
    assert!(before_term > 0, "writers made progress");

    // SIGTERM with the stream and the writers in flight.
    let term_at = Instant::now();
    session.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused (fast, no hang) while the stream drains.
    let fresh = SessionServiceClient::new(procs::channel(&session.url(), Duration::from_secs(3)))
        .get_profile(procs::internal("late", ses::GetProfileRequest {}))
        .await;
    let refused_in = term_at.elapsed();
    assert!(fresh.is_err(), "a new call after SIGTERM was served");
    assert!(session.running(), "exited while a stream was in flight");
    // The stream in flight runs to its STOP cue.
    let mut cues = vec![first.cue()];
    while let Some(m) = stream.message().await.expect("stream cut by shutdown") {
        cues.push(m.cue());
    }
    assert_eq!(
        cues.last(),
        Some(&ses::GuideCue::Stop),
        "stream ended early: {cues:?}"
    );
    // And then the process exits, cleanly, within its grace period.
    let status = session
        .wait_exit(GRACE)
        .expect("exited within the grace period");
    let exit_after = term_at.elapsed();
    assert!(status.success(), "exit status {status:?}");
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    // Nothing acknowledged is lost.
    session.start();
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;
    let mut client =
        SessionServiceClient::new(procs::channel(&session.url(), Duration::from_secs(20)));
    let acked = acked.lock().unwrap().clone();
    let mut present = 0;
    for w in 0..4 {
        let user = format!("term-user-{w}");
        let export = client
            .export_user_data(procs::internal(&user, ses::ExportUserDataRequest {}))
            .await
            .unwrap()
            .into_inner()
            .export
            .unwrap();
        let names: BTreeMap<String, String> = export
            .sessions
            .into_iter()
            .map(|s| (s.notes, s.name))
            .collect();
        // A call that failed did no work: had it committed, its answer
        // would have been cut off in flight.
        for (_, rid) in failed.lock().unwrap().iter().filter(|(u, _)| *u == user) {
            assert!(
                !names.contains_key(rid),
                "{rid} was stored but its call failed"
            );
        }
        for (rid, (u, name)) in acked.iter().filter(|(_, (u, _))| *u == user) {
            assert_eq!(names.get(rid), Some(name), "{u}: acknowledged {rid} lost");
            present += 1;
        }
    }
    println!(
        "graceful shutdown: {} writes acknowledged ({before_term} before SIGTERM), {present} present after restart, \
         lost 0; new call refused {refused_in:?} after SIGTERM; stream finished with {} cues; \
         exit {:?} after SIGTERM (grace {GRACE:?}); writer errors {:?}",
        acked.len(),
        cues.len(),
        exit_after,
        errors.lock().unwrap()
    );
}

/// A request for `user`, with the gateway's bearer token or as the gateway
/// sends it to a backend.
fn req<T>(via_gateway: bool, user: &str, msg: T) -> tonic::Request<T> {
    if via_gateway {
        procs::as_user(user, msg)
    } else {
        procs::internal(user, msg)
    }
}

/// Clears `user`'s screening, starts a guided session (the guidance's
/// minimum duration) and opens its stream at `url` (a session process, or a
/// gateway with `via_gateway`); returns the stream after its START cue.
async fn open_guided(
    catalog_url: &str,
    url: &str,
    user: &str,
    via_gateway: bool,
    tool: &str,
) -> (
    tonic::Streaming<ses::GuideSessionResponse>,
    ses::GuideSessionResponse,
) {
    let mut client = SessionServiceClient::new(procs::channel(url, Duration::from_secs(20)));
    let conditions = cat::catalog_service_client::CatalogServiceClient::new(procs::channel(
        catalog_url,
        Duration::from_secs(5),
    ))
    .list_contraindications(cat::ListContraindicationsRequest {
        kind: cat::ContraindicationKind::Condition as i32,
    })
    .await
    .unwrap()
    .into_inner()
    .contraindications;
    client
        .submit_screening(req(
            via_gateway,
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
    let guided = client
        .start_guided_session(req(
            via_gateway,
            user,
            ses::StartGuidedSessionRequest {
                request_id: format!("g-{user}"),
                trigger_point: POINT.into(),
                tool: tool.to_owned(),
                side: cat::Side::Right as i32,
                duration_seconds: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .guided_session
        .unwrap();
    let mut stream = client
        .guide_session(req(
            via_gateway,
            user,
            ses::GuideSessionRequest {
                name: guided.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.cue(), ses::GuideCue::Start);
    (stream, first)
}

/// Reads `stream` until it ends; returns the cues seen and how it ended.
async fn drain_stream(
    stream: &mut tonic::Streaming<ses::GuideSessionResponse>,
) -> (usize, Result<(), tonic::Status>) {
    let mut cues = 0;
    loop {
        match stream.message().await {
            Ok(Some(_)) => cues += 1,
            Ok(None) => return (cues, Ok(())),
            Err(s) => return (cues, Err(s)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_ends_long_streams_with_unavailable_at_the_drain_deadline() {
    // Guided sessions at normal speed (minutes), a 2 s drain deadline.
    const DRAIN: Duration = Duration::from_secs(2);
    // Time for the process to notice, the streams to end and the exit.
    const MARGIN: Duration = Duration::from_secs(3);
    let grace = [(
        "KNOTWORK_SHUTDOWN_GRACE_SECONDS",
        DRAIN.as_secs().to_string(),
    )];
    let root = tempfile::tempdir().unwrap();
    let catalog = procs::catalog(root.path(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let mut session = procs::session(root.path(), &catalog.url(), &grace);
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;
    let mut gateway = procs::gateway(root.path(), &catalog.url(), &[session.url()], &grace);
    procs::wait_serving(&gateway.url(), GATEWAY_HEALTH, Duration::from_secs(30)).await;

    // One stream straight to the session, one through the gateway.
    let (mut direct, _) =
        open_guided(&catalog.url(), &session.url(), "drain-direct", false, &tool).await;
    let (mut edge, _) =
        open_guided(&catalog.url(), &gateway.url(), "drain-edge", true, &tool).await;

    // SIGTERM the gateway: its forwarded stream ends at its deadline.
    let term_at = Instant::now();
    gateway.signal("TERM");
    let (cues, end) = tokio::time::timeout(DRAIN + MARGIN, drain_stream(&mut edge))
        .await
        .expect("the forwarded stream outlived the drain deadline");
    let edge_ended = term_at.elapsed();
    let status = end.expect_err("the forwarded stream ended without a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("call again"), "{status:?}");
    assert!(
        edge_ended >= DRAIN,
        "ended before the deadline: {edge_ended:?}"
    );
    let gw_exit = gateway
        .wait_exit(DRAIN + MARGIN)
        .expect("gateway exited within grace + margin");
    let gw_exit_after = term_at.elapsed();
    assert!(gw_exit.success(), "gateway exit status {gw_exit:?}");
    println!(
        "gateway: forwarded stream ended UNAVAILABLE after {edge_ended:?} ({cues} cues), exit 0 after {gw_exit_after:?}"
    );

    // The session, untouched by the gateway's exit, still streams.
    assert!(session.running());
    // SIGTERM the session: the direct stream ends at its deadline too.
    let term_at = Instant::now();
    session.signal("TERM");
    let (cues, end) = tokio::time::timeout(DRAIN + MARGIN, drain_stream(&mut direct))
        .await
        .expect("the stream outlived the drain deadline");
    let direct_ended = term_at.elapsed();
    let status = end.expect_err("the stream ended without a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("call again"), "{status:?}");
    assert!(
        direct_ended >= DRAIN,
        "ended before the deadline: {direct_ended:?}"
    );
    let exit = session
        .wait_exit(DRAIN + MARGIN)
        .expect("session exited within grace + margin");
    let exit_after = term_at.elapsed();
    assert!(exit.success(), "session exit status {exit:?}");
    println!(
        "session: stream ended UNAVAILABLE after {direct_ended:?} ({cues} cues), exit 0 after {exit_after:?}"
    );
}
