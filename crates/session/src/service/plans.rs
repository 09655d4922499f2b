//! Plans: GetDailyPlan, ListReminders and ExportCalendar, computed on the
//! fly from the journal, the holds and the profile.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use knotwork_proto::session::v1 as pb;
use tonic::{Request, Response};

use super::{Res, Session, shared_journal};
use crate::convert;
use crate::domain::validate::Violations;
use crate::domain::{checkin, holds, ical, names, plan, progress, rules, time};
use crate::error::Error;
use crate::overview::SharedJournal;

/// GetDailyPlan.
pub(super) async fn get_daily_plan(
    svc: &Session,
    req: Request<pb::GetDailyPlanRequest>,
) -> Res<pb::GetDailyPlanResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let ctx = svc
        .plan_context(shared_journal(&req).as_ref(), &user, &catalog)
        .await?;
    let date = match checkin::date_field(&req.get_ref().local_date, "local_date") {
        Ok(Some(d)) => d,
        Ok(None) => ctx.today,
        Err(e) => return Err(Error::field(e.field, e.description).into()),
    };
    if !plan::in_range(date, ctx.today) {
        return Err(Error::field("local_date", "must be within 400 days of today").into());
    }
    let mut day = ctx
        .day(date)
        .ok_or_else(|| Error::field("local_date", "out of range"))?;
    if date <= ctx.today {
        // Guided sessions started count toward the limit too.
        let points = day.points.iter().map(|p| p.point.clone()).collect();
        let used = svc.store.day_counts(&user, points, date).await?;
        day.limit_by(&used, ctx.rules.cap);
    }
    Ok(Response::new(pb::GetDailyPlanResponse {
        plan: Some(ctx.to_pb(&day)),
        adherence: Some(convert::adherence(&ctx.adherence())),
    }))
}

/// ListReminders.
pub(super) async fn list_reminders(
    svc: &Session,
    req: Request<pb::ListRemindersRequest>,
) -> Res<pb::ListRemindersResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let r = req.into_inner();
    let ctx = svc.plan_context(None, &user, &catalog).await?;
    let page_size = match r.page_size {
        0 => 50,
        n @ 1..=200 => n.unsigned_abs() as usize,
        _ => return Err(Error::field("page_size", "must be 0 to 200").into()),
    };
    let window = match r.page_token.as_str() {
        "" => reminder_window(r.start_time.as_ref(), r.end_time.as_ref(), ctx.now)?,
        token => reminder_token(token, ctx.now)?,
    };
    let (start, end, offset) = window;
    let (first, last) = (
        time::local_date(start, &ctx.tz),
        time::local_date(end, &ctx.tz),
    );
    let mut all = Vec::new();
    let mut date = first;
    while date <= last {
        if let Some(day) = ctx.day(date) {
            for (k, slot) in day.slots.iter().enumerate() {
                if slot.left.is_empty() || slot.time < start || slot.time >= end {
                    continue;
                }
                let names: Vec<String> = slot
                    .left
                    .iter()
                    .map(|p| point_display(&catalog, p))
                    .collect();
                let (title, body) = plan::reminder_text(&names);
                all.push(pb::Reminder {
                    name: format!("reminders/{date}.{}", k + 1),
                    time: Some(convert::to_timestamp(slot.time)),
                    local_time: rules::rfc3339_local(&slot.time.to_zoned(ctx.tz.clone())),
                    local_date: date.to_string(),
                    trigger_points: slot
                        .left
                        .iter()
                        .map(|p| names::of(names::TRIGGER_POINT, p))
                        .collect(),
                    title,
                    body,
                });
            }
        }
        let Ok(next) = date.tomorrow() else { break };
        date = next;
    }
    let more = all.len() > offset + page_size;
    let reminders: Vec<_> = all.into_iter().skip(offset).take(page_size).collect();
    let next_page_token = if more {
        format!(
            "{}.{}.{}",
            start.as_second(),
            end.as_second(),
            offset + page_size
        )
    } else {
        String::new()
    };
    Ok(Response::new(pb::ListRemindersResponse {
        reminders,
        next_page_token,
    }))
}

/// ExportCalendar.
pub(super) async fn export_calendar(
    svc: &Session,
    req: Request<pb::ExportCalendarRequest>,
) -> Res<pb::ExportCalendarResponse> {
    let user = svc.user(&req)?;
    let catalog = svc.catalog.get()?;
    let r = req.into_inner();
    let ctx = svc.plan_context(None, &user, &catalog).await?;
    let mut v = Violations::default();
    let start = match checkin::date_field(&r.start_date, "start_date") {
        Ok(Some(d)) if plan::in_range(d, ctx.today) => d,
        Ok(Some(_)) => {
            v.add("start_date", "must be within 400 days of today");
            ctx.today
        }
        Ok(None) => ctx.today,
        Err(e) => {
            v.add(&e.field, e.description);
            ctx.today
        }
    };
    let days = match r.days {
        0 => 7,
        n @ 1..=14 => n.unsigned_abs(),
        _ => {
            v.add("days", "must be 0 to 14");
            7
        }
    };
    v.finish(()).map_err(Error::InvalidArgument)?;
    let tag = ical::person_tag(&user);
    let minutes_per_point = 5;
    let mut events = Vec::new();
    let mut date = start;
    for _ in 0..days {
        if let Some(day) = ctx.day(date) {
            for (k, slot) in day.slots.iter().enumerate() {
                let names: Vec<String> = slot
                    .points
                    .iter()
                    .map(|p| point_display(&catalog, p))
                    .collect();
                let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
                events.push(ical::Event {
                    uid: format!("{date}-{}-{tag}@knotwork.dev", k + 1),
                    start: slot.time,
                    minutes: count.saturating_mul(minutes_per_point).clamp(5, 60),
                    summary: format!(
                        "Trigger points: {count} point{}",
                        if count == 1 { "" } else { "s" }
                    ),
                    description: format!(
                        "Work {} at about {}/10 pressure, a few minutes each.",
                        names.join(", "),
                        catalog.guidance.target_pressure
                    ),
                });
            }
        }
        let Ok(next) = date.tomorrow() else { break };
        date = next;
    }
    let body = ical::calendar("Knotwork plan", &events, ctx.now);
    Ok(Response::new(pb::ExportCalendarResponse {
        calendar: body.into_bytes(),
        content_type: ical::CONTENT_TYPE.to_owned(),
        events: i32::try_from(events.len()).unwrap_or(i32::MAX),
    }))
}
impl Session {
    /// Reads what the caller's plans are computed from.
    async fn plan_context(
        &self,
        shared: Option<&SharedJournal>,
        user: &str,
        catalog: &Arc<crate::domain::CatalogView>,
    ) -> Result<PlanContext, Error> {
        let profile = self.store.profile(user).await?.unwrap_or_default();
        let tz = time::zone_or_utc(&profile.time_zone);
        let now = Timestamp::now();
        let today = time::local_date(now, &tz);
        let journal = self.journal(shared, user).await?;
        // The same computation as ListProgress's (kept with the journal,
        // so a GetOverview computes it once for both).
        let progress = journal.progress(today, progress::DEFAULT_HISTORY_DAYS, catalog);
        let all_holds = self.store.holds(user).await?;
        Ok(PlanContext {
            excluded: set_aside(&progress, &all_holds, catalog),
            journal,
            progress,
            waking: profile.waking(),
            zone_name: profile.time_zone,
            tz,
            rules: plan_rules(catalog),
            now,
            today,
        })
    }
}

/// A point's display name, or its id when the catalog no longer has it.
fn point_display(catalog: &crate::domain::CatalogView, id: &str) -> String {
    catalog
        .point(id)
        .map_or_else(|| id.to_owned(), |p| p.display_name.clone())
}

/// The reminders' window `[start, end)` from the request, with offset 0.
fn reminder_window(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp, usize), Error> {
    let mut v = Violations::default();
    let start = match start.map(convert::timestamp) {
        None => now,
        Some(None) => {
            v.add("start_time", "out of range");
            now
        }
        Some(Some(t)) => t,
    };
    let day = jiff::SignedDuration::from_hours(24);
    let earliest = now.checked_sub(day).unwrap_or(now);
    let latest = now
        .checked_add(day * i32::try_from(plan::MAX_DAYS_AHEAD).unwrap_or(400))
        .unwrap_or(now);
    if start < earliest || start > latest {
        v.add(
            "start_time",
            "must be from a day before now to 400 days after",
        );
    }
    let span = day * i32::try_from(plan::MAX_SPAN_DAYS).unwrap_or(14);
    let end = match end.map(convert::timestamp) {
        None => start.checked_add(day * 7).unwrap_or(start),
        Some(None) => {
            v.add("end_time", "out of range");
            start
        }
        Some(Some(t)) => t,
    };
    if end <= start || end.duration_since(start) > span {
        v.add(
            "end_time",
            "must be after start_time, at most 14 days after it",
        );
    }
    v.finish((start, end, 0)).map_err(Error::InvalidArgument)
}

/// The window and offset a reminders page token carries.
fn reminder_token(token: &str, now: Timestamp) -> Result<(Timestamp, Timestamp, usize), Error> {
    let bad = || Error::field("page_token", "not a token from this call");
    let mut parts = token.splitn(3, '.');
    let mut num = || parts.next().and_then(|p| p.parse::<i64>().ok());
    let (Some(a), Some(b), Some(o)) = (num(), num(), num()) else {
        return Err(bad());
    };
    let (Ok(start), Ok(end), Ok(offset)) = (
        Timestamp::from_second(a),
        Timestamp::from_second(b),
        usize::try_from(o),
    ) else {
        return Err(bad());
    };
    let s = prost_types::Timestamp {
        seconds: start.as_second(),
        nanos: 0,
    };
    let e = prost_types::Timestamp {
        seconds: end.as_second(),
        nanos: 0,
    };
    // A token is only as good as the window it names.
    reminder_window(Some(&s), Some(&e), now).map_err(|_| bad())?;
    Ok((start, end, offset.min(10_000)))
}

/// What a plan is computed from, read once per call.
struct PlanContext {
    /// The journal grouped per point (shared with the other parts of a
    /// GetOverview).
    journal: Arc<progress::Grouped>,
    excluded: BTreeSet<String>,
    /// Each point's progress (its status shows in the plan).
    progress: progress::Progress,
    tz: jiff::tz::TimeZone,
    zone_name: String,
    waking: plan::Waking,
    rules: plan::Rules,
    now: Timestamp,
    today: Date,
}

impl PlanContext {
    /// The plan of local day `date`; `None` when the day cannot be placed
    /// in the zone (out of jiff's range).
    fn day(&self, date: Date) -> Option<plan::DayPlan> {
        let window = self.waking.window(date, &self.tz)?;
        Some(plan::day_plan(
            &self.journal.worked,
            &self.excluded,
            date,
            self.today,
            self.now,
            window,
            self.rules,
        ))
    }

    fn adherence(&self) -> plan::Adherence {
        adherence(&self.journal, &self.excluded, self.today, self.rules)
    }

    fn to_pb(&self, p: &plan::DayPlan) -> pb::DailyPlan {
        convert::daily_plan(p, &self.zone_name, &self.tz, self.waking, &self.progress)
    }
}

/// The points set aside from a plan: a held muscle or worsening tenderness.
pub(super) fn set_aside(
    progress: &[Arc<progress::PointProgress>],
    all_holds: &[holds::Hold],
    catalog: &crate::domain::CatalogView,
) -> BTreeSet<String> {
    progress
        .iter()
        .filter(|p| {
            p.status == progress::Status::Worsening
                || holds::active_for_point(all_holds, catalog, &p.trigger_point).is_some()
        })
        .map(|p| p.trigger_point.clone())
        .collect()
}

/// The streak and the week's adherence ([`plan::adherence`]), kept with
/// the journal: ListProgress and GetDailyPlan (both parts of GetToday's
/// overview) ask for the same.
pub(super) fn adherence(
    journal: &progress::Grouped,
    excluded: &BTreeSet<String>,
    today: Date,
    rules: plan::Rules,
) -> plan::Adherence {
    journal.kept((today, rules, excluded.clone()), || {
        plan::adherence(&journal.worked, excluded, today, rules)
    })
}

pub(super) fn plan_rules(catalog: &crate::domain::CatalogView) -> plan::Rules {
    let g = &catalog.guidance;
    plan::Rules::new(
        g.recommended_sessions_per_day_min,
        g.max_sessions_per_point_per_day,
    )
}
