//! Fenced ownership: this shard's identity, the shard map it holds, and the
//! one check every user-scoped call passes ([`OwnershipLayer`]).
//!
//! The map (`knotwork.session.v1.ShardMap`, placement rule in
//! [`knotwork_runtime::shardmap`]) is part of the shard group's replicated
//! state (`store/shard_map.rs`): SetShardMap on the group's leader proposes
//! it as a Raft entry and answers once a majority stored it and this
//! replica applied it; a follower answers NOT_LEADER naming the leader, as
//! for every write. Every replica follows the map it applied (an entry, a
//! snapshot, its state at start), so a new leader fences with the map its
//! group committed. A shard that holds no map accepts every user (a single
//! shard, `knotwork up`); once it holds one, a call for a user another
//! shard owns is refused with FAILED_PRECONDITION, reason WRONG_SHARD
//! (naming the owner and the epoch), and a write of a user in a fenced
//! bucket with UNAVAILABLE, reason USER_MOVING, before the handler runs, so
//! nothing is written. Writes hold a read share of their bucket's gate,
//! which a map change takes exclusively for the buckets it changes while
//! the entry goes through Raft, so when SetShardMap returns, every write
//! admitted under the previous map has finished: a mover copying a fenced
//! user after that sees all of its acknowledged writes, and users of other
//! buckets never wait. A new leader admits user calls only once it has
//! applied its predecessors' entries, and a follower refuses them with
//! NOT_LEADER before its possibly older map is consulted
//! ([`Store::ready_for_users`]).
//!
//! Data folders of the version that kept the map in [`MAP_FILE`] beside
//! the database: the file is read once at start, its map seeded into the
//! state, and the file renamed to `shard-map.pb.migrated`.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use knotwork_proto::session::v1::{ShardInfo, ShardMap};
use knotwork_runtime::internal::InternalAuth;
use knotwork_runtime::shardmap;
use prost::Message as _;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::error::{Error, REASON_SHARD_MAP_CONFLICT, REASON_STALE_SHARD_MAP};
use crate::store::{Store, StoredMap};

/// The file an older version kept the shard map in, in the data folder.
pub const MAP_FILE: &str = "shard-map.pb";

/// What [`MAP_FILE`] is renamed to once its map is in the state.
const MIGRATED_FILE: &str = "shard-map.pb.migrated";

/// The path prefix of the calls the check applies to.
const USER_CALLS: &str = "/knotwork.session.v1.SessionService/";

/// The SessionService methods that never write; every other method (one
/// added later included) counts as a write and is fenced.
const READS: &[&str] = &[
    "GetProfile",
    "GetScreening",
    "GetSession",
    "ListSessions",
    "ListProgress",
    "GetDay",
    "ExportUserData",
    "StreamExportUserData",
    "ListCheckIns",
    "ListRegionProgress",
    "ExportFhirBundle",
    "ListHolds",
    "GetDailyPlan",
    "ListReminders",
    "ExportCalendar",
    "GetOverview",
];

/// Whether the SessionService method `method` counts as a write (fenced
/// while its user moves).
fn is_write(method: &str) -> bool {
    !READS.contains(&method)
}

/// The map the check reads, swapped as maps are applied.
type Held = Arc<RwLock<Option<Arc<ShardMap>>>>;

/// This shard's identity and map.
pub struct Ownership {
    id: String,
    map: Held,
    /// One gate per bucket: writes hold a read share of their user's
    /// bucket while they run; a map change takes the gates of the buckets
    /// whose users it may move exclusively, so it waits for those writes
    /// only and stalls nobody else.
    gates: Arc<[Arc<tokio::sync::RwLock<()>>]>,
    /// Serializes map changes.
    changing: tokio::sync::Mutex<()>,
    /// Where the map is kept (none: in memory only).
    store: Option<Arc<Store>>,
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ownership")
            .field("id", &self.id)
            .field("map", &self.map())
            .finish_non_exhaustive()
    }
}

/// Makes `map` the one the check reads.
fn hold(held: &Held, map: Arc<ShardMap>) {
    match held.write() {
        Ok(mut m) => *m = Some(map),
        Err(p) => *p.into_inner() = Some(map),
    }
}

/// Reads the map file of an older version, if there is one.
fn read_map_file(file: &Path) -> Result<Option<ShardMap>, Error> {
    match std::fs::read(file) {
        Ok(bytes) => Ok(Some(ShardMap::decode(bytes.as_slice()).map_err(|e| {
            Error::Startup(format!("{} is not a shard map: {e}", file.display()))
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Startup(format!("reading {}: {e}", file.display()))),
    }
}

fn stored(map: &ShardMap) -> StoredMap {
    StoredMap {
        epoch: map.epoch,
        bytes: map.encode_to_vec(),
    }
}

impl Ownership {
    /// No identity and no map: every user is accepted (tests, fuzzing).
    pub fn unfenced() -> Self {
        Self {
            id: String::new(),
            map: Held::default(),
            gates: gates(),
            changing: tokio::sync::Mutex::new(()),
            store: None,
        }
    }

    /// Follows the map `store` holds. When it holds none, the map file of
    /// an older version in `dir` is moved into it, else a non-empty
    /// `initial` list becomes epoch 1; a held map wins over `initial`
    /// (which is then only compared, with a warning).
    pub fn open(
        store: Arc<Store>,
        dir: &Path,
        id: &str,
        initial: &[ShardInfo],
    ) -> Result<Self, Error> {
        let file = dir.join(MAP_FILE);
        let old = read_map_file(&file)?;
        if store.shard_map()?.is_none() {
            let seed = match &old {
                Some(map) => Some(map.clone()),
                None if initial.is_empty() => None,
                None => Some(ShardMap {
                    epoch: 1,
                    shards: initial.to_vec(),
                    r#move: None,
                }),
            };
            if let Some(map) = seed {
                shardmap::validate(&map)
                    .map_err(|e| Error::Startup(format!("the shard map to start with: {e}")))?;
                store.seed_shard_map(&stored(&map))?;
            }
        }
        if old.is_some() {
            // Read once: the state holds the map from now on.
            std::fs::rename(&file, dir.join(MIGRATED_FILE))
                .map_err(|e| Error::Startup(format!("renaming {}: {e}", file.display())))?;
            tracing::info!(file = %file.display(), "shard map file moved into the replicated state");
        }
        let map = Held::default();
        let slot = map.clone();
        store.follow_shard_map(Box::new(move |held: &StoredMap| {
            match ShardMap::decode(held.bytes.as_slice()) {
                Ok(m) => hold(&slot, Arc::new(m)),
                // Only maps SetShardMap validated are ever held.
                Err(e) => tracing::error!(epoch = held.epoch, error = %e, "a held shard map does not decode"),
            }
        }))?;
        let this = Self {
            id: id.to_owned(),
            map,
            gates: gates(),
            changing: tokio::sync::Mutex::new(()),
            store: Some(store),
        };
        if let Some(map) = this.map() {
            if !initial.is_empty() && map.shards != initial {
                tracing::warn!(
                    epoch = map.epoch,
                    "the configured shard list differs from the held shard map; the map wins"
                );
            }
            let listed = map.shards.iter().any(|s| s.id == id);
            tracing::info!(shard = %id, epoch = map.epoch, listed, "shard map loaded");
            if !listed {
                tracing::warn!(shard = %id, "this shard is not in the shard map: it owns no user");
            }
        }
        Ok(this)
    }

    /// This shard's identity (empty when none is configured).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The map held (none: every user is accepted).
    pub fn map(&self) -> Option<Arc<ShardMap>> {
        self.map
            .read()
            .map_or_else(|p| p.into_inner().clone(), |m| m.clone())
    }

    /// Admits or refuses a call for `user`: WRONG_SHARD when another shard
    /// owns the user, USER_MOVING for a `write` of a user being cut over.
    pub fn check(&self, user: &str, write: bool) -> Result<(), Status> {
        let Some(map) = self.map() else {
            return Ok(());
        };
        let owner = shardmap::owner(&map, user);
        let info = map.shards.get(owner.index);
        if info.is_none_or(|s| s.id != self.id) {
            return Err(shardmap::wrong_shard(info, map.epoch));
        }
        if owner.fenced && write {
            return Err(shardmap::user_moving(map.epoch));
        }
        Ok(())
    }

    /// The whole admission of a user call: once the map held is the
    /// group's (NOT_LEADER on a follower, see [`Store::ready_for_users`]),
    /// [`Ownership::check`].
    async fn admit(&self, user: &str, write: bool) -> Result<(), Status> {
        if let Some(store) = &self.store {
            store.ready_for_users().await.map_err(Status::from)?;
        }
        self.check(user, write)
    }

    /// Makes `map` the group's map (see SetShardMap): a Raft entry on the
    /// leader, taken into the check once the writes admitted under the
    /// previous map have finished.
    pub async fn set(&self, map: ShardMap) -> Result<Arc<ShardMap>, Error> {
        shardmap::validate(&map).map_err(|e| Error::field("map", e))?;
        let _one = self.changing.lock().await;
        if let Some(store) = &self.store {
            // A new leader first applies what its predecessors committed,
            // so the rules below compare with the group's map. A follower
            // answers from the map it applied (it was committed), unless
            // the change is newer: then the proposal refuses NOT_LEADER.
            match store.ready_for_users().await {
                Ok(()) | Err(Error::NotLeader { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(held) = self.map() {
            compare(&held, &map)?;
            if *held == map {
                return Ok(held);
            }
        }
        let map = Arc::new(map);
        let mut writes_done = Vec::new();
        for b in changed_buckets(self.map().as_deref(), &map) {
            writes_done.push(self.gates[b].write().await);
        }
        match &self.store {
            Some(store) => {
                if !store.propose_shard_map(stored(&map)).await? {
                    // Another map was applied first: the rules say why.
                    if let Some(held) = self.map() {
                        compare(&held, &map)?;
                    }
                    return Err(Error::Unavailable(
                        "the shard map changed meanwhile; retry".into(),
                    ));
                }
            }
            None => hold(&self.map, map.clone()),
        }
        tracing::info!(
            epoch = map.epoch,
            moving = map.r#move.is_some(),
            "shard map changed"
        );
        Ok(self.map().unwrap_or(map))
    }
}

/// The epoch rules: `new` may follow `held` unless its epoch is older, or
/// the same with other content.
fn compare(held: &ShardMap, new: &ShardMap) -> Result<(), Error> {
    if new.epoch < held.epoch {
        return Err(Error::ShardMap {
            reason: REASON_STALE_SHARD_MAP,
            message: format!(
                "this shard holds epoch {}, newer than {}",
                held.epoch, new.epoch
            ),
        });
    }
    if new.epoch == held.epoch && held != new {
        return Err(Error::ShardMap {
            reason: REASON_SHARD_MAP_CONFLICT,
            message: format!("epoch {} is held with other content", new.epoch),
        });
    }
    Ok(())
}

fn gates() -> Arc<[Arc<tokio::sync::RwLock<()>>]> {
    (0..shardmap::BUCKETS).map(|_| Arc::default()).collect()
}

/// The buckets whose users `new` may place elsewhere than `old`: those
/// whose state changes within the same move, else all.
fn changed_buckets(old: Option<&ShardMap>, new: &ShardMap) -> Vec<usize> {
    let all = (0..shardmap::BUCKETS).collect();
    let Some(old) = old else { return all };
    match (&old.r#move, &new.r#move) {
        (Some(a), Some(b))
            if old.shards == new.shards
                && a.from_count == b.from_count
                && a.to_count == b.to_count =>
        {
            (0..shardmap::BUCKETS)
                .filter(|&i| shardmap::bucket_state(old, i) != shardmap::bucket_state(new, i))
                .collect()
        }
        _ => all,
    }
}

/// The ownership check as a layer over the session server: it runs before
/// every SessionService handler (the admin service is not user-scoped and
/// passes). A call without the internal credential passes on unchecked, so
/// the handler refuses it as before (UNAUTHENTICATED) and no map detail
/// reaches an unauthenticated caller.
#[derive(Debug, Clone)]
pub struct OwnershipLayer {
    ownership: Arc<Ownership>,
    auth: InternalAuth,
}

impl OwnershipLayer {
    /// The check of `ownership` for callers `auth` admits.
    pub fn new(ownership: Arc<Ownership>, auth: InternalAuth) -> Self {
        Self { ownership, auth }
    }
}

impl<S> tower::Layer<S> for OwnershipLayer {
    type Service = OwnershipCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OwnershipCheck {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`OwnershipLayer`] wraps.
#[derive(Debug, Clone)]
pub struct OwnershipCheck<S> {
    inner: S,
    layer: OwnershipLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for OwnershipCheck<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let Some(method) = req.uri().path().strip_prefix(USER_CALLS) else {
            return Box::pin(self.inner.call(req));
        };
        let write = is_write(method);
        let user = {
            // Only the two headers the check reads are copied.
            let mut md = MetadataMap::new();
            for name in [
                knotwork_proto::metadata::INTERNAL_TOKEN,
                knotwork_proto::metadata::USER_ID,
                knotwork_proto::metadata::USER_ID_BIN,
            ] {
                if let Some(v) = req.headers().get(name) {
                    md.as_mut().insert(name, v.clone());
                }
            }
            self.layer.auth.user_id(&md).ok()
        };
        let Some(user) = user else {
            return Box::pin(self.inner.call(req));
        };
        let ownership = self.layer.ownership.clone();
        // The service was polled ready; the clone takes its place (the
        // usual tower pattern for calls that first wait).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !write {
            return Box::pin(async move {
                match ownership.admit(&user, false).await {
                    Ok(()) => inner.call(req).await,
                    Err(status) => Ok(status.into_http()),
                }
            });
        }
        let gate = ownership.gates[shardmap::bucket_of(&user)].clone();
        Box::pin(async move {
            let _admitted = gate.read_owned().await;
            if let Err(status) = ownership.admit(&user, true).await {
                return Ok(status.into_http());
            }
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use knotwork_proto::session::v1::{BucketState, ShardMove};
    use knotwork_runtime::shardmap::{Refusal, refusal, shard_for};

    fn shards(n: usize) -> Vec<ShardInfo> {
        (0..n)
            .map(|i| ShardInfo {
                id: format!("s{i}"),
                url: format!("http://s{i}"),
            })
            .collect()
    }

    fn user_on(shard: usize, of: usize, moving_to: Option<usize>) -> String {
        (0..)
            .map(|i| format!("u{i}"))
            .find(|u| {
                shard_for(u, of) == shard && moving_to.is_none_or(|to| shard_for(u, of + 1) == to)
            })
            .unwrap_or_default()
    }

    /// A replica that is a group of one (`knotwork up`).
    async fn replica(dir: &Path) -> Arc<Store> {
        let store = Store::open_replicated(
            dir,
            crate::store::StoreOptions::default(),
            crate::store::ReplicaOptions::single(),
            crate::raft::NoNetwork,
        )
        .await
        .unwrap();
        Arc::new(store)
    }

    async fn close(own: Ownership, store: Arc<Store>) {
        drop(own);
        let mut store = Arc::try_unwrap(store).unwrap_or_else(|_| panic!("store still shared"));
        store.close().await;
    }

    #[tokio::test]
    async fn a_held_map_survives_a_restart_and_epochs_only_grow() {
        let dir = tempfile::tempdir().unwrap();
        let store = replica(dir.path()).await;
        let own = Ownership::open(store.clone(), dir.path(), "s1", &shards(3)).unwrap();
        assert_eq!(own.map().unwrap().epoch, 1);
        let mut next = (*own.map().unwrap()).clone();
        next.epoch = 5;
        next.shards = shards(4);
        own.set(next.clone()).await.unwrap();
        // It went through the Raft log into the state.
        assert_eq!(store.shard_map().unwrap().unwrap().epoch, 5);
        // The same map again is fine; an older or a conflicting one is not.
        own.set(next.clone()).await.unwrap();
        let mut old = next.clone();
        old.epoch = 4;
        let e = own.set(old).await.unwrap_err();
        assert!(matches!(e, Error::ShardMap { reason, .. } if reason == REASON_STALE_SHARD_MAP));
        let mut other = next.clone();
        other.shards.pop();
        let e = own.set(other).await.unwrap_err();
        assert!(matches!(e, Error::ShardMap { reason, .. } if reason == REASON_SHARD_MAP_CONFLICT));
        close(own, store).await;
        let store = replica(dir.path()).await;
        let reopened = Ownership::open(store.clone(), dir.path(), "s1", &shards(3)).unwrap();
        assert_eq!(*reopened.map().unwrap(), next);
        close(reopened, store).await;
    }

    /// The map file of the version before is read once, into the state.
    #[tokio::test]
    async fn a_map_file_of_the_previous_version_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let old = ShardMap {
            epoch: 7,
            shards: shards(2),
            r#move: None,
        };
        std::fs::write(dir.path().join(MAP_FILE), old.encode_to_vec()).unwrap();
        let store = replica(dir.path()).await;
        // The file wins over the configured list, as it did.
        let own = Ownership::open(store.clone(), dir.path(), "s1", &shards(3)).unwrap();
        assert_eq!(*own.map().unwrap(), old);
        assert!(!dir.path().join(MAP_FILE).exists());
        assert!(dir.path().join(MIGRATED_FILE).exists());
        close(own, store).await;
        let store = replica(dir.path()).await;
        let own = Ownership::open(store.clone(), dir.path(), "s1", &shards(3)).unwrap();
        assert_eq!(*own.map().unwrap(), old);
        close(own, store).await;
    }

    #[tokio::test]
    async fn refuses_users_it_does_not_own_and_fences_moving_writes() {
        let own = Ownership::unfenced();
        assert!(own.check("anyone", true).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
        let own = Ownership::open(store, dir.path(), "s1", &shards(3)).unwrap();
        let mine = user_on(1, 3, None);
        let theirs = user_on(2, 3, None);
        assert!(own.check(&mine, true).is_ok());
        let refused = own.check(&theirs, false).unwrap_err();
        assert_eq!(
            refusal(&refused),
            Some(Refusal::WrongShard {
                shard: "s2".into(),
                url: "http://s2".into(),
                epoch: 1
            })
        );
        // Fence every bucket of a move to 4 shards: a user leaving s1 may
        // read but not write.
        let leaving = user_on(1, 3, Some(3));
        own.set(ShardMap {
            epoch: 2,
            shards: shards(4),
            r#move: Some(ShardMove {
                from_count: 3,
                to_count: 4,
                buckets: vec![BucketState::Fenced as i32; shardmap::BUCKETS],
            }),
        })
        .await
        .unwrap();
        assert!(own.check(&leaving, false).is_ok());
        assert_eq!(
            refusal(&own.check(&leaving, true).unwrap_err()),
            Some(Refusal::UserMoving { epoch: 2 })
        );
        let staying = user_on(1, 3, Some(1));
        assert!(own.check(&staying, true).is_ok());
    }

    /// Every SessionService method that only reads (Get, List, Export) is
    /// in [`READS`], read from the contract itself, so a read added later
    /// is not refused while its user moves; every other one is fenced.
    #[test]
    fn the_contracts_reads_pass_the_fence_and_its_writes_do_not() {
        let methods: Vec<String> =
            knotwork_proto::contract_methods(knotwork_proto::names::SESSION_SERVICE)
                .iter()
                .map(|m| m.name().to_owned())
                .collect();
        assert!(methods.len() > 20, "{methods:?}");
        for m in &methods {
            let reads = ["Get", "List", "Export", "StreamExport"]
                .iter()
                .any(|p| m.starts_with(p));
            assert_eq!(is_write(m), !reads, "{m}");
        }
        assert!(!is_write("GetOverview"));
        assert!(is_write("LogSession"));
    }

    #[test]
    fn a_shard_missing_from_the_map_owns_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), Default::default()).unwrap());
        let own = Ownership::open(store, dir.path(), "s9", &shards(2)).unwrap();
        assert!(own.check("u1", false).is_err());
        assert!(own.check("u2", false).is_err());
    }
}
