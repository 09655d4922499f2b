//! Channels to the backends, deadlines, retries and health polling.
//!
//! Every backend gets one lazily connecting [`Channel`] with a connect
//! timeout: nothing is dialled at start, a dead backend fails a call fast
//! with UNAVAILABLE, and a backend that comes back is dialled again on the
//! next call (tonic reconnects), so no restart is needed.
//!
//! Error mapping: a status the backend sent passes through (bounded); a
//! status tonic made locally (it carries a source error: refused
//! connection, reset stream) becomes UNAVAILABLE; a passed deadline becomes
//! DEADLINE_EXCEEDED.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use knotwork_runtime::memory::MemoryBackends;
use knotwork_runtime::tls::BackendTls;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;

use crate::Error;
use crate::metrics::Metrics;
use crate::route::RoundRobin;

/// The largest header block the gateway accepts from a backend (1 MiB).
/// Backends bound their statuses to a few KiB (`knotwork_runtime::bounded`);
/// HTTP/2's default of 16 KiB would turn one larger reply into a
/// connection error that resets every call sharing the connection. A block
/// that decodes larger than this fails only its own call
/// ([`answer_too_large`]).
pub const BACKEND_HEADER_LIST_LIMIT: u32 = 1 << 20;

/// What a backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A catalog replica.
    Catalog,
    /// A session shard.
    Session,
}

impl Role {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Catalog => "catalog",
            Role::Session => "session",
        }
    }
}

/// One backend address and its channels.
#[derive(Debug)]
pub struct Backend {
    /// The configured URL.
    pub url: String,
    /// Its role.
    pub role: Role,
    /// Lazily connecting channels (HTTP/2 connections), used in turn: one
    /// connection serializes its streams' framing, several spread the load.
    channels: Vec<Channel>,
    next: RoundRobin,
    up: AtomicBool,
    metrics: Metrics,
}

impl Backend {
    /// Creates the backend's lazy channels (`connections` of them, at least
    /// one), over TLS per `tls` when `url` is `https://`, in memory when
    /// `memory` serves `url` in this process (`knotwork up`).
    pub fn new(
        url: &str,
        role: Role,
        tls: &BackendTls,
        connect_timeout: Duration,
        connections: usize,
        memory: &MemoryBackends,
        metrics: Metrics,
    ) -> Result<Self, Error> {
        let endpoint = tls
            .endpoint(url)
            .map_err(|e| Error::Config(format!("backend {url:?}: {e}")))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .http2_max_header_list_size(BACKEND_HEADER_LIST_LIMIT);
        let channels = (0..connections.max(1))
            .map(|_| match memory.get(url) {
                Some(connector) => endpoint
                    .clone()
                    .connect_with_connector_lazy(connector.clone()),
                None => endpoint.connect_lazy(),
            })
            .collect();
        Ok(Self {
            url: url.to_owned(),
            role,
            channels,
            next: RoundRobin::default(),
            up: AtomicBool::new(true),
            metrics,
        })
    }

    /// A backend whose `url` names a host with many addresses (a headless
    /// Service: one per ready pod): the host is resolved every `resolve`,
    /// and each call goes to one of the addresses found (tonic's balancing
    /// channel, power of two choices over the ready connections), so every
    /// replica takes calls and pods that come and go are picked up.
    pub fn discovered(
        url: &str,
        role: Role,
        tls: &BackendTls,
        connect_timeout: Duration,
        resolve: Duration,
        metrics: Metrics,
    ) -> Result<Self, Error> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::Config(format!("backend {url:?}: {e}")))?;
        let host = uri
            .host()
            .ok_or_else(|| Error::Config(format!("backend {url:?}: no host")))?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let port = uri
            .port_u16()
            .unwrap_or(if knotwork_runtime::tls::is_https(url) {
                443
            } else {
                80
            });
        // Checked once here so a wrong TLS setting stops the start.
        tls.endpoint(url)
            .map_err(|e| Error::Config(format!("backend {url:?}: {e}")))?;
        let (channel, changes) = Channel::balance_channel::<std::net::SocketAddr>(64);
        let (url_owned, tls) = (url.to_owned(), tls.clone());
        tokio::spawn(async move {
            let mut known = std::collections::BTreeSet::new();
            loop {
                match tokio::net::lookup_host((host.as_str(), port)).await {
                    Ok(found) => {
                        let found: std::collections::BTreeSet<_> = found.collect();
                        for gone in known.difference(&found) {
                            tracing::info!(backend = %url_owned, addr = %gone, "replica gone");
                            if changes
                                .send(tonic::transport::channel::Change::Remove(*gone))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        for new in found.difference(&known) {
                            let endpoint = match tls.endpoint_at(&url_owned, *new) {
                                Ok(e) => e
                                    .connect_timeout(connect_timeout)
                                    .tcp_nodelay(true)
                                    .http2_keep_alive_interval(Duration::from_secs(30))
                                    .keep_alive_timeout(Duration::from_secs(10))
                                    .http2_max_header_list_size(BACKEND_HEADER_LIST_LIMIT),
                                Err(e) => {
                                    tracing::warn!(backend = %url_owned, error = %e, "replica address unusable");
                                    continue;
                                }
                            };
                            tracing::info!(backend = %url_owned, addr = %new, "replica found");
                            if changes
                                .send(tonic::transport::channel::Change::Insert(*new, endpoint))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        known = found;
                    }
                    // Keep the addresses known: a DNS hiccup is not a
                    // reason to stop calling live replicas.
                    Err(e) => tracing::warn!(backend = %url_owned, error = %e, "resolving failed"),
                }
                tokio::select! {
                    () = tokio::time::sleep(resolve) => {}
                    () = changes.closed() => return,
                }
            }
        });
        Ok(Self {
            url: url.to_owned(),
            role,
            channels: vec![channel],
            next: RoundRobin::default(),
            up: AtomicBool::new(true),
            metrics,
        })
    }

    /// The next channel to use.
    pub fn channel(&self) -> Channel {
        self.channels[self.next.next(self.channels.len())].clone()
    }

    /// Whether the last health poll found it serving (true until polled).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

/// All backends.
#[derive(Debug)]
pub struct Upstreams {
    /// Catalog replicas, balanced round robin.
    pub catalog: Vec<Backend>,
    /// Session shards, routed by the shard map.
    pub sessions: crate::shards::Shards,
    rr: RoundRobin,
}

impl Upstreams {
    /// Builds the backends from URL lists (empty entries are skipped);
    /// those `memory` lists are dialled in process. `token` is the internal
    /// credential GetShardMap presents. With `catalog_resolve` set, each
    /// catalog URL's host is resolved that often and calls are balanced over
    /// its addresses ([`Backend::discovered`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: &[String],
        sessions: &[String],
        tls: &BackendTls,
        connect_timeout: Duration,
        connections: usize,
        memory: &MemoryBackends,
        catalog_resolve: Option<Duration>,
        metrics: &Metrics,
        token: tonic::metadata::AsciiMetadataValue,
    ) -> Result<Self, Error> {
        let catalog = catalog
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(|u| match catalog_resolve {
                // In-process catalogs have one address: nothing to resolve.
                Some(every) if memory.get(u).is_none() => Backend::discovered(
                    u,
                    Role::Catalog,
                    tls,
                    connect_timeout,
                    every,
                    metrics.clone(),
                ),
                _ => Backend::new(
                    u,
                    Role::Catalog,
                    tls,
                    connect_timeout,
                    connections,
                    memory,
                    metrics.clone(),
                ),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sessions = crate::shards::Shards::new(
            sessions,
            tls,
            connect_timeout,
            connections,
            memory,
            metrics,
            token,
        )?;
        if catalog.is_empty() {
            return Err(Error::Config(
                "catalog and session backends are required".to_owned(),
            ));
        }
        Ok(Self {
            catalog,
            sessions,
            rr: RoundRobin::default(),
        })
    }

    /// The next catalog replica, round robin, skipping replicas the health
    /// poll found down while any is up.
    pub fn pick_catalog(&self) -> usize {
        let n = self.catalog.len();
        let start = self.rr.next(n);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.catalog[i].is_up())
            .unwrap_or(start)
    }

    /// Calls a catalog replica; an UNAVAILABLE answer is retried once on the
    /// next replica within the same deadline (catalog calls are reads, so
    /// they are idempotent).
    pub async fn call_catalog<M, R, F, Fut>(
        &self,
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
        let first = self.pick_catalog();
        let mut req = Request::new(message.clone());
        setup(&mut req);
        match call_with_deadline(&self.catalog[first], deadline, req, &call).await {
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                let second = (first + 1) % self.catalog.len();
                tracing::debug!(backend = %self.catalog[first].url, "catalog replica unavailable, retrying once");
                let mut req = Request::new(message);
                setup(&mut req);
                call_with_deadline(&self.catalog[second], deadline, req, &call).await
            }
            other => other,
        }
    }
}

/// Sets the `grpc-timeout` of `req` to what remains of `deadline`.
pub fn set_deadline<M>(req: &mut Request<M>, deadline: Instant) {
    req.set_timeout(
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1)),
    );
}

/// Calls one backend with a deadline and maps local failures; records the
/// backend's latency and outcome.
pub async fn call_with_deadline<M, R, F, Fut>(
    backend: &Backend,
    deadline: Instant,
    req: Request<M>,
    call: &F,
) -> Result<Response<R>, Status>
where
    F: Fn(Channel, Request<M>) -> Fut,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let started = Instant::now();
    let result = call_backend(backend, deadline, req, call).await;
    let code = result.as_ref().map_or_else(Status::code, |_| Code::Ok);
    backend
        .metrics
        .backend_call(backend.role.label(), &backend.url, code, started.elapsed());
    result
}

async fn call_backend<M, R, F, Fut>(
    backend: &Backend,
    deadline: Instant,
    mut req: Request<M>,
    call: &F,
) -> Result<Response<R>, Status>
where
    F: Fn(Channel, Request<M>) -> Fut,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    set_deadline(&mut req, deadline);
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, call(backend.channel(), req)).await {
        Err(_) => Err(Status::from(Error::DeadlineExceeded)),
        Ok(Ok(resp)) => Ok(resp),
        // A CANCELLED at the deadline is a timer (tonic's or the backend's
        // grpc-timeout enforcement) that fired just before ours.
        Ok(Err(status))
            if status.code() == Code::Cancelled
                && Instant::now() + Duration::from_millis(2) >= deadline =>
        {
            Err(Status::from(Error::DeadlineExceeded))
        }
        Ok(Err(status)) => Err(classify(status, &backend.url)),
    }
}

/// Maps a client-side status: a status with a source error was made
/// locally by tonic (the backend never answered), anything else came from
/// the backend and passes through with its code, message and details.
pub fn classify(status: Status, url: &str) -> Status {
    let local = std::error::Error::source(&status).is_some();
    if status.code() == Code::Cancelled && local {
        // tonic's own grpc-timeout enforcement.
        return Status::from(Error::DeadlineExceeded);
    }
    if local && answer_too_large(&status) {
        tracing::warn!(backend = %url, error = %status.message(), "backend answer refused");
        return Status::resource_exhausted(
            "the backend's answer is larger than the gateway accepts; \
             retrying the same call will fail the same way",
        );
    }
    if local {
        tracing::warn!(backend = %url, error = %status.message(), "backend unreachable");
        return Status::from(Error::Unavailable(status.message().to_owned()));
    }
    // Rebuild without the backend's raw metadata: code, message and the
    // encoded details travel on, bounded (a backend's reply is input too).
    knotwork_runtime::bounded::bounded(Status::with_details(
        status.code(),
        status.message(),
        status.details().to_vec().into(),
    ))
}

/// Whether a locally made status is the HTTP/2 client refusing one answer
/// (a header block over [`BACKEND_HEADER_LIST_LIMIT`] or otherwise
/// malformed): a stream error the client library detected, which resets
/// that stream only. The backend is reachable, so this is not UNAVAILABLE
/// (a code that invites retries) but RESOURCE_EXHAUSTED, as gRPC reports a
/// received reply over a limit.
fn answer_too_large(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.is_reset()
                && h2.is_library()
                && h2.reason() == Some(h2::Reason::PROTOCOL_ERROR);
        }
        source = err.source();
    }
    false
}

/// Polls every backend's `grpc.health.v1` and reflects the result in the
/// gateway's own health: the catalog is SERVING while any replica is, the
/// session service while every shard is, the views while both are. The
/// overall status is the gateway's own and stays SERVING.
pub async fn poll_health(
    upstreams: Arc<Upstreams>,
    reporter: HealthReporter,
    metrics: Metrics,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let check = |b: &Backend| {
            let channel = b.channel();
            async move {
                let mut client = HealthClient::new(channel);
                let req = Request::new(HealthCheckRequest {
                    service: String::new(),
                });
                let res = tokio::time::timeout(Duration::from_secs(2), client.check(req)).await;
                matches!(res, Ok(Ok(r)) if r.get_ref().status == i32::from(tonic_health::pb::health_check_response::ServingStatus::Serving))
            }
        };
        // A newer shard map, if any shard holds one, before the health of
        // the shards it names is asked.
        upstreams.sessions.refresh(None, 0).await;
        let sessions = upstreams.sessions.current();
        let all: Vec<&Backend> = upstreams
            .catalog
            .iter()
            .chain(sessions.iter().flat_map(|g| g.members.iter().map(|b| &**b)))
            .collect();
        let results = futures::future::join_all(all.iter().map(|b| check(b))).await;
        for (b, up) in all.iter().zip(results) {
            if b.up.swap(up, Ordering::Relaxed) != up {
                tracing::info!(backend = %b.url, role = b.role.label(), up, "backend health changed");
            }
            metrics.backend_up(b.role.label(), &b.url, up);
        }
        let catalog_ok = upstreams.catalog.iter().any(Backend::is_up);
        let session_ok = sessions.iter().all(|g| g.is_up());
        let status = |ok: bool| {
            if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        reporter
            .set_service_status(knotwork_proto::names::CATALOG_SERVICE, status(catalog_ok))
            .await;
        reporter
            .set_service_status(knotwork_proto::names::SESSION_SERVICE, status(session_ok))
            .await;
        reporter
            .set_service_status(
                knotwork_proto::names::VIEW_SERVICE,
                status(catalog_ok && session_ok),
            )
            .await;
        // The overall status ("") is the gateway itself: it stays SERVING
        // while a backend is down, so orchestrator probes do not restart or
        // drain every gateway replica because one shard is out (the users on
        // the other shards are still served). Backends are reported under
        // their service names.
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
