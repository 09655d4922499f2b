//! The tonic handlers: forwarding of the public services as encoded bytes
//! (the catalog's, see [`catalog`]; the session's unary calls, see
//! [`session`]; its server streams typed; both byte paths serve and call
//! through [`raw`]) and the gateway's own screens. Each handler
//! authenticates (when required), applies the rate limits, computes the
//! backend deadline and forwards.
//!
//! Outgoing requests are built from the message alone: none of the
//! caller's metadata is copied, so nothing a client sends can reach a
//! backend except the message, the request id, the deadline and the trace
//! context (parsed and written anew). The
//! gateway sets `x-knotwork-user-id` (the verified `sub`) and
//! `x-knotwork-internal-token` itself.

mod catalog;
mod raw;
mod session;
mod view;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use knotwork_proto::metadata::{INTERNAL_TOKEN, REQUEST_ID};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::{Request, Status};

pub use catalog::CatalogForward;
pub use session::{SessionBytes, SessionForward};
pub use view::{Views, relief_plan_query};

use crate::Error;
use crate::auth::Authenticator;
use crate::domain::forwarded::{self, ForwardedHeader};
use crate::limit::{Limits, Slots};
use crate::upstream::Upstreams;

/// What every handler shares.
#[derive(Debug)]
pub struct Shared {
    /// Token verification.
    pub auth: Authenticator,
    /// The backends.
    pub upstreams: Arc<Upstreams>,
    /// Rate limits.
    pub limits: Limits,
    /// The internal credential, ready to send.
    pub internal_token: AsciiMetadataValue,
    /// The unary deadline cap.
    pub max_timeout: Duration,
    /// The server-stream deadline cap.
    pub max_stream_timeout: Duration,
    /// Largest message, both directions.
    pub max_message: usize,
    /// The gateway's metrics.
    pub metrics: crate::metrics::Metrics,
    /// Proxies whose forwarding header names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// The forwarding header they set.
    pub forwarded_header: ForwardedHeader,
    /// Open GuideSession streams per user, capped.
    pub guide_streams: Slots<String>,
    /// Catalog answers kept at the edge.
    pub catalog_cache: Arc<crate::catalog_cache::CatalogCache>,
}

/// One call's context.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The request id (kept from the caller or minted by the edge layer).
    pub request_id: String,
    /// The verified user, for authenticated calls.
    pub user: Option<String>,
    /// When the backend call must be done.
    pub deadline: Instant,
}

impl Shared {
    /// Context of a public call: counted against the caller's user when it
    /// carries a valid bearer token, else against its address (see
    /// [`Shared::admit`]). The call itself stays anonymous.
    pub async fn public<M>(&self, req: &Request<M>) -> Result<Ctx, Status> {
        if req.metadata().get("authorization").is_none() {
            self.limits.check_addr(self.client_ip(req))?;
        } else if let Err(e) = self.admit(req).await {
            // A refused token on a public call only costs the address.
            if !matches!(e, Error::Unauthenticated { .. }) {
                return Err(e.into());
            }
        }
        Ok(Ctx {
            request_id: knotwork_runtime::internal::request_id(req.metadata()),
            user: None,
            deadline: arrived(req) + client_timeout(req.metadata(), self.max_timeout),
        })
    }

    /// Context of an authenticated call: the bearer token (which may wait
    /// for one rate-limited key refresh when it names an unknown key) and
    /// the user's limit (see [`Shared::admit`]).
    pub async fn private<M>(&self, req: &Request<M>, cap: Duration) -> Result<Ctx, Status> {
        let user = self.admit(req).await.inspect_err(|e| {
            if matches!(e, Error::Unauthenticated { .. }) {
                tracing::info!(error = %e, "call refused: not authenticated");
            }
        })?;
        Ok(Ctx {
            request_id: knotwork_runtime::internal::request_id(req.metadata()),
            user: Some(user),
            deadline: arrived(req) + client_timeout(req.metadata(), cap),
        })
    }

    /// The fair-edge rule: a call with a valid token is limited per verified
    /// user only, so an anonymous flood from the same address (or from
    /// everyone behind one proxy) does not refuse it; a call whose token is
    /// missing or refused costs its address, and a refusal by the address
    /// limit comes first (RESOURCE_EXHAUSTED), so guessing tokens is as
    /// limited as any anonymous call.
    async fn admit<M>(&self, req: &Request<M>) -> Result<String, Error> {
        // The intake layer verified the token already (`auth::Verified`).
        let verified = match req.extensions().get::<crate::auth::Verified>() {
            Some(verified) => verified.result(),
            None => self.auth.verify(req.metadata()).await,
        };
        match verified {
            Ok(user) => {
                self.limits.check_user(&user)?;
                Ok(user)
            }
            Err(refused) => {
                self.limits.check_addr(self.client_ip(req))?;
                Err(refused)
            }
        }
    }

    /// The client's address of a call: its TCP peer, or behind a trusted
    /// proxy the address the forwarding header names
    /// ([`forwarded::client_ip`]).
    pub fn client_ip<M>(&self, req: &Request<M>) -> Option<IpAddr> {
        self.client_ip_of(req.metadata().as_ref(), req.remote_addr().map(|a| a.ip()))
    }

    /// [`Shared::client_ip`] from the HTTP headers and the peer address.
    pub fn client_ip_of(&self, headers: &http::HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let peer = peer?;
        if self.trusted_proxies.is_empty() {
            return Some(peer);
        }
        let values = headers.get_all(self.forwarded_header.name());
        Some(forwarded::client_ip(
            peer,
            &self.trusted_proxies,
            self.forwarded_header,
            values.iter().filter_map(|v| v.to_str().ok()),
        ))
    }

    /// The verified user of `ctx` (empty for public calls).
    pub fn user<'a>(&self, ctx: &'a Ctx) -> &'a str {
        ctx.user.as_deref().unwrap_or("")
    }

    /// Sets the gateway's own metadata on an outgoing request: the request
    /// id, the trace context (the call's span, see
    /// `knotwork_runtime::trace`), and for authenticated calls the user id
    /// and internal credential.
    pub fn setup<M>(&self, ctx: &Ctx, req: &mut Request<M>) {
        let md = req.metadata_mut();
        if let Ok(v) = ctx.request_id.parse() {
            md.insert(REQUEST_ID, v);
        }
        knotwork_runtime::trace::inject(md);
        if let Some(user) = &ctx.user {
            // Any UTF-8 id: visible ASCII as text, the rest as binary
            // metadata (knotwork-runtime's internal boundary).
            knotwork_runtime::internal::set_user_id(md, user);
            md.insert(INTERNAL_TOKEN, self.internal_token.clone());
        }
    }

    /// Calls the shard owning the caller's data with `message` and the
    /// gateway's metadata, following the shard map (one retry after a
    /// WRONG_SHARD refusal, waits out a USER_MOVING one): the one routing
    /// function of every session call ([`crate::shards::Shards::call`]).
    pub async fn call_session<M, R, F, Fut>(
        &self,
        ctx: &Ctx,
        message: M,
        call: F,
    ) -> Result<tonic::Response<R>, Status>
    where
        M: Clone,
        F: Fn(knotwork_runtime::memory::Link, Request<M>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<R>, Status>>,
    {
        self.upstreams
            .sessions
            .call(
                self.user(ctx),
                ctx.deadline,
                message,
                |r| self.setup(ctx, r),
                call,
            )
            .await
    }
}

/// When the call arrived (see [`crate::layer::Arrived`]); now for a call
/// that did not pass the edge layer (unit tests).
fn arrived<M>(req: &Request<M>) -> Instant {
    req.extensions()
        .get::<crate::layer::Arrived>()
        .map_or_else(Instant::now, |a| a.0)
}

/// The caller's `grpc-timeout` less a small margin (a tenth, at most 20 ms,
/// so the gateway's DEADLINE_EXCEEDED reaches the caller before the
/// caller's own timer fires), capped by `cap`; `cap` when absent or
/// unreadable.
fn client_timeout(md: &MetadataMap, cap: Duration) -> Duration {
    md.get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map_or(cap, |t| {
            (t - (t / 10).min(Duration::from_millis(20))).min(cap)
        })
}

/// Parses the gRPC wire format of a timeout: up to 8 digits and a unit
/// (`H`, `M`, `S`, `m`, `u`, `n`).
fn parse_grpc_timeout(s: &str) -> Option<Duration> {
    if s.len() < 2 || s.len() > 9 {
        return None;
    }
    let (digits, unit) = s.split_at(s.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: Option<Duration>) {
        assert_eq!(parse_grpc_timeout(input), expected, "{input}");
    }

    #[test]
    fn grpc_timeout_table() {
        check("1H", Some(Duration::from_secs(3600)));
        check("2M", Some(Duration::from_secs(120)));
        check("3S", Some(Duration::from_secs(3)));
        check("250m", Some(Duration::from_millis(250)));
        check("7u", Some(Duration::from_micros(7)));
        check("9n", Some(Duration::from_nanos(9)));
        check("S", None);
        check("10x", None);
        check("123456789S", None);
        check("-1S", None);
    }

    #[test]
    fn timeout_is_capped() {
        let mut md = MetadataMap::new();
        let cap = Duration::from_secs(5);
        assert_eq!(client_timeout(&md, cap), cap);
        md.insert("grpc-timeout", "100m".parse().unwrap());
        assert_eq!(client_timeout(&md, cap), Duration::from_millis(90));
        md.insert("grpc-timeout", "1S".parse().unwrap());
        assert_eq!(client_timeout(&md, cap), Duration::from_millis(980));
        md.insert("grpc-timeout", "1H".parse().unwrap());
        assert_eq!(client_timeout(&md, cap), cap);
    }
}
