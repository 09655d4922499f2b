//! A session shard as a 3-replica Raft group of real processes: three
//! `knotwork-session` binaries on loopback ports (each its own data folder,
//! `KNOTWORK_SESSION_RAFT_MEMBERS` naming all three), a catalog, and a
//! gateway whose one shard is the group (`url1|url2|url3`). Writers go
//! through the gateway, which follows the leader; every write has a unique
//! request id and is retried with the same id until acknowledged, so at the
//! end every write sent must be stored exactly once.
//!
//! - the leader SIGKILLed under 32 writers: nothing lost, nothing twice, the
//!   time to a new leader and to the first write after it printed;
//! - one follower SIGSTOPped: writes go on; two: writes and reads fail with
//!   UNAVAILABLE in bounded time, and after SIGCONT everything is there once;
//! - a replica restarted with a wiped data folder catches up from a
//!   snapshot (the log before it was purged), holds the group's shard map,
//!   and its folder then holds every acknowledged write;
//! - a crash matrix: random replicas SIGKILLed and restarted under writers
//!   (`KNOTWORK_RAFT_KILLS`, default 4; the ignored `crash_matrix_20` runs 20);
//! - the shard map is the group's: SetShardMap on the leader reaches every
//!   replica, a follower refuses it with NOT_LEADER, and after the leader
//!   is SIGKILLed the new leader fences with it (a user of another shard is
//!   refused WRONG_SHARD), as does the old leader once restarted.
//!
//! The crash matrix numbers its members from 0, as the Kubernetes manifests
//! do (the pod index); the other tests from 1.
//!
//! The leader is read from each replica's `knotwork_session_raft_leader`
//! gauge on its admin port. The tests of this file run one at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

/// One test at a time: each runs five processes on two shared cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SESSION: &str = "knotwork.session.v1.SessionService";

/// The group's shard id (every replica's `KNOTWORK_SESSION_SHARD_ID`).
const GROUP_ID: &str = "g0";

struct Cluster {
    dir: tempfile::TempDir,
    _catalog: Proc,
    replicas: Vec<Proc>,
    admins: Vec<String>,
    gateway: Proc,
    tool: String,
}

impl Cluster {
    /// Starts the group with node ids `first_id`, `first_id + 1`, ...
    /// (Kubernetes numbers them from the pod index, 0).
    async fn start(snapshot_logs: u64, first_id: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let catalog = procs::catalog(dir.path(), &[]);
        procs::wait_serving(&catalog.url(), "", Duration::from_secs(60)).await;
        let addrs: Vec<String> = (0..3).map(|_| procs::free_addr()).collect();
        let admins: Vec<String> = (0..3).map(|_| procs::free_addr()).collect();
        let members = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}=http://{a}", first_id + i as u64))
            .collect::<Vec<_>>()
            .join(",");
        let replicas: Vec<Proc> = (0..3)
            .map(|i| {
                let mut env = procs::base_env(&[]);
                for (k, v) in [
                    ("KNOTWORK_SESSION_LISTEN", addrs[i].clone()),
                    ("KNOTWORK_SESSION_ADMIN_LISTEN", admins[i].clone()),
                    ("KNOTWORK_CATALOG_URL", catalog.url()),
                    (
                        "KNOTWORK_SESSION_DATA_DIR",
                        dir.path().join(format!("r{i}")).display().to_string(),
                    ),
                    (
                        "KNOTWORK_SESSION_RAFT_NODE_ID",
                        (first_id + i as u64).to_string(),
                    ),
                    ("KNOTWORK_SESSION_RAFT_MEMBERS", members.clone()),
                    ("KNOTWORK_SESSION_SHARD_ID", GROUP_ID.to_owned()),
                    (
                        "KNOTWORK_SESSION_RAFT_SNAPSHOT_LOGS",
                        snapshot_logs.to_string(),
                    ),
                ] {
                    env.insert(k.to_owned(), v);
                }
                Proc::spawn(
                    &format!("replica {}", i + 1),
                    "knotwork-session",
                    env,
                    addrs[i].clone(),
                    dir.path().join(format!("r{i}.log")),
                )
            })
            .collect();
        for r in &replicas {
            procs::wait_serving(&r.url(), SESSION, Duration::from_secs(60)).await;
        }
        let group = replicas.iter().map(Proc::url).collect::<Vec<_>>().join("|");
        let gateway = procs::gateway(
            dir.path(),
            &catalog.url(),
            &[group],
            &[
                ("KNOTWORK_USER_RATE", "0".to_owned()),
                ("KNOTWORK_ADDR_RATE", "0".to_owned()),
            ],
        );
        procs::wait_serving(&gateway.url(), "", Duration::from_secs(60)).await;
        let tool = procs::point_tool(&catalog.url()).await;
        let c = Cluster {
            dir,
            _catalog: catalog,
            replicas,
            admins,
            gateway,
            tool,
        };
        c.leader(&[0, 1, 2], Duration::from_secs(30)).await;
        c
    }

    /// The replica among `among` whose gauge says it leads; panics after
    /// `limit`.
    async fn leader(&self, among: &[usize], limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            for &i in among {
                if gauge(&self.admins[i], "knotwork_session_raft_leader").await == Some(1.0) {
                    return i;
                }
            }
            assert!(
                started.elapsed() < limit,
                "no leader among {among:?} within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until replica `i` applied everything the leader holds.
    async fn caught_up(&self, i: usize) {
        let started = Instant::now();
        loop {
            let leader = self.leader(&[0, 1, 2], Duration::from_secs(20)).await;
            let last = gauge(&self.admins[leader], "knotwork_session_raft_last_log_index").await;
            let applied = gauge(&self.admins[i], "knotwork_session_raft_applied_index").await;
            if let (Some(last), Some(applied)) = (last, applied)
                && applied >= last
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "replica {} did not catch up: applied {applied:?} of {last:?}",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn gateway_client(&self) -> SessionServiceClient<tonic::transport::Channel> {
        SessionServiceClient::new(procs::channel(&self.gateway.url(), Duration::from_secs(15)))
    }

    /// Every user's journal through the gateway: notes marker -> count.
    async fn stored(&self, users: &[String]) -> BTreeMap<String, usize> {
        let mut client = self.gateway_client();
        let mut out = BTreeMap::new();
        for u in users {
            for s in procs::all_sessions(&mut client, u, procs::as_user).await {
                *out.entry(s.notes).or_insert(0) += 1;
            }
        }
        out
    }
}

/// `GET /metrics` on an admin port; `None` when it does not answer.
async fn scrape(addr: &str) -> Option<String> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        String::from_utf8(buf).ok()
    };
    tokio::time::timeout(Duration::from_millis(500), io)
        .await
        .ok()
        .flatten()
}

async fn gauge(addr: &str, name: &str) -> Option<f64> {
    let text = scrape(addr).await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// What the writers did.
#[derive(Default)]
struct Ledger {
    /// request id -> acknowledged.
    acked: BTreeSet<String>,
    /// Attempts that failed (each retried with the same request id).
    failures: BTreeMap<String, u64>,
    /// The longest time one writer went without an acknowledgement.
    longest_stall: Duration,
}

struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    ledger: Arc<Mutex<Ledger>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    users: Vec<String>,
}

impl Writers {
    fn start(c: &Cluster, n: usize, tag: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let users: Vec<String> = (0..n).map(|w| format!("raft-{tag}-{w}")).collect();
        let tasks = users
            .iter()
            .enumerate()
            .map(|(w, u)| {
                let (stop, acked, ledger) = (stop.clone(), acked.clone(), ledger.clone());
                let (u, tool, client) = (u.clone(), c.tool.clone(), c.gateway_client());
                tokio::spawn(write_loop(w, u, tool, client, stop, acked, ledger))
            })
            .collect();
        Writers {
            stop,
            acked,
            ledger,
            tasks,
            users,
        }
    }

    fn count(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `n` more writes than `from` were acknowledged.
    async fn until(&self, from: u64, n: u64, limit: Duration) -> Duration {
        let started = Instant::now();
        while self.count() < from + n {
            assert!(
                started.elapsed() < limit,
                "only {} of {n} writes acknowledged within {limit:?}",
                self.count() - from
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }

    async fn finish(self) -> (Ledger, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let ledger = std::mem::take(&mut *self.ledger.lock().unwrap());
        (ledger, self.users)
    }
}

/// Writes one session after another as `user`, each retried with its
/// request id until acknowledged (at most 60 s), until `stop`.
async fn write_loop(
    w: usize,
    user: String,
    tool: String,
    mut client: SessionServiceClient<tonic::transport::Channel>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut seq = 0u64;
    let mut last_ack = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let rid = format!("{user}-{seq}");
        let req = ses::LogSessionRequest {
            request_id: rid.clone(),
            session: Some(procs::record(&tool, (seq + w as u64) % 180, &rid)),
        };
        let first = Instant::now();
        loop {
            match client.log_session(procs::as_user(&user, req.clone())).await {
                Ok(_) => break,
                Err(status) => {
                    assert!(
                        matches!(
                            status.code(),
                            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
                        ),
                        "a write failed with {status:?}"
                    );
                    assert!(
                        first.elapsed() < Duration::from_secs(60),
                        "{rid} not acknowledged within 60 s: {status:?}"
                    );
                    *ledger
                        .lock()
                        .unwrap()
                        .failures
                        .entry(format!("{:?}", status.code()))
                        .or_insert(0) += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let mut l = ledger.lock().unwrap();
        l.acked.insert(rid);
        l.longest_stall = l.longest_stall.max(last_ack.elapsed());
        last_ack = Instant::now();
        acked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every acknowledged write is stored once, and nothing else is stored.
#[track_caller]
fn check_exactly_once(ledger: &Ledger, stored: &BTreeMap<String, usize>) {
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = ledger
        .acked
        .iter()
        .filter(|rid| !stored.contains_key(*rid))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let extra: Vec<_> = stored
        .keys()
        .filter(|rid| !ledger.acked.contains(*rid))
        .collect();
    assert!(extra.is_empty(), "stored but never acknowledged: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_killed_under_32_writers_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut c = Cluster::start(20_000, 1).await;
    let old = c.leader(&[0, 1, 2], Duration::from_secs(10)).await;
    let writers = Writers::start(&c, 32, "kill");
    writers.until(0, 300, Duration::from_secs(60)).await;

    let before = writers.count();
    let killed = Instant::now();
    c.replicas[old].kill();
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new = c.leader(&others, Duration::from_secs(10)).await;
    let elected = killed.elapsed();
    writers.until(before, 300, Duration::from_secs(60)).await;
    let (ledger, users) = writers.finish().await;
    println!(
        "leader (replica {}) killed under 32 writers: replica {} leads after {} ms, \
         longest time a writer waited for an acknowledgement {} ms; \
         {} writes acknowledged, failed attempts retried: {:?}",
        old + 1,
        new + 1,
        elected.as_millis(),
        ledger.longest_stall.as_millis(),
        ledger.acked.len(),
        ledger.failures
    );
    assert_ne!(new, old);
    assert!(
        elected < Duration::from_secs(5),
        "election took {elected:?}"
    );

    let stored = c.stored(&users).await;
    check_exactly_once(&ledger, &stored);

    // The killed replica comes back and catches up.
    c.replicas[old].start();
    procs::wait_serving(&c.replicas[old].url(), SESSION, Duration::from_secs(60)).await;
    c.caught_up(old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_followers_stall_writes_only_without_a_majority() {
    let _one = ONE_AT_A_TIME.lock().await;
    let c = Cluster::start(20_000, 1).await;
    let leader = c.leader(&[0, 1, 2], Duration::from_secs(10)).await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();

    // One follower stopped: the leader and the other still make a majority.
    c.replicas[followers[0]].signal("STOP");
    let writers = Writers::start(&c, 8, "stop");
    let took = writers.until(0, 200, Duration::from_secs(30)).await;
    println!(
        "one follower stopped: 200 writes in {} ms",
        took.as_millis()
    );

    // Two stopped: no majority. A write and a read answer UNAVAILABLE in
    // bounded time, through the gateway and at the leader.
    let (ledger, users) = writers.finish().await;
    c.replicas[followers[1]].signal("STOP");
    let mut client = c.gateway_client();
    let user = &users[0];
    let rid = format!("{user}-stalled");
    let req = ses::LogSessionRequest {
        request_id: rid.clone(),
        session: Some(procs::record(&c.tool, 7, &rid)),
    };
    let started = Instant::now();
    let err = client
        .log_session(procs::as_user(user, req.clone()))
        .await
        .expect_err("a write without a majority");
    let write_took = started.elapsed();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(write_took < Duration::from_secs(10), "took {write_took:?}");
    let started = Instant::now();
    let err = client
        .get_profile(procs::as_user(user, ses::GetProfileRequest::default()))
        .await
        .expect_err("a read without a majority");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let mut direct = SessionServiceClient::new(procs::channel(
        &c.replicas[leader].url(),
        Duration::from_secs(15),
    ));
    let err = direct
        .list_sessions(procs::internal(user, ses::ListSessionsRequest::default()))
        .await
        .expect_err("a read at the leader without a majority");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    println!(
        "two followers stopped: a write answered {:?} after {} ms",
        Code::Unavailable,
        write_took.as_millis()
    );

    // Both back: the stalled write is retried with its request id and
    // stored once (whether or not the first attempt was committed later).
    c.replicas[followers[0]].signal("CONT");
    c.replicas[followers[1]].signal("CONT");
    let started = Instant::now();
    loop {
        match client.log_session(procs::as_user(user, req.clone())).await {
            Ok(_) => break,
            Err(s) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "writes did not resume: {s:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    println!(
        "writes resumed {} ms after SIGCONT",
        started.elapsed().as_millis()
    );
    let mut ledger = ledger;
    ledger.acked.insert(rid);
    let stored = c.stored(&users).await;
    check_exactly_once(&ledger, &stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_replica_catches_up_from_a_snapshot() {
    let _one = ONE_AT_A_TIME.lock().await;
    // Small snapshots, so the log the wiped replica would need is purged.
    let mut c = Cluster::start(20, 1).await;
    let leader = c.leader(&[0, 1, 2], Duration::from_secs(10)).await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let (wiped, other) = (followers[0], followers[1]);
    // A map the group holds (it names only this group): the rebuilt
    // replica gets it with the snapshot, its log entry being purged.
    let urls: Vec<String> = c.replicas.iter().map(Proc::url).collect();
    let map = ses::ShardMap {
        epoch: 2,
        shards: vec![ses::ShardInfo {
            id: GROUP_ID.to_owned(),
            url: urls.join("|"),
        }],
        r#move: None,
    };
    admin(&urls[leader])
        .set_shard_map(with_token(ses::SetShardMapRequest { map: Some(map) }))
        .await
        .expect("the leader takes the map");

    let writers = Writers::start(&c, 4, "wipe");
    writers.until(0, 150, Duration::from_secs(60)).await;
    c.replicas[wiped].kill();
    let n = writers.count();
    writers.until(n, 150, Duration::from_secs(60)).await;
    let folder = c.dir.path().join(format!("r{wiped}"));
    std::fs::remove_dir_all(&folder).unwrap();
    c.replicas[wiped].start();
    procs::wait_serving(&c.replicas[wiped].url(), SESSION, Duration::from_secs(60)).await;

    // With the other follower stopped, a write needs the wiped replica:
    // writes going on prove it holds the log after the snapshot.
    c.replicas[other].signal("STOP");
    let n = writers.count();
    let started = Instant::now();
    while writers.count() < n + 50 {
        if started.elapsed() > Duration::from_secs(30) {
            for r in &c.replicas {
                let log = r.log_text();
                let panics: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("panic"))
                    .take(5)
                    .collect();
                println!("== {} panics: {panics:#?}", r.name);
                println!("== {}:\n{}", r.name, &log[log.len().saturating_sub(3000)..]);
            }
            panic!("the rebuilt replica did not commit");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    println!(
        "wiped replica rebuilt: 50 writes committed with it {} ms after the other follower stopped",
        took.as_millis()
    );
    let (ledger, users) = writers.finish().await;
    assert!(
        folder.join("raft-snapshot.bin").exists(),
        "the wiped replica installed no snapshot"
    );
    // Everything acknowledged is applied on the rebuilt replica, and it
    // holds the group's map.
    c.caught_up(wiped).await;
    holds_epoch(&urls[wiped], 2).await;
    c.replicas[other].signal("CONT");

    // Its folder, served alone as a single copy, holds every write once.
    c.replicas[wiped]
        .terminate(Duration::from_secs(30))
        .unwrap();
    let alone = procs::session(
        c.dir.path(),
        &c._catalog.url(),
        &[
            ("KNOTWORK_SESSION_DATA_DIR", folder.display().to_string()),
            ("KNOTWORK_SESSION_REPLICATION", "none".to_owned()),
            ("KNOTWORK_SESSION_SHARD_ID", GROUP_ID.to_owned()),
        ],
    );
    procs::wait_serving(&alone.url(), SESSION, Duration::from_secs(60)).await;
    let mut client =
        SessionServiceClient::new(procs::channel(&alone.url(), Duration::from_secs(15)));
    let mut stored = BTreeMap::new();
    for u in &users {
        for s in procs::all_sessions(&mut client, u, procs::internal).await {
            *stored.entry(s.notes).or_insert(0) += 1;
        }
    }
    check_exactly_once(&ledger, &stored);
}

/// Random replicas SIGKILLed and restarted under writers, one down at a
/// time; then every acknowledged write is stored exactly once.
async fn crash_matrix(kills: usize) {
    let _one = ONE_AT_A_TIME.lock().await;
    let seed: u64 = std::env::var("KNOTWORK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("raft crash matrix: seed {seed}, {kills} kills");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut c = Cluster::start(50, 0).await;
    let writers = Writers::start(&c, 8, "matrix");
    writers.until(0, 50, Duration::from_secs(60)).await;
    let mut leaders_killed = 0;
    for k in 0..kills {
        let victim = rng.usize(..3);
        let was_leader = c.leader(&[0, 1, 2], Duration::from_secs(20)).await == victim;
        leaders_killed += usize::from(was_leader);
        c.replicas[victim].kill();
        tokio::time::sleep(Duration::from_millis(rng.u64(50..400))).await;
        c.replicas[victim].start();
        procs::wait_serving(&c.replicas[victim].url(), SESSION, Duration::from_secs(60)).await;
        let n = writers.count();
        writers.until(n, 30, Duration::from_secs(60)).await;
        println!(
            "kill {}: replica {} (leader: {was_leader})",
            k + 1,
            victim + 1
        );
    }
    let (ledger, users) = writers.finish().await;
    let stored = c.stored(&users).await;
    check_exactly_once(&ledger, &stored);
    println!(
        "{kills} kills ({leaders_killed} of the leader): {} writes, each stored once; \
         failed attempts retried: {:?}",
        ledger.acked.len(),
        ledger.failures
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_matrix_random_kills() {
    let kills = std::env::var("KNOTWORK_RAFT_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    crash_matrix(kills).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "about a minute; run with --ignored"]
async fn crash_matrix_20() {
    crash_matrix(20).await;
}

/// A replica's admin client, with the internal credential per call.
fn admin(url: &str) -> SessionAdminServiceClient<tonic::transport::Channel> {
    SessionAdminServiceClient::new(procs::channel(url, Duration::from_secs(10)))
}

fn with_token<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        procs::INTERNAL.parse().unwrap(),
    );
    req
}

/// Waits until replica `url` holds a map of `epoch` (bounded).
async fn holds_epoch(url: &str, epoch: u64) {
    let started = Instant::now();
    loop {
        let held = admin(url)
            .get_shard_map(with_token(ses::GetShardMapRequest {}))
            .await
            .ok()
            .and_then(|r| r.into_inner().map)
            .map(|m| m.epoch);
        if held == Some(epoch) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{url} holds epoch {held:?}, not {epoch}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A LogSession for `user` straight to one replica.
async fn log_on(url: &str, user: &str, tool: &str, rid: &str) -> Result<(), tonic::Status> {
    let req = ses::LogSessionRequest {
        request_id: rid.to_owned(),
        session: Some(procs::record(tool, 5, rid)),
    };
    SessionServiceClient::new(procs::channel(url, Duration::from_secs(10)))
        .log_session(procs::internal(user, req))
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_fences_with_the_groups_shard_map() {
    use knotwork_runtime::shardmap::{Refusal, refusal, shard_for};
    let _one = ONE_AT_A_TIME.lock().await;
    let mut c = Cluster::start(20_000, 1).await;
    let old = c.leader(&[0, 1, 2], Duration::from_secs(10)).await;
    let urls: Vec<String> = c.replicas.iter().map(Proc::url).collect();
    // The group and a second shard (never called: only the map names it).
    let map = ses::ShardMap {
        epoch: 2,
        shards: vec![
            ses::ShardInfo {
                id: GROUP_ID.to_owned(),
                url: urls.join("|"),
            },
            ses::ShardInfo {
                id: "g1".to_owned(),
                url: "http://127.0.0.1:9".to_owned(),
            },
        ],
        r#move: None,
    };
    // A follower does not take it: it names the leader.
    let follower = (old + 1) % 3;
    let refused = admin(&urls[follower])
        .set_shard_map(with_token(ses::SetShardMapRequest {
            map: Some(map.clone()),
        }))
        .await
        .expect_err("a follower refuses SetShardMap");
    assert_eq!(
        refusal(&refused),
        Some(Refusal::NotLeader {
            leader: Some(urls[old].clone())
        })
    );
    let held = admin(&urls[old])
        .set_shard_map(with_token(ses::SetShardMapRequest {
            map: Some(map.clone()),
        }))
        .await
        .expect("the leader takes the map")
        .into_inner();
    assert_eq!(held.map.map(|m| m.epoch), Some(2));
    for u in &urls {
        holds_epoch(u, 2).await;
    }

    let ours = (0..)
        .map(|i| format!("fenced-{i}"))
        .find(|u| shard_for(u, 2) == 0)
        .unwrap();
    let theirs = (0..)
        .map(|i| format!("fenced-{i}"))
        .find(|u| shard_for(u, 2) == 1)
        .unwrap();
    let wrong_shard = |status: &tonic::Status| {
        matches!(
            refusal(status),
            Some(Refusal::WrongShard { ref shard, epoch: 2, .. }) if shard == "g1"
        )
    };

    c.replicas[old].kill();
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new = c.leader(&others, Duration::from_secs(10)).await;
    let refused = log_on(&urls[new], &theirs, &c.tool, "theirs-1")
        .await
        .expect_err("the new leader refuses a user of another shard");
    assert!(wrong_shard(&refused), "{refused:?}");
    log_on(&urls[new], &ours, &c.tool, "ours-1")
        .await
        .expect("the new leader takes its own users");

    // The old leader comes back as a follower with the same map, from
    // its own state.
    c.replicas[old].start();
    procs::wait_serving(&urls[old], SESSION, Duration::from_secs(60)).await;
    holds_epoch(&urls[old], 2).await;
    let leader = c.leader(&[0, 1, 2], Duration::from_secs(10)).await;
    let refused = log_on(&urls[leader], &theirs, &c.tool, "theirs-2")
        .await
        .expect_err("refused after the restart too");
    assert!(wrong_shard(&refused), "{refused:?}");
}
