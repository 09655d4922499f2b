//! Holds: ListHolds and ReleaseHold.

use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response};

use super::{Res, Session};
use crate::convert;
use crate::domain::{names, validate};
use crate::error::Error;

/// ListHolds.
pub(super) async fn list_holds(
    svc: &Session,
    req: Request<pb::ListHoldsRequest>,
) -> Res<pb::ListHoldsResponse> {
    let user = svc.user(&req)?;
    let include_released = req.get_ref().include_released;
    let (tz, _) = svc.zone(&user).await?;
    let mut all = svc.store.holds(&user).await?;
    all.retain(|h| include_released || h.active());
    all.sort_by_key(|h| (std::cmp::Reverse(h.active()), std::cmp::Reverse(h.since)));
    Ok(Response::new(pb::ListHoldsResponse {
        holds: all.iter().map(|h| convert::hold(h, &tz)).collect(),
    }))
}

/// ReleaseHold.
pub(super) async fn release_hold(
    svc: &Session,
    req: Request<pb::ReleaseHoldRequest>,
) -> Res<pb::ReleaseHoldResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let r = req.into_inner();
    let point = validate::parse_name(&r.trigger_point, names::TRIGGER_POINT)
        .ok_or_else(|| Error::field("trigger_point", "must be `triggerPoints/{trigger_point}`"))?
        .to_owned();
    let (tz, _) = svc.zone(&user).await?;
    let mut on_muscle = svc
        .store
        .release_hold(
            &user,
            &point,
            r.provider_checked,
            &r.checked_date,
            catalog,
            Timestamp::now(),
        )
        .await?;
    on_muscle.sort_by_key(|h| std::cmp::Reverse(h.since));
    tracing::info!(point = %point, holds = on_muscle.len(), "hold released");
    Ok(Response::new(pb::ReleaseHoldResponse {
        holds: on_muscle.iter().map(|h| convert::hold(h, &tz)).collect(),
    }))
}
