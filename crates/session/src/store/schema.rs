//! Opening the database: the stored schema version, the tables every
//! reader expects, and the conversion of redb's errors (nothing outside
//! `store/` names a redb type).

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase};

use super::keys::{META, SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLES};
use super::recovery::open_db;
use super::{DB_FILE, StoreOptions, journal, replica, usage};
use crate::error::{Error, storage_from};

/// Opens (or creates) the database file in `dir`: checks the schema
/// version, creates every table and fills what older versions lacked.
pub(super) fn prepare(dir: &Path, options: StoreOptions) -> Result<Database, Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Storage(format!("creating {}: {e}", dir.display())))?;
    let db = open_db(&dir.join(DB_FILE), options.cache_bytes)?;
    let version = stored_version(&db)?;
    if let Some(v) = version.filter(|v| *v > SCHEMA_VERSION) {
        return Err(Error::Storage(format!(
            "the database has schema version {v}, this build reads up to \
             {SCHEMA_VERSION}: run a newer build"
        )));
    }
    let had_usage = usage::exists(&db)?;
    // Create every table up front so readers never meet a missing one.
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    for t in TABLES {
        txn.open_table(t)?;
    }
    replica::create_tables(&txn)?;
    if !had_usage {
        let users = usage::backfill(&txn)?;
        tracing::info!(users, "quota counters filled from the journal");
    }
    // None: written before versions were stored, the layout of version 1.
    let from = version.unwrap_or(1);
    if from < 2 {
        let started = std::time::Instant::now();
        let sessions = journal::rebuild(&txn)?;
        let ms = started.elapsed().as_millis();
        tracing::info!(sessions, ms, "journal filled from the sessions");
    }
    if version != Some(SCHEMA_VERSION) {
        txn.open_table(META)?
            .insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_be_bytes().as_slice())?;
        tracing::info!(from, to = SCHEMA_VERSION, "schema version stored");
    }
    txn.commit()?;
    Ok(db)
}

/// The schema version stored in `db`, `None` for a database written before
/// versions were stored.
pub(super) fn stored_version(db: &Database) -> Result<Option<u32>, Error> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(v) = table.get(SCHEMA_VERSION_KEY)? else {
        return Ok(None);
    };
    let bytes = <[u8; 4]>::try_from(v.value())
        .map_err(|_| Error::Storage("the stored schema version is not four bytes".into()))?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

// redb's errors become storage errors here, so nothing outside this module
// names a redb type.
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
);
