//! In-process calls, for `knotwork up`: the gateway calls the catalog and
//! session services, and the session service the catalog, in the same
//! process without a network in between.
//!
//! A service serving a [`crate::listen::Listener`] that carries a
//! [`LocalSlot`] ([`crate::serve_backend`]) puts its whole tower stack in
//! the slot: the same layers, routes and handlers its TCP server runs each
//! call through. A [`Link::Local`] on the same slot hands each call to that
//! stack as an `http::Request` with the encoded message as its body. No
//! HTTP/2 framing, no pipe, no connection task: the handler runs inside the
//! caller's future, on the worker that took the call. What HTTP/2 does on a
//! connection (stream limits, flow control, header sizes) does not apply in
//! process; the gateway's limits at the edge still do.
//!
//! The separate-process deployment and the tests use [`Link::Net`] (TCP)
//! alone; the clients are the same generated ones over either.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use knotwork_proto::BoxError;
use tonic::body::Body;
use tonic::transport::Channel;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

/// In-process backends by URL: a client whose backend URL is listed here
/// calls it in process, any other over the network.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackends {
    by_url: BTreeMap<String, LocalSlot>,
}

impl MemoryBackends {
    /// Adds `url`, served in this process into `slot`.
    pub fn insert(&mut self, url: impl Into<String>, slot: LocalSlot) {
        self.by_url.insert(url.into(), slot);
    }

    /// The link to `url`, when it is served in this process.
    pub fn link(&self, url: &str) -> Option<Link> {
        self.by_url.get(url).map(|slot| Link::Local(slot.clone()))
    }
}

/// A service's whole stack as one in-process call: an `http::Request`
/// with the encoded message in, the response with its body and trailers
/// out.
pub type LocalService = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, BoxError>;

/// Where a service puts its stack while it serves; empty before it starts
/// and once it drains. Clones share the slot: the service's listener holds
/// one, its callers' [`Link`]s the others.
#[derive(Clone, Default)]
pub struct LocalSlot(Arc<RwLock<Option<LocalService>>>);

impl LocalSlot {
    /// A link that calls the service serving this slot.
    pub fn link(&self) -> Link {
        Link::Local(self.clone())
    }

    /// Serves `service` to the links of this slot.
    pub(crate) fn install(&self, service: LocalService) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(service);
    }

    /// Refuses the links' next calls (calls in flight finish).
    pub(crate) fn clear(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn get(&self) -> Option<LocalService> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl std::fmt::Debug for LocalSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSlot")
            .field("serving", &self.get().is_some())
            .finish()
    }
}

/// How a client reaches a backend: over the network (a tonic [`Channel`])
/// or in this process ([`LocalSlot::link`]). Generated clients take
/// either: `FooClient::new(link)`.
#[derive(Debug, Clone)]
pub enum Link {
    /// HTTP/2 over TCP (or TLS).
    Net(Channel),
    /// The service's stack, called directly.
    Local(LocalSlot),
}

impl From<Channel> for Link {
    fn from(channel: Channel) -> Self {
        Link::Net(channel)
    }
}

impl tower::Service<http::Request<Body>> for Link {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<http::Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Link::Net(channel) => channel.poll_ready(cx).map_err(Into::into),
            // The stack is made ready in the call's own future (`oneshot`).
            Link::Local(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match self {
            Link::Net(channel) => {
                let call = channel.call(req);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Link::Local(slot) => match slot.get() {
                Some(service) => Box::pin(service.oneshot(req)),
                // Like a refused connection: tonic makes it a local status,
                // which callers treat as the backend being unreachable.
                None => Box::pin(std::future::ready(Err(Box::new(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "the in-process service is not serving",
                )) as BoxError))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::Service;

    /// A link refuses calls until its slot is filled, reaches what was put
    /// in, and refuses again once the slot is cleared.
    #[tokio::test]
    async fn a_link_follows_its_slot() {
        let slot = LocalSlot::default();
        let mut link = slot.link();
        let request = || http::Request::new(Body::empty());
        let refused = link.call(request()).await.unwrap_err();
        let refused = refused.downcast_ref::<io::Error>().unwrap();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

        slot.install(BoxCloneSyncService::new(tower::service_fn(
            |req: http::Request<Body>| async move {
                let mut response = http::Response::new(Body::empty());
                *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
                response.headers_mut().insert(
                    "x-path",
                    http::HeaderValue::from_str(req.uri().path()).unwrap(),
                );
                Ok::<_, BoxError>(response)
            },
        )));
        let mut req = request();
        *req.uri_mut() = http::Uri::from_static("/a.B/C");
        let answer = link.call(req).await.unwrap();
        assert_eq!(answer.status(), http::StatusCode::IM_A_TEAPOT);
        assert_eq!(answer.headers()["x-path"], "/a.B/C");

        slot.clear();
        assert!(link.call(request()).await.is_err());
        assert!(MemoryBackends::default().link("http://x").is_none());
    }
}
