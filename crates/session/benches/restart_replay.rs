//! What the flush interval costs a start after a crash: a session shard
//! (a Raft group of one) applies again, at start, every entry its last
//! flush of the session file did not hold (`KNOTWORK_SESSION_RAFT_FLUSH_MS`,
//! 1 s by default). For each window (1, 5 and 10 s by default), a child
//! process (this binary again) logs sessions with 64 writers for that long
//! into a shard whose flush interval outlasts the run, then aborts: a
//! crash, with no clean close. This process then times the start on that
//! data until the shard has applied everything the child had, and, as the
//! baseline of the same run, the start after closing it cleanly (nothing to
//! apply again). Writes go through `Store::log_sessions`, as LogSession's
//! do.
//!
//! Run with `cargo bench -p knotwork-session --bench restart_replay`;
//! `KNOTWORK_BENCH_REPLAY_SECS` (comma-separated seconds) sets the windows,
//! `KNOTWORK_BENCH_DIR` where the data goes (default: the system temp
//! folder; use a real disk) and `KNOTWORK_BENCH_OUT` the JSON results file
//! (default `benches/restart_replay.json` in this crate).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knotwork_session::raft::NoNetwork;
use knotwork_session::store::{ReplicaOptions, Store, StoreOptions};

mod common;

/// Set (to the data folder) in the child's environment.
const CHILD_DIR: &str = "KNOTWORK_REPLAY_CHILD_DIR";
/// How long the child writes, in seconds.
const CHILD_SECS: &str = "KNOTWORK_REPLAY_CHILD_SECS";
const WRITERS: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes for the given seconds with no flush, prints what it wrote and
/// the last entry applied, and aborts.
fn child(dir: &Path, secs: f64) -> ! {
    let rt = runtime();
    let replica = ReplicaOptions {
        flush_every: Duration::from_secs(3600),
        ..ReplicaOptions::single()
    };
    let store = Arc::new(
        rt.block_on(Store::open_replicated(
            dir,
            StoreOptions::default(),
            replica,
            NoNetwork,
        ))
        .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let catalog = Arc::new(common::catalog());
    let writes = rt
        .block_on(common::log_for(&store, catalog, WRITERS, deadline))
        .len();
    let applied = store
        .raft()
        .unwrap()
        .metrics()
        .borrow()
        .last_applied
        .map_or(0, |l| l.index);
    println!("{writes} {applied}");
    std::process::abort()
}

/// Opens the shard in `dir` and waits until it applied entry `applied`:
/// the time it took, and the store.
fn start(rt: &tokio::runtime::Runtime, dir: &Path, applied: u64) -> (Duration, Store) {
    let started = Instant::now();
    let store = rt
        .block_on(Store::open_replicated(
            dir,
            StoreOptions::default(),
            ReplicaOptions::single(),
            NoNetwork,
        ))
        .unwrap();
    rt.block_on(
        store
            .raft()
            .unwrap()
            .wait(Some(Duration::from_secs(600)))
            .applied_index_at_least(Some(applied), "applied again"),
    )
    .unwrap();
    (started.elapsed(), store)
}

#[derive(Debug)]
struct Row {
    window_seconds: f64,
    writes: usize,
    entries: u64,
    after_crash: Duration,
    after_clean_close: Duration,
}

fn measure(base: &Path, secs: f64) -> Row {
    let dir = tempfile::tempdir_in(base).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_DIR, dir.path())
        .env(CHILD_SECS, secs.to_string())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the child aborts; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let mut fields = printed
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap());
    let (writes, entries) = (fields.next().unwrap(), fields.next().unwrap());
    let rt = runtime();
    let (after_crash, mut store) = start(&rt, dir.path(), entries);
    rt.block_on(store.close());
    drop(store);
    let (after_clean_close, mut store) = start(&rt, dir.path(), entries);
    rt.block_on(store.close());
    Row {
        window_seconds: secs,
        writes: usize::try_from(writes).unwrap(),
        entries,
        after_crash,
        after_clean_close,
    }
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let secs = std::env::var(CHILD_SECS).unwrap().parse().unwrap();
        child(&PathBuf::from(dir), secs);
    }
    let windows: Vec<f64> = std::env::var("KNOTWORK_BENCH_REPLAY_SECS")
        .unwrap_or_else(|_| "1,5,10".into())
        .split(',')
        .map(|s| s.trim().parse().expect("seconds"))
        .collect();
    let base =
        std::env::var_os("KNOTWORK_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    println!(
        "{:>8} {:>8} {:>8} {:>14} {:>14} {:>7}",
        "window", "writes", "entries", "start, crash", "start, clean", "ratio"
    );
    let mut rows = Vec::new();
    for secs in windows {
        let r = measure(&base, secs);
        println!(
            "{:>7}s {:>8} {:>8} {:>11.0} ms {:>11.0} ms {:>6.1}x",
            r.window_seconds,
            r.writes,
            r.entries,
            r.after_crash.as_secs_f64() * 1e3,
            r.after_clean_close.as_secs_f64() * 1e3,
            r.after_crash.as_secs_f64() / r.after_clean_close.as_secs_f64().max(1e-9)
        );
        rows.push(r);
    }
    let json = serde_json::json!({
        "benchmark": "knotwork-session start after a crash, by the writes since the last flush",
        "writers": WRITERS,
        "rows": rows.iter().map(|r| serde_json::json!({
            "window_seconds": r.window_seconds,
            "writes": r.writes,
            "entries": r.entries,
            "start_after_crash_ms": r.after_crash.as_secs_f64() * 1e3,
            "start_after_clean_close_ms": r.after_clean_close.as_secs_f64() * 1e3,
        })).collect::<Vec<_>>(),
    });
    let out = std::env::var_os("KNOTWORK_BENCH_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/restart_replay.json"),
        PathBuf::from,
    );
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("results written to {}", out.display());
}
