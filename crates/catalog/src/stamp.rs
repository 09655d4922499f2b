//! The version stamp: every answer of the public catalog service carries
//! the catalog version it was made from in its response headers
//! (`x-knotwork-catalog-version`), so a cache in front of the catalog (the
//! gateway's) can tell which version an encoded answer belongs to without
//! decoding it.
//!
//! The layer takes the served version before the call and again when the
//! answer is ready. A reload always stores a newly allocated version, and
//! the layer holds the first one while the call runs (so its address
//! cannot be reused): the same pointer at both ends means the handler saw
//! that version and no other. When a reload happened in between, the
//! answer goes out without a stamp, and a cache does not keep it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderValue;
use knotwork_proto::metadata::CATALOG_VERSION;
use tower::{Layer, Service};

use crate::state::Catalogs;

/// The path prefix of the public service's calls.
const PUBLIC_PREFIX: &str = "/knotwork.catalog.v1.CatalogService/";

/// Adds [`Stamp`].
#[derive(Debug, Clone)]
pub(crate) struct StampLayer {
    catalogs: Arc<Catalogs>,
}

impl StampLayer {
    /// Stamps with the versions `catalogs` serves.
    pub(crate) fn new(catalogs: Arc<Catalogs>) -> Self {
        Self { catalogs }
    }
}

impl<S> Layer<S> for StampLayer {
    type Service = Stamp<S>;
    fn layer(&self, inner: S) -> Stamp<S> {
        Stamp {
            inner,
            catalogs: self.catalogs.clone(),
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Stamp<S> {
    inner: S,
    catalogs: Arc<Catalogs>,
}

impl<S, B, R> Service<http::Request<B>> for Stamp<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !req.uri().path().starts_with(PUBLIC_PREFIX) {
            return Box::pin(inner.call(req));
        }
        let catalogs = self.catalogs.clone();
        let before = catalogs.current();
        Box::pin(async move {
            let mut resp = inner.call(req).await?;
            let after = catalogs.current();
            if Arc::ptr_eq(&before, &after)
                && let Ok(v) = HeaderValue::from_str(before.catalog.version())
            {
                resp.headers_mut().insert(CATALOG_VERSION, v);
            }
            Ok(resp)
        })
    }
}
