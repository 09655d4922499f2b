//! A replica's Raft log lives in a file of its own (`raft-log.redb`), beside
//! the session file that holds the state machine.
//!
//! **Why two files.** Every log append commits with a flush, and a redb
//! flush writes every page changed since the last one. In one file, each
//! append also flushed the rows the last batch applied: about seven changed
//! leaves per write (each user's rows sit in their own leaf of each table),
//! some 30 KB per write against an entry of about 1 KB. Alone, the log
//! file's flush writes the entry; the session file commits its applies
//! without a flush and is flushed every `ReplicaOptions::flush_every` (1 s
//! by default), when a snapshot is built (before the log is purged up to
//! it) and when a snapshot is installed; a clean close writes what redb
//! holds. Rows rewritten in
//! between reach the disk once, and an append no longer waits for an apply
//! (each file has its own write lock).
//!
//! **What a crash costs.** At most the applies since the last flush of the
//! session file; their entries are in the durable log, and openraft applies
//! them again at start from the applied id the session file holds (a batch
//! of row changes is idempotent). The log is never purged past that id: a
//! snapshot flushes the session file first.
//!
//! **Moving an older replica's log.** Replicas written before this file
//! kept the log, vote, committed and purged ids in the session file. At
//! start they are copied here in one durable commit that also records the
//! move ([`MOVED`]), and only then removed from the session file; a crash
//! in between copies nothing twice (the mark says it was done) and the
//! next start finishes the removal.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::keys::RAFT_STATE;
use super::recovery::{ProbeTable, Recovery, open_db, write_txn};
use crate::error::Error;

/// The log file inside the data folder.
pub const LOG_FILE: &str = "raft-log.redb";

/// The Raft log: index -> entry (JSON).
pub(super) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");

/// The log's own state: vote, committed and last purged ids (JSON each),
/// and [`MOVED`].
pub(super) const LOG_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_log_state");

/// Where the log file's recovery probes after a reopen.
const LOG_PROBE: ProbeTable = TableDefinition::new("raft_log_probe");

/// Keys of the log's state.
pub(super) const VOTE: &str = "vote";
pub(super) const COMMITTED: &str = "committed";
pub(super) const PURGED: &str = "last_purged";

/// Set once an older replica's log was copied out of the session file.
const MOVED: &str = "moved_from_session_file";

/// The keys of the log's state that older replicas kept in the session
/// file's Raft state.
const LOG_KEYS: [&str; 3] = [VOTE, COMMITTED, PURGED];

/// Opens (or creates) the log file in `dir`, moving an older replica's log
/// out of `session` (the session file) first if it is still there.
pub(super) fn open(dir: &Path, session: &Database, cache_bytes: usize) -> Result<Database, Error> {
    let log = open_db(&dir.join(LOG_FILE), cache_bytes)?;
    let txn = write_txn(&log, true)?;
    txn.open_table(LOG)?;
    let moved = txn.open_table(LOG_STATE)?.get(MOVED)?.is_some();
    txn.commit()?;
    if has_log(session)? {
        if !moved {
            copy(session, &log)?;
        }
        remove(session)?;
    }
    Ok(log)
}

/// The recovery of the log file `log` in `dir`: it probes its own table,
/// and its failures show in `session`'s (the session file's) health.
pub(super) fn recovery(
    log: Database,
    dir: &Path,
    cache_bytes: usize,
    session: &Arc<Recovery>,
) -> Arc<Recovery> {
    Recovery::for_log(
        Arc::new(std::sync::RwLock::new(Some(Arc::new(log)))),
        dir.join(LOG_FILE),
        cache_bytes,
        LOG_PROBE,
        session.clone(),
    )
}

/// Whether the session file still holds a log, or any of its state.
fn has_log(session: &Database) -> Result<bool, Error> {
    let txn = session.begin_read()?;
    let entries = match txn.open_table(LOG) {
        Ok(t) => t.len()?,
        Err(redb::TableError::TableDoesNotExist(_)) => 0,
        Err(e) => return Err(e.into()),
    };
    let state = match txn.open_table(RAFT_STATE) {
        Ok(t) => {
            let mut any = false;
            for k in LOG_KEYS {
                any |= t.get(k)?.is_some();
            }
            any
        }
        Err(redb::TableError::TableDoesNotExist(_)) => false,
        Err(e) => return Err(e.into()),
    };
    Ok(entries > 0 || state)
}

/// Copies the session file's log and log state into `log`, with the mark,
/// in one durable commit.
fn copy(session: &Database, log: &Database) -> Result<(), Error> {
    let from = session.begin_read()?;
    let txn = write_txn(log, true)?;
    let mut entries = 0u64;
    {
        let mut to = txn.open_table(LOG)?;
        if let Ok(t) = from.open_table(LOG) {
            for item in t.iter()? {
                let (k, v) = item?;
                to.insert(k.value(), v.value())?;
                entries += 1;
            }
        }
    }
    {
        let mut to = txn.open_table(LOG_STATE)?;
        if let Ok(t) = from.open_table(RAFT_STATE) {
            for k in LOG_KEYS {
                if let Some(v) = t.get(k)? {
                    to.insert(k, v.value())?;
                }
            }
        }
        to.insert(MOVED, b"true".as_slice())?;
    }
    txn.commit()?;
    tracing::info!(entries, "raft log moved to a file of its own");
    Ok(())
}

/// Removes the log and log state from the session file (durably).
fn remove(session: &Database) -> Result<(), Error> {
    let txn = write_txn(session, true)?;
    txn.open_table(LOG)?.retain(|_, _| false)?;
    {
        let mut state = txn.open_table(RAFT_STATE)?;
        for k in LOG_KEYS {
            state.remove(k)?;
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(db: &Database, entries: &[(u64, &str)], state: &[(&str, &str)]) {
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(LOG).unwrap();
            for (i, v) in entries {
                t.insert(*i, v.as_bytes()).unwrap();
            }
            let mut s = txn.open_table(RAFT_STATE).unwrap();
            for (k, v) in state {
                s.insert(*k, v.as_bytes()).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    fn log_rows(db: &Database) -> Vec<(u64, Vec<u8>)> {
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(LOG).unwrap();
        t.iter()
            .unwrap()
            .map(|i| {
                let (k, v) = i.unwrap();
                (k.value(), v.value().to_vec())
            })
            .collect()
    }

    fn state(db: &Database, table: TableDefinition<&str, &[u8]>, k: &str) -> Option<Vec<u8>> {
        let txn = db.begin_read().unwrap();
        let t = txn.open_table(table).unwrap();
        t.get(k).unwrap().map(|v| v.value().to_vec())
    }

    /// An older replica's log and log state move to the log file; the
    /// state machine's own state stays in the session file.
    #[test]
    fn an_older_replicas_log_moves_out_of_the_session_file() {
        let dir = tempfile::tempdir().unwrap();
        let session = Database::create(dir.path().join("session.redb")).unwrap();
        put(
            &session,
            &[(1, "one"), (2, "two"), (3, "three")],
            &[
                (VOTE, "v"),
                (COMMITTED, "c"),
                (PURGED, "p"),
                ("applied", "a"),
            ],
        );
        let log = open(dir.path(), &session, 1 << 20).unwrap();
        let moved: Vec<_> = log_rows(&log).into_iter().map(|(k, _)| k).collect();
        assert_eq!(moved, [1, 2, 3]);
        assert_eq!(
            state(&log, LOG_STATE, VOTE).as_deref(),
            Some(b"v".as_slice())
        );
        assert_eq!(
            state(&log, LOG_STATE, PURGED).as_deref(),
            Some(b"p".as_slice())
        );
        assert!(log_rows(&session).is_empty());
        assert_eq!(state(&session, RAFT_STATE, VOTE), None);
        assert_eq!(state(&session, RAFT_STATE, COMMITTED), None);
        assert_eq!(
            state(&session, RAFT_STATE, "applied").as_deref(),
            Some(b"a".as_slice())
        );
        drop(log);
        // Opening again changes nothing.
        let log = open(dir.path(), &session, 1 << 20).unwrap();
        assert_eq!(log_rows(&log).len(), 3);
        assert_eq!(
            state(&log, LOG_STATE, COMMITTED).as_deref(),
            Some(b"c".as_slice())
        );
    }

    /// A crash after the copy and before the removal: the next start only
    /// removes, so entries the log file gained since are not overwritten by
    /// the session file's older ones.
    #[test]
    fn a_move_cut_short_is_finished_without_copying_again() {
        let dir = tempfile::tempdir().unwrap();
        let session = Database::create(dir.path().join("session.redb")).unwrap();
        put(&session, &[(1, "old"), (2, "old")], &[(VOTE, "old vote")]);
        let log = open_db(&dir.path().join(LOG_FILE), 1 << 20).unwrap();
        copy(&session, &log).unwrap();
        // The replica ran on after the copy: its log moved on.
        put(&log, &[(2, "new"), (3, "new")], &[]);
        {
            let txn = log.begin_write().unwrap();
            txn.open_table(LOG_STATE)
                .unwrap()
                .insert(VOTE, b"new vote".as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        drop(log);
        let log = open(dir.path(), &session, 1 << 20).unwrap();
        let rows = log_rows(&log);
        assert_eq!(rows[1], (2, b"new".to_vec()));
        assert_eq!(rows.len(), 3);
        assert_eq!(
            state(&log, LOG_STATE, VOTE).as_deref(),
            Some(b"new vote".as_slice())
        );
        assert!(log_rows(&session).is_empty());
        assert_eq!(state(&session, RAFT_STATE, VOTE), None);
    }

    /// A new replica: an empty log file, and nothing moved.
    #[test]
    fn a_new_replica_starts_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let session = Database::create(dir.path().join("session.redb")).unwrap();
        let log = open(dir.path(), &session, 1 << 20).unwrap();
        assert!(log_rows(&log).is_empty());
        assert_eq!(state(&log, LOG_STATE, MOVED), None);
    }
}
