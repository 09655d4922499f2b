//! Intake: what the gateway decides about a call from its headers alone,
//! before its message is read.
//!
//! [`IntakeLayer`] sits inside tonic-web (so grpc-web calls are plain gRPC
//! here and its refusals reach browsers translated) and inside the edge
//! layer (so they carry a request id and are counted). For each call it:
//!
//! 1. refuses request headers over `KNOTWORK_MAX_HEADER_BYTES` with
//!    RESOURCE_EXHAUSTED (`HEADERS_TOO_LARGE`), failing that call alone;
//! 2. names the caller: the verified user when the call carries a valid
//!    token (the verification is kept in the request for the handler, so
//!    a token is checked once), else the client address
//!    ([`crate::domain::forwarded`], behind trusted proxies);
//! 3. counts the call as pending (its request body not yet whole) on its
//!    connection and for its caller; over either cap it is refused with
//!    RESOURCE_EXHAUSTED (`TOO_MANY_PENDING_REQUESTS`, scope `connection`,
//!    `user` or `address`);
//! 4. gives the body `KNOTWORK_BODY_TIMEOUT_MS` from now to arrive whole:
//!    later, reading it fails with DEADLINE_EXCEEDED
//!    (`REQUEST_BODY_TIMEOUT`), which tonic answers at once; hyper then
//!    resets the HTTP/2 stream (its body was never finished) or closes the
//!    HTTP/1.1 connection (its body cannot be skipped).
//!
//! The body timeout covers the whole request body, so it fits the public
//! API, which has unary and server-streaming calls only; a client-streaming
//! method would need its own rule.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpConnectInfo;
use tower::{Layer, Service};

use crate::Error;
use crate::auth::Verified;
use crate::limit::{Slot, Slots};
use crate::service::Shared;

use knotwork_proto::BoxError;

/// Who a pending call is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Caller {
    User(String),
    Addr(IpAddr),
}

/// The settings and counters of [`IntakeLayer`].
#[derive(Debug)]
pub struct Intake {
    shared: Arc<Shared>,
    max_header_bytes: usize,
    body_timeout: Duration,
    per_connection: Slots<SocketAddr>,
    per_caller: Slots<Caller>,
}

impl Intake {
    /// Intake over `shared` (token checks, client addresses) with the
    /// given header limit, body timeout and pending caps (0: no cap).
    pub fn new(
        shared: Arc<Shared>,
        max_header_bytes: usize,
        body_timeout: Duration,
        max_pending_per_connection: usize,
        max_pending_per_user: usize,
    ) -> Self {
        Self {
            shared,
            max_header_bytes,
            body_timeout: body_timeout.max(Duration::from_millis(1)),
            per_connection: Slots::new(max_pending_per_connection),
            per_caller: Slots::new(max_pending_per_user),
        }
    }

    /// Steps 1 and 3 of the module docs for what the headers alone tell:
    /// the size, the connection's slot and, for a call without a token,
    /// its address's slot. Run when the call arrives (hyper hands calls
    /// over in the order their streams opened), so the call over a cap is
    /// the one that came last.
    fn admit_now<B: Body>(&self, req: &http::Request<B>) -> Result<Admission, Error> {
        let size = header_list_size(req);
        if size > self.max_header_bytes {
            return Err(Error::HeadersTooLarge {
                size,
                max: self.max_header_bytes,
            });
        }
        if req.body().is_end_stream() {
            return Ok(Admission::Complete);
        }
        let peer = req
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr);
        let conn =
            match peer {
                Some(peer) => Some(self.per_connection.try_take(peer).ok_or(
                    Error::PendingBodies {
                        scope: "connection",
                        max: self.per_connection.max(),
                    },
                )?),
                None => None,
            };
        if req.headers().contains_key("authorization") {
            return Ok(Admission::Verify(conn));
        }
        // No address at all (not a TCP connection): one shared key.
        let ip = self
            .shared
            .client_ip_of(req.headers(), peer.map(|p| p.ip()))
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let caller = self.caller_slot(Caller::Addr(ip))?;
        Ok(Admission::Pending(conn, caller))
    }

    /// Step 2 and the rest of 3 for a call with a token: verified once,
    /// the result kept for the handler, the slot of its user (of its
    /// address when the token is refused).
    async fn admit_verified<B: Body>(
        &self,
        req: &mut http::Request<B>,
    ) -> Result<Slot<Caller>, Error> {
        let md = MetadataMap::from_headers(req.headers().clone());
        let verified = Verified::new(self.shared.auth.verify(&md).await.map_err(|e| match e {
            Error::Unauthenticated { reason, message } => (reason, message),
            other => ("TOKEN_INVALID", other.to_string()),
        }));
        let caller = match &verified.0 {
            Ok(user) => Caller::User(user.clone()),
            Err(_) => {
                let peer = req
                    .extensions()
                    .get::<TcpConnectInfo>()
                    .and_then(TcpConnectInfo::remote_addr);
                let ip = self
                    .shared
                    .client_ip_of(req.headers(), peer.map(|p| p.ip()))
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]));
                Caller::Addr(ip)
            }
        };
        req.extensions_mut().insert(verified);
        self.caller_slot(caller)
    }

    fn caller_slot(&self, caller: Caller) -> Result<Slot<Caller>, Error> {
        let scope = match caller {
            Caller::User(_) => "user",
            Caller::Addr(_) => "address",
        };
        self.per_caller
            .try_take(caller)
            .ok_or(Error::PendingBodies {
                scope,
                max: self.per_caller.max(),
            })
    }
}

/// What [`Intake::admit_now`] decided.
enum Admission {
    /// The body is already whole: nothing to count or time.
    Complete,
    /// Counted; the caller's slot waits for the token's verification.
    Verify(Option<Slot<SocketAddr>>),
    /// Counted on the connection and for the caller's address.
    Pending(Option<Slot<SocketAddr>>, Slot<Caller>),
}

/// The size HTTP/2 gives a header list (RFC 9113 section 6.5.2: name,
/// value and 32 bytes per field), pseudo-headers included.
fn header_list_size<B>(req: &http::Request<B>) -> usize {
    const FIELD: usize = 32;
    let pseudo = [
        (":method", req.method().as_str().len()),
        (
            ":path",
            req.uri().path_and_query().map_or(1, |p| p.as_str().len()),
        ),
        (":scheme", req.uri().scheme_str().map_or(0, str::len)),
        (
            ":authority",
            req.uri().authority().map_or(0, |a| a.as_str().len()),
        ),
    ];
    let pseudo: usize = pseudo.iter().map(|(n, v)| n.len() + v + FIELD).sum();
    pseudo
        + req
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + FIELD)
            .sum::<usize>()
}

/// Adds [`IntakeService`].
#[derive(Debug, Clone)]
pub struct IntakeLayer {
    intake: Arc<Intake>,
}

impl IntakeLayer {
    /// The layer over `intake`.
    pub fn new(intake: Intake) -> Self {
        Self {
            intake: Arc::new(intake),
        }
    }
}

impl<S> Layer<S> for IntakeLayer {
    type Service = IntakeService<S>;
    fn layer(&self, inner: S) -> IntakeService<S> {
        IntakeService {
            inner,
            intake: self.intake.clone(),
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct IntakeService<S> {
    inner: S,
    intake: Arc<Intake>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for IntakeService<S>
where
    S: Service<http::Request<TimedBody<ReqBody>>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let intake = self.intake.clone();
        // The body's clock starts with the headers.
        let deadline = Instant::now() + intake.body_timeout;
        let admission = intake.admit_now(&req);
        Box::pin(async move {
            let slots = match admission {
                Ok(Admission::Complete) => Ok(None),
                Ok(Admission::Pending(conn, caller)) => Ok(Some((conn, caller))),
                Ok(Admission::Verify(conn)) => intake
                    .admit_verified(&mut req)
                    .await
                    .map(|caller| Some((conn, caller))),
                Err(refused) => Err(refused),
            };
            let slots = match slots {
                Ok(slots) => slots,
                Err(refused) => {
                    tracing::info!(error = %refused, "call refused at intake");
                    return Ok(tonic::Status::from(refused).into_http());
                }
            };
            let timeout = intake.body_timeout;
            let req = req.map(|body| TimedBody {
                inner: Box::pin(body),
                timer: Some(Box::pin(tokio::time::sleep_until(deadline))),
                timeout,
                slots,
                expired: false,
            });
            let resp = inner.call(req).await?;
            Ok(resp.map(tonic::body::Body::new))
        })
    }
}

/// A request body that must arrive whole before a deadline, holding the
/// call's pending slots until it has.
pub struct TimedBody<B> {
    inner: Pin<Box<B>>,
    /// Running until the body is whole.
    timer: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    slots: Option<(Option<Slot<SocketAddr>>, Slot<Caller>)>,
    expired: bool,
}

impl<B> TimedBody<B> {
    /// The body is whole (or failed): the clock stops, the slots go back.
    fn settle(&mut self) {
        self.timer = None;
        self.slots = None;
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(None) => {
                this.settle();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if frame.is_trailers() || this.inner.is_end_stream() {
                    this.settle();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.settle();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Pending => {
                let late = this
                    .timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready());
                if !late {
                    return Poll::Pending;
                }
                this.settle();
                this.expired = true;
                tracing::info!(timeout = ?this.timeout, "request body timed out");
                let status = tonic::Status::from(Error::BodyTimeout {
                    after: this.timeout,
                });
                Poll::Ready(Some(Err(Box::new(status))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for TimedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedBody")
            .field("pending", &self.timer.is_some())
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_list_size_counts_like_http2() {
        let req = http::Request::builder()
            .method("POST")
            .uri("http://gw:1/a.B/C")
            .header("te", "trailers")
            .body(())
            .unwrap();
        // :method POST, :path /a.B/C, :scheme http, :authority gw:1, te.
        let want = (7 + 4 + 32) + (5 + 6 + 32) + (7 + 4 + 32) + (10 + 4 + 32) + (2 + 8 + 32);
        assert_eq!(header_list_size(&req), want);
    }
}
