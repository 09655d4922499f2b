//! All backends: the catalog replicas (round robin, one retry on another
//! replica) and the session shards (`shards.rs`), and the health polling
//! that reflects them in the gateway's own health. One backend's channel,
//! deadlines and error mapping are `backend.rs`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use knotwork_runtime::memory::Link;
use knotwork_runtime::memory::MemoryBackends;
use knotwork_runtime::tls::BackendTls;
use tonic::{Code, Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;

use crate::Error;
use crate::metrics::Metrics;
use crate::route::RoundRobin;

pub use crate::backend::{Backend, Role, call_with_deadline, classify};

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
                Some(every) if memory.link(u).is_none() => Backend::discovered(
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
        F: Fn(Link, Request<M>) -> Fut,
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
