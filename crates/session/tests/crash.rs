//! Crash durability: the real `knotwork-session` binary is killed with SIGKILL
//! while concurrent writers are logging sessions, then restarted on the same
//! data. Every acknowledged write must be there, exactly once, and retries of
//! every request (acknowledged or cut off) must not store anything twice.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use knotwork_proto::catalog::v1::Side;
use knotwork_proto::session::v1 as pb;

/// Kills the child on drop, so a failing test leaves no process behind.
struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on an ephemeral port and reads the address it logged.
fn spawn(dir: &Path, catalog_url: &str) -> Service {
    let mut child = Command::new(env!("CARGO_BIN_EXE_knotwork-session"))
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--catalog-url", catalog_url, "--internal-token", TOKEN])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("session service listening") {
                let addr = line
                    .split("\"addr\":\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(str::to_owned);
                if let (Some(tx), Some(addr)) = (tx.take(), addr) {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the service logs its address")
        .parse()
        .unwrap();
    Service { child, addr }
}

/// One base time for the whole test, so a retry after the restart sends
/// exactly the request it sent first (another body under the same
/// request id is REQUEST_ID_REUSED).
fn base_time() -> jiff::Timestamp {
    static BASE: std::sync::OnceLock<jiff::Timestamp> = std::sync::OnceLock::new();
    *BASE.get_or_init(jiff::Timestamp::now)
}

fn record(n: u32) -> pb::SessionRecord {
    let t = base_time() - jiff::SignedDuration::from_secs(i64::from(n % 600) + 1);
    pb::SessionRecord {
        trigger_point: "triggerPoints/ql_superficial".into(),
        tool: "tools/lacrosse_ball".into(),
        side: Side::Right as i32,
        pressure: 5,
        duration_seconds: 60,
        tenderness_before: Some(4),
        notes: format!("write {n}"),
        perform_time: Some(prost_types::Timestamp {
            seconds: t.as_second(),
            nanos: 0,
        }),
        ..Default::default()
    }
}

const USERS: u32 = 4;
const WRITERS: u32 = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _fake) = start_catalog(true).await;
    let mut service = spawn(dir.path(), &url);
    wait_serving(service.addr).await;

    // (user, request id) -> session name, for every acknowledged write.
    let acked: Arc<Mutex<BTreeMap<(String, String), String>>> = Arc::default();
    // Every request sent, acknowledged or not.
    let sent: Arc<Mutex<BTreeSet<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let user = format!("user{}", w % USERS);
        let mut c = client(service.addr, &user).await;
        let (acked, sent, stop) = (acked.clone(), sent.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) && n < 10_000 {
                let rid = format!("w{w}-{n}");
                sent.lock().unwrap().insert((user.clone(), rid.clone()));
                let req = pb::LogSessionRequest {
                    request_id: rid.clone(),
                    session: Some(record(n)),
                };
                match c.log_session(req).await {
                    Ok(r) => {
                        let name = r.into_inner().session.unwrap().name;
                        acked.lock().unwrap().insert((user.clone(), rid), name);
                    }
                    Err(_) => break, // the service is gone
                }
                n += 1;
            }
        }));
    }
    // Let writes flow, then kill the service mid-stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 400 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes did not flow"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    service.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    eprintln!(
        "{} acknowledged, {} sent before SIGKILL",
        acked.len(),
        sent.len()
    );
    assert!(
        sent.len() > acked.len(),
        "some writes were cut off mid-flight"
    );

    // Restart on the same data.
    drop(service);
    let service = spawn(dir.path(), &url);
    wait_serving(service.addr).await;

    for u in 0..USERS {
        let user = format!("user{u}");
        let mut c = client(service.addr, &user).await;
        let export = c
            .export_user_data(pb::ExportUserDataRequest {})
            .await
            .unwrap()
            .into_inner()
            .export
            .unwrap();
        let stored: BTreeMap<String, String> = export
            .request_ids
            .iter()
            .map(|e| (e.request_id.clone(), e.resource.clone()))
            .collect();
        let names: BTreeSet<String> = export.sessions.iter().map(|s| s.name.clone()).collect();
        // Nothing twice: one session per request id, and no stray sessions.
        assert_eq!(names.len(), export.sessions.len());
        assert_eq!(stored.len(), export.sessions.len());
        assert_eq!(stored.values().cloned().collect::<BTreeSet<_>>(), names);
        // Every acknowledged write is there, under the name it was acked with.
        for ((au, rid), name) in acked.iter().filter(|((au, _), _)| *au == user) {
            assert_eq!(stored.get(rid), Some(name), "{au}/{rid} lost");
        }
        // Retrying every request ever sent stores nothing new for the
        // acknowledged ones and at most once for the cut-off ones.
        let mine: Vec<&String> = sent
            .iter()
            .filter(|(su, _)| *su == user)
            .map(|(_, rid)| rid)
            .collect();
        for chunk in mine.chunks(500) {
            let requests = chunk
                .iter()
                .map(|rid| pb::LogSessionRequest {
                    request_id: (*rid).clone(),
                    session: Some(record(rid.rsplit('-').next().unwrap().parse().unwrap())),
                })
                .collect();
            let results = c
                .batch_log_sessions(pb::BatchLogSessionsRequest { requests })
                .await
                .unwrap()
                .into_inner()
                .results;
            for (rid, r) in chunk.iter().zip(results) {
                let Some(pb::batch_log_result::Outcome::Session(s)) = r.outcome else {
                    panic!("{rid}: {:?}", r.outcome);
                };
                if let Some(first) = stored.get(*rid) {
                    assert!(r.replayed, "{rid} was stored, a retry must replay");
                    assert_eq!(&s.name, first);
                } else {
                    assert!(!r.replayed);
                }
            }
        }
        let again = c
            .export_user_data(pb::ExportUserDataRequest {})
            .await
            .unwrap()
            .into_inner()
            .export
            .unwrap();
        let expected = sent.iter().filter(|(su, _)| *su == user).count();
        assert_eq!(again.sessions.len(), expected, "one session per request id");
        assert_eq!(again.request_ids.len(), expected);
    }
}
