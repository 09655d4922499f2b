//! The session shards as the gateway sees them, and the one routing
//! function every session call goes through ([`Shards::call`]).
//!
//! Routing follows the newest shard map the gateway has seen
//! (`knotwork.session.v1.ShardMap`, fetched from the shards with
//! GetShardMap at start, every health poll and whenever a shard refuses;
//! placement in [`knotwork_runtime::shardmap`]). Until a shard holds a map,
//! the configured `--session-shards` list in its order is the placement
//! (epoch 0). The configured list is only where the map is first looked
//! for: the map names every shard's URL, so a gateway with a short or
//! wrong list still reaches the right shard, and the shards refuse the
//! users they do not own, so it can write nowhere it should not.
//!
//! A call: pick the owner by the map -> call -> on WRONG_SHARD refresh the
//! map (from the refusing shard first) and retry once; on USER_MOVING (a
//! cut-over in progress, nothing written) wait a little and retry, up to
//! [`MOVING_WAIT`] within the call's deadline. A WRONG_SHARD left after the
//! retry reaches the caller as UNAVAILABLE, which apps retry.
//!
//! A shard is a [`Group`]: one URL (a single copy), or the members of a
//! replicated shard group written `url1|url2|url3` (in `--session-shards`
//! and in the map alike). [`Group::call`] reaches its leader: calls go to
//! the member that last answered as the leader; a follower refuses with
//! NOT_LEADER naming the leader's URL, and the call is sent there at once;
//! an unreachable member, or one that knows no leader (an election), sends
//! the call to the next member after a short pause. All of this stays
//! within [`FAILOVER_WAIT`] and the call's deadline; past it the caller
//! gets UNAVAILABLE. The online reshard (`reshard/online.rs`) reaches
//! groups through the same [`Group::call`], with a longer wait. Refusals wrote nothing;
//! a call lost with a member that died may have been written, and writes
//! carry request ids, so the retry is answered exactly once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use knotwork_proto::metadata::INTERNAL_TOKEN;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::{GetShardMapRequest, ShardMap};
use knotwork_runtime::memory::Link;
use knotwork_runtime::memory::MemoryBackends;
use knotwork_runtime::shardmap::{self, Refusal};
use knotwork_runtime::tls::BackendTls;
use tonic::metadata::AsciiMetadataValue;
use tonic::{Code, Request, Response, Status};

use crate::Error;
use crate::backend::{Backend, Role, call_with_deadline};
use crate::metrics::Metrics;

/// The longest a call waits, retrying, while its user is cut over.
pub const MOVING_WAIT: Duration = Duration::from_secs(2);

/// The longest a call follows its group's leader (an election after a
/// leader died, members that do not answer) before it answers UNAVAILABLE.
pub const FAILOVER_WAIT: Duration = Duration::from_secs(3);

/// The longest pause between two members while a group has no leader.
const FAILOVER_PAUSE: Duration = Duration::from_millis(100);

/// How long one GetShardMap may take.
const MAP_TIMEOUT: Duration = Duration::from_secs(1);

/// What routing reads: a map (or the configured list) and a group per
/// shard, in placement order.
#[derive(Debug)]
struct Routing {
    map: Option<Arc<ShardMap>>,
    shards: Vec<Arc<Group>>,
}

/// One shard: a single backend, or the members of a replicated group.
#[derive(Debug)]
pub struct Group {
    /// The shard's URL as configured or in the map (`url` or
    /// `url1|url2|url3`).
    pub url: String,
    /// The members, in the URL's order (one for a single copy).
    pub members: Vec<Arc<Backend>>,
    /// The member calls go to first: the last one known to lead.
    leader: AtomicUsize,
}

impl Group {
    /// The group of `url` whose members (in the URL's order) are
    /// `members`.
    pub fn of(url: &str, members: Vec<Arc<Backend>>) -> Result<Self, Error> {
        if members.is_empty() {
            return Err(Error::Config(format!("shard {url:?} names no member")));
        }
        Ok(Self {
            url: url.to_owned(),
            members,
            leader: AtomicUsize::new(0),
        })
    }

    /// Calls the group's leader: `call(member, attempt_deadline)` goes to
    /// the member that last led; a NOT_LEADER refusal sends it to the
    /// leader named at once, and an unreachable member (UNAVAILABLE, or a
    /// DEADLINE_EXCEEDED before `deadline`) or an election (no leader
    /// named) to the next member after a short pause, all within
    /// `failover` and `deadline`. Every other answer (a success, a shard's
    /// refusal, an error) is returned as it is. The gateway's routing and
    /// the online reshard both reach a group only through here.
    pub async fn call<T, F, Fut>(
        &self,
        deadline: Instant,
        failover: Duration,
        mut call: F,
    ) -> Result<T, Status>
    where
        F: FnMut(Arc<Backend>, Instant) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let failover_end = Instant::now() + failover;
        let mut pause = Duration::from_millis(5);
        let mut hops = 0usize;
        loop {
            let (member, backend) = self.preferred();
            // After a failover step, one attempt may not take the call's
            // whole deadline: a stopped member must not hold it.
            let attempt = if hops == 0 {
                deadline
            } else {
                deadline.min(failover_end)
            };
            let status = match call(backend.clone(), attempt).await {
                Ok(answer) => return Ok(answer),
                Err(status) => status,
            };
            let leader = match shardmap::refusal(&status) {
                Some(Refusal::NotLeader { leader }) => leader,
                Some(_) => return Err(status),
                // A member that did not answer (dead, stopped, no leader
                // to commit with): another member may lead.
                None if self.members.len() > 1
                    && (status.code() == Code::Unavailable
                        || (status.code() == Code::DeadlineExceeded && attempt < deadline)) =>
                {
                    None
                }
                None => return Err(status),
            };
            let now = Instant::now();
            if now >= deadline || now >= failover_end {
                return Err(if status.code() == Code::DeadlineExceeded {
                    Status::unavailable(
                        "the shard group has no reachable leader; retry in a moment",
                    )
                } else {
                    status
                });
            }
            self.follow(member, leader.as_deref());
            hops += 1;
            // A named leader is called at once; without one (an election
            // under way), each round over the members waits a little more.
            if leader.is_none() || hops > self.members.len() {
                let wait = pause.min(deadline.min(failover_end) - now);
                tokio::time::sleep(wait).await;
                pause = (pause * 2).min(FAILOVER_PAUSE);
            }
            tracing::debug!(from = %backend.url, leader = ?leader, hops, "following the shard group's leader");
        }
    }

    /// The member calls go to now, and its index.
    pub fn preferred(&self) -> (usize, Arc<Backend>) {
        let i = self.leader.load(Ordering::Relaxed) % self.members.len();
        (i, self.members[i].clone())
    }

    /// After member `from` refused or failed: the named `leader` when it
    /// is another member, else the next member. Only moves when no other
    /// call moved it meanwhile.
    fn follow(&self, from: usize, leader: Option<&str>) {
        let named = leader
            .and_then(|l| self.members.iter().position(|m| m.url == l))
            .filter(|&i| i != from);
        let next = named.unwrap_or((from + 1) % self.members.len());
        let _ = self
            .leader
            .compare_exchange(from, next, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the group can serve by the last health poll: a majority of
    /// its members up (the one member of a single copy).
    pub fn is_up(&self) -> bool {
        self.members.iter().filter(|m| m.is_up()).count() * 2 > self.members.len()
    }
}

impl Routing {
    fn epoch(&self) -> u64 {
        self.map.as_ref().map_or(0, |m| m.epoch)
    }
}

/// How backends are made.
#[derive(Debug)]
struct Factory {
    tls: BackendTls,
    connect_timeout: Duration,
    connections: usize,
    memory: MemoryBackends,
    metrics: Metrics,
}

/// The session shards: the map, the backends, the routing function.
#[derive(Debug)]
pub struct Shards {
    routing: ArcSwap<Routing>,
    /// Every backend made so far, by URL, so a new map reuses connections.
    backends: Mutex<HashMap<String, Arc<Backend>>>,
    /// Every group made so far, by shard URL, so a new map keeps the
    /// leaders found.
    groups: Mutex<HashMap<String, Arc<Group>>>,
    /// One map refresh at a time; the others wait and see its result.
    refreshing: tokio::sync::Mutex<()>,
    factory: Factory,
    token: AsciiMetadataValue,
}

impl Shards {
    /// The shards of `urls` (in order; an entry may be `id=url`, the id is
    /// then ignored here; a URL may be a group's `url1|url2|url3`), called
    /// with `token` for GetShardMap.
    pub fn new(
        urls: &[String],
        tls: &BackendTls,
        connect_timeout: Duration,
        connections: usize,
        memory: &MemoryBackends,
        metrics: &Metrics,
        token: AsciiMetadataValue,
    ) -> Result<Self, Error> {
        let this = Self {
            routing: ArcSwap::from_pointee(Routing {
                map: None,
                shards: Vec::new(),
            }),
            backends: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
            factory: Factory {
                tls: tls.clone(),
                connect_timeout,
                connections,
                memory: memory.clone(),
                metrics: metrics.clone(),
            },
            token,
        };
        let shards = urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(|u| u.split_once('=').map_or(u, |(_, url)| url.trim()))
            .map(|u| this.group(u))
            .collect::<Result<Vec<_>, _>>()?;
        if shards.is_empty() {
            return Err(Error::Config("session shards are required".to_owned()));
        }
        this.routing.store(Arc::new(Routing { map: None, shards }));
        Ok(this)
    }

    fn backend(&self, url: &str) -> Result<Arc<Backend>, Error> {
        let mut backends = self
            .backends
            .lock()
            .map_err(|_| Error::Internal("shard backends lock poisoned".to_owned()))?;
        if let Some(b) = backends.get(url) {
            return Ok(b.clone());
        }
        let f = &self.factory;
        let b = Arc::new(Backend::new(
            url,
            Role::Session,
            &f.tls,
            f.connect_timeout,
            f.connections,
            &f.memory,
            f.metrics.clone(),
        )?);
        backends.insert(url.to_owned(), b.clone());
        Ok(b)
    }

    /// The group of a shard URL (one member, or `url1|url2|url3`).
    fn group(&self, url: &str) -> Result<Arc<Group>, Error> {
        if let Some(g) = self
            .groups
            .lock()
            .map_err(|_| Error::Internal("shard groups lock poisoned".to_owned()))?
            .get(url)
        {
            return Ok(g.clone());
        }
        let members = shardmap::members(url)
            .into_iter()
            .map(|m| self.backend(m))
            .collect::<Result<Vec<_>, _>>()?;
        let g = Arc::new(Group::of(url, members)?);
        self.groups
            .lock()
            .map_err(|_| Error::Internal("shard groups lock poisoned".to_owned()))?
            .insert(url.to_owned(), g.clone());
        Ok(g)
    }

    /// The epoch routing follows (0: the configured list, no map seen).
    pub fn epoch(&self) -> u64 {
        self.routing.load().epoch()
    }

    /// The shards routing uses now, in placement order.
    pub fn current(&self) -> Vec<Arc<Group>> {
        self.routing.load().shards.clone()
    }

    /// The shard `user_id` is routed to now.
    pub fn route(&self, user_id: &str) -> Arc<Group> {
        let routing = self.routing.load();
        let index = match &routing.map {
            Some(map) => shardmap::owner(map, user_id).index,
            None => shardmap::shard_for(user_id, routing.shards.len()),
        };
        routing.shards[index.min(routing.shards.len() - 1)].clone()
    }

    /// Calls the shard owning `user_id` (see the module docs for the
    /// retries; refused calls wrote nothing, so retrying writes is safe).
    pub async fn call<M, R, F, Fut>(
        &self,
        user_id: &str,
        deadline: Instant,
        message: M,
        setup: impl Fn(&mut Request<M>),
        call: F,
    ) -> Result<Response<R>, Status>
    where
        M: Clone,
        F: Fn(Link, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let started = Instant::now();
        let mut refreshed = false;
        let mut pause = Duration::from_millis(5);
        loop {
            let group = self.route(user_id);
            let answer = group
                .call(deadline, FAILOVER_WAIT, |backend, attempt| {
                    let mut req = Request::new(message.clone());
                    setup(&mut req);
                    let call = &call;
                    async move { call_with_deadline(&backend, attempt, req, call).await }
                })
                .await;
            let status = match answer {
                Ok(resp) => return Ok(resp),
                Err(status) => status,
            };
            match shardmap::refusal(&status) {
                Some(Refusal::WrongShard { epoch, .. }) if !refreshed => {
                    refreshed = true;
                    tracing::debug!(shard = %group.url, epoch, "wrong shard; refreshing the shard map");
                    self.refresh(Some(&group), epoch).await;
                }
                Some(Refusal::WrongShard { .. }) => {
                    return Err(Status::with_details(
                        Code::Unavailable,
                        "the session shards are changing owners; retry in a moment",
                        status.details().to_vec().into(),
                    ));
                }
                Some(Refusal::UserMoving { epoch }) => {
                    let now = Instant::now();
                    if now + pause >= deadline || now + pause > started + MOVING_WAIT {
                        return Err(status);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                    if epoch > self.epoch() {
                        self.refresh(Some(&group), epoch).await;
                    }
                }
                _ => return Err(status),
            }
        }
    }

    /// Fetches the shard map and routes by it when it is newer than the
    /// one followed: from `first` (a shard that just refused), then the
    /// others, until one holds at least epoch `wanted` (0: ask every shard
    /// and keep the newest). Failures keep the current routing.
    pub async fn refresh(&self, first: Option<&Group>, wanted: u64) {
        let _one = self.refreshing.lock().await;
        if wanted > 0 && self.epoch() >= wanted {
            return;
        }
        let mut ask: Vec<Arc<Group>> = Vec::new();
        if let Some(first) = first.and_then(|f| self.group(&f.url).ok()) {
            ask.push(first);
        }
        for b in self.current() {
            if !ask.iter().any(|a| a.url == b.url) {
                ask.push(b);
            }
        }
        let mut best: Option<ShardMap> = None;
        for b in ask {
            match self.fetch(&b).await {
                Ok(Some(map)) if best.as_ref().is_none_or(|m| map.epoch > m.epoch) => {
                    best = Some(map);
                }
                Ok(_) => {}
                Err(status) => {
                    tracing::debug!(backend = %b.url, error = %status.message(), "shard map not fetched");
                }
            }
            if wanted > 0 && best.as_ref().is_some_and(|m| m.epoch >= wanted) {
                break;
            }
        }
        if let Some(map) = best {
            self.adopt(map);
        }
    }

    /// GetShardMap from the group's preferred member, else the others (any
    /// replica holds the map).
    async fn fetch(&self, group: &Group) -> Result<Option<ShardMap>, Status> {
        let (first, _) = group.preferred();
        let n = group.members.len();
        let mut last = Status::unavailable("no member");
        for i in 0..n {
            match self.fetch_from(&group.members[(first + i) % n]).await {
                Ok(map) => return Ok(map),
                Err(status) => last = status,
            }
        }
        Err(last)
    }

    async fn fetch_from(&self, backend: &Backend) -> Result<Option<ShardMap>, Status> {
        let mut req = Request::new(GetShardMapRequest {});
        req.metadata_mut()
            .insert(INTERNAL_TOKEN, self.token.clone());
        req.set_timeout(MAP_TIMEOUT);
        let resp = tokio::time::timeout(
            MAP_TIMEOUT,
            SessionAdminServiceClient::new(backend.channel()).get_shard_map(req),
        )
        .await
        .map_err(|_| Status::deadline_exceeded("GetShardMap"))??;
        Ok(resp.into_inner().map)
    }

    /// Routes by `map` when it is newer and usable.
    fn adopt(&self, map: ShardMap) {
        if map.epoch <= self.epoch() {
            return;
        }
        if let Err(why) = shardmap::validate(&map) {
            tracing::warn!(epoch = map.epoch, error = %why, "ignoring an unusable shard map");
            return;
        }
        let shards = match map
            .shards
            .iter()
            .map(|s| self.group(&s.url))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(shards) => shards,
            Err(e) => {
                tracing::warn!(epoch = map.epoch, error = %e, "ignoring a shard map");
                return;
            }
        };
        tracing::info!(
            epoch = map.epoch,
            shards = shards.len(),
            moving = map.r#move.is_some(),
            "following a new shard map"
        );
        self.routing.store(Arc::new(Routing {
            map: Some(Arc::new(map)),
            shards,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards of `urls` whose backends are never dialled.
    fn shards(urls: &[&str]) -> Shards {
        let urls: Vec<String> = urls.iter().map(|u| (*u).to_owned()).collect();
        Shards::new(
            &urls,
            &BackendTls::default(),
            Duration::from_millis(100),
            1,
            &MemoryBackends::default(),
            &Metrics::new().unwrap(),
            "t".parse().unwrap(),
        )
        .unwrap()
    }

    /// After member `from` refused naming `leader`, where calls go next.
    #[track_caller]
    fn check(from: usize, leader: Option<&str>, expected: usize) {
        let s = shards(&["http://a:1|http://b:1|http://c:1"]);
        let group = s.current()[0].clone();
        group.leader.store(from, Ordering::Relaxed);
        group.follow(from, leader);
        assert_eq!(group.preferred().0, expected);
    }

    // Lazy channels need a runtime to be made in, not to be used.
    #[tokio::test]
    async fn calls_follow_the_named_leader_or_the_next_member() {
        check(0, Some("http://c:1"), 2);
        check(2, Some("http://a:1"), 0);
        // No leader named (an election), or one that is not a member, or
        // the refusing member itself: the next member, wrapping around.
        check(0, None, 1);
        check(2, None, 0);
        check(1, Some("http://elsewhere:1"), 2);
        check(1, Some("http://b:1"), 2);
    }

    #[tokio::test]
    async fn a_shard_url_is_a_group_of_members() {
        let s = shards(&["http://a:1", "id=http://b:1 | http://c:1"]);
        let groups = s.current();
        let members: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| g.members.iter().map(|m| m.url.as_str()).collect())
            .collect();
        assert_eq!(
            members,
            [vec!["http://a:1"], vec!["http://b:1", "http://c:1"]]
        );
        // A move by another call is not undone by a stale refusal.
        let g = &groups[1];
        g.follow(0, None);
        g.follow(0, None);
        assert_eq!(g.preferred().0, 1);
    }

    /// What each member answers, by URL, in a fake call.
    async fn answer(url: &str, answers: &[(&str, Result<(), Status>)]) -> Result<String, Status> {
        match answers.iter().find(|(u, _)| *u == url) {
            Some((_, Ok(()))) => Ok(url.to_owned()),
            Some((_, Err(s))) => Err(s.clone()),
            None => Err(Status::unavailable("unreachable")),
        }
    }

    /// Where `Group::call` ends: the members called in turn, and the answer.
    #[track_caller]
    fn check_call(answers: &[(&str, Result<(), Status>)], called: &[&str], code: Option<Code>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = shards(&["http://a:1|http://b:1|http://c:1"]);
            let group = s.current()[0].clone();
            let seen = Mutex::new(Vec::new());
            let deadline = Instant::now() + Duration::from_secs(2);
            let got = group
                .call(deadline, Duration::from_millis(500), |b, _| {
                    seen.lock().unwrap().push(b.url.clone());
                    let url = b.url.clone();
                    async move { answer(&url, answers).await }
                })
                .await;
            let seen = seen.into_inner().unwrap();
            assert_eq!(seen.iter().map(String::as_str).collect::<Vec<_>>(), called);
            assert_eq!(got.err().map(|s| s.code()), code);
        });
    }

    #[test]
    fn a_group_call_follows_the_leader_and_returns_every_other_answer() {
        let not_leader = |l: &str| Err(shardmap::not_leader(Some(3), Some(l)));
        // The named leader is called next, and answers.
        check_call(
            &[
                ("http://a:1", not_leader("http://c:1")),
                ("http://c:1", Ok(())),
            ],
            &["http://a:1", "http://c:1"],
            None,
        );
        // An unreachable member: the next one.
        check_call(
            &[("http://b:1", Ok(()))],
            &["http://a:1", "http://b:1"],
            None,
        );
        // A shard's own refusal is the caller's to handle, not followed.
        check_call(
            &[("http://a:1", Err(shardmap::wrong_shard(None, 4)))],
            &["http://a:1"],
            Some(Code::FailedPrecondition),
        );
        check_call(
            &[("http://a:1", Err(Status::invalid_argument("bad")))],
            &["http://a:1"],
            Some(Code::InvalidArgument),
        );
    }
}
