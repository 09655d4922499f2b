//! Recovery after an I/O error: redb refuses every transaction after one
//! until the database is reopened. Whoever meets the error (the writer, or
//! the Raft log and state machine of a replica) hands its handle here; one
//! of them reopens the file once every other handle is let go of, and
//! probes it with a real commit. Health is NOT_SERVING until a probe
//! commits.
//!
//! Reopening after an error returns the file to its last durable commit,
//! so commits made without a flush since then are gone. A replica's
//! applies are such commits; its reopen hook ([`Recovery::on_reopen`])
//! applies them again from the durable Raft log before anyone reads the
//! reopened file, so a read never misses a write it was told was stored.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use redb::{Database, Durability};

use super::evaluated::Gate;
use super::keys::{PROBE_KEY, USERS};
use super::versions::{JOURNALS_BYTES, Journals};
use crate::error::Error;

/// The open database. The writer swaps in a fresh handle after an I/O
/// failure (redb refuses every transaction after one until it is reopened);
/// `None` while it is being reopened.
pub(super) type DbCell = Arc<std::sync::RwLock<Option<Arc<Database>>>>;

/// What a write or read is told while the database is being reopened.
pub(super) const RECOVERING: &str = "storage is recovering from a failed write; retry shortly";

/// The database now, or UNAVAILABLE ([`RECOVERING`]) while it is being
/// reopened.
pub(super) fn current(cell: &DbCell) -> Result<Arc<Database>, Error> {
    cell.read()
        .ok()
        .and_then(|g| g.clone())
        .ok_or_else(|| Error::Unavailable(RECOVERING.into()))
}

/// Opens (or creates) the database file with a page cache of `cache_bytes`.
pub(super) fn open_db(path: &std::path::Path, cache_bytes: usize) -> Result<Database, Error> {
    Ok(redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)?)
}

/// A write transaction that commits with a flush (`durable`) or without.
pub(super) use super::evaluated::write_txn;

/// Run on a reopened database before it is handed out.
pub(super) type ReopenHook = Box<dyn Fn(&Database) -> Result<(), Error> + Send + Sync>;

/// Shared by everything that writes to one database.
pub(super) struct Recovery {
    /// Set by a replica: brings the reopened file back to what this
    /// process had applied (see the module docs).
    pub(super) on_reopen: OnceLock<ReopenHook>,
    pub(super) cell: DbCell,
    pub(super) path: PathBuf,
    pub(super) cache_bytes: usize,
    /// Raised after every commit that changes users' rows, with the
    /// grouped journals kept against them (`versions.rs`).
    pub(super) journals: Arc<Journals>,
    /// The table the probe writes to after a reopen (each file probes a
    /// table of its own).
    probe_table: ProbeTable,
    /// Where this file's Raft storage failures show: the session file's
    /// recovery, for the replica's separate log file (`log_file.rs`), so
    /// the shard's health covers both files. `None`: this one. Weak: the
    /// session file's reopen hook holds the log file's recovery.
    reports_to: Option<Weak<Recovery>>,
    /// Whether writes commit: the last probe did, and no Raft storage
    /// call is failing.
    pub(super) healthy: tokio::sync::watch::Sender<bool>,
    probe_ok: AtomicBool,
    raft_failing: AtomicBool,
    lock: Mutex<()>,
    /// The writer's evaluated batch kept for its apply, and the way
    /// everyone else takes a write transaction of a replica's session file
    /// (`evaluated.rs`).
    pub(super) kept: Gate,
}

impl Recovery {
    pub(super) fn new(cell: DbCell, path: PathBuf, cache_bytes: usize) -> Arc<Self> {
        Self::with(cell, path, cache_bytes, USERS, None)
    }

    /// The recovery of a replica's log file: it probes `probe_table`, and
    /// its Raft storage failures show in `main`'s health.
    pub(super) fn for_log(
        cell: DbCell,
        path: PathBuf,
        cache_bytes: usize,
        probe_table: ProbeTable,
        main: Arc<Recovery>,
    ) -> Arc<Self> {
        Self::with(
            cell,
            path,
            cache_bytes,
            probe_table,
            Some(Arc::downgrade(&main)),
        )
    }

    fn with(
        cell: DbCell,
        path: PathBuf,
        cache_bytes: usize,
        probe_table: ProbeTable,
        reports_to: Option<Weak<Recovery>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            on_reopen: OnceLock::new(),
            cell,
            path,
            cache_bytes,
            journals: Arc::new(Journals::new(Arc::default(), JOURNALS_BYTES)),
            probe_table,
            reports_to,
            healthy: tokio::sync::watch::channel(true).0,
            probe_ok: AtomicBool::new(true),
            raft_failing: AtomicBool::new(false),
            lock: Mutex::new(()),
            kept: Gate::default(),
        })
    }

    fn publish(&self) {
        let now = self.probe_ok.load(Ordering::SeqCst) && !self.raft_failing.load(Ordering::SeqCst);
        let before = self.healthy.send_replace(now);
        if before && !now {
            tracing::error!("storage unhealthy: refusing writes until a commit succeeds");
        } else if !before && now {
            tracing::info!("storage healthy again");
        }
    }

    /// Marks storage as failing (a write batch failed).
    pub(super) fn failed(&self) {
        self.probe_ok.store(false, Ordering::SeqCst);
        self.publish();
    }

    /// A Raft storage call failed: unhealthy until one succeeds again.
    pub(super) fn raft_failed(&self) {
        if let Some(main) = &self.reports_to {
            if let Some(main) = main.upgrade() {
                main.raft_failed();
            }
            return;
        }
        self.raft_failing.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// A Raft storage call succeeded.
    pub(super) fn raft_ok(&self) {
        if let Some(main) = &self.reports_to {
            if let Some(main) = main.upgrade() {
                main.raft_ok();
            }
            return;
        }
        if self.raft_failing.swap(false, Ordering::SeqCst) {
            self.publish();
        }
    }

    /// Reopens the database `old` came from (after waiting for every other
    /// handle to be let go of, calling `waiting` meanwhile) and probes it.
    /// When someone else reopened it already, only lets go of `old`.
    pub(super) fn reopen(&self, old: Arc<Database>, mut waiting: impl FnMut()) {
        let _one_at_a_time = self.lock.lock();
        // A kept batch holds the file too; its entry, if committed, is
        // applied from its rows.
        self.kept.discard();
        let same = self
            .cell
            .read()
            .ok()
            .and_then(|g| g.clone())
            .is_some_and(|now| Arc::ptr_eq(&now, &old));
        if !same && self.probe_ok.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut g) = self.cell.write() {
            *g = None;
        }
        let mut old = old;
        loop {
            match Arc::try_unwrap(old) {
                Ok(db) => {
                    drop(db);
                    break;
                }
                Err(still_shared) => {
                    old = still_shared;
                    waiting();
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
        loop {
            match open_db(&self.path, self.cache_bytes) {
                Ok(db) => {
                    if let Some(Err(e)) = self.on_reopen.get().map(|hook| hook(&db)) {
                        // Not handed out half restored: reads are refused
                        // (storage recovering) until this succeeds.
                        tracing::error!(error = %e, "cannot restore applied writes after reopening; retrying");
                        self.probe_ok.store(false, Ordering::SeqCst);
                        self.publish();
                        drop(db);
                        waiting();
                        std::thread::sleep(std::time::Duration::from_millis(500));
                        continue;
                    }
                    let db = Arc::new(db);
                    let ok = probe(&db, self.probe_table);
                    if let Some(main) = self.reports_to.as_ref().and_then(Weak::upgrade) {
                        // The log file is healthy again once it commits.
                        if ok.is_ok() {
                            main.raft_ok();
                        } else {
                            main.raft_failed();
                        }
                    }
                    if let Err(e) = &ok {
                        tracing::warn!(error = %e, "storage still failing");
                    }
                    self.probe_ok.store(ok.is_ok(), Ordering::SeqCst);
                    self.publish();
                    if let Ok(mut g) = self.cell.write() {
                        *g = Some(db);
                    }
                    // The file may have gone back to its last durable
                    // commit (and forward again by the hook).
                    self.journals.versions().changed_all();
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reopen storage; retrying");
                    waiting();
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
        }
    }
}

/// A table a probe may write to and clear again.
pub(super) type ProbeTable = redb::TableDefinition<'static, &'static [u8], &'static [u8]>;

/// A durable commit that writes (and removes again) one small record.
fn probe(db: &Database, table: ProbeTable) -> Result<(), Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut t = txn.open_table(table)?;
        t.insert(PROBE_KEY.as_bytes(), [0u8; 4096].as_slice())?;
        t.remove(PROBE_KEY.as_bytes())?;
    }
    txn.commit()?;
    Ok(())
}
