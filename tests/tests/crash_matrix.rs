//! Crash matrix: the real `knotwork-session` binary (with a real
//! `knotwork-catalog` beside it) is SIGKILLed at random points while
//! concurrent writers log sessions (LogSession and BatchLogSessions, unique
//! request ids), and restarted on the same port and data each time. Then the
//! model is checked:
//! - every acknowledged write is present, exactly once, with its content;
//! - no write is present twice; an unacknowledged write is present once or
//!   not at all, and an unacknowledged batch entirely or not at all;
//! - retrying an unacknowledged request id after the restarts stores it
//!   exactly once (a replay when it had been committed);
//! - the indexes agree: ListSessions = ExportUserData = GetSession per name,
//!   the request-id index points at the records, the per-point filter and
//!   the per-day counts match the records.
//!
//! The kill points come from a seed printed at the start; set
//! `KNOTWORK_CRASH_SEED` to replay a run and `KNOTWORK_CRASH_KILLS` for more
//! kills. A second test SIGKILLs the catalog while it imports a changed
//! catalog file and checks that it always comes back with one whole version.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, POINT, Proc};
use tonic::transport::Channel;

const SESSION: &str = "knotwork.session.v1.SessionService";
const WRITERS: usize = 4;

/// A write that was not acknowledged, kept to be retried as it was sent.
#[derive(Clone)]
enum Unit {
    One(Box<ses::LogSessionRequest>),
    Batch(Vec<ses::LogSessionRequest>),
}

impl Unit {
    fn ids(&self) -> Vec<String> {
        match self {
            Unit::One(r) => vec![r.request_id.clone()],
            Unit::Batch(b) => b.iter().map(|r| r.request_id.clone()).collect(),
        }
    }
}

#[derive(Default)]
struct Ledger {
    /// request id -> (user, session name) for acknowledged writes.
    acked: BTreeMap<String, (String, String)>,
    /// request id -> what was sent, for every write ever sent.
    sent: BTreeMap<String, ses::SessionRecord>,
    /// (user, unit) of every write that got an error.
    unacked: Vec<(String, Unit)>,
    calls: u64,
}

fn user(w: usize) -> String {
    format!("crash-user-{w}")
}

fn item(tool: &str, w: usize, seq: u64) -> ses::LogSessionRequest {
    let rid = format!("w{w}-{seq}");
    let mut s = procs::record(tool, seq % 180, &rid);
    s.pressure = i32::try_from(seq % 8).unwrap();
    s.duration_seconds = 100 + i32::try_from(seq % 500).unwrap();
    ses::LogSessionRequest {
        request_id: rid,
        session: Some(s),
    }
}

async fn writer(
    w: usize,
    url: String,
    tool: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut rng = fastrand::Rng::with_seed(seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9));
    let mut client = SessionServiceClient::new(procs::channel(&url, Duration::from_secs(3)));
    let u = user(w);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let unit = if rng.u8(..10) < 6 {
            seq += 1;
            Unit::One(Box::new(item(&tool, w, seq)))
        } else {
            let n = rng.usize(2..=8);
            Unit::Batch(
                (0..n)
                    .map(|_| {
                        seq += 1;
                        item(&tool, w, seq)
                    })
                    .collect(),
            )
        };
        {
            let mut l = ledger.lock().unwrap();
            l.calls += 1;
            let reqs: Vec<&ses::LogSessionRequest> = match &unit {
                Unit::One(r) => vec![r.as_ref()],
                Unit::Batch(b) => b.iter().collect(),
            };
            for r in reqs {
                l.sent
                    .insert(r.request_id.clone(), r.session.clone().unwrap());
            }
        }
        let outcome: Result<Vec<(String, String)>, tonic::Status> = match &unit {
            Unit::One(r) => client
                .log_session(procs::internal(&u, (**r).clone()))
                .await
                .map(|resp| {
                    let resp = resp.into_inner();
                    assert!(!resp.replayed, "a fresh request id was replayed");
                    vec![(r.request_id.clone(), resp.session.unwrap().name)]
                }),
            Unit::Batch(b) => client
                .batch_log_sessions(procs::internal(
                    &u,
                    ses::BatchLogSessionsRequest {
                        requests: b.clone(),
                    },
                ))
                .await
                .map(|resp| {
                    let results = resp.into_inner().results;
                    assert_eq!(results.len(), b.len());
                    b.iter()
                        .zip(results)
                        .map(|(r, x)| match x.outcome {
                            Some(ses::batch_log_result::Outcome::Session(s)) if !x.replayed => {
                                (r.request_id.clone(), s.name)
                            }
                            other => panic!("valid batch item refused: {other:?}"),
                        })
                        .collect()
                }),
        };
        let failed = {
            let mut l = ledger.lock().unwrap();
            match outcome {
                Ok(names) => {
                    for (rid, name) in names {
                        l.acked.insert(rid, (u.clone(), name));
                    }
                    false
                }
                Err(_) => {
                    l.unacked.push((u.clone(), unit));
                    true
                }
            }
        };
        if failed {
            // The service is down or restarting: do not spin.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
}

/// Everything stored for one user, read every way the API allows.
struct Seen {
    /// By notes marker (= request id): the records carrying it.
    by_marker: BTreeMap<String, Vec<ses::SessionRecord>>,
    count: usize,
}

async fn read_user(client: &mut SessionServiceClient<Channel>, u: &str) -> Seen {
    // ListSessions, all pages.
    let listed = procs::all_sessions(client, u, procs::internal).await;
    let export = client
        .export_user_data(procs::internal(u, ses::ExportUserDataRequest {}))
        .await
        .expect("export")
        .into_inner()
        .export
        .unwrap();
    // List and export hold the same records.
    let list_names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    let set: BTreeSet<&str> = list_names.iter().copied().collect();
    assert_eq!(set.len(), list_names.len(), "{u}: a name listed twice");
    let export_names: BTreeSet<&str> = export.sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(set, export_names, "{u}: list and export disagree");
    // Newest first.
    for pair in listed.windows(2) {
        let t = |s: &ses::SessionRecord| {
            let p = s.perform_time.unwrap();
            (p.seconds, p.nanos)
        };
        assert!(t(&pair[0]) >= t(&pair[1]), "{u}: list not newest first");
    }
    // The request-id index points at the records.
    let rids: BTreeMap<&str, &str> = export
        .request_ids
        .iter()
        .map(|e| (e.request_id.as_str(), e.resource.as_str()))
        .collect();
    assert_eq!(rids.len(), listed.len(), "{u}: request ids vs records");
    for s in &listed {
        assert_eq!(
            rids.get(s.notes.as_str()).copied(),
            Some(s.name.as_str()),
            "{u}: request id {} does not point at its record",
            s.notes
        );
    }
    // GetSession agrees with the list, record by record (32 calls in
    // flight at a time).
    for chunk in listed.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for s in chunk {
            let mut c = client.clone();
            let (u, s) = (u.to_owned(), s.clone());
            set.spawn(async move {
                let got = c
                    .get_session(procs::internal(
                        &u,
                        ses::GetSessionRequest {
                            name: s.name.clone(),
                        },
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("{u}: get {}: {e:?}", s.name))
                    .into_inner()
                    .session
                    .unwrap();
                assert_eq!(got, s, "{u}: get and list disagree");
            });
        }
        while let Some(r) = set.join_next().await {
            r.expect("get task");
        }
    }
    // The per-point filter and the per-day counts match.
    let on_point = client
        .list_sessions(procs::internal(
            u,
            ses::ListSessionsRequest {
                trigger_point: POINT.into(),
                page_size: 500,
                ..Default::default()
            },
        ))
        .await
        .expect("list by point")
        .into_inner();
    if listed.len() <= 500 {
        assert_eq!(on_point.sessions.len(), listed.len(), "{u}: point filter");
    }
    let mut per_day: BTreeMap<&str, i32> = BTreeMap::new();
    for s in &listed {
        *per_day.entry(s.local_date.as_str()).or_default() += 1;
    }
    for (day, n) in &per_day {
        let d = client
            .get_day(procs::internal(
                u,
                ses::GetDayRequest {
                    local_date: (*day).to_owned(),
                    max_sessions: 0,
                },
            ))
            .await
            .expect("get day")
            .into_inner();
        // GetDay returns at most 100 sessions by default; the total counts all.
        assert_eq!(d.total_sessions, *n, "{u} {day}: day sessions");
        assert_eq!(
            d.sessions.len(),
            (*n as usize).min(100),
            "{u} {day}: day sessions returned"
        );
        assert_eq!(d.sessions_truncated, *n > 100, "{u} {day}: truncated");
        let done = d
            .allowances
            .iter()
            .find(|a| a.trigger_point == POINT)
            .map(|a| a.sessions_done);
        assert_eq!(done, Some(*n), "{u} {day}: per-point-day index");
    }
    let mut by_marker: BTreeMap<String, Vec<ses::SessionRecord>> = BTreeMap::new();
    let count = listed.len();
    for s in listed {
        by_marker.entry(s.notes.clone()).or_default().push(s);
    }
    Seen { by_marker, count }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn session_survives_sigkill_under_concurrent_writes() {
    let seed = std::env::var("KNOTWORK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let kills: usize = std::env::var("KNOTWORK_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .max(1);
    println!("crash matrix seed: {seed} (replay: KNOTWORK_CRASH_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();

    let root = tempfile::tempdir().unwrap();
    let catalog = procs::catalog(root.path(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let mut session = procs::session(root.path(), &catalog.url(), &[]);
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                w,
                session.url(),
                tool.clone(),
                seed,
                stop.clone(),
                ledger.clone(),
            ))
        })
        .collect();

    let mut restarts = Vec::new();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.u64(20..=400))).await;
        session.kill();
        session.start();
        restarts.push(procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    println!("kill phase done at {:?}", started.elapsed());
    let acked_n = ledger.acked.len();
    let unacked_items: usize = ledger.unacked.iter().map(|(_, u)| u.ids().len()).sum();
    assert!(
        acked_n > 50,
        "too few writes acknowledged ({acked_n}) to mean anything"
    );

    // ---- The model after the kills ----
    let mut client =
        SessionServiceClient::new(procs::channel(&session.url(), Duration::from_secs(10)));
    let mut seen = BTreeMap::new();
    for w in 0..WRITERS {
        seen.insert(user(w), read_user(&mut client, &user(w)).await);
    }
    println!("first read done at {:?}", started.elapsed());
    let mut verified = 0usize;
    let mut lost = Vec::new();
    for (rid, (u, name)) in &ledger.acked {
        match seen[u].by_marker.get(rid).map(Vec::as_slice) {
            Some([one]) => {
                assert_eq!(&one.name, name, "{rid}: stored under another name");
                let sent = &ledger.sent[rid];
                assert_eq!(
                    (
                        one.pressure,
                        one.duration_seconds,
                        &one.trigger_point,
                        one.perform_time
                    ),
                    (
                        sent.pressure,
                        sent.duration_seconds,
                        &sent.trigger_point,
                        sent.perform_time
                    ),
                    "{rid}: content differs from what was sent"
                );
                verified += 1;
            }
            Some(many) if many.len() > 1 => panic!("{rid} stored {} times", many.len()),
            _ => lost.push(rid.clone()),
        }
    }
    for s in seen.values() {
        for (marker, recs) in &s.by_marker {
            assert_eq!(recs.len(), 1, "{marker} present {} times", recs.len());
            assert!(ledger.sent.contains_key(marker), "unknown record {marker}");
        }
    }
    let mut unacked_present = 0usize;
    for (u, unit) in &ledger.unacked {
        let present: Vec<bool> = unit
            .ids()
            .iter()
            .map(|rid| seen[u].by_marker.contains_key(rid))
            .collect();
        let n = present.iter().filter(|p| **p).count();
        assert!(
            n == 0 || n == present.len(),
            "unacknowledged batch half applied: {:?} -> {present:?}",
            unit.ids()
        );
        unacked_present += n;
    }

    // ---- Retrying every unacknowledged request stores it exactly once ----
    // (Units never share a request id, so they are retried concurrently.)
    let mut retried = 0usize;
    let mut set = tokio::task::JoinSet::new();
    for (u, unit) in ledger.unacked.clone() {
        let mut client = client.clone();
        set.spawn(async move {
            let results: Vec<(String, String, bool)> = match &unit {
                Unit::One(r) => {
                    let resp = client
                        .log_session(procs::internal(&u, (**r).clone()))
                        .await
                        .expect("retry")
                        .into_inner();
                    vec![(
                        r.request_id.clone(),
                        resp.session.unwrap().name,
                        resp.replayed,
                    )]
                }
                Unit::Batch(b) => client
                    .batch_log_sessions(procs::internal(
                        &u,
                        ses::BatchLogSessionsRequest {
                            requests: b.clone(),
                        },
                    ))
                    .await
                    .expect("retry batch")
                    .into_inner()
                    .results
                    .into_iter()
                    .zip(b)
                    .map(|(x, r)| match x.outcome {
                        Some(ses::batch_log_result::Outcome::Session(s)) => {
                            (r.request_id.clone(), s.name, x.replayed)
                        }
                        other => panic!("retry refused: {other:?}"),
                    })
                    .collect(),
            };
            (u, results)
        });
    }
    while let Some(r) = set.join_next().await {
        let (u, results) = r.expect("retry task");
        for (rid, name, replayed) in results {
            match seen[&u].by_marker.get(&rid) {
                Some(before) => {
                    assert!(replayed, "{rid}: committed before but not replayed");
                    assert_eq!(before[0].name, name, "{rid}: replay under another name");
                }
                None => assert!(!replayed, "{rid}: replayed but was not stored"),
            }
            retried += 1;
        }
    }
    println!("retries done at {:?}", started.elapsed());
    let mut total = 0usize;
    for w in 0..WRITERS {
        let s = read_user(&mut client, &user(w)).await;
        for recs in s.by_marker.values() {
            assert_eq!(recs.len(), 1);
        }
        total += s.count;
    }
    let all_ids: BTreeSet<&String> = ledger.sent.keys().collect();
    assert_eq!(
        total,
        all_ids.len(),
        "after retries every write is stored once"
    );

    println!(
        "crash matrix: seed {seed}, kills {kills}, calls {}, writes acknowledged {acked_n}, \
         writes verified {verified}, lost {}, unacknowledged {unacked_items} \
         (committed anyway {unacked_present}), retried {retried}, records after retry {total}, \
         restart to SERVING max {:?}, took {:?}",
        ledger.calls,
        lost.len(),
        restarts.iter().max().unwrap(),
        started.elapsed()
    );
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert_eq!(verified, acked_n);
    drop(session);
    drop(catalog);
}

async fn catalog_answer(url: &str) -> (String, String, String) {
    let mut c = cat::catalog_service_client::CatalogServiceClient::new(procs::channel(
        url,
        Duration::from_secs(5),
    ));
    let v = c
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .expect("version")
        .into_inner();
    let g = c
        .get_technique_guidance(cat::GetTechniqueGuidanceRequest {})
        .await
        .expect("guidance")
        .into_inner();
    assert_eq!(
        g.catalog_version, v.catalog_version,
        "one version per answer"
    );
    (
        v.catalog_version,
        v.edition,
        g.guidance.unwrap_or_default().summary,
    )
}

const NEW_EDITION: &str = "crash-test-new";
const MARK: &str = "CRASH-TEST-NEW ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_import_survives_sigkill() {
    let seed = std::env::var("KNOTWORK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("catalog import crash seed: {seed} (replay: KNOTWORK_CRASH_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let root = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/catalog/data/catalog.toml"
    ))
    .unwrap();
    let edition_line = original
        .lines()
        .find(|l| l.starts_with("edition = "))
        .expect("edition line")
        .to_owned();
    let changed = original
        .replacen(&edition_line, &format!("edition = \"{NEW_EDITION}\""), 1)
        .replacen("summary = \"", &format!("summary = \"{MARK}"), 1);
    assert_ne!(changed, original);
    let old_file = root.path().join("old.toml");
    let new_file = root.path().join("new.toml");
    std::fs::write(&old_file, &original).unwrap();
    std::fs::write(&new_file, &changed).unwrap();
    let data = root.path().join("catalog-data");

    let mut p = procs::catalog(
        root.path(),
        &[
            ("KNOTWORK_CATALOG_FILE", old_file.display().to_string()),
            ("KNOTWORK_CATALOG_DATA_DIR", data.display().to_string()),
        ],
    );
    let set_file = |p: &mut Proc, f: &std::path::Path| {
        p.env
            .insert("KNOTWORK_CATALOG_FILE".into(), f.display().to_string());
    };
    procs::wait_serving(&p.url(), "", Duration::from_secs(30)).await;
    let (v0, e0, s0) = catalog_answer(&p.url()).await;
    assert!(!s0.starts_with(MARK) && e0 != NEW_EDITION);
    p.kill();
    // How long a start with an import takes: the kill window.
    set_file(&mut p, &new_file);
    p.start();
    let import_time = procs::wait_serving(&p.url(), "", Duration::from_secs(30)).await;
    let (v1, e1, s1) = catalog_answer(&p.url()).await;
    assert_ne!(v0, v1);
    assert!(s1.starts_with(MARK) && e1 == NEW_EDITION, "{e1} {s1}");
    p.kill();

    let rounds = 5;
    let (mut saw_old, mut saw_new) = (0, 0);
    for _ in 0..rounds {
        // Back to the old version, committed.
        set_file(&mut p, &old_file);
        p.start();
        procs::wait_serving(&p.url(), "", Duration::from_secs(30)).await;
        assert_eq!(catalog_answer(&p.url()).await.0, v0);
        p.kill();
        // Start importing the new one and kill it somewhere in the import.
        set_file(&mut p, &new_file);
        p.start();
        let window = import_time.as_millis() as u64 + 50;
        tokio::time::sleep(Duration::from_millis(rng.u64(0..=window))).await;
        p.kill();
        // What is on disk is one whole version.
        {
            let store = knotwork_catalog::store::Store::open(&data)
                .await
                .expect("store opens after a kill");
            let stored = store.stored_version().await.unwrap().expect("a version");
            let loaded = store
                .load()
                .await
                .expect("stored catalog loads and matches its hash")
                .expect("catalog");
            assert_eq!(loaded.version(), stored);
            let edition = loaded.data().meta.edition.clone();
            if stored == v0 {
                assert_ne!(edition, NEW_EDITION);
                saw_old += 1;
            } else {
                assert_eq!(stored, v1, "neither old nor new");
                assert_eq!(edition, NEW_EDITION);
                saw_new += 1;
            }
        }
        // And the service restarts serving the new version, whole.
        p.start();
        procs::wait_serving(&p.url(), "", Duration::from_secs(30)).await;
        let (v, e, s) = catalog_answer(&p.url()).await;
        assert_eq!(v, v1);
        assert!(e == NEW_EDITION && s.starts_with(MARK), "mixed: {e} / {s}");
        p.kill();
    }
    println!(
        "catalog import kills: {rounds} (import window {import_time:?}); on disk after the kill: old {saw_old}, new {saw_new}, mixed 0"
    );
}
