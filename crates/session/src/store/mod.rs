//! Durable storage in redb. The only module that knows redb.
//!
//! Rooms: this file is the async API the handlers call; `writer.rs` the
//! writer thread (group commit, recovery after I/O errors); `tables.rs` the
//! write logic that runs the rules inside the writer's transaction;
//! `reads.rs` the queries; `keys.rs` the key encoding, the table
//! definitions and the schema version; `holds.rs`, `usage.rs` and
//! `snapshot.rs` the holds, the quota counters and the streamed export and
//! backup; `replica.rs`, `start.rs` the Raft group (`evaluated.rs` the
//! leader's batch kept open for its apply, `recent.rs` the log's tail in
//! memory), `shard_map.rs` the
//! shard map in its replicated state (`map_state.rs` its stored form and
//! rules).
//!
//! Every write is a typed closure over the tables: the caller waits for
//! its own reply type, and the writer applies many of them in one
//! transaction and answers them only after that transaction is on disk.
//!
//! **Layout.** Every key starts with the user id and a 0 byte (user ids hold
//! no control characters), so a user's rows in any table are one contiguous
//! range and every read is a range scan:
//!
//! | table | key | value |
//! |---|---|---|
//! | `users` | user | empty |
//! | `profiles` | user | Profile (JSON) |
//! | `screenings` | user | Screening (JSON) |
//! | `sessions` | user, perform time (8 bytes, big-endian, sign-flipped), id | SessionRecord (JSON) |
//! | `session_ids` | user, id | perform time (8 bytes) |
//! | `guided_sessions` | user, id | GuidedSession (JSON; with the guide clock's start once attached) |
//! | `by_point_day` | user, point, local date, kind (`s`/`g`) + id | event id and tenderness |
//! | `request_ids` | user, request id | resource name, then 0 and the request's SHA-256 fingerprint |
//! | `check_ins` | user, local date, region | CheckIn (JSON) |
//! | `holds` | user, muscle, hold id | Hold (JSON) |
//! | `usage` | user | sessions and bytes stored (two u64, for the quota) |
//! | `journal` | the `sessions` key | the session as progress reads it (binary, `journal.rs`; derived, not replicated) |
//! | `meta` | name | the schema version ([`SCHEMA_VERSION`]) |
//! | `raft_state` | name | a replica's applied log id, membership, last batch and shard map (JSON, `replica.rs`) |
//!
//! A replica's Raft log and vote are in a file of their own,
//! `raft-log.redb` (`log_file.rs`).
//!
//! `sessions` is itself the by-user-by-time index; `by_point_day` counts
//! sessions per point per local day and holds the tenderness readings the
//! trend rules need, so logging a session never scans the whole journal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use jiff::Timestamp;
use jiff::civil::Date;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use tokio::sync::oneshot;

use crate::domain::checkin::{CheckIn, CheckInDraft};
use crate::domain::progress::{Grouped, JournalEntry};
use crate::domain::{
    Answer, CatalogView, GuidedRequest, GuidedSession, Profile, ProfilePatch, Screening,
    SessionDraft, SessionRecord, UserData,
};
use crate::error::Error;

mod evaluated;
mod holds;
mod journal;
mod keys;
mod log_file;
mod map_state;
mod reads;
mod recent;
mod recovery;
pub mod replica;
mod schema;
mod shard_map;
mod snapshot;
mod start;
mod tables;
mod usage;
mod versions;
mod write_behind;
mod writer;

pub use holds::SessionUpdate;
pub use keys::SCHEMA_VERSION;
pub use map_state::{MapHook, StoredMap};
pub use snapshot::{BackupPart, ExportPart, FORMAT_VERSION, restore_file, write_backup_file};
pub use start::ReplicaOptions;
pub use writer::Stats;

use keys::{SESSIONS, TABLES, USERS};
use recovery::Recovery;
use recovery::{DbCell, current};
use schema::prepare;
#[cfg(test)]
use schema::stored_version;
use tables::{Applied, RTable, Tables, WTable};
use writer::{Proposer, Queued, Typed, Writer};

/// How long a read on a replica waits to confirm leadership.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The current term when this replica leads a group whose only voter it is
/// (a group of one), `None` otherwise.
///
/// Reads skip confirming leadership in such a term once one read did: no
/// other replica can lead while this one is the only voter (a leader needs
/// its vote, which would raise its term), and every write is acknowledged
/// only after it was applied here, so the applied state already holds
/// every acknowledged write. Confirming again would send the read through
/// the Raft core, where it waits behind the log flush of the batch being
/// written and the apply of the one before: reads would queue behind
/// writes. With more voters, every read still confirms with a majority.
fn sole_leader_term(raft: &replica::Raft) -> Option<u64> {
    let m = raft.metrics();
    let m = m.borrow();
    let membership = m.membership_config.membership();
    let sole = membership.get_joint_config().len() == 1 && membership.voter_ids().eq([m.id]);
    (sole && m.current_leader == Some(m.id)).then_some(m.current_term)
}

/// The database file inside the data folder.
pub const DB_FILE: &str = "session.redb";

/// Storage options.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Most operations committed together. 1 means one commit per write.
    pub max_batch: usize,
    /// The changed rows (keys and values) after which a batch takes no
    /// more writes; those wait for the next (a single larger write still
    /// goes alone).
    pub max_batch_bytes: usize,
    /// redb's page cache (read cache and write buffer together), in bytes.
    /// It is heap memory that fills up to this bound as pages are read or
    /// written; pages past it are read from the OS page cache instead.
    pub cache_bytes: usize,
    /// The per-user quota on writes from users (imports are not limited).
    pub quota: crate::domain::quota::Quota,
}

/// The default of [`StoreOptions::max_batch_bytes`]: 4 MiB. Without a
/// bound, 200 apps sending 500 sessions each at once took the session to
/// 503 MiB (one batch held them all, with their Raft entry and its
/// encoding), and 400 to 1 GiB; with it, 129 and 188 MiB (BENCHMARKS.md).
pub const DEFAULT_BATCH_BYTES: usize = 4 << 20;

/// The default of [`StoreOptions::cache_bytes`].
pub const DEFAULT_CACHE_BYTES: usize = 8 * 1024 * 1024;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 512,
            max_batch_bytes: DEFAULT_BATCH_BYTES,
            cache_bytes: DEFAULT_CACHE_BYTES,
            quota: crate::domain::quota::Quota::default(),
        }
    }
}

/// One client write for [`Store::log_sessions`].
#[derive(Debug, Clone)]
pub struct LogItem {
    /// The client's request id.
    pub request_id: String,
    /// The validated session.
    pub draft: SessionDraft,
    /// Field path prefix for errors about this item (`session.` or
    /// `requests[3].session.`).
    pub field_prefix: String,
}

/// One day's sessions, bounded, with totals over all of them.
#[derive(Debug, Default)]
pub struct DaySummary {
    /// The first sessions of the day, oldest first.
    pub sessions: Vec<SessionRecord>,
    /// Sessions the day holds.
    pub total_sessions: u64,
    /// Their time on points, in seconds.
    pub total_duration_seconds: u64,
    /// The points worked that day (every session's, not only those kept).
    pub points: BTreeSet<String>,
}

/// The result of one logged item: the stored record and whether it was a
/// replay of an earlier request.
pub type Logged = Result<(SessionRecord, bool), Error>;

/// How a recorded check-in came about: (replayed, replaced).
pub type Replay = (bool, bool);

/// The session journal on disk.
pub struct Store {
    db: DbCell,
    healthy: tokio::sync::watch::Receiver<bool>,
    tx: Option<mpsc::Sender<Queued>>,
    writer: Option<JoinHandle<()>>,
    stats: Arc<Stats>,
    path: std::path::PathBuf,
    raft: Option<replica::Raft>,
    /// Where `raft`'s tasks run (`start.rs`); stopped after the writer.
    raft_runtime: Option<start::RaftRuntime>,
    /// A replica's flushes of the session file, for the metrics.
    flushes: Option<Arc<replica::Flushes>>,
    /// Where applied shard maps are reported (`shard_map.rs`).
    maps: map_state::MapSink,
    /// The term in which a read confirmed that this replica leads a group
    /// it is the only voter of and has applied every earlier term's
    /// entries (0: none); see [`Store::read`].
    read_term: AtomicU64,
    /// The session file's recovery, with the grouped journals read lately
    /// (`versions.rs`) and the writer's kept batch (`evaluated.rs`).
    recovery: Arc<Recovery>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Runs `f` on a read transaction of `db` on the blocking pool.
async fn scan_in<T: Send + 'static>(
    db: Arc<Database>,
    f: impl FnOnce(&Tables<RTable<'_>>) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(move || {
        let txn = db.begin_read()?;
        let tables = Tables::open_read(&txn)?;
        f(&tables)
    })
    .await
    .map_err(|e| Error::Storage(format!("read task: {e}")))?
}

impl Drop for Store {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        // After the writer, which may be waiting on it.
        self.raft_runtime.take();
    }
}

impl Store {
    /// Opens (or creates) the database in `dir` and starts the writer thread.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, Error> {
        let db = prepare(dir, options)?;
        Self::start(dir, db, options, None)
    }

    fn start(
        dir: &Path,
        db: Database,
        options: StoreOptions,
        replica: Option<Proposer>,
    ) -> Result<Self, Error> {
        let cell: DbCell = Arc::new(std::sync::RwLock::new(Some(Arc::new(db))));
        let recovery = Recovery::new(cell, dir.join(DB_FILE), options.cache_bytes);
        Self::start_with(recovery, options, replica)
    }

    fn start_with(
        recovery: Arc<Recovery>,
        options: StoreOptions,
        replica: Option<Proposer>,
    ) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let healthy = recovery.healthy.subscribe();
        let cell = recovery.cell.clone();
        let path = recovery.path.clone();
        let writer = {
            let w = Writer {
                recovery: recovery.clone(),
                max_batch: options.max_batch.max(1),
                max_batch_bytes: options.max_batch_bytes.max(1),
                quota: options.quota,
                stats: stats.clone(),
                replica,
            };
            std::thread::Builder::new()
                .name("session-writer".into())
                .spawn(move || w.run(rx))
                .map_err(|e| Error::Storage(format!("starting writer: {e}")))?
        };
        Ok(Self {
            db: cell,
            healthy,
            tx: Some(tx),
            writer: Some(writer),
            stats,
            path,
            raft: None,
            raft_runtime: None,
            flushes: None,
            maps: map_state::MapSink::default(),
            read_term: AtomicU64::new(0),
            recovery,
        })
    }

    /// The Raft handle of a replicated store (for the Raft service and
    /// for tests).
    pub fn raft(&self) -> Option<&replica::Raft> {
        self.raft.as_ref()
    }

    /// Stops the writer and, for a replica, Raft, so the database file is
    /// closed when the store is dropped.
    pub async fn close(&mut self) {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        if let Some(raft) = self.raft.take() {
            let _ = raft.shutdown().await;
        }
        if let Some(rt) = self.raft_runtime.take() {
            rt.stop().await;
        }
    }

    /// Whether writes are committing; changes when storage fails or
    /// recovers.
    pub fn health(&self) -> tokio::sync::watch::Receiver<bool> {
        self.healthy.clone()
    }

    /// Commit counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Registers the writer's metrics and the shard's size gauges
    /// (`knotwork_session_users`, `knotwork_session_sessions`: redb keeps
    /// each table's length in its header, so a scrape reads two numbers;
    /// `knotwork_session_storage_bytes`: the database file's size, with a
    /// replica's log file).
    pub fn instrument(self: &Arc<Self>, metrics: &knotwork_runtime::metrics::Metrics) {
        self.stats.instrument(metrics);
        let users = metrics.gauge("users", "Users with data on this shard.");
        let sessions = metrics.gauge("sessions", "Journal entries stored on this shard.");
        let bytes = metrics.gauge(
            "storage_bytes",
            "Size of the shard's database files on disk (a replica's Raft log included).",
        );
        let hits = metrics.counter(
            "journal_cache_hits_total",
            "Journal reads answered from the grouped journals kept between calls.",
        );
        let misses = metrics.counter(
            "journal_cache_misses_total",
            "Journal reads that read the user's rows (none kept, or changed since).",
        );
        let patched = metrics.counter(
            "journal_cache_patched_total",
            "Kept journals a commit brought up to date instead of a read scanning them again.",
        );
        let kept = metrics.gauge(
            "journal_cache_bytes",
            "Bytes of grouped journals kept between calls (an estimate).",
        );
        let in_evaluation = metrics.counter(
            "batches_applied_in_evaluation_total",
            "Replicated write batches whose apply committed the transaction that evaluated them \
             (the others are applied from their rows, as on every follower).",
        );
        let this = Arc::downgrade(self);
        metrics.on_scrape(move || {
            let Some(this) = this.upgrade() else { return };
            let e = this.recovery.kept.committed();
            in_evaluation.inc_by(e.saturating_sub(in_evaluation.get()));
            let (h, m, p, b) = this.recovery.journals.counts();
            hits.inc_by(h.saturating_sub(hits.get()));
            misses.inc_by(m.saturating_sub(misses.get()));
            patched.inc_by(p.saturating_sub(patched.get()));
            kept.set(i64::try_from(b).unwrap_or(i64::MAX));
            match this.counts() {
                Ok((u, s)) => {
                    users.set(i64::try_from(u).unwrap_or(i64::MAX));
                    sessions.set(i64::try_from(s).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::debug!(error = %e, "cannot count users for metrics"),
            }
            if let Ok(meta) = std::fs::metadata(&this.path) {
                // A replica's log file counts too (it sits beside).
                let log = this
                    .path
                    .parent()
                    .and_then(|d| std::fs::metadata(d.join(log_file::LOG_FILE)).ok())
                    .map_or(0, |m| m.len());
                bytes.set(i64::try_from(meta.len() + log).unwrap_or(i64::MAX));
            }
        });
        if let Some(raft) = self.raft.clone() {
            replica::instrument(&raft, metrics);
        }
        if let Some(flushes) = &self.flushes {
            flushes.instrument(metrics);
        }
    }

    /// (users, journal entries) stored: the tables' lengths, O(1) in redb.
    pub fn counts(&self) -> Result<(u64, u64), Error> {
        let db = current(&self.db)?;
        let txn = db.begin_read()?;
        let users = txn.open_table(USERS)?.len()?;
        let sessions = txn.open_table(SESSIONS)?.len()?;
        Ok((users, sessions))
    }

    /// Queues a write for the writer and waits until its batch committed.
    async fn write<R, F>(&self, write: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tables<WTable<'_>>) -> Applied<R> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::Storage("store closed".into()))?;
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        tx.send(Box::new(Typed::new(write, reply))).map_err(|_| {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            Error::Storage("writer stopped".into())
        })?;
        rx.await
            .map_err(|_| Error::Storage("writer dropped the reply".into()))?
    }

    /// Confirms this replica may answer a read (a linearizable read in a
    /// group of more than one) and returns the database to read.
    async fn readable(&self) -> Result<Arc<Database>, Error> {
        if let Some(raft) = &self.raft {
            let term = sole_leader_term(raft);
            if term.is_none() || term != Some(self.read_term.load(Ordering::Acquire)) {
                // A linearizable read: confirm leadership with a majority
                // and wait until every entry committed before the read is
                // applied.
                tokio::time::timeout(READ_TIMEOUT, raft.ensure_linearizable())
                    .await
                    .map_err(|_| {
                        Error::Unavailable("the shard group did not answer in time".into())
                    })?
                    .map_err(|e| Error::from(writer::raft_failure(&e)))?;
                if let Some(term) = term.filter(|t| Some(*t) == sole_leader_term(raft)) {
                    self.read_term.store(term, Ordering::Release);
                }
            }
        }
        current(&self.db)
    }

    /// A read whose work is bounded (a key, a page, a day, at most a few
    /// hundred rows), run on the calling task. The profile of the app mix
    /// showed the hand-off to the blocking pool and back (two thread
    /// wake-ups per read, about twelve reads per GetOverview) costing more
    /// than the read itself: redb answers from its page cache in
    /// microseconds.
    async fn read<T>(
        &self,
        f: impl FnOnce(&Tables<RTable<'_>>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let db = self.readable().await?;
        let txn = db.begin_read()?;
        f(&Tables::open_read(&txn)?)
    }

    /// A read that grows with the user's history (the whole journal, an
    /// export, a listing of users), run on the blocking pool so a long one
    /// never stalls the other calls sharing this task's thread.
    async fn read_scan<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Tables<RTable<'_>>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let db = self.readable().await?;
        scan_in(db, f).await
    }

    /// Updates a profile, creating it when needed.
    pub async fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
        now: Timestamp,
    ) -> Result<Profile, Error> {
        let user = user.to_owned();
        self.write(move |t| t.update_profile(&user, patch, now))
            .await
    }

    /// Merges screening answers into the saved ones.
    pub async fn submit_screening(
        &self,
        user: &str,
        answers: BTreeMap<String, Answer>,
        now: Timestamp,
    ) -> Result<Screening, Error> {
        let user = user.to_owned();
        self.write(move |t| t.submit_screening(&user, answers, now))
            .await
    }

    /// Applies the admission rules and stores a guided session; returns it and
    /// whether it was a replay.
    pub async fn start_guided(
        &self,
        user: &str,
        request_id: &str,
        req: GuidedRequest,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<(GuidedSession, bool), Error> {
        let (user, request_id) = (user.to_owned(), request_id.to_owned());
        self.write(move |t| t.start_guided(&user, &request_id, req, &catalog, now))
            .await
    }

    /// Stores sessions with their warnings, each idempotent by request id;
    /// one result per item.
    pub async fn log_sessions(
        &self,
        user: &str,
        items: Vec<LogItem>,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<Vec<Logged>, Error> {
        let user = user.to_owned();
        self.write(move |t| t.log_sessions(&user, items, &catalog, now))
            .await
    }

    /// Records (or, the same local day and region, replaces) a pain
    /// check-in, idempotent by request id.
    pub async fn record_check_in(
        &self,
        user: &str,
        request_id: &str,
        draft: CheckInDraft,
        now: Timestamp,
    ) -> Result<(CheckIn, Replay), Error> {
        let (user, request_id) = (user.to_owned(), request_id.to_owned());
        self.write(move |t| t.record_check_in(&user, &request_id, draft, now))
            .await
    }

    /// Check-ins from `from` to `to` (inclusive local days), oldest first.
    pub async fn check_ins(&self, user: &str, from: Date, to: Date) -> Result<Vec<CheckIn>, Error> {
        self.read(|t| t.check_ins(user, from, to)).await
    }

    /// Deletes every row of a user; returns (sessions, guided sessions)
    /// deleted.
    pub async fn delete_user(&self, user: &str) -> Result<(u64, u64), Error> {
        let user = user.to_owned();
        self.write(move |t| Ok(Ok(t.delete_user(&user)?))).await
    }

    /// Replaces a user's data with `data`; returns the sessions imported.
    pub async fn import_user(&self, data: UserData) -> Result<u64, Error> {
        self.write(move |t| t.import_user(data, true)).await
    }

    /// Every hold of a user, active and released.
    pub async fn holds(&self, user: &str) -> Result<Vec<crate::domain::holds::Hold>, Error> {
        self.read(|t| t.holds(user)).await
    }

    /// Releases the active holds on `point`'s muscle; returns the holds on
    /// that muscle afterwards.
    pub async fn release_hold(
        &self,
        user: &str,
        point: &str,
        provider_checked: bool,
        checked_date: &str,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<Vec<crate::domain::holds::Hold>, Error> {
        let (user, point, checked_date) =
            (user.to_owned(), point.to_owned(), checked_date.to_owned());
        self.write(move |t| {
            t.release_holds(
                &user,
                &point,
                provider_checked,
                &checked_date,
                &catalog,
                now,
            )
        })
        .await
    }

    /// Rewrites one session and re-applies the rules to it.
    pub async fn update_session(
        &self,
        user: &str,
        update: SessionUpdate,
        catalog: Arc<CatalogView>,
        now: Timestamp,
    ) -> Result<SessionRecord, Error> {
        let user = user.to_owned();
        self.write(move |t| t.update_session(&user, update, &catalog, now))
            .await
    }

    /// The guide clock's start of a guided session: stored at its first
    /// attach, durably, so a reattach after a restart resumes at the real
    /// elapsed time. `None` for an unknown session.
    pub async fn attach_guide(
        &self,
        user: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, Error> {
        let (user, id) = (user.to_owned(), id.to_owned());
        self.write(move |t| t.attach_guide(&user, &id, now)).await
    }

    /// Removes one session; `false` when it was already gone.
    pub async fn delete_session(&self, user: &str, id: &str) -> Result<bool, Error> {
        let (user, id) = (user.to_owned(), id.to_owned());
        self.write(move |t| t.delete_session(&user, &id)).await
    }

    /// The saved profile.
    pub async fn profile(&self, user: &str) -> Result<Option<Profile>, Error> {
        self.read(|t| t.profile(user)).await
    }

    /// The saved screening.
    pub async fn screening(&self, user: &str) -> Result<Option<Screening>, Error> {
        self.read(|t| t.screening(user)).await
    }

    /// One session.
    pub async fn session(&self, user: &str, id: &str) -> Result<Option<SessionRecord>, Error> {
        self.read(|t| t.session(user, id)).await
    }

    /// One guided session.
    pub async fn guided(&self, user: &str, id: &str) -> Result<Option<GuidedSession>, Error> {
        self.read(|t| t.guided(user, id)).await
    }

    /// Sessions performed in `[start, end)`, newest first, optionally on one
    /// point, strictly before the cursor `(perform time µs, id)`; at most
    /// `limit`, plus whether more follow.
    pub async fn list_sessions(
        &self,
        user: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        point: Option<String>,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<SessionRecord>, bool), Error> {
        self.read(|t| t.list_sessions(user, start, end, point, before, limit))
            .await
    }

    /// Sessions performed in `[start, end)`, oldest first.
    pub async fn sessions_between(
        &self,
        user: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SessionRecord>, Error> {
        let user = user.to_owned();
        self.read_scan(move |t| t.sessions_between(&user, start, end))
            .await
    }

    /// The sessions from `start` to `end`, oldest first, at most `max` of
    /// them, with the totals over all of them (see [`DaySummary`]). Memory
    /// stays bounded by `max` however many the day holds.
    pub async fn day_summary(
        &self,
        user: &str,
        start: Timestamp,
        end: Timestamp,
        max: usize,
    ) -> Result<DaySummary, Error> {
        self.read(|t| t.day_summary(user, start, end, max)).await
    }

    /// Sessions and guided sessions on each of `points` on local `date`.
    pub async fn day_counts(
        &self,
        user: &str,
        points: Vec<String>,
        date: Date,
    ) -> Result<BTreeMap<String, u32>, Error> {
        self.read(|t| t.day_counts(user, points, date)).await
    }

    /// Trigger points of the guided sessions started on local `date`.
    pub async fn guided_points_on(&self, user: &str, date: Date) -> Result<Vec<String>, Error> {
        self.read(|t| t.guided_points_on(user, date)).await
    }

    /// Every session of a user, oldest first.
    pub async fn all_sessions(&self, user: &str) -> Result<Vec<SessionRecord>, Error> {
        let user = user.to_owned();
        self.read_scan(move |t| t.all_sessions(&user)).await
    }

    /// Every session of a user as progress and plans read it, oldest
    /// first: [`Store::all_sessions`] without decoding what they skip.
    pub async fn journal(&self, user: &str) -> Result<Vec<JournalEntry>, Error> {
        let user = user.to_owned();
        self.read_scan(move |t| t.journal(&user)).await
    }

    /// Every session of a user grouped per point: what ListProgress and
    /// the plans compute from. Kept between calls until the user's rows
    /// change (`versions.rs`): the read that grows with the history.
    pub async fn journal_grouped(&self, user: &str) -> Result<Arc<Grouped>, Error> {
        // After the read barrier: what it waits for is applied, and so the
        // versions it raised are current.
        let db = self.readable().await?;
        if let Some(kept) = self.recovery.journals.get(user) {
            return Ok(kept);
        }
        let at = self.recovery.journals.version(user);
        let owner = user.to_owned();
        let (journal, keys) = scan_in(db, move |t| t.journal_grouped(&owner)).await?;
        // What was computed from the user's journal before it changed
        // holds for the points whose sessions did not.
        if let Some(earlier) = self.recovery.journals.earlier(user) {
            journal.inherit(&earlier);
        }
        let kept = versions::Kept::new(journal, keys);
        let journal = kept.grouped().clone();
        self.recovery.journals.put(user, at, kept);
        Ok(journal)
    }

    /// Everything stored about a user.
    pub async fn export(&self, user: &str) -> Result<UserData, Error> {
        let user = user.to_owned();
        self.read_scan(move |t| t.export(&user)).await
    }

    /// User ids after `after`, in order; at most `limit`, plus whether more
    /// follow.
    pub async fn list_users(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), Error> {
        self.read_scan(move |t| t.list_users(after, limit)).await
    }

    /// Every (table, key) in the database, for tests that check deletion
    /// leaves nothing behind. Also lists tables this module does not know,
    /// so a new table cannot escape the check.
    pub fn scan_all_keys(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let txn = current(&self.db)?.begin_read()?;
        let mut out = Vec::new();
        for handle in txn.list_tables()? {
            let name = redb::TableHandle::name(&handle).to_owned();
            let known = TABLES.iter().any(|t| redb::TableHandle::name(t) == name)
                || replica::is_raft_table(&name);
            if !known {
                out.push((name.clone(), b"<unknown table>".to_vec()));
            }
        }
        for def in TABLES {
            let table = txn.open_table(def)?;
            for item in table.iter()? {
                let (k, _) = item?;
                out.push((redb::TableHandle::name(&def).to_owned(), k.value().to_vec()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
