//! Protobuf <-> domain. Together with `service/` the only code that knows
//! prost types. `catalog_view.rs` reads a catalog snapshot, `import.rs` an
//! export; everything else here writes the wire types.

mod catalog_view;
mod import;

pub use catalog_view::catalog_view;
/// A small valid catalog snapshot for tests (`catalog.rs` uses it too).
#[cfg(test)]
pub(crate) use catalog_view::tests;
pub use import::import;

use std::sync::Arc;

use jiff::Timestamp;
use knotwork_proto::catalog::v1 as cpb;
use knotwork_proto::session::v1 as pb;

use crate::domain::checkin::{self, CheckIn, RegionProgress};
use crate::domain::guide::{Cue, CueKind};
use crate::domain::holds::{Hold, HoldReason};
use crate::domain::progress::{PointProgress, Status};
use crate::domain::validate::{RawAnswer, RawSession, parse_name};
use crate::domain::{
    CatalogView, DayStats, GuidedSession, Origin, PainQuality, Profile, Screening,
    ScreeningAssessment, ScreeningStatus, SessionRecord, Severity, Side, UserData, Warning,
    WarningCode, names, plan, time,
};
use crate::error::Error;

/// A protobuf timestamp as a jiff one; `None` when out of range.
pub fn timestamp(t: &prost_types::Timestamp) -> Option<Timestamp> {
    Timestamp::new(t.seconds, t.nanos).ok()
}

/// A jiff timestamp as a protobuf one.
pub fn to_timestamp(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

/// A status as a batch item's `ItemError`: its code and message, its
/// field violations (`google.rpc.BadRequest`) and its ErrorInfo reason.
pub fn item_error(status: &tonic::Status) -> pb::ItemError {
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    pb::ItemError {
        code: status.code() as i32,
        message: status.message().to_owned(),
        field_violations: details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|f| pb::FieldViolation {
                        field: f.field.clone(),
                        description: f.description.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        reason: details
            .error_info()
            .map(|i| i.reason.clone())
            .unwrap_or_default(),
    }
}

/// The user id an admin call names, checked like the ids the gateway sets.
pub fn admin_user_id(id: &str) -> Result<&str, Error> {
    if !knotwork_runtime::internal::is_valid_user_id(id) {
        return Err(Error::field(
            "user_id",
            format!(
                "required, at most {} bytes of text without control characters",
                knotwork_runtime::internal::MAX_USER_ID_LEN
            ),
        ));
    }
    Ok(id)
}

fn strip<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix).unwrap_or(name)
}

/// An incoming session, unvalidated.
pub fn raw_session(s: &pb::SessionRecord) -> RawSession {
    RawSession {
        trigger_point: s.trigger_point.clone(),
        tool: s.tool.clone(),
        side: s.side,
        pressure: s.pressure,
        duration_seconds: s.duration_seconds,
        tenderness_before: s.tenderness_before,
        tenderness_after: s.tenderness_after,
        pain_quality: s.pain_quality,
        worse_with_activity: s.worse_with_activity,
        worse_with_massage: s.worse_with_massage,
        twitch_response: s.twitch_response,
        notes: s.notes.clone(),
        // A timestamp out of jiff's range is clamped to the nearest end, so
        // validation refuses it on the right side instead of ignoring it.
        perform_time: s.perform_time.as_ref().map(|t| {
            timestamp(t).unwrap_or(if t.seconds > 0 {
                Timestamp::MAX
            } else {
                Timestamp::MIN
            })
        }),
        guided_session: s.guided_session.clone(),
    }
}

/// Incoming screening answers, unvalidated.
pub fn raw_answers(a: &[pb::ScreeningAnswer]) -> Vec<RawAnswer> {
    a.iter()
        .map(|a| RawAnswer {
            contraindication: a.contraindication.clone(),
            present: a.present,
            cleared_by_provider: a.cleared_by_provider,
            cleared_date: a.cleared_date.clone(),
        })
        .collect()
}

/// The wire value of a side.
pub fn side(s: Side) -> i32 {
    (match s {
        Side::Unspecified => cpb::Side::Unspecified,
        Side::Left => cpb::Side::Left,
        Side::Right => cpb::Side::Right,
        Side::Both => cpb::Side::Both,
        Side::Midline => cpb::Side::Midline,
    }) as i32
}

fn pain_quality(p: PainQuality) -> i32 {
    (match p {
        PainQuality::Unspecified => pb::PainQuality::Unspecified,
        PainQuality::Dull => pb::PainQuality::Dull,
        PainQuality::Aching => pb::PainQuality::Aching,
        PainQuality::Burning => pb::PainQuality::Burning,
        PainQuality::Tingling => pb::PainQuality::Tingling,
        PainQuality::Sharp => pb::PainQuality::Sharp,
        PainQuality::Numbness => pb::PainQuality::Numbness,
        PainQuality::Electric => pb::PainQuality::Electric,
    }) as i32
}

fn warning_code(c: WarningCode) -> pb::WarningCode {
    use pb::WarningCode as W;
    match c {
        WarningCode::PressureTooHigh => W::PressureTooHigh,
        WarningCode::DurationTooLong => W::DurationTooLong,
        WarningCode::DailyLimitExceeded => W::DailyLimitExceeded,
        WarningCode::SharpPain => W::SharpPain,
        WarningCode::WorseWithActivity => W::WorseWithActivity,
        WarningCode::WorseWithMassage => W::WorseWithMassage,
        WarningCode::TendernessRising => W::TendernessRising,
        WarningCode::ScreeningIncomplete => W::ScreeningIncomplete,
        WarningCode::Contraindicated => W::Contraindicated,
        WarningCode::ToolExcluded => W::ToolExcluded,
        WarningCode::ConditionExcluded => W::ConditionExcluded,
        WarningCode::TherapistOnly => W::TherapistOnly,
        WarningCode::PointOnHold => W::PointOnHold,
        WarningCode::NerveSensation => W::NerveSensation,
        WarningCode::NearDailyLimit => W::NearDailyLimit,
        WarningCode::NeighbourOnHold => W::NeighbourOnHold,
        WarningCode::ProfileIncomplete => W::ProfileIncomplete,
        WarningCode::HoldLimited => W::HoldLimited,
    }
}

fn warning_code_from(v: i32) -> Option<WarningCode> {
    use pb::WarningCode as W;
    Some(match W::try_from(v).ok()? {
        W::PressureTooHigh => WarningCode::PressureTooHigh,
        W::DurationTooLong => WarningCode::DurationTooLong,
        W::DailyLimitExceeded => WarningCode::DailyLimitExceeded,
        W::SharpPain => WarningCode::SharpPain,
        W::WorseWithActivity => WarningCode::WorseWithActivity,
        W::WorseWithMassage => WarningCode::WorseWithMassage,
        W::TendernessRising => WarningCode::TendernessRising,
        W::ScreeningIncomplete => WarningCode::ScreeningIncomplete,
        W::Contraindicated => WarningCode::Contraindicated,
        W::ToolExcluded => WarningCode::ToolExcluded,
        W::ConditionExcluded => WarningCode::ConditionExcluded,
        W::TherapistOnly => WarningCode::TherapistOnly,
        W::PointOnHold => WarningCode::PointOnHold,
        W::NerveSensation => WarningCode::NerveSensation,
        W::NearDailyLimit => WarningCode::NearDailyLimit,
        W::NeighbourOnHold => WarningCode::NeighbourOnHold,
        W::ProfileIncomplete => WarningCode::ProfileIncomplete,
        W::HoldLimited => WarningCode::HoldLimited,
        W::Unspecified => return None,
    })
}

fn severity(s: Severity) -> i32 {
    (match s {
        Severity::Info => pb::WarningSeverity::Info,
        Severity::Caution => pb::WarningSeverity::Caution,
        Severity::MedicalAttention => pb::WarningSeverity::MedicalAttention,
    }) as i32
}

fn severity_from(v: i32) -> Severity {
    match pb::WarningSeverity::try_from(v) {
        Ok(pb::WarningSeverity::MedicalAttention) => Severity::MedicalAttention,
        Ok(pb::WarningSeverity::Caution) => Severity::Caution,
        _ => Severity::Info,
    }
}

/// A warning on the wire.
pub fn warning(w: &Warning) -> pb::SafetyWarning {
    pb::SafetyWarning {
        code: warning_code(w.code) as i32,
        severity: severity(w.severity),
        message: w.message.clone(),
        medical_attention_advised: w.medical_attention_advised(),
    }
}

/// A stored session on the wire.
pub fn session(r: &SessionRecord) -> pb::SessionRecord {
    let d = &r.draft;
    pb::SessionRecord {
        name: names::of(names::SESSION, &r.id),
        trigger_point: names::of(names::TRIGGER_POINT, &d.trigger_point),
        tool: names::of(names::TOOL, &d.tool),
        side: side(d.side),
        pressure: i32::from(d.pressure),
        duration_seconds: i32::try_from(d.duration_seconds).unwrap_or(i32::MAX),
        tenderness_before: d.tenderness_before.map(i32::from),
        tenderness_after: d.tenderness_after.map(i32::from),
        pain_quality: pain_quality(d.pain_quality),
        worse_with_activity: d.worse_with_activity,
        worse_with_massage: d.worse_with_massage,
        twitch_response: d.twitch_response,
        notes: d.notes.clone(),
        perform_time: Some(to_timestamp(d.perform_time)),
        create_time: Some(to_timestamp(r.create_time)),
        local_date: time::iso_date(r.local_date),
        origin: (match r.origin {
            Origin::Logged => pb::SessionOrigin::Logged,
            Origin::Guided => pb::SessionOrigin::Guided,
        }) as i32,
        guided_session: d
            .guided_session
            .as_ref()
            .map(|g| names::of(names::GUIDED_SESSION, g))
            .unwrap_or_default(),
        warnings: r.warnings.iter().map(warning).collect(),
    }
}

/// A guided session on the wire.
pub fn guided(g: &GuidedSession) -> pb::GuidedSession {
    pb::GuidedSession {
        name: names::of(names::GUIDED_SESSION, &g.id),
        trigger_point: names::of(names::TRIGGER_POINT, &g.trigger_point),
        tool: names::of(names::TOOL, &g.tool),
        side: side(g.side),
        duration_seconds: i32::try_from(g.duration_seconds).unwrap_or(i32::MAX),
        target_pressure: i32::from(g.target_pressure),
        start_time: Some(to_timestamp(g.start_time)),
        local_date: time::iso_date(g.local_date),
        sessions_today: i32::try_from(g.sessions_today).unwrap_or(i32::MAX),
        warnings: g.warnings.iter().map(warning).collect(),
        instructions: g.instructions.clone(),
    }
}

/// A profile on the wire.
pub fn profile(p: &Profile) -> pb::Profile {
    pb::Profile {
        time_zone: p.time_zone.clone(),
        tools: p.tools.iter().map(|t| names::of(names::TOOL, t)).collect(),
        create_time: p.create_time.map(to_timestamp),
        update_time: p.update_time.map(to_timestamp),
        wake_time: p.wake.map(plan::hhmm).unwrap_or_default(),
        sleep_time: p.sleep.map(plan::hhmm).unwrap_or_default(),
    }
}

fn contra(ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| names::of(names::CONTRAINDICATION, id))
        .collect()
}

/// A screening and its assessment on the wire.
pub fn screening(s: &Screening, a: &ScreeningAssessment) -> pb::Screening {
    pb::Screening {
        answers: s
            .answers
            .iter()
            .map(|(id, a)| pb::ScreeningAnswer {
                contraindication: names::of(names::CONTRAINDICATION, id),
                present: a.present,
                cleared_by_provider: a.cleared_by_provider,
                cleared_date: a.cleared_date.map(|d| d.to_string()).unwrap_or_default(),
            })
            .collect(),
        status: (match a.status {
            ScreeningStatus::Required => pb::ScreeningStatus::Required,
            ScreeningStatus::Cleared => pb::ScreeningStatus::Cleared,
            ScreeningStatus::Contraindicated => pb::ScreeningStatus::Contraindicated,
        }) as i32,
        missing: contra(&a.missing),
        blocking: contra(&a.blocking),
        update_time: s.update_time.map(to_timestamp),
    }
}

fn day(d: &DayStats) -> pb::DailyProgress {
    pb::DailyProgress {
        local_date: time::iso_date(d.date),
        session_count: i32::try_from(d.sessions).unwrap_or(i32::MAX),
        mean_tenderness_before: d.mean_before,
        mean_tenderness_after: d.mean_after,
        total_duration_seconds: i32::try_from(d.total_duration_seconds).unwrap_or(i32::MAX),
    }
}

/// A hold on the wire; `since_local_time` in `tz`.
pub fn hold(h: &Hold, tz: &jiff::tz::TimeZone) -> pb::Hold {
    pb::Hold {
        name: names::of(names::HOLD, &h.id),
        trigger_point: names::of(names::TRIGGER_POINT, &h.trigger_point),
        muscle: format!("muscles/{}", h.muscle),
        reason: (match h.reason {
            HoldReason::MedicalWarning => pb::HoldReason::MedicalWarning,
            HoldReason::NerveSensation => pb::HoldReason::NerveSensation,
            HoldReason::Worsening => pb::HoldReason::Worsening,
        }) as i32,
        why: h.why.clone(),
        advice: if h.active() {
            crate::domain::holds::ADVICE.to_owned()
        } else {
            "Released: a medical provider checked it. Start gently and stop if the warning signs return."
                .to_owned()
        },
        since: Some(to_timestamp(h.since)),
        since_local_time: h.since_local(tz),
        session: h
            .session
            .as_ref()
            .map(|s| names::of(names::SESSION, s))
            .unwrap_or_default(),
        active: h.active(),
        release_time: h.release.as_ref().map(|r| to_timestamp(r.time)),
        provider_checked_date: h
            .release
            .as_ref()
            .map(|r| r.provider_checked_date.to_string())
            .unwrap_or_default(),
    }
}

fn hold_from(h: &pb::Hold) -> Option<Hold> {
    let reason = match pb::HoldReason::try_from(h.reason).ok()? {
        pb::HoldReason::MedicalWarning => HoldReason::MedicalWarning,
        pb::HoldReason::NerveSensation => HoldReason::NerveSensation,
        pb::HoldReason::Worsening => HoldReason::Worsening,
        pb::HoldReason::Unspecified => return None,
    };
    let release = if h.active {
        None
    } else {
        Some(crate::domain::holds::Release {
            time: h.release_time.as_ref().and_then(timestamp)?,
            provider_checked_date: h.provider_checked_date.parse().ok()?,
        })
    };
    Some(Hold {
        schema: crate::domain::holds::HOLD_SCHEMA,
        id: parse_name(&h.name, names::HOLD)?.to_owned(),
        trigger_point: strip(&h.trigger_point, names::TRIGGER_POINT).to_owned(),
        muscle: strip(&h.muscle, "muscles/").to_owned(),
        reason,
        why: h.why.clone(),
        since: h.since.as_ref().and_then(timestamp)?,
        session: parse_name(&h.session, names::SESSION).map(str::to_owned),
        release,
    })
}

/// Progress on one point on the wire, with its alternatives
/// ([`crate::domain::progress::alternatives`]) and the active hold on its
/// muscle.
pub fn progress_with_hold(
    p: &PointProgress,
    alternatives: &[String],
    hold: Option<&Hold>,
    tz: &jiff::tz::TimeZone,
) -> pb::PointProgress {
    let mut out = progress(p, alternatives);
    out.hold = hold.map(|h| self::hold(h, tz));
    out
}

/// A progress status on the wire.
pub fn progress_status(s: Status) -> pb::ProgressStatus {
    match s {
        Status::InsufficientData => pb::ProgressStatus::InsufficientData,
        Status::Improving => pb::ProgressStatus::Improving,
        Status::NotImproving => pb::ProgressStatus::NotImproving,
        Status::Worsening => pb::ProgressStatus::Worsening,
    }
}

/// Progress on one point on the wire.
pub fn progress(p: &PointProgress, alternatives: &[String]) -> pb::PointProgress {
    pb::PointProgress {
        trigger_point: names::of(names::TRIGGER_POINT, &p.trigger_point),
        days: p.days.iter().map(day).collect(),
        tenderness_trend_per_day: p.trend_per_day,
        status: progress_status(p.status) as i32,
        advice: p.advice.clone(),
        active_days_in_window: i32::try_from(p.active_days_in_window).unwrap_or(i32::MAX),
        sessions_in_window: i32::try_from(p.sessions_in_window).unwrap_or(i32::MAX),
        alternative_trigger_points: alternatives
            .iter()
            .map(|a| names::of(names::TRIGGER_POINT, a))
            .collect(),
        first_perform_time: p.first_perform_time.map(to_timestamp),
        last_perform_time: p.last_perform_time.map(to_timestamp),
        hold: None,
        twitch_reported: p.twitch_reported,
        tenderness_change: p.tenderness_change,
    }
}

/// A guide cue on the wire.
pub fn cue(c: &Cue) -> pb::GuideSessionResponse {
    pb::GuideSessionResponse {
        cue: (match c.kind {
            CueKind::Start => pb::GuideCue::Start,
            CueKind::PressAndHold => pb::GuideCue::PressAndHold,
            CueKind::Tick => pb::GuideCue::Tick,
            CueKind::Halfway => pb::GuideCue::Halfway,
            CueKind::SwitchSide => pb::GuideCue::SwitchSide,
            CueKind::Stop => pb::GuideCue::Stop,
        }) as i32,
        elapsed_seconds: i32::try_from(c.elapsed).unwrap_or(i32::MAX),
        remaining_seconds: i32::try_from(c.remaining).unwrap_or(i32::MAX),
        message: c.message.clone(),
        target_pressure: i32::from(c.target_pressure),
        side: side(c.side),
        resumed: false,
    }
}

/// A user's data on the wire.
pub fn export(d: &UserData, catalog: Option<&CatalogView>, now: Timestamp) -> pb::UserDataExport {
    let s = d.screening.clone().unwrap_or_default();
    let assessment = match catalog {
        Some(c) => crate::domain::rules::assess(&s, c),
        None => ScreeningAssessment {
            status: ScreeningStatus::Required,
            missing: Vec::new(),
            blocking: Vec::new(),
        },
    };
    let tz = crate::domain::time::zone_or_utc(
        &d.profile
            .as_ref()
            .map(|p| p.time_zone.clone())
            .unwrap_or_default(),
    );
    pb::UserDataExport {
        holds: d.holds.iter().map(|h| hold(h, &tz)).collect(),
        user_id: d.user_id.clone(),
        profile: Some(profile(&d.profile.clone().unwrap_or_default())),
        screening: Some(screening(&s, &assessment)),
        sessions: d.sessions.iter().map(session).collect(),
        guided_sessions: d.guided_sessions.iter().map(guided).collect(),
        export_time: Some(to_timestamp(now)),
        request_ids: d
            .request_ids
            .iter()
            .map(|(r, res)| pb::RequestIdEntry {
                request_id: r.clone(),
                resource: res.clone(),
            })
            .collect(),
        check_ins: d.check_ins.iter().map(check_in).collect(),
    }
}

/// A check-in on the wire.
pub fn check_in(c: &CheckIn) -> pb::PainCheckIn {
    pb::PainCheckIn {
        name: c.name(),
        region: names::of(checkin::REGION, &c.region),
        score: i32::from(c.score),
        local_date: time::iso_date(c.local_date),
        record_time: Some(to_timestamp(c.record_time)),
    }
}

/// A region's progress on the wire; `display` is the region's name.
pub fn region_progress(
    p: &RegionProgress,
    display: &str,
    status: Option<&checkin::RegionStatus>,
) -> pb::RegionProgress {
    pb::RegionProgress {
        region: names::of(checkin::REGION, &p.region),
        first_score: i32::from(p.first()),
        latest_score: i32::from(p.latest()),
        days: i32::try_from(p.days).unwrap_or(i32::MAX),
        check_ins: i32::try_from(p.daily.len()).unwrap_or(i32::MAX),
        change: i32::from(p.latest()) - i32::from(p.first()),
        daily: p
            .daily
            .iter()
            .map(|(d, s)| pb::DailyScore {
                local_date: time::iso_date(*d),
                score: i32::from(*s),
            })
            .collect(),
        summary: p.summary(display),
        status: status.map_or(pb::ProgressStatus::InsufficientData, |s| {
            progress_status(s.status)
        }) as i32,
        advice: status.map(|s| s.advice.clone()).unwrap_or_default(),
        tried_trigger_points: status
            .iter()
            .flat_map(|s| &s.tried)
            .map(|p| names::of(names::TRIGGER_POINT, p))
            .collect(),
    }
}

/// A day's plan on the wire; `tz` gives the local times.
pub fn daily_plan(
    p: &plan::DayPlan,
    zone_name: &str,
    tz: &jiff::tz::TimeZone,
    waking: plan::Waking,
    progress: &[Arc<PointProgress>],
) -> pb::DailyPlan {
    let tp = |id: &String| names::of(names::TRIGGER_POINT, id);
    let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    pb::DailyPlan {
        local_date: time::iso_date(p.date),
        time_zone: zone_name.to_owned(),
        wake_time: plan::hhmm(waking.wake),
        sleep_time: plan::hhmm(waking.sleep),
        points: p
            .points
            .iter()
            .map(|x| pb::PlanPoint {
                trigger_point: tp(&x.point),
                sessions_planned: n(x.planned),
                sessions_done: n(x.done),
                sessions_left: n(x.left),
                sessions_allowed: n(x.allowed),
                status: crate::domain::progress::status_of(progress, &x.point)
                    .map_or(pb::ProgressStatus::InsufficientData, progress_status)
                    as i32,
                last_worked_date: time::iso_date(x.last_worked),
            })
            .collect(),
        slots: p
            .slots
            .iter()
            .map(|s| pb::PlanSlot {
                time: Some(to_timestamp(s.time)),
                local_time: crate::domain::rules::rfc3339_local(&s.time.to_zoned(tz.clone())),
                trigger_points: s.points.iter().map(tp).collect(),
                state: match s.state {
                    plan::SlotState::Done => pb::SlotState::Done,
                    plan::SlotState::Due => pb::SlotState::Due,
                    plan::SlotState::Upcoming => pb::SlotState::Upcoming,
                } as i32,
                trigger_points_left: s.left.iter().map(tp).collect(),
            })
            .collect(),
        points_total: i32::try_from(p.points_total).unwrap_or(i32::MAX),
        sessions_planned: n(p.planned),
        sessions_done: n(p.done),
        sessions_left: n(p.left),
        set_aside: p.set_aside.iter().map(tp).collect(),
    }
}

/// The streak and the week's adherence on the wire.
pub fn adherence(a: &plan::Adherence) -> pb::Adherence {
    let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    pb::Adherence {
        streak_days: n(a.streak_days),
        streak_includes_today: a.includes_today,
        week_start_date: time::iso_date(a.week_start),
        week_end_date: time::iso_date(a.week_end),
        week_sessions_done: n(a.done),
        week_sessions_planned: n(a.planned),
        week_active_days: n(a.active_days),
        week_percent: n(a.percent()),
    }
}
