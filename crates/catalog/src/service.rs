//! The gRPC handlers. Each one takes the current catalog version once,
//! converts the request, asks the domain, and converts the answer back, so a
//! whole response comes from one version.

use std::sync::Arc;

use knotwork_proto::catalog::v1 as pb;
use knotwork_proto::catalog::v1::catalog_admin_service_server::CatalogAdminService;
use knotwork_proto::catalog::v1::catalog_service_server::CatalogService;
use knotwork_runtime::internal::InternalAuth;
use tonic::{Request, Response, Status};

use bytes::Bytes;

use crate::Error;
use crate::convert;
use crate::domain::names::{self, lookup};
use crate::domain::pain::{self, PainQuery};
use crate::domain::pain::{MuscleMatch, PainAnswer, ResolvedPain};
use crate::domain::picture::PictureSide;
use crate::domain::{Catalog, Violation, list, page};
use crate::state::{Loaded, ServedCatalog};

/// Default and largest page of FindByPain and Search.
const QUERY_PAGE: (usize, usize) = (20, 100);
/// Default and largest page of List calls.
const LIST_PAGE: (usize, usize) = (100, 500);
/// Most names in one BatchGetTriggerPoints.
const MAX_BATCH: usize = 100;
/// Longest search query, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// `knotwork.catalog.v1.CatalogService`.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    served: Arc<ServedCatalog>,
}

impl CatalogApi {
    /// Answers from the catalog `served` holds.
    pub fn new(served: Arc<ServedCatalog>) -> Self {
        Self { served }
    }

    /// Answers from one catalog version.
    fn answer<T>(
        &self,
        f: impl FnOnce(&Loaded) -> Result<T, Error>,
    ) -> Result<Response<T>, Status> {
        let current = self.served.current();
        f(&current).map(Response::new).map_err(Status::from)
    }
}

fn version(l: &Loaded) -> String {
    l.catalog.version().to_owned()
}

/// One FindByPain page: the request checked, resolved, ranked and cut.
pub(crate) fn pain_page(
    l: &Loaded,
    r: &pb::FindByPainRequest,
) -> Result<(ResolvedPain, PainAnswer, page::Page<MuscleMatch>), Error> {
    let c = &l.catalog;
    let query = PainQuery::try_from(r).map_err(Error::InvalidArgument)?;
    let size = page::size(r.page_size, QUERY_PAGE.0, QUERY_PAGE.1)?;
    let resolved = pain::resolve(c, &query).map_err(Error::InvalidArgument)?;
    let mut answer = pain::find(c, &resolved);
    let page = page::paginate(
        std::mem::take(&mut answer.matches),
        size,
        &r.page_token,
        c.version(),
        &resolved.fingerprint(),
    )?;
    Ok((resolved, answer, page))
}

pub(crate) fn point_of(l: &Loaded, name: &str) -> Result<usize, Error> {
    Ok(lookup(
        &l.catalog,
        "name",
        names::TRIGGER_POINTS,
        name,
        Catalog::point_index,
    )?)
}

pub(crate) fn muscle_of(l: &Loaded, name: &str) -> Result<usize, Error> {
    Ok(lookup(
        &l.catalog,
        "name",
        names::MUSCLES,
        name,
        Catalog::muscle_index,
    )?)
}

pub(crate) fn region_of(l: &Loaded, name: &str) -> Result<usize, Error> {
    Ok(lookup(
        &l.catalog,
        "name",
        names::REGIONS,
        name,
        Catalog::region_index,
    )?)
}

pub(crate) fn tool_of(l: &Loaded, name: &str) -> Result<usize, Error> {
    Ok(lookup(
        &l.catalog,
        "name",
        names::TOOLS,
        name,
        Catalog::tool_index,
    )?)
}

/// The picture GetTriggerPointPicture answers, rendered once per version.
pub(crate) fn picture(l: &Loaded, r: &pb::GetTriggerPointPictureRequest) -> Result<Bytes, Error> {
    let point = point_of(l, &r.name)?;
    let bilateral = l
        .catalog
        .data()
        .trigger_points
        .get(point)
        .is_some_and(|t| t.bilateral);
    let which = match pb::Side::try_from(r.side) {
        Ok(pb::Side::Right) => PictureSide::Right,
        Ok(pb::Side::Left) => PictureSide::Left,
        Ok(pb::Side::Both | pb::Side::Unspecified) => PictureSide::Both,
        Ok(pb::Side::Midline) if !bilateral => PictureSide::Both,
        Ok(pb::Side::Midline) => {
            return Err(Error::InvalidArgument(vec![Violation::new(
                "side",
                "this trigger point is on both sides: ask SIDE_RIGHT, SIDE_LEFT or SIDE_BOTH",
            )]));
        }
        Err(_) => {
            return Err(Error::InvalidArgument(vec![Violation::new(
                "side",
                format!("unknown side {}", r.side),
            )]));
        }
    };
    l.encoded
        .picture(&l.catalog, point, which)
        .ok_or_else(|| Error::Storage("picture missing for a known point".into()))
}

/// A list fingerprint for page tokens: the call and its filters.
fn fingerprint(parts: &[&str]) -> String {
    parts.join("|")
}

/// One page of a list call's `all` items: `page_size` checked against
/// [`LIST_PAGE`], the token bound to the catalog version and to the call
/// and its filters (`query`, see [`fingerprint`]).
fn list_page<T>(
    c: &Catalog,
    all: Vec<T>,
    page_size: i32,
    token: &str,
    query: &[&str],
) -> Result<page::Page<T>, Error> {
    let size = page::size(page_size, LIST_PAGE.0, LIST_PAGE.1)?;
    Ok(page::paginate(
        all,
        size,
        token,
        c.version(),
        &fingerprint(query),
    )?)
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_catalog_version(
        &self,
        _req: Request<pb::GetCatalogVersionRequest>,
    ) -> Result<Response<pb::GetCatalogVersionResponse>, Status> {
        self.answer(|l| {
            Ok(pb::GetCatalogVersionResponse {
                catalog_version: version(l),
                edition: l.catalog.data().meta.edition.clone(),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_catalog_snapshot(
        &self,
        req: Request<pb::GetCatalogSnapshotRequest>,
    ) -> Result<Response<pb::GetCatalogSnapshotResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let not_modified = r.if_none_match == l.catalog.version();
            Ok(pb::GetCatalogSnapshotResponse {
                catalog_version: version(l),
                not_modified,
                snapshot: (!not_modified).then(|| l.pb.snapshot.clone()),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn find_by_pain(
        &self,
        req: Request<pb::FindByPainRequest>,
    ) -> Result<Response<pb::FindByPainResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let (resolved, answer, page) = pain_page(l, &r)?;
            Ok(convert::pain_response(
                &l.catalog,
                &l.pb,
                &resolved,
                &answer,
                &page.items,
                page.next_token,
            ))
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn search(
        &self,
        req: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let c = &l.catalog;
            let mut bad = Vec::new();
            let chars = r.query.trim().chars().count();
            if chars == 0 {
                bad.push(Violation::new("query", "must not be empty"));
            } else if chars > MAX_QUERY_CHARS {
                bad.push(Violation::new(
                    "query",
                    format!("at most {MAX_QUERY_CHARS} characters"),
                ));
            }
            let kinds = convert::kinds(&r.kinds).unwrap_or_else(|v| {
                bad.extend(v);
                Vec::new()
            });
            let size = page::size(r.page_size, QUERY_PAGE.0, QUERY_PAGE.1)
                .map_err(|v| bad.push(v))
                .unwrap_or(0);
            if !bad.is_empty() {
                return Err(Error::InvalidArgument(bad));
            }
            let hits = c.search(&r.query, &kinds);
            let kinds_key: Vec<String> = r.kinds.iter().map(ToString::to_string).collect();
            let fp = fingerprint(&[
                "search",
                &crate::domain::text::normalize(&r.query),
                &kinds_key.join(","),
            ]);
            let page = page::paginate(hits, size, &r.page_token, c.version(), &fp)?;
            Ok(pb::SearchResponse {
                results: page
                    .items
                    .iter()
                    .map(|h| convert::search_result(&l.pb, h))
                    .collect(),
                next_page_token: page.next_token,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_region(
        &self,
        req: Request<pb::GetRegionRequest>,
    ) -> Result<Response<pb::GetRegionResponse>, Status> {
        self.answer(|l| {
            let i = region_of(l, &req.get_ref().name)?;
            Ok(pb::GetRegionResponse {
                region: Some(l.pb.regions[i].clone()),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_regions(
        &self,
        req: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let c = &l.catalog;
            let view = convert::view_filter("view", r.view)?;
            let area = r.area.trim();
            if !area.is_empty() && !list::is_area(area) {
                return Err(Violation::new("area", format!("unknown area \"{area}\"")).into());
            }
            let all = list::regions(c, view, (!area.is_empty()).then_some(area));
            let page = list_page(
                c,
                all,
                r.page_size,
                &r.page_token,
                &["regions", &r.view.to_string(), &area.to_lowercase()],
            )?;
            Ok(pb::ListRegionsResponse {
                regions: page
                    .items
                    .iter()
                    .map(|&i| l.pb.regions[i].clone())
                    .collect(),
                next_page_token: page.next_token,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_muscle(
        &self,
        req: Request<pb::GetMuscleRequest>,
    ) -> Result<Response<pb::GetMuscleResponse>, Status> {
        self.answer(|l| {
            let i = muscle_of(l, &req.get_ref().name)?;
            Ok(pb::GetMuscleResponse {
                muscle: Some(l.pb.muscles[i].clone()),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_muscles(
        &self,
        req: Request<pb::ListMusclesRequest>,
    ) -> Result<Response<pb::ListMusclesResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let c = &l.catalog;
            let region = names::region_filter(c, &r.region)?;
            let tool = names::tool_filter(c, &r.tool)?;
            let all = list::muscles(c, region, tool);
            let page = list_page(
                c,
                all,
                r.page_size,
                &r.page_token,
                &["muscles", &r.region, &r.tool],
            )?;
            Ok(pb::ListMusclesResponse {
                muscles: page
                    .items
                    .iter()
                    .map(|&i| l.pb.muscles[i].clone())
                    .collect(),
                next_page_token: page.next_token,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_trigger_point(
        &self,
        req: Request<pb::GetTriggerPointRequest>,
    ) -> Result<Response<pb::GetTriggerPointResponse>, Status> {
        self.answer(|l| {
            let i = point_of(l, &req.get_ref().name)?;
            Ok(pb::GetTriggerPointResponse {
                trigger_point: Some(l.pb.points[i].clone()),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn batch_get_trigger_points(
        &self,
        req: Request<pb::BatchGetTriggerPointsRequest>,
    ) -> Result<Response<pb::BatchGetTriggerPointsResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            if r.names.is_empty() || r.names.len() > MAX_BATCH {
                return Err(Violation::new("names", format!("give 1 to {MAX_BATCH} names")).into());
            }
            // Shape problems are reported together; then the first unknown
            // name is NOT_FOUND.
            let mut bad = Vec::new();
            let mut ids = Vec::new();
            for (i, n) in r.names.iter().enumerate() {
                match names::parse(&format!("names[{i}]"), names::TRIGGER_POINTS, n) {
                    Ok(id) => ids.push(id),
                    Err(v) => bad.push(v),
                }
            }
            if !bad.is_empty() {
                return Err(Error::InvalidArgument(bad));
            }
            let mut points = Vec::with_capacity(ids.len());
            for id in ids {
                let i = l
                    .catalog
                    .point_index(id)
                    .ok_or_else(|| Error::NotFound(names::name(names::TRIGGER_POINTS, id)))?;
                points.push(l.pb.points[i].clone());
            }
            Ok(pb::BatchGetTriggerPointsResponse {
                trigger_points: points,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_trigger_points(
        &self,
        req: Request<pb::ListTriggerPointsRequest>,
    ) -> Result<Response<pb::ListTriggerPointsResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let c = &l.catalog;
            let region = names::region_filter(c, &r.region)?;
            let muscle = names::muscle_filter(c, &r.muscle)?;
            let tool = names::tool_filter(c, &r.tool)?;
            let all = list::trigger_points(c, region, muscle, tool);
            let page = list_page(
                c,
                all,
                r.page_size,
                &r.page_token,
                &["triggerPoints", &r.region, &r.muscle, &r.tool],
            )?;
            Ok(pb::ListTriggerPointsResponse {
                trigger_points: page.items.iter().map(|&i| l.pb.points[i].clone()).collect(),
                next_page_token: page.next_token,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_tool(
        &self,
        req: Request<pb::GetToolRequest>,
    ) -> Result<Response<pb::GetToolResponse>, Status> {
        self.answer(|l| {
            let i = tool_of(l, &req.get_ref().name)?;
            Ok(pb::GetToolResponse {
                tool: Some(l.pb.tools[i].clone()),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_tools(
        &self,
        req: Request<pb::ListToolsRequest>,
    ) -> Result<Response<pb::ListToolsResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let c = &l.catalog;
            let muscle = names::muscle_filter(c, &r.muscle)?;
            let all = list::tools(c, muscle);
            let page = list_page(c, all, r.page_size, &r.page_token, &["tools", &r.muscle])?;
            Ok(pb::ListToolsResponse {
                tools: page.items.iter().map(|&i| l.pb.tools[i].clone()).collect(),
                next_page_token: page.next_token,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_recommended_tools(
        &self,
        req: Request<pb::ListRecommendedToolsRequest>,
    ) -> Result<Response<pb::ListRecommendedToolsResponse>, Status> {
        self.answer(|l| {
            let c = &l.catalog;
            let i = lookup(
                c,
                "trigger_point",
                names::TRIGGER_POINTS,
                &req.get_ref().trigger_point,
                Catalog::point_index,
            )?;
            let tp = &c.data().trigger_points[i];
            let recommended = tp
                .techniques
                .iter()
                .filter_map(|t| {
                    c.tool_index(&t.tool).map(|ti| pb::RecommendedTool {
                        tool: Some(l.pb.tools[ti].clone()),
                        instructions: t.text.clone(),
                    })
                })
                .collect();
            Ok(pb::ListRecommendedToolsResponse {
                recommended,
                excluded: l.pb.points[i].excluded_tools.clone(),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_symptoms(
        &self,
        _req: Request<pb::ListSymptomsRequest>,
    ) -> Result<Response<pb::ListSymptomsResponse>, Status> {
        self.answer(|l| {
            Ok(pb::ListSymptomsResponse {
                symptoms: l.pb.symptoms.clone(),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_technique_guidance(
        &self,
        _req: Request<pb::GetTechniqueGuidanceRequest>,
    ) -> Result<Response<pb::GetTechniqueGuidanceResponse>, Status> {
        self.answer(|l| {
            Ok(pb::GetTechniqueGuidanceResponse {
                guidance: Some(l.pb.guidance.clone()),
                catalog_version: version(l),
                guides: l.pb.basic_guides.clone(),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_contraindications(
        &self,
        req: Request<pb::ListContraindicationsRequest>,
    ) -> Result<Response<pb::ListContraindicationsResponse>, Status> {
        self.answer(|l| {
            let kind = convert::contra_kind_filter("kind", req.get_ref().kind)?;
            let contraindications = l
                .catalog
                .data()
                .contraindications
                .iter()
                .zip(&l.pb.contraindications)
                .filter(|(d, _)| kind.is_none_or(|k| d.kind == k))
                .map(|(_, p)| p.clone())
                .collect();
            Ok(pb::ListContraindicationsResponse {
                contraindications,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_red_flags(
        &self,
        _req: Request<pb::ListRedFlagsRequest>,
    ) -> Result<Response<pb::ListRedFlagsResponse>, Status> {
        self.answer(|l| {
            Ok(pb::ListRedFlagsResponse {
                red_flags: l.pb.red_flags.clone(),
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_sources(
        &self,
        _req: Request<pb::ListSourcesRequest>,
    ) -> Result<Response<pb::ListSourcesResponse>, Status> {
        self.answer(|l| {
            Ok(pb::ListSourcesResponse {
                sources: l.pb.sources.clone(),
                catalog_version: version(l),
            })
        })
    }

    // The two answers below are served pre-encoded by `server::CatalogServer`;
    // these typed forms (for callers of the generated server) decode the
    // same bytes.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_body_map(
        &self,
        req: Request<pb::GetBodyMapRequest>,
    ) -> Result<Response<pb::GetBodyMapResponse>, Status> {
        let r = req.into_inner();
        let _ = r;
        self.answer(|l| decode(l.encoded.get_body_map.clone()))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_trigger_point_picture(
        &self,
        req: Request<pb::GetTriggerPointPictureRequest>,
    ) -> Result<Response<pb::GetTriggerPointPictureResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| decode(picture(l, &r)?))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_guides(
        &self,
        req: Request<pb::ListGuidesRequest>,
    ) -> Result<Response<pb::ListGuidesResponse>, Status> {
        let r = req.into_inner();
        self.answer(|l| {
            let c = &l.catalog;
            let tool = names::tool_filter(c, &r.tool)?;
            let all = list::guides(c, tool);
            let page = list_page(c, all, r.page_size, &r.page_token, &["guides", &r.tool])?;
            Ok(pb::ListGuidesResponse {
                guides: page.items.iter().map(|&i| l.pb.guides[i].clone()).collect(),
                next_page_token: page.next_token,
                catalog_version: version(l),
            })
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_guide(
        &self,
        req: Request<pb::GetGuideRequest>,
    ) -> Result<Response<pb::GetGuideResponse>, Status> {
        self.answer(|l| {
            let i = lookup(
                &l.catalog,
                "name",
                names::GUIDES,
                &req.get_ref().name,
                Catalog::guide_index,
            )?;
            Ok(pb::GetGuideResponse {
                guide: Some(l.pb.guides[i].clone()),
                catalog_version: version(l),
            })
        })
    }
}

/// A message back from the bytes encoded for it.
fn decode<T: prost::Message + Default>(bytes: Bytes) -> Result<T, Error> {
    T::decode(bytes).map_err(|e| Error::Storage(format!("encoded answer does not decode: {e}")))
}

/// `knotwork.catalog.v1.CatalogAdminService`: operator calls, internal
/// credential required.
#[derive(Debug, Clone)]
pub struct AdminApi {
    served: Arc<ServedCatalog>,
    auth: InternalAuth,
}

impl AdminApi {
    /// Serves reloads of the catalog in `served` to callers holding `auth`'s
    /// credential.
    pub fn new(served: Arc<ServedCatalog>, auth: InternalAuth) -> Self {
        Self { served, auth }
    }
}

#[tonic::async_trait]
impl CatalogAdminService for AdminApi {
    #[tracing::instrument(skip_all)]
    async fn reload_catalog(
        &self,
        req: Request<pb::ReloadCatalogRequest>,
    ) -> Result<Response<pb::ReloadCatalogResponse>, Status> {
        self.auth.verify(req.metadata())?;
        let outcome = self.served.reload().await.map_err(|e| {
            tracing::warn!(error = %e, "catalog reload refused; the old version keeps serving");
            Status::from(e)
        })?;
        Ok(Response::new(pb::ReloadCatalogResponse {
            previous_version: outcome.previous,
            catalog_version: outcome.current,
            changed: outcome.changed,
        }))
    }
}
