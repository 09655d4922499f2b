//! The profile and the screening.

use jiff::Timestamp;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response};

use super::{Res, Session};
use crate::convert;
use crate::domain::{ProfilePatch, rules, time, validate};
use crate::error::Error;

/// GetProfile.
pub(super) async fn get_profile(
    svc: &Session,
    req: Request<pb::GetProfileRequest>,
) -> Res<pb::GetProfileResponse> {
    let user = svc.user(&req)?;
    let p = svc.store.profile(&user).await?.unwrap_or_default();
    Ok(Response::new(pb::GetProfileResponse {
        profile: Some(convert::profile(&p)),
    }))
}

/// UpdateProfile.
pub(super) async fn update_profile(
    svc: &Session,
    req: Request<pb::UpdateProfileRequest>,
) -> Res<pb::UpdateProfileResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let r = req.into_inner();
    let p = r.profile.unwrap_or_default();
    let mask = r.update_mask.map(|m| m.paths).unwrap_or_default();
    let current = svc.store.profile(&user).await?.unwrap_or_default();
    let waking = validate::waking_patch(
        &p.wake_time,
        &p.sleep_time,
        &mask,
        (current.wake, current.sleep),
    );
    let patch = match (
        validate::profile_patch(&p.time_zone, &p.tools, &mask, &catalog),
        waking,
    ) {
        (Ok(patch), Ok((wake, sleep))) => ProfilePatch {
            wake,
            sleep,
            ..patch
        },
        (a, b) => {
            let mut list = a.err().unwrap_or_default();
            list.extend(b.err().unwrap_or_default());
            return Err(Error::InvalidArgument(list).into());
        }
    };
    let saved = svc
        .store
        .update_profile(&user, patch, Timestamp::now())
        .await?;
    Ok(Response::new(pb::UpdateProfileResponse {
        profile: Some(convert::profile(&saved)),
    }))
}

/// GetScreening.
pub(super) async fn get_screening(
    svc: &Session,
    req: Request<pb::GetScreeningRequest>,
) -> Res<pb::GetScreeningResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let s = svc.store.screening(&user).await?.unwrap_or_default();
    let a = rules::assess(&s, &catalog);
    Ok(Response::new(pb::GetScreeningResponse {
        screening: Some(convert::screening(&s, &a)),
    }))
}

/// SubmitScreening.
pub(super) async fn submit_screening(
    svc: &Session,
    req: Request<pb::SubmitScreeningRequest>,
) -> Res<pb::SubmitScreeningResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let (tz, _) = svc.zone(&user).await?;
    let today = time::local_date(Timestamp::now(), &tz);
    let raw = convert::raw_answers(&req.get_ref().answers);
    let answers = validate::answers(&raw, &catalog, today).map_err(Error::InvalidArgument)?;
    let s = svc
        .store
        .submit_screening(&user, answers, Timestamp::now())
        .await?;
    let a = rules::assess(&s, &catalog);
    Ok(Response::new(pb::SubmitScreeningResponse {
        screening: Some(convert::screening(&s, &a)),
    }))
}
