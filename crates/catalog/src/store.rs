//! The catalog store: the only file that knows redb.
//!
//! Layout of `<data_dir>/catalog.redb`:
//! - `meta` (`&str -> &str`): `version` (content hash) and `edition`;
//! - `catalog` (`&str -> &[u8]`): `canonical` -> the canonical encoding of the
//!   whole validated catalog, which is what a restart loads;
//! - `entries` (`&str -> &[u8]`): one JSON record per resource, keyed by its
//!   resource name, for operators and tools that inspect the file.
//!
//! An import replaces everything in one write transaction committed with
//! immediate durability, so a crash leaves either the old version or the new
//! one. redb calls are blocking and run on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, TableDefinition};

use crate::Error;
use crate::domain::Catalog;
use crate::domain::names;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("catalog");
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

const KEY_VERSION: &str = "version";
const KEY_EDITION: &str = "edition";
const KEY_CANONICAL: &str = "canonical";

/// The store file name inside the data folder.
pub const FILE_NAME: &str = "catalog.redb";

/// redb's page cache for the store. The catalog is served from memory; the
/// file is read once at start and written once per import, so a cache
/// holds nothing worth keeping. redb's default (1 GiB, filled as pages
/// are touched) kept every page of the last import, about 2 MB.
const CACHE_BYTES: usize = 256 * 1024;

fn storage(e: impl Into<redb::Error>) -> Error {
    Error::Storage(e.into().to_string())
}

fn joined(e: tokio::task::JoinError) -> Error {
    Error::Storage(format!("store task failed: {e}"))
}

/// A handle on the open store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) `<data_dir>/catalog.redb`, creating the folder.
    pub async fn open(data_dir: &Path) -> Result<Self, Error> {
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::Storage(format!("create {}: {e}", dir.display())))?;
            let path = dir.join(FILE_NAME);
            let db = redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .create(&path)
                .map_err(storage)?;
            Ok(Store {
                db: Arc::new(db),
                path,
            })
        })
        .await
        .map_err(joined)?
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The version stored, if any.
    pub async fn stored_version(&self) -> Result<Option<String>, Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            let table = match txn.open_table(META) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(storage(e)),
            };
            let v = table.get(KEY_VERSION).map_err(storage)?;
            Ok(v.map(|g| g.value().to_owned()))
        })
        .await
        .map_err(joined)?
    }

    /// Imports `catalog` unless the stored version already equals its
    /// version. Returns whether it wrote.
    pub async fn import(&self, catalog: Arc<Catalog>) -> Result<bool, Error> {
        if self.stored_version().await?.as_deref() == Some(catalog.version()) {
            return Ok(false);
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || write_all(&db, &catalog))
            .await
            .map_err(joined)??;
        Ok(true)
    }

    /// Loads the stored catalog, re-validating it, or `None` when the store
    /// is empty.
    pub async fn load(&self) -> Result<Option<Catalog>, Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            let (version, bytes) = {
                let meta = match txn.open_table(META) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                    Err(e) => return Err(storage(e)),
                };
                let Some(version) = meta.get(KEY_VERSION).map_err(storage)? else {
                    return Ok(None);
                };
                let version = version.value().to_owned();
                let table = txn.open_table(CATALOG).map_err(storage)?;
                let bytes = table
                    .get(KEY_CANONICAL)
                    .map_err(storage)?
                    .ok_or_else(|| Error::Storage("stored catalog missing".into()))?
                    .value()
                    .to_vec();
                (version, bytes)
            };
            let catalog = Catalog::from_canonical(&bytes)
                .map_err(|e| Error::Storage(format!("stored catalog invalid: {e}")))?;
            if catalog.version() != version {
                return Err(Error::Storage(format!(
                    "stored catalog hashes to {} but is recorded as {version}",
                    catalog.version()
                )));
            }
            Ok(Some(catalog))
        })
        .await
        .map_err(joined)?
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Storage(format!("encode: {e}")))
}

fn write_all(db: &Database, catalog: &Catalog) -> Result<(), Error> {
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(Durability::Immediate).map_err(storage)?;
    // Replace, never merge: entries removed from the file disappear.
    txn.delete_table(ENTRIES).map_err(storage)?;
    {
        let data = catalog.data();
        let mut meta = txn.open_table(META).map_err(storage)?;
        meta.insert(KEY_VERSION, catalog.version())
            .map_err(storage)?;
        meta.insert(KEY_EDITION, data.meta.edition.as_str())
            .map_err(storage)?;
        let mut blob = txn.open_table(CATALOG).map_err(storage)?;
        blob.insert(KEY_CANONICAL, catalog.canonical().as_slice())
            .map_err(storage)?;
        let mut entries = txn.open_table(ENTRIES).map_err(storage)?;
        let mut put = |collection: &str, id: &str, bytes: Vec<u8>| -> Result<(), Error> {
            entries
                .insert(names::name(collection, id).as_str(), bytes.as_slice())
                .map_err(storage)?;
            Ok(())
        };
        for x in &data.regions {
            put(names::REGIONS, &x.id, json(x)?)?;
        }
        for x in &data.muscles {
            put(names::MUSCLES, &x.id, json(x)?)?;
        }
        for x in &data.trigger_points {
            put(names::TRIGGER_POINTS, &x.id, json(x)?)?;
        }
        for x in &data.tools {
            put(names::TOOLS, &x.id, json(x)?)?;
        }
        for x in &data.symptoms {
            put(names::SYMPTOMS, &x.id, json(x)?)?;
        }
        for x in &data.contraindications {
            put(names::CONTRAINDICATIONS, &x.id, json(x)?)?;
        }
        for x in &data.red_flags {
            put(names::RED_FLAGS, &x.id, json(x)?)?;
        }
        for x in &data.sources {
            put(names::SOURCES, &x.id, json(x)?)?;
        }
    }
    txn.commit().map_err(storage)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixture;

    #[tokio::test]
    async fn import_is_skipped_when_unchanged_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.stored_version().await.unwrap(), None);
        assert!(store.load().await.unwrap().is_none());
        let cat = Arc::new(fixture::catalog());
        assert!(store.import(cat.clone()).await.unwrap());
        assert!(!store.import(cat.clone()).await.unwrap());
        drop(store);
        let store = Store::open(dir.path()).await.unwrap();
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded.version(), cat.version());
        let changed = Arc::new(
            Catalog::from_toml(&fixture::TOML.replace("About 5 of 10.", "Five.")).unwrap(),
        );
        assert!(store.import(changed.clone()).await.unwrap());
        assert_eq!(
            store.stored_version().await.unwrap().as_deref(),
            Some(changed.version())
        );
    }
}
