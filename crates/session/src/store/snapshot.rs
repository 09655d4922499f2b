//! Reading a consistent snapshot in parts, and the backup file.
//!
//! redb has no online backup API, and copying the file while the writer
//! commits is not safe (redb's author, cberner/redb#634: "call
//! `Database::begin_read()` then read and backup the data"). So both the
//! streamed export of one user and the backup of a whole shard read from one
//! read transaction, which sees exactly the commits made before it began
//! and never blocks the writer, and send what they read in bounded parts
//! over a channel as they go (memory stays bounded whatever the size).
//!
//! The backup's rows are written by [`write_backup_file`] into a new redb
//! file with the same tables, which is a shard's database file as it was at
//! the backup point; [`restore_file`] puts one in place in a stopped
//! shard's data folder.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableHandle,
};
use tokio::sync::mpsc;

use super::DB_FILE;
use super::keys::{
    CHECK_INS, GUIDED, REQUEST_IDS, SESSIONS, USERS, request_id_value, user_hi, user_lo,
};
use super::recovery::{DbCell, current};
use super::tables::{Rows, Tables, json, scan};
use crate::domain::checkin::CheckIn;
use crate::domain::{GuidedSession, SessionRecord, UserData};
use crate::error::Error;

/// The format of a backup stream (`knotwork backup` refuses another):
/// every table by name, each row's bytes as stored. The `meta` table rides
/// along, so a restored database carries its own schema version, which
/// [`super::Store::open`] checks and migrates; version 2 of the schema (a
/// table added) did not change this format.
pub const FORMAT_VERSION: i32 = 1;

/// A part of a streamed export closes when it holds this many records...
const PART_RECORDS: usize = 500;
/// ...or this many bytes of stored records, well under every message limit.
const PART_BYTES: usize = 1024 * 1024;

/// One part of a streamed export: some of the user's data. `data.profile`
/// is filled in every part (the hold dates need the time zone); only the
/// first part (`first`) carries the profile, screening and holds on the
/// wire.
#[derive(Debug)]
pub struct ExportPart {
    /// Some of the data.
    pub data: UserData,
    /// The first part.
    pub first: bool,
}

/// One message of a backup.
#[derive(Debug)]
pub enum BackupPart {
    /// The backup point: the read transaction began between `before` and
    /// `after`.
    Start {
        /// Taken just before the read transaction began.
        before: Timestamp,
        /// Taken just after.
        after: Timestamp,
    },
    /// Rows of one table, in key order.
    Rows {
        /// The table.
        table: String,
        /// Keys and values.
        rows: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// The end: rows sent per table.
    Done {
        /// (table, rows).
        counts: Vec<(String, u64)>,
    },
}

type ByteTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

/// Collects records into parts and sends each full part.
struct Parts {
    tx: mpsc::Sender<Result<ExportPart, Error>>,
    base: UserData,
    part: UserData,
    first: bool,
    records: usize,
    bytes: usize,
    total: u64,
}

impl Parts {
    /// Counts one record of `bytes`; sends the part when it is full.
    /// `false` when the receiver went away.
    fn add(&mut self, bytes: usize) -> bool {
        self.records += 1;
        self.total += 1;
        self.bytes += bytes;
        if self.records >= PART_RECORDS || self.bytes >= PART_BYTES {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        let empty = UserData {
            user_id: self.base.user_id.clone(),
            profile: self.base.profile.clone(),
            ..UserData::default()
        };
        let data = std::mem::replace(&mut self.part, empty);
        let first = std::mem::replace(&mut self.first, false);
        self.records = 0;
        self.bytes = 0;
        self.tx
            .blocking_send(Ok(ExportPart { data, first }))
            .is_ok()
    }
}

impl<T: Rows> Tables<T> {
    /// Sends `user`'s data in parts: first the profile, screening and
    /// holds, then sessions (oldest first), guided sessions, request ids
    /// and check-ins. Returns the sessions sent, or `None` when the user
    /// has no data at all.
    fn export_parts(
        &self,
        user: &str,
        tx: mpsc::Sender<Result<ExportPart, Error>>,
    ) -> Result<Option<u64>, Error> {
        let base = UserData {
            user_id: user.to_owned(),
            profile: self.profile(user)?,
            screening: self.screening(user)?,
            holds: self.holds(user)?,
            ..UserData::default()
        };
        let mut out = Parts {
            tx,
            part: base.clone(),
            base,
            first: true,
            records: 0,
            bytes: 0,
            total: 0,
        };
        let (lo, hi) = (user_lo(user), user_hi(user));
        let mut sessions = 0u64;
        let any = out.part.profile.is_some()
            || out.part.screening.is_some()
            || !out.part.holds.is_empty();
        let mut open = true;
        scan(&self.sessions, &lo, &hi, false, |_, v| {
            out.part.sessions.push(json::<SessionRecord>(v)?);
            sessions += 1;
            open = out.add(v.len());
            Ok(open)
        })?;
        scan(&self.guided, &lo, &hi, false, |_, v| {
            out.part.guided_sessions.push(json::<GuidedSession>(v)?);
            open = open && out.add(v.len());
            Ok(open)
        })?;
        scan(&self.request_ids, &lo, &hi, false, |k, v| {
            let rid = String::from_utf8_lossy(&k[lo.len()..]).into_owned();
            out.part.request_ids.push((rid, request_id_value(v).0));
            open = open && out.add(k.len() + v.len());
            Ok(open)
        })?;
        scan(&self.check_ins, &lo, &hi, false, |_, v| {
            out.part.check_ins.push(json::<CheckIn>(v)?);
            open = open && out.add(v.len());
            Ok(open)
        })?;
        if !any && out.total == 0 {
            return Ok(None);
        }
        if open && (out.records > 0 || out.first) {
            out.flush();
        }
        Ok(Some(sessions))
    }
}

/// The tables of a database, each opened as bytes to bytes (every Knotwork
/// session table is); a table of another type is an error, not skipped.
fn table_names(txn: &redb::ReadTransaction) -> Result<Vec<String>, Error> {
    if txn.list_multimap_tables()?.next().is_some() {
        return Err(Error::Storage(
            "backup: multimap tables are not supported".into(),
        ));
    }
    // The Raft log and state describe one replica's place in its group,
    // not the data: a restored shard starts a group of its own.
    Ok(txn
        .list_tables()?
        .map(|t| t.name().to_owned())
        .filter(|n| !super::replica::is_raft_table(n))
        .collect())
}

/// Reads every row of every table from one read transaction into `tx`.
fn backup_rows(db: &Database, tx: &mpsc::Sender<Result<BackupPart, Error>>) -> Result<(), Error> {
    let before = Timestamp::now();
    let txn = db.begin_read()?;
    let after = Timestamp::now();
    let send = |p: BackupPart| {
        tx.blocking_send(Ok(p))
            .map_err(|_| Error::Storage("backup receiver went away".into()))
    };
    send(BackupPart::Start { before, after })?;
    let mut counts = Vec::new();
    for name in table_names(&txn)? {
        let table = txn.open_table(ByteTable::new(&name))?;
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        let mut n = 0u64;
        for item in table.iter()? {
            let (k, v) = item?;
            bytes += k.value().len() + v.value().len();
            rows.push((k.value().to_vec(), v.value().to_vec()));
            n += 1;
            if bytes >= PART_BYTES || rows.len() >= 4 * PART_RECORDS {
                send(BackupPart::Rows {
                    table: name.clone(),
                    rows: std::mem::take(&mut rows),
                })?;
                bytes = 0;
            }
        }
        if !rows.is_empty() {
            send(BackupPart::Rows {
                table: name.clone(),
                rows,
            })?;
        }
        counts.push((name, n));
    }
    send(BackupPart::Done { counts })
}

impl super::Store {
    /// Streams `user`'s data in parts from one snapshot (see
    /// [`ExportPart`]); the channel ends after the last part, with
    /// NOT_FOUND when the user has no data.
    pub fn export_stream(&self, user: &str) -> mpsc::Receiver<Result<ExportPart, Error>> {
        let (tx, rx) = mpsc::channel(2);
        let db: Result<_, Error> = current(&self.db);
        let user = user.to_owned();
        tokio::task::spawn_blocking(move || {
            let result = db.and_then(|db| {
                let txn = db.begin_read()?;
                let tables = Tables::open_read(&txn)?;
                tables.export_parts(&user, tx.clone())
            });
            let end = match result {
                Ok(Some(_)) => return,
                Ok(None) => Error::NotFound(format!("user {user}")),
                Err(e) => e,
            };
            let _ = tx.blocking_send(Err(end));
        });
        rx
    }

    /// Streams every row of the shard from one read transaction (see
    /// [`BackupPart`]); writes go on meanwhile.
    pub fn backup_stream(&self) -> mpsc::Receiver<Result<BackupPart, Error>> {
        let (tx, rx) = mpsc::channel(4);
        let cell: DbCell = self.db.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = current(&cell).and_then(|db| backup_rows(&db, &tx)) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        rx
    }

    /// Writes one part of a streamed import: the first (`replace`) deletes
    /// what the shard held for the user. Returns the sessions written.
    pub async fn import_part(&self, data: UserData, replace: bool) -> Result<u64, Error> {
        self.write(move |t| t.import_user(data, replace)).await
    }
}

/// Writes a backup's rows into a new database file, durably, then moves it
/// to its final name: a file at `path` is always a whole backup.
#[derive(Debug)]
pub struct BackupWriter {
    db: Option<Database>,
    tmp: PathBuf,
    path: PathBuf,
    counts: std::collections::BTreeMap<String, u64>,
}

/// Starts a backup file at `path` (written as `path.partial` until
/// [`BackupWriter::finish`]).
pub fn write_backup_file(path: &Path) -> Result<BackupWriter, Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let db = Database::create(&tmp)?;
    Ok(BackupWriter {
        db: Some(db),
        tmp,
        path: path.to_owned(),
        counts: Default::default(),
    })
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Storage(format!("{what} {}: {e}", path.display()))
}

impl BackupWriter {
    fn db(&self) -> Result<&Database, Error> {
        self.db
            .as_ref()
            .ok_or_else(|| Error::Storage("backup file already finished".into()))
    }

    /// Adds rows of `table` (created when new).
    pub fn rows(&mut self, table: &str, rows: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Error> {
        let mut txn = self.db()?.begin_write()?;
        // Not durable yet: the final commit in `finish` makes all of it so.
        txn.set_durability(Durability::None)?;
        {
            let mut t = txn.open_table(ByteTable::new(table))?;
            for (k, v) in rows {
                t.insert(k.as_slice(), v.as_slice())?;
            }
        }
        txn.commit()?;
        *self.counts.entry(table.to_owned()).or_default() += rows.len() as u64;
        Ok(())
    }

    /// Checks the rows against the server's `counts`, commits durably and
    /// moves the file into place. Returns the rows written.
    pub fn finish(mut self, counts: &[(String, u64)]) -> Result<u64, Error> {
        for (table, n) in counts {
            let got = self.counts.get(table).copied().unwrap_or(0);
            if got != *n {
                return Err(Error::Storage(format!(
                    "backup incomplete: table {table} has {got} of {n} rows"
                )));
            }
        }
        let db = self
            .db
            .take()
            .ok_or_else(|| Error::Storage("backup file already finished".into()))?;
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        // Empty tables exist in the shard too (created at open).
        for (table, _) in counts {
            txn.open_table(ByteTable::new(table))?;
        }
        txn.commit()?;
        drop(db);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io("moving", &self.path, e))?;
        sync_dir(&self.path)?;
        Ok(self.counts.values().sum())
    }
}

impl Drop for BackupWriter {
    fn drop(&mut self) {
        if self.db.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn sync_dir(file: &Path) -> Result<(), Error> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))
}

/// What [`restore_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Sessions in the restored database.
    pub sessions: u64,
    /// Users in it.
    pub users: u64,
    /// Where the database it replaced was moved, if there was one.
    pub previous: Option<PathBuf>,
}

/// Renames `file` to `{file}.before-restore-{stamp}` beside it, and returns
/// the new path.
fn set_aside(file: &Path, stamp: i64) -> Result<PathBuf, Error> {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".before-restore-{stamp}"));
    let aside = PathBuf::from(name);
    std::fs::rename(file, &aside).map_err(|e| io("moving", file, e))?;
    Ok(aside)
}

/// Puts the backup file `backup` in place as the database of the shard
/// whose data folder is `data_dir`. Refuses while the shard runs (its
/// database is locked) and when `backup` is not a whole session backup;
/// the database it replaces is kept beside it as
/// `session.redb.before-restore-{unix seconds}`, and a replica's Raft log
/// as `raft-log.redb.before-restore-{unix seconds}`.
pub fn restore_file(backup: &Path, data_dir: &Path) -> Result<Restored, Error> {
    // The backup must open and hold the session tables.
    let (users, sessions) = {
        let db = Database::open(backup).map_err(|e| {
            Error::Storage(format!("{} is not a backup file: {e}", backup.display()))
        })?;
        let txn = db.begin_read()?;
        let names = table_names(&txn)?;
        for needed in [USERS, SESSIONS, GUIDED, REQUEST_IDS, CHECK_INS] {
            if !names.iter().any(|n| n == needed.name()) {
                return Err(Error::Storage(format!(
                    "{} is not a session backup: no table {}",
                    backup.display(),
                    needed.name()
                )));
            }
        }
        (
            txn.open_table(USERS)?.len()?,
            txn.open_table(SESSIONS)?.len()?,
        )
    };
    std::fs::create_dir_all(data_dir).map_err(|e| io("creating", data_dir, e))?;
    let target = data_dir.join(DB_FILE);
    // Both files set aside carry the same time.
    let stamp = Timestamp::now().as_second();
    let mut previous = None;
    if target.exists() {
        // redb locks the file while a process has it open: opening it here
        // fails exactly when the shard is running.
        match Database::open(&target) {
            Ok(db) => drop(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::Unavailable(format!(
                    "{} is in use: stop the shard before restoring",
                    target.display()
                )));
            }
            // A damaged database is what a restore is for: move it aside.
            Err(e) => tracing::warn!(error = %e, "the current database does not open"),
        }
        previous = Some(set_aside(&target, stamp)?);
    }
    // The replica's last snapshot describes the replaced database.
    match std::fs::remove_file(data_dir.join(super::replica::SNAPSHOT_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing the snapshot in", data_dir, e)),
    }
    // So does a replica's Raft log: a restored shard starts a group of its
    // own, as a backup holds no log (applying the old log to the restored
    // rows would write them over). Kept beside it, as the database is.
    let log = data_dir.join(super::log_file::LOG_FILE);
    if log.exists() {
        set_aside(&log, stamp)?;
    }
    let tmp = data_dir.join(format!("{DB_FILE}.restoring"));
    std::fs::copy(backup, &tmp).map_err(|e| io("copying to", &tmp, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("syncing", &tmp, e))?;
    std::fs::rename(&tmp, &target).map_err(|e| io("moving", &tmp, e))?;
    sync_dir(&target)?;
    Ok(Restored {
        sessions,
        users,
        previous,
    })
}
