//! Pain check-ins: recording, listing and progress per region.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response};

use super::{Res, Session};
use crate::convert;
use crate::domain::validate::{self, Violations};
use crate::domain::{checkin, time};
use crate::error::Error;

/// RecordCheckIn.
pub(super) async fn record_check_in(
    svc: &Session,
    req: Request<pb::RecordCheckInRequest>,
) -> Res<pb::RecordCheckInResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let r = req.into_inner();
    let mut v = Violations::default();
    if let Err(e) = validate::request_id(&r.request_id, "request_id") {
        v.add(&e.field, e.description);
    }
    let draft = match checkin::validate(&r.region, r.score, &catalog) {
        Ok(d) => Some(d),
        Err(list) => {
            for f in list {
                v.add(&f.field, f.description);
            }
            None
        }
    };
    let Some(draft) = v.finish(draft).map_err(Error::InvalidArgument)? else {
        return Err(Error::field("region", "required").into());
    };
    let (c, (replayed, replaced)) = svc
        .store
        .record_check_in(&user, &r.request_id, draft, Timestamp::now())
        .await?;
    Ok(Response::new(pb::RecordCheckInResponse {
        check_in: Some(convert::check_in(&c)),
        replayed,
        replaced,
    }))
}

/// ListCheckIns.
pub(super) async fn list_check_ins(
    svc: &Session,
    req: Request<pb::ListCheckInsRequest>,
) -> Res<pb::ListCheckInsResponse> {
    let user = svc.user(&req)?;
    let r = req.into_inner();
    let mut v = Violations::default();
    let only = match r.region.as_str() {
        "" => None,
        name => match validate::parse_name(name, checkin::REGION) {
            Some(id) => Some(id.to_owned()),
            None => {
                v.add("region", "must be a region name \"regions/{region}\"");
                None
            }
        },
    };
    let (start, end) = checkin::date_fields(&r.start_date, &r.end_date, &mut v);
    let (tz, _) = svc.zone(&user).await?;
    let today = time::local_date(Timestamp::now(), &tz);
    let range = match v.finish(()) {
        Ok(()) => {
            checkin::range(start, end, today).map_err(|e| Error::field(e.field, e.description))?
        }
        Err(list) => return Err(Error::InvalidArgument(list).into()),
    };
    let check_ins = svc
        .store
        .check_ins(&user, range.0, range.1)
        .await?
        .iter()
        .filter(|c| only.as_ref().is_none_or(|o| *o == c.region))
        .map(convert::check_in)
        .collect();
    Ok(Response::new(pb::ListCheckInsResponse { check_ins }))
}

/// ListRegionProgress.
pub(super) async fn list_region_progress(
    svc: &Session,
    req: Request<pb::ListRegionProgressRequest>,
) -> Res<pb::ListRegionProgressResponse> {
    let user = svc.user(&req)?;
    let days = match req.get_ref().days {
        0 => checkin::DEFAULT_PROGRESS_DAYS,
        d if d > 0 && d.unsigned_abs() <= checkin::MAX_DAYS => d.unsigned_abs(),
        _ => return Err(Error::field("days", "must be 0 to 400").into()),
    };
    // Display names come from the catalog when it is reachable; the ids
    // are enough otherwise.
    let catalog = svc.catalog.get().ok();
    let (tz, _) = svc.zone(&user).await?;
    let today = time::local_date(Timestamp::now(), &tz);
    let from = time::days_before(today, days - 1);
    let check_ins = svc.store.check_ins(&user, from, today).await?;
    let progress = checkin::progress(&check_ins);
    // The week rule needs the guidance and which points reach each
    // region, so it needs the catalog; without it the status is left
    // as INSUFFICIENT_DATA. Without check-ins there is no region to rule
    // on, and the week's sessions are not read.
    let mut statuses = BTreeMap::new();
    if let Some(c) = catalog.as_deref().filter(|_| !progress.is_empty()) {
        let window = c.guidance.trend_window_days.max(1);
        let week_start = time::days_before(today, window - 1);
        let start = time::start_of_day(week_start, &tz)
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let end = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(Timestamp::MAX);
        let sessions = svc.store.sessions_between(&user, start, end).await?;
        let mut days: BTreeMap<&str, BTreeSet<Date>> = BTreeMap::new();
        for s in &sessions {
            days.entry(s.draft.trigger_point.as_str())
                .or_default()
                .insert(s.local_date);
        }
        for p in &progress {
            let worked: BTreeMap<String, BTreeSet<Date>> = checkin::region_points(c, &p.region)
                .filter_map(|id| Some((id.to_owned(), days.get(id)?.clone())))
                .collect();
            let st = checkin::region_status(&p.daily, &worked, today, &c.guidance);
            statuses.insert(p.region.clone(), st);
        }
    }
    let regions = progress
        .iter()
        .map(|p| {
            let display = catalog
                .as_ref()
                .and_then(|c| c.regions.get(&p.region))
                .map_or_else(|| p.region.replace('_', " "), |d| d.to_lowercase());
            convert::region_progress(p, &display, statuses.get(&p.region))
        })
        .collect();
    Ok(Response::new(pb::ListRegionProgressResponse { regions }))
}
