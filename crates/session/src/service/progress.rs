//! Progress: ListProgress (per point) and GetDay (a day and its allowances).

use std::sync::atomic::Ordering;

use jiff::Timestamp;
use jiff::civil::Date;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response};

use super::plans::{adherence, plan_rules, set_aside};
use super::trigger_point_filter;
use super::{Res, Session, shared_journal};
use crate::convert;
use crate::domain::{holds, names, progress, rules, time};
use crate::error::Error;
use crate::overview::ProgressLimit;

/// ListProgress.
pub(super) async fn list_progress(
    svc: &Session,
    req: Request<pb::ListProgressRequest>,
) -> Res<pb::ListProgressResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let shared = shared_journal(&req);
    let limit = req.extensions().get::<ProgressLimit>().cloned();
    let r = req.into_inner();
    let days = match r.days {
        0 => progress::DEFAULT_HISTORY_DAYS,
        d @ 1..=365 => d.unsigned_abs(),
        _ => return Err(Error::field("days", "must be 0 to 365").into()),
    };
    let only = trigger_point_filter(&r.trigger_point)?;
    let (tz, _) = svc.zone(&user).await?;
    let today = time::local_date(Timestamp::now(), &tz);
    // Every point is computed, even with a filter: the alternatives of
    // one point depend on the status of the others.
    let journal = svc.journal(shared.as_ref(), &user).await?;
    let list = journal.progress(today, days, &catalog);
    let all_holds = svc.store.holds(&user).await?;
    let adherence = adherence(
        &journal,
        &set_aside(&list, &all_holds, &catalog),
        today,
        plan_rules(&catalog),
    );
    let alternatives = progress::alternatives(&list, &catalog, &holds::held_muscles(&all_holds));
    let mut shown: Vec<usize> = (0..list.len())
        .filter(|i| only.as_ref().is_none_or(|o| *o == list[*i].trigger_point))
        .collect();
    shown.sort_by_key(|i| std::cmp::Reverse(list[*i].last_perform_time));
    let hold = |i: usize| holds::active_for_point(&all_holds, &catalog, &list[i].trigger_point);
    if let Some(limit) = limit.filter(|l| l.most > 0) {
        // A GetOverview's home screen shows the first points and sets
        // aside the held and worsening ones, wherever they are in the list.
        limit.total.store(shown.len(), Ordering::SeqCst);
        let mut n = 0;
        shown.retain(|i| {
            n += 1;
            n <= limit.most || list[*i].status == progress::Status::Worsening || hold(*i).is_some()
        });
    }
    Ok(Response::new(pb::ListProgressResponse {
        progress: shown
            .into_iter()
            .map(|i| convert::progress_with_hold(&list[i], &alternatives[i], hold(i), &tz))
            .collect(),
        adherence: Some(convert::adherence(&adherence)),
    }))
}

/// GetDay.
pub(super) async fn get_day(
    svc: &Session,
    req: Request<pb::GetDayRequest>,
) -> Res<pb::GetDayResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let (tz, zone_name) = svc.zone(&user).await?;
    let date = match req.get_ref().local_date.as_str() {
        "" => time::local_date(Timestamp::now(), &tz),
        d => d
            .parse::<Date>()
            .map_err(|_| Error::field("local_date", "must be YYYY-MM-DD"))?,
    };
    let (Some(start), Some(end)) = (
        time::start_of_day(date, &tz),
        time::start_of_next_day(date, &tz),
    ) else {
        return Err(Error::field("local_date", "out of range").into());
    };
    let max_sessions = match req.get_ref().max_sessions {
        0 => 100,
        n @ 1..=500 => n.unsigned_abs() as usize,
        _ => return Err(Error::field("max_sessions", "must be 0 to 500").into()),
    };
    let day = svc
        .store
        .day_summary(&user, start.timestamp(), end.timestamp(), max_sessions)
        .await?;
    let guided_points = svc.store.guided_points_on(&user, date).await?;
    let points: Vec<String> = day
        .points
        .iter()
        .cloned()
        .chain(guided_points)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let counts = svc.store.day_counts(&user, points, date).await?;
    let max = catalog.guidance.max_sessions_per_point_per_day;
    let all_holds = svc.store.holds(&user).await?;
    let allowances = counts
        .iter()
        .map(|(p, done)| {
            let on_hold = holds::active_for_point(&all_holds, &catalog, p).is_some();
            let a = rules::allowance(*done, max, on_hold);
            let next = a.next_tomorrow.then_some(&end);
            pb::PointAllowance {
                trigger_point: names::of(names::TRIGGER_POINT, p),
                sessions_done: i32::try_from(*done).unwrap_or(i32::MAX),
                sessions_remaining: i32::try_from(a.remaining).unwrap_or(i32::MAX),
                next_allowed_time: next.map(|z| convert::to_timestamp(z.timestamp())),
                next_allowed_local_time: next.map(rules::rfc3339_local).unwrap_or_default(),
                on_hold,
            }
        })
        .collect();
    Ok(Response::new(pb::GetDayResponse {
        local_date: date.to_string(),
        time_zone: zone_name,
        sessions: day.sessions.iter().map(convert::session).collect(),
        allowances,
        total_sessions: i32::try_from(day.total_sessions).unwrap_or(i32::MAX),
        total_duration_seconds: i64::try_from(day.total_duration_seconds).unwrap_or(i64::MAX),
        sessions_truncated: day.total_sessions > day.sessions.len() as u64,
    }))
}
