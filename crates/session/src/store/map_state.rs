//! The shard map's place in the replicated state (`raft_state`): its
//! stored form, the epoch rules every replica applies it by, and the hook
//! that tells `crate::shards` (see `shard_map.rs` for the whole design).
//! Below the state machine (`replica.rs`), which calls it.

use std::sync::{Arc, Mutex};

use redb::ReadableTable;

use super::keys::b64;
use crate::error::Error;

/// The key of the map in `raft_state`.
const SHARD_MAP: &str = "shard_map";

/// A shard map as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredMap {
    /// The map's epoch (the rules compare it).
    pub epoch: u64,
    /// The encoded `knotwork.session.v1.ShardMap` (equal content is equal
    /// bytes: prost encodes fields in order).
    #[serde(with = "b64")]
    pub bytes: Vec<u8>,
}

/// What hears each map held (see the module docs).
pub type MapHook = Box<dyn Fn(&StoredMap) + Send + Sync>;

/// The one [`MapHook`] of a store, shared with its state machine.
#[derive(Clone, Default)]
pub(crate) struct MapSink(Arc<Mutex<Option<MapHook>>>);

impl MapSink {
    /// The hook's place, locked: a map applied meanwhile waits for it.
    pub(super) fn slot(&self) -> std::sync::MutexGuard<'_, Option<MapHook>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the hook (if any) that `map` is held now.
    pub(super) fn applied(&self, map: &StoredMap) {
        let hook = self.slot();
        if let Some(hook) = hook.as_ref() {
            hook(map);
        }
    }
}

/// The map held in `state`.
pub(super) fn get(
    state: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<StoredMap>, Error> {
    match state.get(SHARD_MAP)? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

/// Holds `map` when the epoch rules allow it: a first map, a newer epoch,
/// or the held epoch with the same content (nothing changes). False when
/// refused.
pub(super) fn put(
    state: &mut redb::Table<&'static str, &'static [u8]>,
    map: &StoredMap,
) -> Result<bool, Error> {
    match get(state)? {
        Some(held) if held.epoch > map.epoch => Ok(false),
        Some(held) if held.epoch == map.epoch => Ok(held.bytes == map.bytes),
        _ => {
            replace(state, map)?;
            Ok(true)
        }
    }
}

/// Holds `map` whatever was held (a snapshot's map).
pub(super) fn replace(
    state: &mut redb::Table<&'static str, &'static [u8]>,
    map: &StoredMap,
) -> Result<(), Error> {
    state.insert(SHARD_MAP, serde_json::to_vec(map)?.as_slice())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(held: Option<(u64, &[u8])>, proposed: (u64, &[u8]), expected: (bool, u64, &[u8])) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut state = txn.open_table(super::super::keys::RAFT_STATE).unwrap();
            let map = |(epoch, bytes): (u64, &[u8])| StoredMap {
                epoch,
                bytes: bytes.to_vec(),
            };
            if let Some(h) = held {
                replace(&mut state, &map(h)).unwrap();
            }
            assert_eq!(put(&mut state, &map(proposed)).unwrap(), expected.0);
            let now = get(&state).unwrap().unwrap();
            assert_eq!((now.epoch, now.bytes.as_slice()), (expected.1, expected.2));
        }
    }

    /// Epochs only grow; the held epoch again must bring the same content.
    #[test]
    fn the_epoch_rules() {
        check(None, (3, b"a"), (true, 3, b"a"));
        check(Some((3, b"a")), (4, b"b"), (true, 4, b"b"));
        check(Some((3, b"a")), (3, b"a"), (true, 3, b"a"));
        check(Some((3, b"a")), (3, b"b"), (false, 3, b"a"));
        check(Some((3, b"a")), (2, b"a"), (false, 3, b"a"));
    }
}
