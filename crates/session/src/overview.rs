//! GetOverview: the parts of a home screen in one call, each answered by
//! its own handler in this process (concurrently), so every part is
//! exactly what its method answers and the rules stay in one place. The
//! gain is the round trips: the gateway's GetToday and GetReliefPlan made
//! five and six calls to the shard, now one.

use knotwork_proto::session::v1 as pb;
use knotwork_proto::session::v1::session_service_server::SessionService;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// A request for one part, with the caller's metadata (the user and the
/// internal credential, checked again by the part's handler).
fn part<T>(metadata: &MetadataMap, message: T) -> Request<T> {
    let mut req = Request::new(message);
    *req.metadata_mut() = metadata.clone();
    req
}

/// Answers GetOverview from `svc`'s own handlers. The first failing part
/// fails the call, the plan's first (it checks the date), then in the
/// order of the response's fields.
pub(crate) async fn overview<S: SessionService>(
    svc: &S,
    req: Request<pb::GetOverviewRequest>,
) -> Result<Response<pb::GetOverviewResponse>, Status> {
    let md = req.metadata().clone();
    let r = req.into_inner();
    let date = r.local_date;
    let (plan, day, progress, screening, holds, profile, region_progress) = tokio::join!(
        async {
            if r.include_plan {
                svc.get_daily_plan(part(
                    &md,
                    pb::GetDailyPlanRequest {
                        local_date: date.clone(),
                    },
                ))
                .await
                .map(|r| Some(r.into_inner()))
            } else {
                Ok(None)
            }
        },
        svc.get_day(part(
            &md,
            pb::GetDayRequest {
                local_date: date.clone(),
                max_sessions: 0,
            },
        )),
        svc.list_progress(part(
            &md,
            pb::ListProgressRequest {
                trigger_point: String::new(),
                days: 0,
            },
        )),
        svc.get_screening(part(&md, pb::GetScreeningRequest {})),
        svc.list_holds(part(
            &md,
            pb::ListHoldsRequest {
                include_released: false,
            },
        )),
        async {
            if r.include_profile {
                svc.get_profile(part(&md, pb::GetProfileRequest {}))
                    .await
                    .map(|r| Some(r.into_inner()))
            } else {
                Ok(None)
            }
        },
        async {
            if r.include_region_progress {
                svc.list_region_progress(part(&md, pb::ListRegionProgressRequest { days: 0 }))
                    .await
                    .map(|r| Some(r.into_inner()))
            } else {
                Ok(None)
            }
        },
    );
    let plan = plan?;
    Ok(Response::new(pb::GetOverviewResponse {
        day: Some(day?.into_inner()),
        progress: Some(progress?.into_inner()),
        screening: Some(screening?.into_inner()),
        holds: Some(holds?.into_inner()),
        plan,
        profile: profile?,
        region_progress: region_progress?,
    }))
}
