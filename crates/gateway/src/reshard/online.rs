//! Online resharding: users move to their new shard while everyone keeps
//! working (`knotwork reshard --online`).
//!
//! The shard map on the shards is both the switch and the progress record
//! (placement in [`knotwork_runtime::shardmap`]). A move from the map's
//! shard list to a new one (shards added or removed at the end) goes:
//! 1. **Start**: the map gets a move (both counts, 256 buckets not moved),
//!    pushed to every shard (epoch + 1). Nobody changes shard yet.
//! 2. Per **group** of buckets (consecutive buckets holding at most
//!    `fence_users` moving users):
//!    - **copy** the group's moving users from their old shard to their new
//!      one while they keep writing (StreamExportUser piped into
//!      StreamImportUser, as the offline reshard does);
//!    - **fence** the group (epoch + 1, old shards first): the old shard
//!      refuses their writes with USER_MOVING, which the gateway retries,
//!      and a shard answers SetShardMap only once the writes admitted
//!      before have finished;
//!    - **catch up**: list the group's users again (new ones included),
//!      compare SHA-256 digests of each user's export on both sides and copy
//!      again where they differ (a user deleted meanwhile is deleted on the
//!      new shard too), checking each copy by its digest;
//!    - **cut over** (epoch + 1, new shards first): the new shard owns
//!      them, the old one refuses them with WRONG_SHARD.
//! 3. **Clean up**: delete each moved user from its old shard (it refuses
//!    them already), then the map drops the move (epoch + 1).
//!
//! Every step is idempotent and the map says which comes next, so after a
//! crash at any point running the same command again finishes the move: it
//! first brings every shard to the newest epoch any of them holds. If a
//! group cannot be caught up, its fence is lifted again before the error
//! is returned.
//!
//! A shard may be a replicated group (`url1|url2|url3`, as in the map):
//! every call goes to the group's leader through the gateway's own
//! leader-following ([`Group::call`]: NOT_LEADER -> the leader named, an
//! unreachable member -> the next one), waiting up to `leader::LEADER_WAIT` for
//! an election, so a leader change during a move costs a retry, not the
//! move. The map is set once per group, on its leader, which answers once
//! the group's majority holds it (the map is part of the group's
//! replicated state). A copy interrupted by a leader change is made again
//! whole (an import replaces the user).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use knotwork_proto::session::v1::{
    BucketState, DeleteUserRequest, GetShardMapRequest, ListUsersRequest, SetShardMapRequest,
    ShardInfo, ShardMap, ShardMove,
};
use knotwork_runtime::memory::MemoryBackends;
use knotwork_runtime::shardmap::{self, BUCKETS, bucket_of, shard_for};
use knotwork_runtime::tls::BackendTls;
use tonic::Code;
use tonic::metadata::AsciiMetadataValue;

use crate::Error;
use crate::backend::{Backend, Role};
use crate::metrics::Metrics;
use crate::shards::Group;

mod leader;

/// How an online reshard runs.
#[derive(Debug, Clone)]
pub struct OnlineOptions {
    /// The most moving users fenced at once (a group's size).
    pub fence_users: usize,
    /// Users copied at the same time.
    pub parallel: usize,
}

impl Default for OnlineOptions {
    fn default() -> Self {
        Self {
            fence_users: 100,
            parallel: 16,
        }
    }
}

/// What an online reshard did.
#[derive(Debug, Default, Clone)]
pub struct OnlineReport {
    /// The epoch found at the start.
    pub epoch_before: u64,
    /// The epoch the shards hold at the end.
    pub epoch_after: u64,
    /// Users copied to their new shard and cut over.
    pub users_moved: usize,
    /// Bucket groups cut over.
    pub groups: usize,
    /// The longest time a group was fenced.
    pub longest_fence: Duration,
    /// Each group cut over: its buckets and how long its moving users'
    /// writes were refused.
    pub fences: Vec<(Vec<usize>, Duration)>,
    /// Users deleted from their old shard afterwards.
    pub users_deleted: usize,
}

/// One shard (a single copy or a group) as the tool reaches it.
struct Shard {
    info: ShardInfo,
    group: Arc<Group>,
}

struct Mover {
    token: AsciiMetadataValue,
    shards: Vec<Shard>,
    map: ShardMap,
    options: OnlineOptions,
    report: OnlineReport,
}

/// Moves the users of the shards to the placement over `to` (`id=url`
/// shards in order) while they keep working; see the module docs.
/// `from` is needed only when no shard holds a map yet: the list the
/// gateways use now, which becomes epoch 1. With `to` equal to the map
/// held, this only sets that map where it is missing.
pub async fn reshard_online(
    from: &[ShardInfo],
    to: &[ShardInfo],
    internal_token: &str,
    tls: &BackendTls,
    options: OnlineOptions,
) -> Result<OnlineReport, Error> {
    if to.is_empty() {
        return Err(Error::Config("--to names no shard".to_owned()));
    }
    let token: AsciiMetadataValue = internal_token.parse().map_err(|_| {
        Error::Config("the internal credential is not a valid header value".to_owned())
    })?;
    // Every shard named anywhere, each once.
    let mut infos: Vec<ShardInfo> = Vec::new();
    for s in from.iter().chain(to) {
        if let Some(known) = infos.iter().find(|k| k.id == s.id) {
            if known.url != s.url {
                return Err(Error::Config(format!(
                    "shard {} has two URLs: {} and {}",
                    s.id, known.url, s.url
                )));
            }
        } else {
            infos.push(s.clone());
        }
    }
    let metrics = Metrics::new()?;
    let mut shards = Vec::new();
    for info in infos {
        let members = shardmap::members(&info.url)
            .into_iter()
            .map(|url| {
                Backend::new(
                    url,
                    Role::Session,
                    tls,
                    Duration::from_secs(5),
                    1,
                    &MemoryBackends::default(),
                    metrics.clone(),
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let group = Arc::new(Group::of(&info.url, members)?);
        shards.push(Shard { info, group });
    }
    let mut mover = Mover {
        token,
        shards,
        map: ShardMap::default(),
        options,
        report: OnlineReport::default(),
    };
    mover.gather(from).await?;
    mover.report.epoch_before = mover.map.epoch;
    mover.run(to).await?;
    mover.report.epoch_after = mover.map.epoch;
    Ok(mover.report)
}

impl Mover {
    fn shard(&self, id: &str) -> Result<&Shard, Error> {
        self.shards
            .iter()
            .find(|s| s.info.id == id)
            .ok_or_else(|| Error::Config(format!("shard {id} is in the map but not given")))
    }

    /// Reads every shard's identity and map, checks the identities, and
    /// brings every shard to the newest map (or to `from` as epoch 1).
    async fn gather(&mut self, from: &[ShardInfo]) -> Result<(), Error> {
        let mut newest: Option<ShardMap> = None;
        for s in &self.shards {
            // A read only the leader answers first, so the map read next
            // is the leader's (a follower may lag behind its group).
            let named = |e: tonic::Status| {
                Error::Config(format!(
                    "shard {} ({}): {}",
                    s.info.id,
                    s.info.url,
                    e.message()
                ))
            };
            self.call(&s.group, leader_probe(), |mut c, r| async move {
                c.list_users(r).await
            })
            .await
            .map_err(named)?;
            let got = self
                .call(&s.group, GetShardMapRequest {}, |mut c, r| async move {
                    c.get_shard_map(r).await
                })
                .await
                .map_err(named)?;
            if got.shard_id != s.info.id {
                return Err(Error::Config(format!(
                    "{} says it is shard {:?}, not {:?} (KNOTWORK_SESSION_SHARD_ID)",
                    s.info.url, got.shard_id, s.info.id
                )));
            }
            if let Some(map) = got.map {
                if let Some(n) = &newest
                    && n.epoch == map.epoch
                    && *n != map
                {
                    return Err(Error::Config(format!(
                        "two shards hold different maps at epoch {}; set the right one on \
                         every shard (SetShardMap with a higher epoch) before moving users",
                        map.epoch
                    )));
                }
                if newest.as_ref().is_none_or(|n| map.epoch > n.epoch) {
                    newest = Some(map);
                }
            }
        }
        self.map = match newest {
            Some(map) => map,
            None if from.is_empty() => {
                return Err(Error::Config(
                    "no shard holds a shard map yet: give --from, the list the gateways use now"
                        .to_owned(),
                ));
            }
            None => ShardMap {
                epoch: 1,
                shards: from.to_vec(),
                r#move: None,
            },
        };
        for s in &self.map.shards {
            self.shard(&s.id)?;
        }
        let map = self.map.clone();
        self.push(&map, &[]).await
    }

    /// Sets `map` on the shards named in `first` (in that order), then on
    /// every other shard; `self.map` follows.
    async fn push(&mut self, map: &ShardMap, first: &[usize]) -> Result<(), Error> {
        self.push_to(map, first, true).await
    }

    /// Sets `map` on the shards of `first` (at once), then, with `rest`, on
    /// every other shard; `self.map` follows. A shard skipped here gets a
    /// later epoch with the next push (epochs need not be consecutive).
    async fn push_to(&mut self, map: &ShardMap, first: &[usize], rest: bool) -> Result<(), Error> {
        let ids: Vec<&str> = first
            .iter()
            .filter_map(|&i| map.shards.get(i).map(|s| s.id.as_str()))
            .collect();
        let this = &*self;
        let waves: &[bool] = if rest { &[true, false] } else { &[true] };
        for &wave in waves {
            let set = this
                .shards
                .iter()
                .filter(|s| ids.contains(&s.info.id.as_str()) == wave)
                .map(|s| async move {
                    let set = SetShardMapRequest {
                        map: Some(map.clone()),
                    };
                    this.call(
                        &s.group,
                        set,
                        |mut c, r| async move { c.set_shard_map(r).await },
                    )
                    .await
                    .map_err(|e| {
                        Error::Config(format!(
                            "setting epoch {} on shard {}: {}",
                            map.epoch,
                            s.info.id,
                            e.message()
                        ))
                    })
                });
            for done in futures::future::join_all(set).await {
                done?;
            }
        }
        self.map = map.clone();
        Ok(())
    }

    async fn run(&mut self, to: &[ShardInfo]) -> Result<(), Error> {
        if self.map.r#move.is_none() {
            if self.map.shards == to {
                return Ok(());
            }
            let held = &self.map.shards;
            let common = held.len().min(to.len());
            if held[..common] != to[..common] {
                return Err(Error::Config(
                    "online, shards can only be added or removed at the end of the list \
                     (the shards both lists share must be in the same order)"
                        .to_owned(),
                ));
            }
            let longer = if to.len() > held.len() { to } else { held };
            let next = ShardMap {
                epoch: self.map.epoch + 1,
                shards: longer.to_vec(),
                r#move: Some(ShardMove {
                    from_count: count(held.len()),
                    to_count: count(to.len()),
                    buckets: vec![BucketState::Unspecified as i32; BUCKETS],
                }),
            };
            tracing::info!(
                epoch = next.epoch,
                from = held.len(),
                to = to.len(),
                "move started"
            );
            self.push(&next, &[]).await?;
        }
        let Some(mv) = self.map.r#move.clone() else {
            return Ok(());
        };
        let (from_n, to_n) = (mv.from_count as usize, mv.to_count as usize);
        if to_n != to.len() || self.map.shards[..to_n] != *to {
            return Err(Error::Config(format!(
                "another move is in progress, from {from_n} to {to_n} shards; \
                 finish it first (run again with its --to list)"
            )));
        }
        // Who moves, by bucket, from a listing of the old shards.
        let movers = self.list(None, from_n, to_n).await?;
        let mut by_bucket: Vec<Vec<(String, usize)>> = vec![Vec::new(); BUCKETS];
        for (user, src) in movers {
            by_bucket[bucket_of(&user)].push((user, src));
        }
        // A group fenced by a crashed run is finished first.
        let fenced: Vec<usize> = (0..BUCKETS)
            .filter(|&b| shardmap::bucket_state(&self.map, b) == BucketState::Fenced)
            .collect();
        if !fenced.is_empty() {
            self.group(&fenced, &by_bucket, from_n, to_n).await?;
        }
        let mut group: Vec<usize> = Vec::new();
        let mut size = 0;
        for b in 0..BUCKETS {
            if shardmap::bucket_state(&self.map, b) != BucketState::Unspecified {
                continue;
            }
            if !group.is_empty() && size + by_bucket[b].len() > self.options.fence_users.max(1) {
                self.group(&std::mem::take(&mut group), &by_bucket, from_n, to_n)
                    .await?;
                size = 0;
            }
            group.push(b);
            size += by_bucket[b].len();
        }
        if !group.is_empty() {
            self.group(&group, &by_bucket, from_n, to_n).await?;
        }
        // Every bucket is moved: delete the moved users where they were.
        let leftovers = self.list(None, from_n, to_n).await?;
        let deleted = futures::stream::iter(leftovers)
            .map(|(user, src)| self.delete(src, user))
            .buffer_unordered(self.options.parallel.max(1))
            .collect::<Vec<_>>()
            .await;
        for d in deleted {
            d?;
            self.report.users_deleted += 1;
        }
        let done = ShardMap {
            epoch: self.map.epoch + 1,
            shards: to.to_vec(),
            r#move: None,
        };
        self.push(&done, &[]).await?;
        tracing::info!(epoch = done.epoch, "move finished");
        Ok(())
    }

    /// The users on the old shards (all, or those of `buckets`) whose shard
    /// changes, with their old shard's index.
    async fn list(
        &self,
        buckets: Option<&[usize]>,
        from_n: usize,
        to_n: usize,
    ) -> Result<Vec<(String, usize)>, Error> {
        let filter: Vec<u32> = buckets
            .unwrap_or_default()
            .iter()
            .filter_map(|&b| u32::try_from(b).ok())
            .collect();
        let mut out = Vec::new();
        for (index, info) in self.map.shards.iter().enumerate().take(from_n) {
            let group = self.shard(&info.id)?.group.clone();
            let mut page_token = String::new();
            loop {
                let list = ListUsersRequest {
                    page_size: 1000,
                    page_token: page_token.clone(),
                    buckets: filter.clone(),
                };
                let page = self
                    .call(
                        &group,
                        list,
                        |mut c, r| async move { c.list_users(r).await },
                    )
                    .await
                    .map_err(Error::Upstream)?;
                for user in page.user_ids {
                    // Only users that live on their old shard move; data
                    // left elsewhere is not this move's.
                    let src = shard_for(&user, from_n);
                    if src == index && src != shard_for(&user, to_n) {
                        out.push((user, src));
                    }
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        Ok(out)
    }

    fn groups(&self, src: usize, user: &str, to_n: usize) -> Result<Pair, Error> {
        let dst = shard_for(user, to_n);
        Ok(Pair {
            source: self.shard(&self.map.shards[src].id)?.group.clone(),
            target: self.shard(&self.map.shards[dst].id)?.group.clone(),
        })
    }

    /// Copy, fence, catch up and cut over one group of buckets.
    async fn group(
        &mut self,
        buckets: &[usize],
        by_bucket: &[Vec<(String, usize)>],
        from_n: usize,
        to_n: usize,
    ) -> Result<(), Error> {
        let known: Vec<(String, usize)> = buckets
            .iter()
            .flat_map(|&b| by_bucket[b].iter().cloned())
            .collect();
        let parallel = self.options.parallel.max(1);
        // Copy while they keep writing (skipped for a group already
        // fenced), keeping the digest of what each target now holds.
        let mut copied: HashMap<String, [u8; 32]> = HashMap::new();
        if buckets
            .iter()
            .any(|&b| shardmap::bucket_state(&self.map, b) == BucketState::Unspecified)
        {
            let this = &*self;
            let results = futures::stream::iter(known.iter().cloned())
                .map(|(user, src)| async move {
                    let pair = this.groups(src, &user, to_n)?;
                    let sent = this.copy(&pair.source, &pair.target, &user).await;
                    // A user deleted meanwhile is handled under the fence.
                    if let Err(why) = &sent {
                        tracing::debug!(user = %user, error = %why, "copy before the fence failed");
                    }
                    Ok::<_, Error>((user, sent.ok()))
                })
                .buffer_unordered(parallel)
                .collect::<Vec<_>>()
                .await;
            for r in results {
                if let (user, Some(digest)) = r? {
                    copied.insert(user, digest);
                }
            }
        }
        // The shards users leave and the shards they come to.
        let (sources, targets): (Vec<usize>, Vec<usize>) = if to_n > from_n {
            ((0..from_n).collect(), (from_n..to_n).collect())
        } else {
            ((to_n..from_n).collect(), (0..to_n).collect())
        };
        let fenced_at = Instant::now();
        let fenced = self.with_buckets(buckets, BucketState::Fenced);
        // Only the old shards need the fence; the others get a later epoch.
        self.push_to(&fenced, &sources, false).await?;
        let pushed = fenced_at.elapsed();
        // Catch up: the users known before and any created since.
        let mut users: BTreeSet<(String, usize)> = known.into_iter().collect();
        users.extend(self.list(Some(buckets), from_n, to_n).await?);
        let this = &*self;
        let copied = &copied;
        let caught = futures::stream::iter(users.iter().cloned())
            .map(|(user, src)| async move {
                let pair = this
                    .groups(src, &user, to_n)
                    .map_err(|e| (user.clone(), e))?;
                let copied = copied.get(&user).copied();
                this.catch_up(pair, &user, copied)
                    .await
                    .map_err(|why| (user, why))
            })
            .buffer_unordered(parallel)
            .collect::<Vec<_>>()
            .await;
        let failed: Vec<(String, String)> = caught
            .into_iter()
            .filter_map(|r| match r {
                Ok(()) => None,
                Err((user, Error::Config(why))) => Some((user, why)),
                Err((user, e)) => Some((user, e.to_string())),
            })
            .collect();
        if let Some((user, why)) = failed.first() {
            let lifted = self.with_buckets(buckets, BucketState::Unspecified);
            self.push_to(&lifted, &sources, false).await?;
            return Err(Error::Config(format!(
                "{} users could not be caught up (first: {user}: {why}); the fence is lifted, \
                 run again",
                failed.len()
            )));
        }
        let caught_up = fenced_at.elapsed();
        let moved = self.with_buckets(buckets, BucketState::Moved);
        self.push(&moved, &targets).await?;
        let fence = fenced_at.elapsed();
        self.report.longest_fence = self.report.longest_fence.max(fence);
        self.report.fences.push((buckets.to_vec(), fence));
        self.report.users_moved += users.len();
        self.report.groups += 1;
        tracing::info!(
            epoch = self.map.epoch,
            buckets = buckets.len(),
            users = users.len(),
            fence_ms = fence.as_millis() as u64,
            fenced_ms = pushed.as_millis() as u64,
            caught_up_ms = caught_up.as_millis() as u64,
            "group cut over"
        );
        Ok(())
    }

    /// Makes the new shard hold exactly what the fenced old shard holds
    /// for `user`. `copied` is the digest of the copy made before the
    /// fence, if any: the new shard has not changed it since (it does not
    /// own the user yet), so an unchanged source needs no second look.
    async fn catch_up(
        &self,
        pair: Pair,
        user: &str,
        copied: Option<[u8; 32]>,
    ) -> Result<(), Error> {
        let source = match self.digest(&pair.source, user).await {
            Ok(d) => Some(d),
            Err(s) if s.code() == Code::NotFound => None,
            Err(s) => return Err(Error::Config(format!("export: {}", s.message()))),
        };
        let target = match (source, copied) {
            (Some(now), Some(before)) if now == before => return Ok(()),
            (Some(_), Some(_)) => None,
            _ => match self.digest(&pair.target, user).await {
                Ok(d) => Some(d),
                Err(s) if s.code() == Code::NotFound => None,
                Err(s) => {
                    return Err(Error::Config(format!(
                        "export from the new shard: {}",
                        s.message()
                    )));
                }
            },
        };
        match (source, target) {
            (a, b) if a == b => Ok(()),
            (None, _) => {
                // Deleted on the old shard since it was copied.
                let delete = DeleteUserRequest {
                    user_id: user.to_owned(),
                };
                self.call(&pair.target, delete, |mut c, r| async move {
                    c.delete_user(r).await
                })
                .await
                .map_err(|s| Error::Config(format!("delete: {}", s.message())))?;
                Ok(())
            }
            _ => {
                let sent = self
                    .copy(&pair.source, &pair.target, user)
                    .await
                    .map_err(Error::Config)?;
                let check = self
                    .digest(&pair.target, user)
                    .await
                    .map_err(|s| Error::Config(format!("verify: {}", s.message())))?;
                if check != sent {
                    return Err(Error::Config("verify: the copy differs".to_owned()));
                }
                Ok(())
            }
        }
    }

    async fn delete(&self, src: usize, user: String) -> Result<(), Error> {
        let group = self.shard(&self.map.shards[src].id)?.group.clone();
        self.call(
            &group,
            DeleteUserRequest { user_id: user },
            |mut c, r| async move { c.delete_user(r).await },
        )
        .await
        .map_err(Error::Upstream)?;
        Ok(())
    }

    /// The current map with `buckets` in `state`, one epoch on.
    fn with_buckets(&self, buckets: &[usize], state: BucketState) -> ShardMap {
        let mut next = self.map.clone();
        next.epoch += 1;
        if let Some(mv) = next.r#move.as_mut() {
            for &b in buckets {
                if let Some(slot) = mv.buckets.get_mut(b) {
                    *slot = state as i32;
                }
            }
        }
        next
    }
}

struct Pair {
    source: Arc<Group>,
    target: Arc<Group>,
}

/// The cheapest call only a group's leader answers (a follower refuses
/// reads with NOT_LEADER), so the group knows its leader afterwards.
fn leader_probe() -> ListUsersRequest {
    ListUsersRequest {
        page_size: 1,
        page_token: String::new(),
        buckets: Vec::new(),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The shard list of `knotwork reshard --online` (`id=url` entries).
pub fn parse(list: &[String]) -> Result<Vec<ShardInfo>, Error> {
    shardmap::parse_shards(list).map_err(Error::Config)
}
