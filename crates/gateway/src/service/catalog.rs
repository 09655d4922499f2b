//! `knotwork.catalog.v1.CatalogService`, forwarded to the catalog replicas.

use std::sync::Arc;

use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::catalog::v1::catalog_service_server::CatalogService;
use knotwork_proto::catalog::v1::*;
use tonic::{Request, Response, Status};

use super::Shared;

/// Forwards every catalog read, round robin, retrying once elsewhere.
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

/// One forwarding body per method: the public context (address limit,
/// deadline), then the catalog call with one retry on another replica.
macro_rules! forward_catalog {
    ($($method:ident($req:ty) -> $resp:ty;)*) => {
        #[tonic::async_trait]
        impl CatalogService for CatalogForward {
            $(
                async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    let shared = &self.shared;
                    let ctx = shared.public(&request)?;
                    let max = shared.max_message;
                    shared
                        .upstreams
                        .call_catalog(
                            ctx.deadline,
                            request.into_inner(),
                            |r| shared.setup(&ctx, r),
                            move |channel, r| async move {
                                CatalogServiceClient::new(channel)
                                    .max_decoding_message_size(max)
                                    .max_encoding_message_size(max)
                                    .$method(r)
                                    .await
                            },
                        )
                        .await
                }
            )*
        }
    };
}

forward_catalog! {
    get_catalog_version(GetCatalogVersionRequest) -> GetCatalogVersionResponse;
    get_catalog_snapshot(GetCatalogSnapshotRequest) -> GetCatalogSnapshotResponse;
    find_by_pain(FindByPainRequest) -> FindByPainResponse;
    search(SearchRequest) -> SearchResponse;
    get_region(GetRegionRequest) -> GetRegionResponse;
    list_regions(ListRegionsRequest) -> ListRegionsResponse;
    get_muscle(GetMuscleRequest) -> GetMuscleResponse;
    list_muscles(ListMusclesRequest) -> ListMusclesResponse;
    get_trigger_point(GetTriggerPointRequest) -> GetTriggerPointResponse;
    batch_get_trigger_points(BatchGetTriggerPointsRequest) -> BatchGetTriggerPointsResponse;
    list_trigger_points(ListTriggerPointsRequest) -> ListTriggerPointsResponse;
    get_tool(GetToolRequest) -> GetToolResponse;
    list_tools(ListToolsRequest) -> ListToolsResponse;
    list_recommended_tools(ListRecommendedToolsRequest) -> ListRecommendedToolsResponse;
    list_symptoms(ListSymptomsRequest) -> ListSymptomsResponse;
    get_technique_guidance(GetTechniqueGuidanceRequest) -> GetTechniqueGuidanceResponse;
    list_contraindications(ListContraindicationsRequest) -> ListContraindicationsResponse;
    list_red_flags(ListRedFlagsRequest) -> ListRedFlagsResponse;
    list_sources(ListSourcesRequest) -> ListSourcesResponse;
}
