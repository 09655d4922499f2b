//! `knotwork.gateway.v1.ViewService`: one round trip per screen. The
//! backend calls of a screen run concurrently; the re-ranking rules live in
//! [`crate::domain::relief`].

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use knotwork_proto::catalog::v1::{
    ContraindicationKind, FindByPainRequest, FindByPainResponse, GetTechniqueGuidanceRequest,
    GetTechniqueGuidanceResponse, ListContraindicationsRequest, ListContraindicationsResponse,
    ListToolsRequest, ListToolsResponse,
};
use knotwork_proto::gateway::v1::view_service_server::ViewService;
use knotwork_proto::gateway::v1::*;
use knotwork_proto::session::v1::GetOverviewRequest;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_runtime::memory::Link;
use tonic::{Request, Response, Status};

use super::{Ctx, Shared, catalog};
use crate::Error;
use crate::convert;

/// The most locations a relief plan accepts (the catalog's own limit).
const MAX_LOCATIONS: usize = 16;
/// The most progress entries GetToday lists (`progress_total` counts all).
const TODAY_MAX_PROGRESS: usize = 20;

/// The catalog methods the screens read.
const FIND_BY_PAIN: u8 = catalog::index_of("FindByPain");
const TECHNIQUE_GUIDANCE: u8 = catalog::index_of("GetTechniqueGuidance");
const CONTRAINDICATIONS: u8 = catalog::index_of("ListContraindications");
const TOOLS: u8 = catalog::index_of("ListTools");

/// Checks a GetReliefPlan request (the gateway's own rules; the catalog
/// checks the locations and symptoms) and returns the FindByPain request to
/// send and the number of candidates to show. Public for the fuzz targets
/// (`crates/fuzzing`).
pub fn relief_plan_query(req: GetReliefPlanRequest) -> Result<(FindByPainRequest, usize), Error> {
    if req.locations.is_empty() || req.locations.len() > MAX_LOCATIONS {
        return Err(Error::InvalidArgument {
            field: "locations",
            reason: "give 1 to 16 locations".into(),
        });
    }
    let max = match req.max_candidates {
        0 => 10,
        n @ 1..=50 => usize::try_from(n).unwrap_or(10),
        _ => {
            return Err(Error::InvalidArgument {
                field: "max_candidates",
                reason: "must be 0-50".into(),
            });
        }
    };
    // Ask for more than shown: re-ranking may lift a lower candidate.
    let pain_req = FindByPainRequest {
        locations: req.locations,
        symptoms: req.symptoms,
        page_size: i32::try_from((max * 2).min(100)).unwrap_or(20),
        page_token: String::new(),
    };
    Ok((pain_req, max))
}

/// How many FindByPain answers the relief plans keep decoded.
const DECODED_PAINS: usize = 256;

/// Catalog answers kept decoded, by request: each with the encoded answer
/// it was decoded from, so a decoded answer is used only while the catalog
/// (or the edge cache) answers the same bytes, and a new catalog version
/// is decoded anew. A relief plan decoded the catalog's whole FindByPain
/// answer and every screening condition on every call: about a third of
/// its CPU in the gateway (BENCHMARKS.md).
struct Decoded<M> {
    kept: quick_cache::sync::Cache<Bytes, (Bytes, Arc<M>)>,
}

impl<M: prost::Message + Default> Decoded<M> {
    fn new(entries: usize) -> Self {
        Self {
            kept: quick_cache::sync::Cache::new(entries),
        }
    }

    /// `answer` (the answer to `request`) decoded: the kept one when it was
    /// decoded from the same bytes.
    fn decode(&self, request: Bytes, answer: Bytes) -> Result<Arc<M>, prost::DecodeError> {
        if let Some((bytes, decoded)) = self.kept.get(&request)
            && bytes == answer
        {
            return Ok(decoded);
        }
        let decoded = Arc::new(M::decode(answer.clone())?);
        self.kept.insert(request, (answer, decoded.clone()));
        Ok(decoded)
    }
}

/// The screens.
#[derive(Clone)]
pub struct Views {
    shared: Arc<Shared>,
    pains: Arc<Decoded<FindByPainResponse>>,
    conditions: Arc<Decoded<ListContraindicationsResponse>>,
    tools: Arc<Decoded<ListToolsResponse>>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views").finish_non_exhaustive()
    }
}

impl Views {
    /// Views over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            pains: Arc::new(Decoded::new(DECODED_PAINS)),
            // One question: the screening conditions.
            conditions: Arc::new(Decoded::new(1)),
            // One question: every tool (their names, for the blocks).
            tools: Arc::new(Decoded::new(1)),
        }
    }

    /// A catalog read through the same path as [`Views::catalog`], decoded
    /// once per distinct answer in `kept`.
    async fn catalog_kept<M, R>(
        &self,
        ctx: &Ctx,
        method: u8,
        message: M,
        kept: &Decoded<R>,
    ) -> Result<Arc<R>, Status>
    where
        M: prost::Message,
        R: prost::Message + Default,
    {
        let request = Bytes::from(message.encode_to_vec());
        let answer = catalog::read(&self.shared, ctx, method, request.clone()).await?;
        kept.decode(request, answer)
            .map_err(|e| Status::internal(format!("the catalog's answer did not decode: {e}")))
    }

    /// Calls the caller's session shard.
    async fn session<M, R, F, Fut>(&self, ctx: &Ctx, message: M, call: F) -> Result<R, Status>
    where
        M: Clone,
        F: Fn(SessionServiceClient<Link>, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let shared = &self.shared;
        let max = shared.max_message;
        let call = |channel: Link, r| {
            call(
                SessionServiceClient::new(channel).max_decoding_message_size(max),
                r,
            )
        };
        Ok(shared.call_session(ctx, message, call).await?.into_inner())
    }

    /// A catalog read through the same path as a forwarded one
    /// ([`catalog::read`]): from the edge cache when it holds the answer,
    /// else from a replica (with its retry), then decoded.
    async fn catalog<M, R>(&self, ctx: &Ctx, method: u8, message: M) -> Result<R, Status>
    where
        M: prost::Message,
        R: prost::Message + Default,
    {
        let answer =
            catalog::read(&self.shared, ctx, method, message.encode_to_vec().into()).await?;
        R::decode(answer)
            .map_err(|e| Status::internal(format!("the catalog's answer did not decode: {e}")))
    }
}

#[tonic::async_trait]
impl ViewService for Views {
    async fn get_relief_plan(
        &self,
        request: Request<GetReliefPlanRequest>,
    ) -> Result<Response<GetReliefPlanResponse>, Status> {
        let ctx = self
            .shared
            .private(&request, self.shared.max_timeout)
            .await?;
        let (pain_req, max) = relief_plan_query(request.into_inner())?;
        let (pain, guidance, overview, conditions, tools) = tokio::join!(
            self.catalog_kept(&ctx, FIND_BY_PAIN, pain_req, &self.pains),
            self.catalog::<_, GetTechniqueGuidanceResponse>(
                &ctx,
                TECHNIQUE_GUIDANCE,
                GetTechniqueGuidanceRequest {}
            ),
            // Everything from the journal in one call to the shard.
            self.session(
                &ctx,
                GetOverviewRequest {
                    local_date: String::new(),
                    include_plan: false,
                    include_profile: true,
                    include_region_progress: true,
                    progress_limit: 0,
                },
                |mut c, r| async move { c.get_overview(r).await }
            ),
            self.catalog_kept(
                &ctx,
                CONTRAINDICATIONS,
                ListContraindicationsRequest {
                    kind: ContraindicationKind::Condition as i32
                },
                &self.conditions
            ),
            self.catalog_kept(
                &ctx,
                TOOLS,
                ListToolsRequest {
                    page_size: 500,
                    ..Default::default()
                },
                &self.tools
            ),
        );
        let overview = overview?;
        let inputs = convert::Inputs {
            regions: overview.region_progress.unwrap_or_default().regions,
            holds: overview.holds.unwrap_or_default().holds,
            conditions: conditions?,
            // Names only: without them the blocks keep their plain words.
            tools: tools.unwrap_or_else(|e| {
                tracing::debug!(error = %e, "no tool names for the relief plan");
                Arc::default()
            }),
            pain: pain?,
            guidance: guidance?.guidance,
            profile: overview.profile.and_then(|p| p.profile).unwrap_or_default(),
            screening: overview
                .screening
                .and_then(|s| s.screening)
                .unwrap_or_default(),
            progress: overview.progress.unwrap_or_default().progress,
            day: overview.day.unwrap_or_default(),
        };
        Ok(Response::new(convert::relief_plan(inputs, max)))
    }

    async fn get_today(
        &self,
        request: Request<GetTodayRequest>,
    ) -> Result<Response<GetTodayResponse>, Status> {
        let ctx = self
            .shared
            .private(&request, self.shared.max_timeout)
            .await?;
        let local_date = request.into_inner().local_date;
        let (overview, guidance) = tokio::join!(
            // Everything from the journal in one call to the shard.
            self.session(
                &ctx,
                GetOverviewRequest {
                    local_date,
                    include_plan: true,
                    include_profile: false,
                    include_region_progress: false,
                    // What Today shows: the first points, and those it
                    // sets aside.
                    progress_limit: TODAY_MAX_PROGRESS as i32,
                },
                |mut c, r| async move { c.get_overview(r).await }
            ),
            self.catalog::<_, GetTechniqueGuidanceResponse>(
                &ctx,
                TECHNIQUE_GUIDANCE,
                GetTechniqueGuidanceRequest {}
            ),
        );
        // The shard reports the plan's errors first: it checks the date.
        let overview = overview?;
        let plan = overview.plan.unwrap_or_default();
        let mut progress = overview.progress.unwrap_or_default().progress;
        // A shard of an earlier build returns every point and no total.
        let progress_total = overview
            .progress_total
            .max(i32::try_from(progress.len()).unwrap_or(i32::MAX));
        let set_aside = convert::set_aside_progress(&progress);
        progress.truncate(TODAY_MAX_PROGRESS);
        Ok(Response::new(GetTodayResponse {
            set_aside,
            holds: overview.holds.unwrap_or_default().holds,
            day: overview.day,
            progress,
            screening: overview.screening.and_then(|s| s.screening),
            guidance: guidance?.guidance,
            plan: plan.plan,
            adherence: plan.adherence,
            progress_total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use knotwork_proto::catalog::v1::MuscleMatch;
    use prost::Message as _;

    use super::*;

    fn answer(version: &str) -> Bytes {
        FindByPainResponse {
            matches: vec![MuscleMatch {
                score: 2.5,
                ..Default::default()
            }],
            catalog_version: version.into(),
            ..Default::default()
        }
        .encode_to_vec()
        .into()
    }

    /// The same answer to the same request is decoded once; another answer
    /// (a new catalog version) is decoded anew and replaces it, and another
    /// request has its own.
    #[test]
    fn an_answer_is_decoded_once_per_its_bytes() {
        let kept = Decoded::<FindByPainResponse>::new(8);
        let low_back = Bytes::from_static(b"low back");
        let first = kept.decode(low_back.clone(), answer("v1")).unwrap();
        let again = kept.decode(low_back.clone(), answer("v1")).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.catalog_version, "v1");

        let reloaded = kept.decode(low_back.clone(), answer("v2")).unwrap();
        assert_eq!(reloaded.catalog_version, "v2");
        assert!(!Arc::ptr_eq(&first, &reloaded));
        let kept_v2 = kept.decode(low_back.clone(), answer("v2")).unwrap();
        assert!(Arc::ptr_eq(&reloaded, &kept_v2));

        let neck = kept
            .decode(Bytes::from_static(b"neck"), answer("v2"))
            .unwrap();
        assert!(!Arc::ptr_eq(&neck, &reloaded));
        assert_eq!(*neck, *reloaded);

        // Bytes that are not an answer are refused, not kept.
        assert!(
            kept.decode(low_back.clone(), Bytes::from_static(&[0xff]))
                .is_err()
        );
        let after = kept.decode(low_back, answer("v2")).unwrap();
        assert!(Arc::ptr_eq(&after, &reloaded));
    }
}
