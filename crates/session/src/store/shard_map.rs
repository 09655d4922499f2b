//! The shard map in the shard group's replicated state.
//!
//! **Where it lives.** The map is one value of the `raft_state` table
//! ([`StoredMap`]: its epoch and its encoded `knotwork.session.v1.ShardMap`;
//! the store never decodes it, `crate::shards` does). A change is a Raft
//! entry of its own kind (a [`Batch`] whose `shard_map` is set and that
//! holds no rows), proposed straight to the Raft core (not through the
//! writer thread: it is evaluated by no write rule), so SetShardMap on the
//! leader answers only once a majority stored the entry and this replica
//! applied it. Every replica applies it under the same epoch rules
//! ([`put`]: epochs only grow; the held epoch again must have the same
//! content), so the rules give the same answer everywhere, snapshots carry
//! the map, and a replica rebuilt empty gets it from its group. A map
//! entry changes no row, so write batches evaluated before it stay valid
//! (`based_on` names the last row batch only).
//!
//! **Who hears of it.** `crate::shards::Ownership` registers a [`MapHook`]
//! ([`Store::follow_shard_map`]); it is called with the held map at once
//! and then with each map applied (an entry, a snapshot installed), after
//! the commit and before the entry's proposer hears back, so when
//! SetShardMap answers, the check in front of the handlers already follows
//! the new map on the leader.
//!
//! **A new leader.** Until a leader has applied an entry of its own term it
//! may not have applied every map its predecessors committed, so user
//! calls wait for that first ([`Store::ready_for_users`]), and user calls on
//! a replica that does not lead are refused there with NOT_LEADER (its
//! store would refuse them anyway): a write is checked against the map of
//! the term it is evaluated in. (A write queued while its replica lost
//! and won back the lead, with a map change by another leader in between,
//! could still be evaluated after that map; that takes two elections
//! within one batch's queueing time.)
//!
//! **Before replication.** A folder without a map in its state takes one
//! once at start ([`Store::seed_shard_map`], local and durable): the
//! `shard-map.pb` file an older version kept, or the configured shard list
//! as epoch 1; entries and snapshots of the group then overrule it as the
//! epoch rules say. A single copy without Raft (`Replication::None`) keeps
//! the map in the same table, written durably by [`Store::propose_shard_map`].

use std::time::Duration;

use redb::ReadableDatabase;

use super::keys::RAFT_STATE;
use super::map_state::{MapHook, StoredMap, get, put, replace};
use super::recovery::current;
use super::recovery::write_txn;
use super::replica::Batch;
use super::{Store, writer};
use crate::error::Error;

/// How long SetShardMap waits for its group to commit the map.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a user call waits for a new leader to apply its predecessors'
/// entries.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// The shard map this replica holds (applied).
    pub fn shard_map(&self) -> Result<Option<StoredMap>, Error> {
        let db = current(&self.db)?;
        let txn = db.begin_read()?;
        get(&txn.open_table(RAFT_STATE)?)
    }

    /// Holds `map` when this replica holds none yet (a map file of an
    /// older version, the configured list): a local, durable write, not a
    /// Raft entry; see the module docs. True when it is held now.
    pub fn seed_shard_map(&self, map: &StoredMap) -> Result<bool, Error> {
        let db = current(&self.db)?;
        let txn = write_txn(&db, true)?;
        let seeded = {
            let mut state = txn.open_table(RAFT_STATE)?;
            match get(&state)? {
                Some(_) => false,
                None => {
                    replace(&mut state, map)?;
                    true
                }
            }
        };
        txn.commit()?;
        if seeded {
            self.maps.applied(map);
        }
        Ok(seeded)
    }

    /// Calls `hook` with the map held now, then with every map held from
    /// here on (replacing an earlier hook).
    pub fn follow_shard_map(&self, hook: MapHook) -> Result<(), Error> {
        let mut slot = self.maps.slot();
        // Read under the lock: a map applied meanwhile waits for it and
        // reaches the hook after this one.
        if let Some(map) = self.shard_map()? {
            hook(&map);
        }
        *slot = Some(hook);
        Ok(())
    }

    /// Makes `map` the group's map: a Raft entry on the leader, answered
    /// once a majority stored it and this replica applied it (a follower
    /// answers [`Error::NotLeader`]); without Raft, a durable write. False
    /// when the epoch rules refused it (the map held changed meanwhile).
    pub async fn propose_shard_map(&self, map: StoredMap) -> Result<bool, Error> {
        let Some(raft) = &self.raft else {
            let db = current(&self.db)?;
            let maps = self.maps.clone();
            return tokio::task::spawn_blocking(move || {
                let txn = write_txn(&db, true)?;
                let held = put(&mut txn.open_table(RAFT_STATE)?, &map)?;
                txn.commit()?;
                if held {
                    maps.applied(&map);
                }
                Ok(held)
            })
            .await
            .map_err(|e| Error::Storage(format!("shard map task: {e}")))?;
        };
        let entry = Batch {
            based_on: None,
            changes: Vec::new(),
            shard_map: Some(map),
        };
        let reply = tokio::time::timeout(PROPOSE_TIMEOUT, raft.client_write(entry))
            .await
            .map_err(|_| {
                Error::Unavailable("the shard group did not commit the map in time".into())
            })?
            .map_err(|e| Error::from(writer::raft_failure(&e)))?;
        Ok(reply.data.applied)
    }

    /// Whether user calls may be checked against the map held now: always
    /// without Raft; on the leader once it applied an entry of its term
    /// (waiting up to [`CATCH_UP_TIMEOUT`]); never on a follower
    /// ([`Error::NotLeader`], as its reads and writes would answer: its map
    /// may lag, and a stale WRONG_SHARD would hide where the leader is).
    pub async fn ready_for_users(&self) -> Result<(), Error> {
        let Some(raft) = &self.raft else {
            return Ok(());
        };
        let mut metrics = raft.metrics();
        let deadline = tokio::time::Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            {
                let m = metrics.borrow_and_update();
                if m.current_leader != Some(m.id) {
                    return Err(writer::not_leader(&m).into());
                }
                if m.last_applied
                    .is_some_and(|l| l.leader_id.term == m.current_term)
                {
                    return Ok(());
                }
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Unavailable("the replica is stopping".into())),
                Err(_) => {
                    return Err(Error::Unavailable(
                        "the shard group's new leader is still catching up".into(),
                    ));
                }
            }
        }
    }
}
