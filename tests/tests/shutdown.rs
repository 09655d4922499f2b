//! Graceful shutdown under load: SIGTERM reaches a session process while
//! writers run and a guided session streams. The stream in flight finishes
//! (every cue up to STOP), new connections are refused, the process exits
//! cleanly well within its grace period (45 s in deploy/k8s), and every
//! acknowledged write is there after a restart.

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
    let mut client =
        SessionServiceClient::new(procs::channel(&session.url(), Duration::from_secs(20)));

    // A cleared screening, then a guided session to stream.
    let conditions = cat::catalog_service_client::CatalogServiceClient::new(procs::channel(
        &catalog.url(),
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
        .submit_screening(procs::internal(
            "guided-user",
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
        .start_guided_session(procs::internal(
            "guided-user",
            ses::StartGuidedSessionRequest {
                request_id: "g-1".into(),
                trigger_point: POINT.into(),
                tool: tool.clone(),
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
        .guide_session(procs::internal(
            "guided-user",
            ses::GuideSessionRequest {
                name: guided.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.cue(), ses::GuideCue::Start);

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
