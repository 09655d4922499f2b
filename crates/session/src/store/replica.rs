//! The replicated store: the shard is a Raft group (openraft). Its state
//! machine lives in the shard's redb file beside the session tables; its
//! log and vote in a redb file of their own (`log_file.rs` says why).
//!
//! **What is replicated.** The leader's writer evaluates a batch of writes
//! with the usual write logic in a write transaction, recording every row
//! change (`tables::Change`); the changes are one Raft entry ([`Batch`]).
//! Every replica applies committed entries by writing those rows, so the
//! rules run once, on the leader, with its catalog and clock, and replicas
//! cannot diverge. The leader itself commits the transaction that
//! evaluated the batch as that entry's apply, rather than writing the same
//! rows again (`evaluated.rs` says when that is the same state).
//!
//! **Evaluated against what it changes.** A batch names the last batch
//! applied when it was evaluated (`based_on`). Applying it checks that
//! nothing else was applied since; otherwise (a leader change in between)
//! it is skipped on every replica and its writers get UNAVAILABLE to retry
//! (request ids make the retry exact).
//!
//! **Durability.** Log appends, votes and truncations commit with
//! `Durability::Immediate`: an entry counts towards the majority only once
//! it is on disk. Applying commits without a flush, and the session file is
//! flushed every `ReplicaOptions::flush_every` (1 s by default; the pages
//! applied since are written behind every 100 ms, so the flush is short:
//! `write_behind.rs`) and before a snapshot lets the log be purged; a clean
//! close writes what redb holds. A crash may lose applied rows, and
//! openraft applies the committed entries again at start (a batch of row
//! changes is idempotent). The log is the write-ahead log; the flush is
//! its checkpoint. The committed log id rides along with the
//! next log append rather than costing a transaction of its own
//! ([`LogStore`]).
//!
//! **Snapshots** hold every session row at an applied log id, kept in one
//! file beside the database (`raft-snapshot.bin`); a replica that is too far
//! behind (or was wiped) installs one, and the log before it is purged.
//!
//! **The shard map** is part of the replicated state too: an entry whose
//! `shard_map` is set carries one (and no rows), applied under the epoch
//! rules on every replica (`map_state.rs`), kept in `raft_state` and in
//! snapshots; see `shard_map.rs`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::evaluated::{Gate, Kept};
use super::journal;
use super::keys::{DATA_TABLES, JOURNAL, RAFT_STATE, SESSIONS, b64, table_id};
use super::log_file::{COMMITTED, LOG, LOG_STATE, PURGED, VOTE};
use super::map_state::{self, MapSink, StoredMap};
use super::recent::Recent;
use super::recovery::Recovery;
use super::recovery::{current, write_txn};
use super::tables::Change;
use super::versions::Journals;
use super::write_behind;
use crate::error::Error;

openraft::declare_raft_types!(
    /// The session shard's Raft types.
    pub TypeConfig:
        D = Batch,
        R = BatchReply,
);

/// A replica's id in its group.
pub type NodeId = u64;

/// The Raft handle of a shard replica.
pub type Raft = openraft::Raft<TypeConfig>;

/// One Raft entry: a write batch's row changes, or a shard map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Batch {
    /// The log id of the last batch applied when this one was evaluated.
    pub based_on: Option<LogId<NodeId>>,
    /// The rows to write, in order.
    pub(crate) changes: Vec<Change>,
    /// A shard map to hold (then `changes` is empty and `based_on` is not
    /// checked: a map changes no row). Absent in entries written before
    /// maps were replicated, so their logs read as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shard_map: Option<StoredMap>,
}

/// What applying a [`Batch`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchReply {
    /// False when the batch was evaluated against an older state and was
    /// skipped (its writers retry), or when its shard map broke the epoch
    /// rules (an older epoch, or the held epoch with other content).
    pub applied: bool,
}

const APPLIED: &str = "applied";
const MEMBERSHIP: &str = "membership";
const LAST_BATCH: &str = "last_batch";

/// The snapshot file in the data folder.
pub const SNAPSHOT_FILE: &str = "raft-snapshot.bin";

/// How long applied rows may stay unflushed in the session file, by
/// default. A crash loses at most these (applied again from the log at
/// start), and a start after a crash replays at most this much of the log.
/// Each flush holds up the applies behind it (14-31 ms on the benchmark's
/// machine), so a shorter interval puts that wait on more writes, and a
/// longer one costs redb more work per commit until the flush:
/// BENCHMARKS.md, "The session file's flush interval".
pub const DEFAULT_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The flushes of a replica's session file, timed once instrumented: each
/// holds up the applies behind it.
#[derive(Debug, Default)]
pub(super) struct Flushes(std::sync::OnceLock<knotwork_runtime::metrics::Histogram>);

impl Flushes {
    /// Registers `knotwork_session_flush_duration_seconds`.
    pub(super) fn instrument(&self, metrics: &knotwork_runtime::metrics::Metrics) {
        let _ = self.0.set(metrics.histogram(
            "flush_duration_seconds",
            "Time a replica's flush of the session file held up its applies (about once a \
             second, and before a snapshot; the applied pages are written behind in between).",
            knotwork_runtime::metrics::LATENCY_BUCKETS,
        ));
    }

    fn observe(&self, took: std::time::Duration) {
        if let Some(h) = self.0.get() {
            h.observe(took.as_secs_f64());
        }
    }
}

/// A table of JSON values by name: the state machine's or the log's state.
type StateTable = TableDefinition<'static, &'static str, &'static [u8]>;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

fn io(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write(&std::io::Error::other(e.to_string())).into()
}

/// Runs `f` on the database off the async executor. A storage failure is
/// never handed to openraft (it would stop the replica for good): the
/// database is reopened and `f` tried again until it succeeds, while health
/// says NOT_SERVING and the writer refuses writes.
async fn blocking<T: Send + 'static>(
    recovery: &Arc<Recovery>,
    f: impl Fn(&Database) -> Result<T, Error> + Send + Sync + 'static,
) -> StorageResult<T> {
    let f = Arc::new(f);
    loop {
        let Ok(db) = current(&recovery.cell) else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let run = f.clone();
        let (db, result) = tokio::task::spawn_blocking(move || {
            let r = run(&db);
            (db, r)
        })
        .await
        .map_err(io)?;
        match result {
            Ok(v) => {
                recovery.raft_ok();
                return Ok(v);
            }
            Err(e) => {
                tracing::error!(error = %e, "write batch failed: raft storage; reopening and retrying");
                recovery.raft_failed();
                let recovery = recovery.clone();
                tokio::task::spawn_blocking(move || recovery.reopen(db, || {}))
                    .await
                    .map_err(io)?;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
}

fn state_get<T: serde::de::DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    k: &str,
) -> Result<Option<T>, Error> {
    match t.get(k)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

/// Sets `k` in `table` to `v` (JSON), inside `txn`.
fn state_set<T: serde::Serialize>(
    txn: &redb::WriteTransaction,
    table: StateTable,
    k: &str,
    v: &T,
) -> Result<(), Error> {
    txn.open_table(table)?
        .insert(k, serde_json::to_vec(v)?.as_slice())?;
    Ok(())
}

fn state_read<T: serde::de::DeserializeOwned>(
    db: &Database,
    table: StateTable,
    k: &str,
) -> Result<Option<T>, Error> {
    let txn = db.begin_read()?;
    match txn.open_table(table) {
        Ok(t) => state_get(&t, k),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Creates the state machine's table in the session file (so readers
/// never meet a missing one).
pub(super) fn create_tables(txn: &redb::WriteTransaction) -> Result<(), Error> {
    txn.open_table(RAFT_STATE)?;
    Ok(())
}

/// Whether `name` is one of the Raft tables (not session data).
pub(super) fn is_raft_table(name: &str) -> bool {
    use redb::TableHandle;
    name == LOG.name() || name == RAFT_STATE.name()
}

/// The last batch applied, as a writer evaluating in `txn` sees it.
pub(super) fn last_batch(txn: &redb::WriteTransaction) -> Result<Option<LogId<NodeId>>, Error> {
    Ok(state_get(&txn.open_table(RAFT_STATE)?, LAST_BATCH)?.flatten())
}

/// The Raft log and vote, in the log file.
///
/// The committed log id openraft reports after every commit is kept in
/// memory and written by the next log append, inside its durable
/// transaction. A write of its own, unflushed, reached the disk with that
/// same append anyway; this saves a write transaction (and a hand-off to
/// the blocking pool, which the Raft core waited for) on every batch.
///
/// The last entries appended are kept in memory too (`recent.rs`), so the
/// apply that follows each append reads them without decoding the file.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Recovery>,
    committed: Arc<std::sync::Mutex<Option<LogId<NodeId>>>>,
    recent: Arc<std::sync::Mutex<Recent<Entry<TypeConfig>>>>,
}

impl LogStore {
    pub(super) fn new(db: Arc<Recovery>) -> Self {
        Self {
            db,
            committed: Arc::default(),
            recent: Arc::default(),
        }
    }

    /// The log's tail kept in memory.
    fn recent(&self) -> std::sync::MutexGuard<'_, Recent<Entry<TypeConfig>>> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The committed log id held for the next append.
    fn committed(&self) -> std::sync::MutexGuard<'_, Option<LogId<NodeId>>> {
        self.committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        if let Some(kept) = self.recent().get(&range) {
            return Ok(kept);
        }
        let (lo, hi) = (range.start_bound().cloned(), range.end_bound().cloned());
        blocking(&self.db, move |db| {
            let txn = db.begin_read()?;
            let t = txn.open_table(LOG)?;
            let mut out = Vec::new();
            for item in t.range::<u64>((lo, hi))? {
                let (_, v) = item?;
                out.push(serde_json::from_slice(v.value())?);
            }
            Ok(out)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        blocking(&self.db, |db| {
            let purged: Option<LogId<NodeId>> = state_read(db, LOG_STATE, PURGED)?;
            let txn = db.begin_read()?;
            let last = match txn.open_table(LOG)?.last()? {
                Some((_, v)) => {
                    Some(serde_json::from_slice::<Entry<TypeConfig>>(v.value())?.log_id)
                }
                None => purged,
            };
            Ok(LogState {
                last_purged_log_id: purged,
                last_log_id: last,
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let vote = *vote;
        blocking(&self.db, move |db| {
            let txn = write_txn(db, true)?;
            state_set(&txn, LOG_STATE, VOTE, &vote)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        blocking(&self.db, |db| state_read(db, LOG_STATE, VOTE)).await
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        // Written by the next append: a lost value only means applying
        // again once the group commits anew.
        *self.committed() = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        if let Some(c) = *self.committed() {
            return Ok(Some(c));
        }
        blocking(&self.db, |db| {
            Ok(state_read::<Option<_>>(db, LOG_STATE, COMMITTED)?.flatten())
        })
        .await
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Arc<Vec<_>> = Arc::new(entries.into_iter().collect());
        let committed = *self.committed();
        let written = entries.clone();
        let result = blocking(&self.db, move |db| {
            let txn = write_txn(db, true)?;
            {
                let mut t = txn.open_table(LOG)?;
                for e in written.iter() {
                    t.insert(e.log_id.index, serde_json::to_vec(e)?.as_slice())?;
                }
            }
            if committed.is_some() {
                state_set(&txn, LOG_STATE, COMMITTED, &committed)?;
            }
            txn.commit()?;
            Ok(())
        })
        .await;
        match &result {
            Ok(()) => {
                // Kept before openraft hears of them, so no read of them
                // can miss both the file and the memory.
                let entries = Arc::try_unwrap(entries).unwrap_or_else(|shared| (*shared).clone());
                self.recent().appended(
                    entries
                        .into_iter()
                        .map(|e| (e.log_id.index, entry_bytes(&e), e)),
                );
                callback.log_io_completed(Ok(()));
            }
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        // Dropped from memory first: no read meanwhile finds them there.
        self.recent().truncated(log_id.index);
        blocking(&self.db, move |db| {
            let txn = write_txn(db, true)?;
            txn.open_table(LOG)?
                .retain_in(log_id.index.., |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        self.recent().purged(log_id.index);
        blocking(&self.db, move |db| {
            let txn = write_txn(db, true)?;
            state_set(&txn, LOG_STATE, PURGED, &log_id)?;
            txn.open_table(LOG)?
                .retain_in(..=log_id.index, |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

/// About how many bytes `e` holds, for the bound on the entries kept in
/// memory: its rows' keys and values.
fn entry_bytes(e: &Entry<TypeConfig>) -> usize {
    let rows = match &e.payload {
        EntryPayload::Normal(b) => b.changes.iter().map(Change::bytes).sum(),
        _ => 0,
    };
    rows + 64
}

/// The rows of a snapshot: every session table, the last batch and the
/// shard map.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotRows {
    last_batch: Option<LogId<NodeId>>,
    /// Absent in snapshots made before maps were replicated: installing
    /// one keeps the map the replica holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard_map: Option<StoredMap>,
    /// (table id, rows).
    tables: Vec<(u8, Vec<Row>)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Row(
    #[serde(with = "b64")] Vec<u8>,
    #[serde(with = "b64")] Vec<u8>,
);

/// The state machine: the session tables and the shard map.
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Recovery>,
    snapshot_path: PathBuf,
    /// Told each shard map applied, once it is committed.
    maps: MapSink,
    /// One past the index of the last entry this process applied (0: none).
    applied: Arc<AtomicU64>,
    /// When the session file was last flushed.
    flushed: Arc<std::sync::Mutex<std::time::Instant>>,
    /// How often it is flushed ([`DEFAULT_FLUSH_EVERY`]).
    flush_every: std::time::Duration,
    /// How long the flushes took.
    flushes: Arc<Flushes>,
}

impl StateMachine {
    /// The state machine over the session file `db`, flushed every
    /// `flush_every`; `log` is the log file's, read to apply again what a
    /// reopen of `db` lost.
    pub(super) fn new(
        db: Arc<Recovery>,
        log: Arc<Recovery>,
        dir: &Path,
        maps: MapSink,
        flush_every: std::time::Duration,
    ) -> Self {
        let applied = Arc::new(AtomicU64::new(0));
        let upto = applied.clone();
        // Applies commit without a flush; a reopen after an I/O error loses
        // those since the last durable commit. Apply them again from the
        // log (where every applied entry is durable) before the file is
        // read again.
        let _ = db.on_reopen.set(Box::new(move |d: &Database| {
            reapply(d, &*current(&log.cell)?, upto.load(Ordering::SeqCst))
        }));
        write_behind::start(&db, applied.clone(), write_behind::EVERY);
        Self {
            db,
            snapshot_path: dir.join(SNAPSHOT_FILE),
            maps,
            applied,
            flushed: Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
            flush_every,
            flushes: Arc::default(),
        }
    }

    /// The flushes' timings, for the store's metrics.
    pub(super) fn flushes(&self) -> Arc<Flushes> {
        self.flushes.clone()
    }

    /// Whether this apply should flush the session file, and if so, counts
    /// it as done.
    fn flush_due(&self) -> bool {
        let mut last = self
            .flushed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.elapsed() >= self.flush_every;
        if due {
            *last = std::time::Instant::now();
        }
        due
    }
}

/// Flushes the session file: every apply committed so far is on disk once
/// this returns.
fn flush(db: &Database, kept: &Gate, flushes: &Flushes) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let txn = kept.write_txn(db, true)?;
    {
        // A row rewritten as it is, so the commit has something to write.
        let mut state = txn.open_table(RAFT_STATE)?;
        let applied = state.get(APPLIED)?.map(|v| v.value().to_vec());
        if let Some(v) = applied {
            state.insert(APPLIED, v.as_slice())?;
        }
    }
    txn.commit()?;
    flushes.observe(started.elapsed());
    Ok(())
}

/// Applies `entries` in `txn`: each batch whose base is the last batch
/// applied, each shard map under the epoch rules, each membership. The
/// rows of entry `written` are in `txn` already (the leader's kept batch:
/// `evaluated.rs`). Returns what each entry did and the newest map now
/// held.
pub(super) fn apply_entries(
    txn: &redb::WriteTransaction,
    entries: &[Entry<TypeConfig>],
    written: Option<usize>,
) -> Result<(Vec<BatchReply>, Option<StoredMap>), Error> {
    let mut replies = Vec::with_capacity(entries.len());
    let mut held = None;
    let mut state = txn.open_table(RAFT_STATE)?;
    let mut last: Option<LogId<NodeId>> = state_get(&state, LAST_BATCH)?.flatten();
    let mut membership = None;
    for (i, e) in entries.iter().enumerate() {
        let applied = match &e.payload {
            EntryPayload::Blank => true,
            EntryPayload::Membership(m) => {
                membership = Some(StoredMembership::new(Some(e.log_id), m.clone()));
                true
            }
            EntryPayload::Normal(batch) => match &batch.shard_map {
                Some(map) => {
                    let now = map_state::put(&mut state, map)?;
                    if now {
                        held = Some(map.clone());
                    }
                    now
                }
                None if batch.based_on == last => {
                    if written != Some(i) {
                        apply_changes(txn, &batch.changes)?;
                    }
                    last = Some(e.log_id);
                    true
                }
                // Never committed: its rows are in `txn` already.
                None if written == Some(i) => {
                    return Err(Error::Storage(
                        "a kept batch no longer applies on its base".into(),
                    ));
                }
                None => false,
            },
        };
        replies.push(BatchReply { applied });
    }
    if let Some(e) = entries.last() {
        state.insert(APPLIED, serde_json::to_vec(&Some(e.log_id))?.as_slice())?;
    }
    state.insert(LAST_BATCH, serde_json::to_vec(&last)?.as_slice())?;
    if let Some(m) = membership {
        state.insert(MEMBERSHIP, serde_json::to_vec(&m)?.as_slice())?;
    }
    Ok((replies, held))
}

/// Where in `entries` the kept batch's own entry is (`evaluated.rs`): the
/// first data batch, when it carries the kept batch's base and rows and
/// that base is still the last batch applied. Entries before it change no
/// row, so the kept transaction is their state too.
fn kept_position(kept: &Kept, entries: &[Entry<TypeConfig>]) -> Result<Option<usize>, Error> {
    let first = entries
        .iter()
        .enumerate()
        .find_map(|(i, e)| match &e.payload {
            EntryPayload::Normal(b) if b.shard_map.is_none() => Some((i, b)),
            _ => None,
        });
    let Some((i, batch)) = first else {
        return Ok(None);
    };
    if batch.based_on != kept.based_on || batch.changes != kept.changes {
        return Ok(None);
    }
    Ok((last_batch(kept.txn())? == kept.based_on).then_some(i))
}

/// Applies again, durably, the entries of `log` after the file's applied
/// id up to index `upto - 1`: what this process had applied before a
/// reopen took the file back to its last durable commit. Nothing when the
/// file is not behind.
fn reapply(db: &Database, log: &Database, upto: u64) -> Result<(), Error> {
    let Some(last) = upto.checked_sub(1) else {
        return Ok(());
    };
    let txn = write_txn(db, true)?;
    let from = state_get::<Option<LogId<NodeId>>>(&txn.open_table(RAFT_STATE)?, APPLIED)?
        .flatten()
        .map_or(0, |l| l.index + 1);
    if from > last {
        return Ok(());
    }
    let mut entries: Vec<Entry<TypeConfig>> = Vec::new();
    let log = log.begin_read()?;
    for item in log.open_table(LOG)?.range(from..=last)? {
        entries.push(serde_json::from_slice(item?.1.value())?);
    }
    if entries.first().map(|e| e.log_id.index) != Some(from)
        || entries.last().map(|e| e.log_id.index) != Some(last)
    {
        return Err(Error::Storage(format!(
            "applied entries {from}..={last} are not all in the log"
        )));
    }
    apply_entries(&txn, &entries, None)?;
    txn.commit()?;
    tracing::warn!(
        from,
        to = last,
        "re-applied entries the reopened file had lost"
    );
    Ok(())
}

/// Raises the versions of the users whose rows the applied `entries`
/// changed (`replies` says which were applied), after their commit, and
/// brings their kept journals up to date.
fn changed(journals: &Journals, entries: &[Entry<TypeConfig>], replies: &[BatchReply]) {
    let mut changes = Vec::new();
    for (e, reply) in entries.iter().zip(replies) {
        let EntryPayload::Normal(batch) = &e.payload else {
            continue;
        };
        if !reply.applied || batch.shard_map.is_some() {
            continue;
        }
        changes.extend(&batch.changes);
    }
    if !changes.is_empty() {
        journals.committed(&changes);
    }
}

/// Writes `batch`'s rows. Each table is opened once for all of them (a
/// batch of a dozen writes changes about a hundred rows in a few tables).
fn apply_changes(txn: &redb::WriteTransaction, changes: &[Change]) -> Result<(), Error> {
    let mut open: Vec<Option<redb::Table<'_, &[u8], &[u8]>>> = std::iter::repeat_with(|| None)
        .take(DATA_TABLES.len())
        .collect();
    let mut journal = None;
    // The journal follows `sessions` on every replica (`journal.rs`).
    let sessions = table_id(SESSIONS);
    for c in changes {
        let id = match c {
            Change::Put { table, .. }
            | Change::Remove { table, .. }
            | Change::Clear { table, .. } => *table,
        };
        let slot = open
            .get_mut(usize::from(id))
            .ok_or_else(|| Error::Storage(format!("a change names table {id}")))?;
        let t = match slot {
            Some(t) => t,
            None => slot.insert(txn.open_table(DATA_TABLES[usize::from(id)])?),
        };
        let journal = if id == sessions {
            Some(match &mut journal {
                Some(j) => j,
                None => journal.insert(txn.open_table(JOURNAL)?),
            })
        } else {
            None
        };
        match c {
            Change::Put { key, value, .. } => {
                t.insert(key.as_slice(), value.as_slice())?;
                if let Some(j) = journal {
                    journal::put(j, key, value)?;
                }
            }
            Change::Remove { key, .. } => {
                t.remove(key.as_slice())?;
                if let Some(j) = journal {
                    j.remove(key.as_slice())?;
                }
            }
            Change::Clear { lo, hi, .. } => {
                t.retain_in::<&[u8], _>(lo.as_slice()..hi.as_slice(), |_, _| false)?;
                if let Some(j) = journal {
                    j.retain_in::<&[u8], _>(lo.as_slice()..hi.as_slice(), |_, _| false)?;
                }
            }
        }
    }
    Ok(())
}

/// Reads a snapshot file: meta length (8 bytes), meta (JSON), rows.
/// A snapshot's metadata.
type Meta = SnapshotMeta<NodeId, BasicNode>;

fn read_snapshot(path: &Path) -> Result<Option<(Meta, Vec<u8>)>, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Storage(format!("reading the snapshot: {e}"))),
    };
    let len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Storage("the snapshot file is cut short".into()))?;
    let len = usize::try_from(len).map_err(|e| Error::Storage(e.to_string()))?;
    let meta = bytes
        .get(8..8 + len)
        .ok_or_else(|| Error::Storage("the snapshot file is cut short".into()))?;
    let meta = serde_json::from_slice(meta)?;
    Ok(Some((meta, bytes[8 + len..].to_vec())))
}

/// Writes a snapshot file whole (a temporary file, flushed, then renamed).
fn write_snapshot(
    path: &Path,
    meta: &SnapshotMeta<NodeId, BasicNode>,
    rows: &[u8],
) -> Result<(), Error> {
    use std::io::Write;
    let meta = serde_json::to_vec(meta)?;
    let tmp = path.with_extension("partial");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&(meta.len() as u64).to_be_bytes())?;
        f.write_all(&meta)?;
        f.write_all(rows)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| Error::Storage(format!("writing the snapshot: {e}")))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let path = self.snapshot_path.clone();
        let flushes = self.flushes.clone();
        let recovery = self.db.clone();
        let (meta, rows) = blocking(&self.db, move |db| {
            // One read transaction: the rows and the applied id agree.
            let txn = db.begin_read()?;
            // openraft purges the log up to this snapshot once it is built:
            // the applies it holds must not be lost to a crash after that.
            flush(db, &recovery.kept, &flushes)?;
            let state = txn.open_table(RAFT_STATE)?;
            let applied: Option<LogId<NodeId>> = state_get(&state, APPLIED)?.flatten();
            let membership: StoredMembership<NodeId, BasicNode> =
                state_get(&state, MEMBERSHIP)?.unwrap_or_default();
            let last_batch = state_get(&state, LAST_BATCH)?.flatten();
            let shard_map = map_state::get(&state)?;
            let mut tables = Vec::new();
            for (id, def) in DATA_TABLES.iter().enumerate() {
                let t = txn.open_table(*def)?;
                let mut rows = Vec::new();
                for item in t.iter()? {
                    let (k, v) = item?;
                    rows.push(Row(k.value().to_vec(), v.value().to_vec()));
                }
                tables.push((id as u8, rows));
            }
            let rows = serde_json::to_vec(&SnapshotRows {
                last_batch,
                shard_map,
                tables,
            })?;
            let id = match applied {
                Some(l) => format!(
                    "{}-{}-{}",
                    l.leader_id,
                    l.index,
                    jiff::Timestamp::now().as_microsecond()
                ),
                None => format!("--{}", jiff::Timestamp::now().as_microsecond()),
            };
            let meta = SnapshotMeta {
                last_log_id: applied,
                last_membership: membership,
                snapshot_id: id,
            };
            write_snapshot(&path, &meta, &rows)?;
            Ok((meta, rows))
        })
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(rows)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        blocking(&self.db, |db| {
            Ok((
                state_read::<Option<_>>(db, RAFT_STATE, APPLIED)?.flatten(),
                state_read(db, RAFT_STATE, MEMBERSHIP)?.unwrap_or_default(),
            ))
        })
        .await
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<BatchReply>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let applied = self.applied.clone();
        let durable = self.flush_due();
        let flushes = self.flushes.clone();
        let recovery = self.db.clone();
        let (replies, map) = blocking(&self.db, move |db| {
            let started = std::time::Instant::now();
            let (txn, written) = recovery
                .kept
                .for_apply(db, durable, |kept| kept_position(kept, &entries))?;
            let out = apply_entries(&txn, &entries, written)?;
            txn.commit()?;
            if durable {
                flushes.observe(started.elapsed());
            }
            changed(&recovery.journals, &entries, &out.0);
            // While this call still holds the database, so a reopen
            // (which waits for every handle) knows to restore these.
            if let Some(e) = entries.last() {
                applied.fetch_max(e.log_id.index + 1, Ordering::SeqCst);
            }
            Ok(out)
        })
        .await?;
        // Before the replies: a proposer hears its map is held only once
        // the replica's ownership check follows it.
        if let Some(map) = map {
            self.maps.applied(&map);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let meta = meta.clone();
        let path = self.snapshot_path.clone();
        let bytes = snapshot.into_inner();
        let recovery = self.db.clone();
        let map = blocking(&self.db, move |db| {
            let rows: SnapshotRows = serde_json::from_slice(&bytes)?;
            let txn = recovery.kept.write_txn(db, true)?;
            for def in DATA_TABLES {
                txn.open_table(def)?.retain(|_, _| false)?;
            }
            for (id, table) in &rows.tables {
                let def = DATA_TABLES
                    .get(usize::from(*id))
                    .copied()
                    .ok_or_else(|| Error::Storage(format!("a snapshot names table {id}")))?;
                let mut t = txn.open_table(def)?;
                for Row(k, v) in table {
                    t.insert(k.as_slice(), v.as_slice())?;
                }
            }
            journal::rebuild(&txn)?;
            {
                let mut state = txn.open_table(RAFT_STATE)?;
                state.insert(APPLIED, serde_json::to_vec(&meta.last_log_id)?.as_slice())?;
                state.insert(
                    MEMBERSHIP,
                    serde_json::to_vec(&meta.last_membership)?.as_slice(),
                )?;
                state.insert(LAST_BATCH, serde_json::to_vec(&rows.last_batch)?.as_slice())?;
                if let Some(map) = &rows.shard_map {
                    map_state::replace(&mut state, map)?;
                }
            }
            txn.commit()?;
            recovery.journals.versions().changed_all();
            write_snapshot(&path, &meta, &bytes)?;
            Ok(rows.shard_map)
        })
        .await?;
        if let Some(map) = map {
            self.maps.applied(&map);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let path = self.snapshot_path.clone();
        let found = tokio::task::spawn_blocking(move || read_snapshot(&path))
            .await
            .map_err(io)?
            .map_err(io)?;
        Ok(found.map(|(meta, rows)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(rows)),
        }))
    }
}

/// Registers the replica's Raft gauges, read at each scrape:
/// `knotwork_session_raft_term`, `_raft_leader` (1 on the leader),
/// `_raft_last_log_index` and `_raft_applied_index` (a replica catching
/// up shows the gap).
pub fn instrument(raft: &Raft, metrics: &knotwork_runtime::metrics::Metrics) {
    let term = metrics.gauge("raft_term", "The replica's current Raft term.");
    let leader = metrics.gauge(
        "raft_leader",
        "1 while this replica is its shard group's leader, else 0.",
    );
    let last = metrics.gauge(
        "raft_last_log_index",
        "Index of the last entry in the replica's Raft log.",
    );
    let applied = metrics.gauge(
        "raft_applied_index",
        "Index of the last Raft entry applied to the replica's tables.",
    );
    let raft = raft.clone();
    let int = |i: u64| i64::try_from(i).unwrap_or(i64::MAX);
    metrics.on_scrape(move || {
        let m = raft.metrics().borrow().clone();
        term.set(int(m.current_term));
        leader.set(i64::from(m.current_leader == Some(m.id)));
        last.set(m.last_log_index.map_or(0, int));
        applied.set(m.last_applied.map_or(0, |l| int(l.index)));
    });
}

/// The members of a group: node id -> address.
pub type Members = BTreeMap<NodeId, BasicNode>;

#[cfg(test)]
mod tests;
