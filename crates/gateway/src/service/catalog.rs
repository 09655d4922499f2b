//! `knotwork.catalog.v1.CatalogService`, forwarded to the catalog replicas
//! as encoded bytes.
//!
//! Catalog calls are public reads whose answers the gateway never looks
//! at, so it does not decode and re-encode them: the request's message
//! bytes go to a replica unchanged and the replica's answer comes back
//! unchanged ([`raw`], as for the session's unary calls). Everything
//! around the message is as for the typed services: tonic's server
//! framing (grpc-web, size limits, compression refused), the address limit
//! and deadline of
//! [`Shared::public`], the gateway's own outgoing metadata
//! ([`Shared::setup`]: none of the caller's), one retry on another replica
//! and the error mapping of [`crate::upstream`]. A message the replica
//! cannot decode is refused by the replica, and that status is passed on.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use knotwork_proto::names::CATALOG_SERVICE;
use knotwork_proto::{BoxError, BoxFuture};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, raw};

/// Declares the forwarded methods: (method name, request path).
macro_rules! methods {
    ($($name:literal),* $(,)?) => {
        /// Every method of `knotwork.catalog.v1.CatalogService` (checked
        /// against the descriptor in the tests), with its request path.
        pub const METHODS: &[(&str, &str)] = &[
            $(($name, concat!("/knotwork.catalog.v1.CatalogService/", $name)),)*
        ];
    };
}

methods![
    "GetCatalogVersion",
    "GetCatalogSnapshot",
    "FindByPain",
    "Search",
    "GetRegion",
    "ListRegions",
    "GetMuscle",
    "ListMuscles",
    "GetTriggerPoint",
    "BatchGetTriggerPoints",
    "ListTriggerPoints",
    "GetTool",
    "ListTools",
    "ListRecommendedTools",
    "ListSymptoms",
    "GetTechniqueGuidance",
    "ListContraindications",
    "ListRedFlags",
    "ListSources",
    "GetBodyMap",
    "GetTriggerPointPicture",
    "ListGuides",
    "GetGuide",
];

/// Forwards every catalog read, round robin, retrying once elsewhere. A
/// tower service mounted under the catalog service's name; unknown methods
/// are UNIMPLEMENTED, as from a generated server.
#[derive(Debug, Clone)]
pub struct CatalogForward {
    shared: Arc<Shared>,
}

impl CatalogForward {
    /// A forwarder over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl NamedService for CatalogForward {
    const NAME: &'static str = CATALOG_SERVICE;
}

impl<B> tower::Service<http::Request<B>> for CatalogForward
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(index) = METHODS.iter().position(|(_, p)| *p == req.uri().path()) else {
            return Box::pin(async { Ok(unimplemented()) });
        };
        let forward = Forward {
            shared: self.shared.clone(),
            index: u8::try_from(index).unwrap_or(u8::MAX),
        };
        raw::serve(self.shared.max_message, forward, req)
    }
}

/// The answer of a generated server to a method it does not have.
fn unimplemented() -> http::Response<tonic::body::Body> {
    let mut response = http::Response::new(tonic::body::Body::default());
    let headers = response.headers_mut();
    headers.insert(
        Status::GRPC_STATUS,
        (tonic::Code::Unimplemented as i32).into(),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    response
}

/// One method's forwarding: the public context (address limit, deadline),
/// then the answer from the edge cache ([`crate::catalog_cache`]) or the catalog
/// call with one retry on another replica.
struct Forward {
    shared: Arc<Shared>,
    /// The method's index in [`METHODS`] (the cache key's first part).
    index: u8,
}

impl tonic::server::UnaryService<Bytes> for Forward {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let shared = self.shared.clone();
        let index = self.index;
        Box::pin(async move {
            let ctx = shared.public(&request).await?;
            let answer = read(&shared, &ctx, index, request.into_inner()).await?;
            // The answer goes out with none of the backend's metadata.
            Ok(Response::new(answer))
        })
    }
}

/// The index in [`METHODS`] of the method `name`, for [`read`]. A name not
/// in the list fails the build where the index is a constant.
pub(super) const fn index_of(name: &str) -> u8 {
    let mut i = 0;
    while i < METHODS.len() {
        let (candidate, _) = METHODS[i];
        if candidate.len() == name.len() {
            let (a, b) = (candidate.as_bytes(), name.as_bytes());
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return i as u8;
            }
        }
        i += 1;
    }
    panic!("not a catalog method")
}

/// One catalog read as encoded bytes, for the forwarder and for the views'
/// own catalog reads alike: the answer kept at the edge
/// ([`crate::catalog_cache`]) when there is one, else the call to a replica
/// (retried once on another), offered to the cache.
pub(super) async fn read(
    shared: &Shared,
    ctx: &Ctx,
    index: u8,
    message: Bytes,
) -> Result<Bytes, Status> {
    let Some(&(method, path)) = METHODS.get(usize::from(index)) else {
        return Err(Status::unimplemented("not a catalog method"));
    };
    let generation = match shared.catalog_cache.lookup(index, &message) {
        Ok(hit) => return Ok(hit),
        Err(generation) => generation,
    };
    let max = shared.max_message;
    let answer = shared
        .upstreams
        .call_catalog(
            ctx.deadline,
            message.clone(),
            |r| shared.setup(ctx, r),
            move |channel, r| raw::call(channel, r, max, CATALOG_SERVICE, method, path),
        )
        .await?;
    shared.catalog_cache.offer(
        &generation,
        index,
        message,
        answer.metadata(),
        answer.get_ref(),
    );
    Ok(answer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forwarded list is exactly the service's methods in the contract,
    /// so a method added to the proto is not silently UNIMPLEMENTED here.
    #[test]
    fn forwards_every_method_of_the_contract() {
        let mut in_proto: Vec<String> = knotwork_proto::contract_methods(CATALOG_SERVICE)
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let mut here: Vec<String> = METHODS.iter().map(|(m, _)| (*m).to_owned()).collect();
        in_proto.sort();
        here.sort();
        assert!(!here.is_empty());
        assert_eq!(here, in_proto);
    }

    #[test]
    fn index_of_finds_each_method() {
        for (i, (method, _)) in METHODS.iter().enumerate() {
            assert_eq!(usize::from(index_of(method)), i, "{method}");
        }
    }

    #[test]
    fn paths_name_the_service_and_method() {
        for (method, path) in METHODS {
            assert_eq!(*path, format!("/{CATALOG_SERVICE}/{method}"));
        }
    }
}
