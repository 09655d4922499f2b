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

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use knotwork_proto::metadata::INTERNAL_TOKEN;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::{GetShardMapRequest, ShardMap};
use knotwork_runtime::memory::MemoryBackends;
use knotwork_runtime::shardmap::{self, Refusal};
use knotwork_runtime::tls::BackendTls;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use crate::Error;
use crate::metrics::Metrics;
use crate::upstream::{Backend, Role, call_with_deadline};

/// The longest a call waits, retrying, while its user is cut over.
pub const MOVING_WAIT: Duration = Duration::from_secs(2);

/// How long one GetShardMap may take.
const MAP_TIMEOUT: Duration = Duration::from_secs(1);

/// What routing reads: a map (or the configured list) and a backend per
/// shard, in placement order.
#[derive(Debug)]
struct Routing {
    map: Option<Arc<ShardMap>>,
    shards: Vec<Arc<Backend>>,
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
    /// One map refresh at a time; the others wait and see its result.
    refreshing: tokio::sync::Mutex<()>,
    factory: Factory,
    token: AsciiMetadataValue,
}

impl Shards {
    /// The shards of `urls` (in order; an entry may be `id=url`, the id is
    /// then ignored here), called with `token` for GetShardMap.
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
            .map(|u| this.backend(u))
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

    /// The epoch routing follows (0: the configured list, no map seen).
    pub fn epoch(&self) -> u64 {
        self.routing.load().epoch()
    }

    /// The shards routing uses now, in placement order.
    pub fn current(&self) -> Vec<Arc<Backend>> {
        self.routing.load().shards.clone()
    }

    /// The shard `user_id` is routed to now.
    pub fn route(&self, user_id: &str) -> Arc<Backend> {
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
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let started = Instant::now();
        let mut refreshed = false;
        let mut pause = Duration::from_millis(5);
        loop {
            let backend = self.route(user_id);
            let mut req = Request::new(message.clone());
            setup(&mut req);
            let status = match call_with_deadline(&backend, deadline, req, &call).await {
                Ok(resp) => return Ok(resp),
                Err(status) => status,
            };
            match shardmap::refusal(&status) {
                Some(Refusal::WrongShard { epoch, .. }) if !refreshed => {
                    refreshed = true;
                    tracing::debug!(backend = %backend.url, epoch, "wrong shard; refreshing the shard map");
                    self.refresh(Some(&backend), epoch).await;
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
                        self.refresh(Some(&backend), epoch).await;
                    }
                }
                None => return Err(status),
            }
        }
    }

    /// Fetches the shard map and routes by it when it is newer than the
    /// one followed: from `first` (a shard that just refused), then the
    /// others, until one holds at least epoch `wanted` (0: ask every shard
    /// and keep the newest). Failures keep the current routing.
    pub async fn refresh(&self, first: Option<&Backend>, wanted: u64) {
        let _one = self.refreshing.lock().await;
        if wanted > 0 && self.epoch() >= wanted {
            return;
        }
        let mut ask: Vec<Arc<Backend>> = Vec::new();
        if let Some(first) = first.and_then(|f| self.backend(&f.url).ok()) {
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

    async fn fetch(&self, backend: &Backend) -> Result<Option<ShardMap>, Status> {
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
            .map(|s| self.backend(&s.url))
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
