//! One backend: a lazily connecting channel, deadlines and error mapping.
//!
//! Every backend gets lazily connecting channels with a connect timeout:
//! nothing is dialled at start, a dead backend fails a call fast with
//! UNAVAILABLE, and a backend that comes back is dialled again on the next
//! call (tonic reconnects), so no restart is needed. A backend in the same
//! process (`knotwork up`) is called through one in-process [`Link`]
//! instead, and refuses calls the same way until it serves.
//!
//! Error mapping: a status the backend sent passes through (bounded); a
//! status tonic made locally (it carries a source error: refused
//! connection, reset stream) becomes UNAVAILABLE; a passed deadline becomes
//! DEADLINE_EXCEEDED.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use knotwork_runtime::memory::Link;
use knotwork_runtime::memory::MemoryBackends;
use knotwork_runtime::tls::BackendTls;
use tonic::{Code, Request, Response, Status};

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
    channels: Vec<Link>,
    next: RoundRobin,
    /// Whether the last health poll found it serving (`poll_health` sets it).
    pub(crate) up: AtomicBool,
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
        let channels = match memory.link(url) {
            // In process there is no connection to spread calls over.
            Some(link) => vec![link],
            None => (0..connections.max(1))
                .map(|_| endpoint.connect_lazy().into())
                .collect(),
        };
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
        let (channel, changes) =
            tonic::transport::Channel::balance_channel::<std::net::SocketAddr>(64);
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
            channels: vec![channel.into()],
            next: RoundRobin::default(),
            up: AtomicBool::new(true),
            metrics,
        })
    }

    /// The next channel to use.
    pub fn channel(&self) -> Link {
        self.channels[self.next.next(self.channels.len())].clone()
    }

    /// Whether the last health poll found it serving (true until polled).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
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
    F: Fn(Link, Request<M>) -> Fut,
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
    F: Fn(Link, Request<M>) -> Fut,
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
