//! Durable session writes per second, and p50/p99 latency, at 1, 16 and 64
//! concurrent writers, for:
//!
//! - `redb-one-commit`: the session store with one durable commit per write
//!   (`max_batch = 1`);
//! - `redb-group-commit`: the same store with group commit (the service's
//!   default);
//! - `raft-group-of-one`: the same store as a Raft group of one (the
//!   default of `knotwork up` and a single shard): the batch is evaluated,
//!   appended to the Raft log durably, then applied;
//! - `raft-3-replicas`: three replicas of one shard group in this process,
//!   each its own database file, talking `RaftService` over loopback TCP
//!   (`knotwork_session::raft`, the binaries' network): a write is
//!   acknowledged once two of the three logs hold it durably and the leader
//!   applied it. All three share the machine's cores. After the 64-writer
//!   cell the leader is shut down and the time until another replica leads
//!   is the failover time;
//! - `sqlite-wal-full`: SQLite through rusqlite (WAL, `synchronous=FULL`), one
//!   transaction per write, storing the same records with the same
//!   idempotency check and per-point-per-day index.
//!
//! Every write is acknowledged only after it is durable. The redb runs go
//! through `Store::log_sessions`, the exact path `LogSession` takes (request
//! id check, daily count, trend history, warnings). Run with
//! `cargo bench -p knotwork-session --bench store_throughput`; set
//! `KNOTWORK_BENCH_SECS` (default 3) for the time per cell,
//! `KNOTWORK_BENCH_DIR` for where the databases go (default: the system temp
//! folder; use a real disk, not tmpfs) and `KNOTWORK_BENCH_OUT` for the JSON
//! results file (default `benches/store_throughput.json` in this crate).
//! `KNOTWORK_BENCH_MODES` (comma-separated mode names) and
//! `KNOTWORK_BENCH_WRITERS` (e.g. `64`) run only those cells, for quick
//! A/B runs; ratios whose cells were skipped print as 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use knotwork_session::domain::{SessionRecord, time};
use knotwork_session::raft::{GrpcNetwork, NoNetwork, RaftServer};
use knotwork_session::store::{ReplicaOptions, Store, StoreOptions};

mod common;
use common::{catalog, draft, log_for};

const CONCURRENCY: [usize; 3] = [1, 16, 64];

const MODES: [&str; 5] = [
    "redb-one-commit",
    "redb-group-commit",
    "raft-group-of-one",
    "raft-3-replicas",
    "sqlite-wal-full",
];

/// The items of `all` named in the comma-separated variable `var`, in
/// `all`'s order; every item when it is unset. A name `all` lacks stops
/// the bench, so a misspelt cell is never silently skipped.
fn selected<T: Copy + std::fmt::Display>(var: &str, all: &[T]) -> Vec<T> {
    let Ok(list) = std::env::var(var) else {
        return all.to_vec();
    };
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    for name in &names {
        assert!(
            all.iter().any(|item| item.to_string() == *name),
            "{var}: {name:?} is not one of {}",
            all.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    all.iter()
        .copied()
        .filter(|item| names.contains(&item.to_string().as_str()))
        .collect()
}

/// One cell of the table.
#[derive(Debug, Clone)]
struct Cell {
    mode: &'static str,
    writers: usize,
    writes: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    commits: Option<u64>,
}

impl Cell {
    fn rate(&self) -> f64 {
        self.writes as f64 / self.seconds
    }
}

fn summarize(
    mode: &'static str,
    writers: usize,
    mut lat: Vec<Duration>,
    elapsed: Duration,
    commits: Option<u64>,
) -> Cell {
    lat.sort();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    Cell {
        mode,
        writers,
        writes: lat.len(),
        seconds: elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        commits,
    }
}

/// The cell of `mode`: `writers` tasks logging to `store` for `secs`
/// seconds ([`log_for`]), with the store's commit count.
fn measure(
    rt: &tokio::runtime::Runtime,
    store: &Arc<Store>,
    mode: &'static str,
    writers: usize,
    secs: f64,
) -> Cell {
    let catalog = Arc::new(catalog());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let lat = rt.block_on(log_for(store, catalog, writers, deadline));
    let elapsed = start.elapsed();
    let commits = store.stats().get().0;
    summarize(mode, writers, lat, elapsed, Some(commits))
}

fn redb(mode: &'static str, max_batch: usize, writers: usize, dir: &Path, secs: f64) -> Cell {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = StoreOptions {
        max_batch,
        ..StoreOptions::default()
    };
    let store = Arc::new(if mode == "raft-group-of-one" {
        rt.block_on(Store::open_replicated(
            dir,
            options,
            ReplicaOptions::single(),
            NoNetwork,
        ))
        .unwrap()
    } else {
        Store::open(dir, options).unwrap()
    });
    measure(&rt, &store, mode, writers, secs)
}

/// A 3-replica group on loopback: (stores, the leader's index).
async fn group_of_three(dir: &Path) -> (Vec<Arc<Store>>, Vec<tokio::task::JoinHandle<()>>, usize) {
    let listeners: Vec<tokio::net::TcpListener> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        v
    };
    let members: knotwork_session::store::replica::Members = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let addr = format!("http://{}", l.local_addr().unwrap());
            (i as u64 + 1, openraft::BasicNode::new(addr))
        })
        .collect();
    let token = knotwork_runtime::dev::INTERNAL_TOKEN;
    let mut stores = Vec::new();
    let mut servers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let sub = dir.join(format!("r{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut replica = ReplicaOptions::single();
        replica.node_id = i as u64 + 1;
        replica.members = members.clone();
        let network = GrpcNetwork::new(Default::default(), token).unwrap();
        let store = Store::open_replicated(&sub, StoreOptions::default(), replica, network)
            .await
            .unwrap();
        let server = RaftServer::new(
            store.raft().unwrap().clone(),
            knotwork_runtime::internal::InternalAuth::new(token),
        );
        servers.push(tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(server.into_service())
                // TCP_NODELAY, as the service's own listener sets it:
                // without it small Raft messages wait for delayed ACKs.
                .serve_with_incoming(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                )
                .await
                .unwrap();
        }));
        stores.push(Arc::new(store));
    }
    let leader = stores[0]
        .raft()
        .unwrap()
        .wait(Some(Duration::from_secs(30)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .unwrap()
        .current_leader
        .unwrap();
    (stores, servers, leader as usize - 1)
}

/// The 3-replica group's cell, and at 64 writers the failover time.
fn raft3(writers: usize, dir: &Path, secs: f64) -> (Cell, Option<Duration>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stores, servers, leader) = rt.block_on(group_of_three(dir));
    let store = stores[leader].clone();
    let cell = measure(&rt, &store, "raft-3-replicas", writers, secs);
    let failover = (writers == 64).then(|| {
        rt.block_on(async {
            // The leader stops (its Raft and its port); the others elect.
            let stopped = Instant::now();
            store.raft().unwrap().shutdown().await.unwrap();
            servers[leader].abort();
            let other = (leader + 1) % 3;
            stores[other]
                .raft()
                .unwrap()
                .wait(Some(Duration::from_secs(30)))
                .metrics(
                    |m| m.current_leader.is_some_and(|l| l as usize - 1 != leader),
                    "a new leader",
                )
                .await
                .unwrap();
            stopped.elapsed()
        })
    });
    for s in &stores {
        let _ = rt.block_on(s.raft().unwrap().shutdown());
    }
    for t in servers {
        t.abort();
    }
    (cell, failover)
}

fn sqlite_open(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c
}

fn sqlite(writers: usize, dir: &Path, secs: f64) -> Cell {
    let path = dir.join("bench.sqlite");
    let c = sqlite_open(&path);
    c.execute_batch(
        "CREATE TABLE sessions (user TEXT NOT NULL, perform_time INTEGER NOT NULL, id TEXT NOT NULL,
             record BLOB NOT NULL, PRIMARY KEY (user, perform_time, id)) WITHOUT ROWID;
         CREATE TABLE session_ids (user TEXT NOT NULL, id TEXT NOT NULL, perform_time INTEGER NOT NULL,
             PRIMARY KEY (user, id)) WITHOUT ROWID;
         CREATE TABLE by_point_day (user TEXT NOT NULL, point TEXT NOT NULL, local_date TEXT NOT NULL,
             id TEXT NOT NULL, tenderness INTEGER, PRIMARY KEY (user, point, local_date, id)) WITHOUT ROWID;
         CREATE TABLE request_ids (user TEXT NOT NULL, request_id TEXT NOT NULL, resource TEXT NOT NULL,
             PRIMARY KEY (user, request_id)) WITHOUT ROWID;",
    )
    .unwrap();
    drop(c);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut c = sqlite_open(&path);
                let user = format!("user{w}");
                let mut lat = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let rid = format!("r{n}");
                    let d = draft(n);
                    let tx = c
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .unwrap();
                    let seen: Option<String> = tx
                        .query_row(
                            "SELECT resource FROM request_ids WHERE user = ?1 AND request_id = ?2",
                            (&user, &rid),
                            |r| r.get(0),
                        )
                        .ok();
                    assert!(seen.is_none());
                    let local_date = time::local_date(d.perform_time, &jiff::tz::TimeZone::UTC);
                    let _count: i64 = tx
                        .query_row(
                            "SELECT count(*) FROM by_point_day WHERE user = ?1 AND point = ?2 AND local_date = ?3",
                            (&user, &d.trigger_point, local_date.to_string()),
                            |r| r.get(0),
                        )
                        .unwrap();
                    let record = SessionRecord {
                        id: uuid::Uuid::now_v7().to_string(),
                        draft: d,
                        create_time: Timestamp::now(),
                        local_date,
                        origin: knotwork_session::domain::Origin::Logged,
                        warnings: Vec::new(),
                    };
                    let micros = record.draft.perform_time.as_microsecond();
                    tx.execute(
                        "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4)",
                        (&user, micros, &record.id, serde_json::to_vec(&record).unwrap()),
                    )
                    .unwrap();
                    tx.execute(
                        "INSERT INTO session_ids VALUES (?1, ?2, ?3)",
                        (&user, &record.id, micros),
                    )
                    .unwrap();
                    tx.execute(
                        "INSERT INTO by_point_day VALUES (?1, ?2, ?3, ?4, ?5)",
                        (
                            &user,
                            &record.draft.trigger_point,
                            local_date.to_string(),
                            &record.id,
                            record.draft.tenderness_before,
                        ),
                    )
                    .unwrap();
                    tx.execute(
                        "INSERT INTO request_ids VALUES (?1, ?2, ?3)",
                        (&user, &rid, format!("sessions/{}", record.id)),
                    )
                    .unwrap();
                    tx.commit().unwrap();
                    lat.push(t.elapsed());
                    n += 1;
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(t.join().unwrap());
    }
    summarize("sqlite-wal-full", writers, lat, start.elapsed(), None)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let secs: f64 = std::env::var("KNOTWORK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let base: PathBuf = std::env::var_os("KNOTWORK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let out: PathBuf = std::env::var_os("KNOTWORK_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/store_throughput.json")
        });
    let modes = selected("KNOTWORK_BENCH_MODES", &MODES);
    let concurrency = selected("KNOTWORK_BENCH_WRITERS", &CONCURRENCY);
    let mut cells = Vec::new();
    let mut failover = None;
    for writers in concurrency {
        for &mode in &modes {
            let dir = tempfile::tempdir_in(&base).unwrap();
            let cell = match mode {
                "redb-one-commit" => redb(mode, 1, writers, dir.path(), secs),
                "redb-group-commit" | "raft-group-of-one" => {
                    redb(mode, 512, writers, dir.path(), secs)
                }
                "raft-3-replicas" => {
                    let (cell, f) = raft3(writers, dir.path(), secs);
                    failover = failover.or(f);
                    cell
                }
                _ => sqlite(writers, dir.path(), secs),
            };
            eprintln!(
                "{:<18} {:>3} writers: {:>8.0} writes/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
                cell.mode,
                cell.writers,
                cell.rate(),
                cell.p50_ms,
                cell.p99_ms
            );
            cells.push(cell);
        }
    }
    println!();
    println!("| mode | writers | writes/s | p50 ms | p99 ms | writes per commit |");
    println!("|---|---:|---:|---:|---:|---:|");
    for c in &cells {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            c.mode,
            c.writers,
            c.rate(),
            c.p50_ms,
            c.p99_ms,
            c.commits
                .map(|n| format!("{:.1}", c.writes as f64 / n.max(1) as f64))
                .unwrap_or_else(|| "1.0".into())
        );
    }
    let rate = |mode: &str, w: usize| {
        cells
            .iter()
            .find(|c| c.mode == mode && c.writers == w)
            .map_or(0.0, Cell::rate)
    };
    let group64 = rate("redb-group-commit", 64);
    let speedup = group64 / rate("redb-one-commit", 64).max(f64::MIN_POSITIVE);
    let vs_sqlite = group64 / rate("sqlite-wal-full", 64).max(f64::MIN_POSITIVE);
    let raft_share = rate("raft-group-of-one", 64) / group64.max(f64::MIN_POSITIVE);
    let raft3_share = rate("raft-3-replicas", 64) / group64.max(f64::MIN_POSITIVE);
    let failover_ms = failover.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "raft group of one at 64 writers: {:.0}% of the single copy's group commit",
        raft_share * 100.0
    );
    println!(
        "raft 3 replicas at 64 writers: {:.0}% of the single copy's group commit (goal >= 50%); \
         failover (leader stopped -> a new leader): {failover_ms:.0} ms",
        raft3_share * 100.0
    );
    println!(
        "group commit at 64 writers: {speedup:.1}x one commit per write (goal >= 10x), {vs_sqlite:.1}x SQLite (goal > 1x)"
    );
    let json = serde_json::json!({
        "benchmark": "knotwork-session durable writes",
        "seconds_per_cell": secs,
        "time": Timestamp::now().to_string(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cells": cells.iter().map(|c| serde_json::json!({
            "mode": c.mode,
            "writers": c.writers,
            "writes": c.writes,
            "seconds": c.seconds,
            "writes_per_second": c.rate(),
            "p50_ms": c.p50_ms,
            "p99_ms": c.p99_ms,
            "commits": c.commits,
        })).collect::<Vec<_>>(),
        "group_vs_one_commit_at_64": speedup,
        "group_vs_sqlite_at_64": vs_sqlite,
        "raft_group_of_one_share_at_64": raft_share,
        "raft_3_replicas_share_at_64": raft3_share,
        "raft_3_replicas_failover_ms": failover_ms,
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("results written to {}", out.display());
}
