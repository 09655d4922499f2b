//! The safety rules: screening status, whether a guided session may start,
//! and the warnings every logged session carries.
//!
//! Guided sessions look forward, so the rules refuse; logged sessions look
//! back (the session already happened), so they are always kept and the same
//! rules come back as warnings.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::progress;
use super::{
    CatalogView, Condition, Effect, GuidedRequest, PainQuality, Refusal, RefusalReason, Screening,
    ScreeningAssessment, ScreeningStatus, SessionDraft, Severity, Warning, WarningCode, names,
    time,
};

/// Evaluates saved answers against the catalog's current screening
/// conditions. A condition added to the catalog later shows up as missing.
/// Only a RULES_OUT condition blocks; a LIMITS condition narrows what is
/// allowed (see [`pressure_ceiling`] and [`tool_ruled_out_by`]).
pub fn assess(screening: &Screening, catalog: &CatalogView) -> ScreeningAssessment {
    let mut missing = Vec::new();
    let mut blocking = Vec::new();
    for c in &catalog.conditions {
        match screening.answers.get(&c.id) {
            None => missing.push(c.id.clone()),
            Some(a) if a.present && !a.cleared_by_provider && c.effect == Effect::RulesOut => {
                blocking.push(c.id.clone());
            }
            Some(_) => {}
        }
    }
    let status = if !blocking.is_empty() {
        ScreeningStatus::Contraindicated
    } else if !missing.is_empty() {
        ScreeningStatus::Required
    } else {
        ScreeningStatus::Cleared
    };
    ScreeningAssessment {
        status,
        missing,
        blocking,
    }
}

fn join_names(prefix: &str, ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("{prefix}{id}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn display_list(catalog: &CatalogView, ids: &[String]) -> String {
    ids.iter()
        .map(|id| catalog.condition_name(id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Conditions the person has (cleared or not) that rule `point` out.
fn excluding_conditions<'a>(
    screening: &'a Screening,
    catalog: &'a CatalogView,
    point: &str,
) -> Vec<(&'a str, &'a str)> {
    let Some(p) = catalog.point(point) else {
        return Vec::new();
    };
    p.excluded_conditions
        .iter()
        .filter(|(c, _)| screening.answers.get(*c).is_some_and(|a| a.present))
        .map(|(c, why)| (c.as_str(), why.as_str()))
        .collect()
}

/// Conditions the person has (cleared or not) that rule `tool` out
/// everywhere, with why. Clearance does not lift them: a provider who clears
/// firm pressure has not looked at each tool.
pub fn tool_ruled_out_by<'a>(
    screening: &Screening,
    catalog: &'a CatalogView,
    tool: &str,
) -> Vec<(&'a Condition, &'a str)> {
    catalog
        .conditions
        .iter()
        .filter(|c| screening.answers.get(&c.id).is_some_and(|a| a.present))
        .filter_map(|c| c.excluded_tools.get(tool).map(|why| (c, why.as_str())))
        .collect()
}

/// Why a pressure ceiling is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeilingWhy {
    /// The guidance's `max_safe_pressure`.
    Guidance,
    /// The region the point lies in (the neck, the face, the belly).
    Place,
    /// Conditions the person reported and a provider has not cleared for
    /// firm pressure (display names).
    Conditions(Vec<String>),
}

/// The highest pressure advised for this person on this point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceiling {
    /// The ceiling (0-10).
    pub value: u8,
    /// What set it.
    pub why: CeilingWhy,
}

/// The lowest of the guidance's ceiling, the point's own (its region's) and
/// that of every LIMITS condition the person has and a provider has not
/// cleared.
pub fn pressure_ceiling(screening: &Screening, catalog: &CatalogView, point: &str) -> Ceiling {
    let mut c = Ceiling {
        value: catalog.guidance.max_safe_pressure,
        why: CeilingWhy::Guidance,
    };
    if let Some(p) = catalog.point(point).and_then(|p| p.max_safe_pressure)
        && p < c.value
    {
        c = Ceiling {
            value: p,
            why: CeilingWhy::Place,
        };
    }
    let limiting: Vec<(&Condition, u8)> = catalog
        .conditions
        .iter()
        .filter(|x| {
            screening
                .answers
                .get(&x.id)
                .is_some_and(|a| a.present && !a.cleared_by_provider)
        })
        .filter_map(|x| x.max_pressure_until_cleared.map(|v| (x, v)))
        .collect();
    if let Some(low) = limiting.iter().map(|(_, v)| *v).min()
        && low < c.value
    {
        c = Ceiling {
            value: low,
            why: CeilingWhy::Conditions(
                limiting
                    .iter()
                    .filter(|(_, v)| *v == low)
                    .map(|(x, _)| x.display_name.clone())
                    .collect(),
            ),
        };
    }
    c
}

/// What a guided session is admitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The local date it counts for.
    pub local_date: Date,
    /// Sessions on the point that day, this one included.
    pub sessions_today: u32,
    /// Pressure to aim for: the guidance's target, or the person's lower
    /// ceiling on this point.
    pub target_pressure: u8,
    /// Technique for the tool on the point.
    pub instructions: String,
    /// Seconds per side: the request's, capped by the point's hold limit.
    pub duration_seconds: u32,
    /// Said when the point's hold limit shortened or bounds the hold.
    pub hold_warning: Option<Warning>,
}

/// The warning of a point whose hold limit is shorter than the guidance's
/// (the belly): the guide holds no longer; repeat rather than hold long.
pub fn hold_limited_warning(catalog: &CatalogView, point: &str) -> Option<Warning> {
    let limit = catalog.point(point)?.max_hold_seconds?;
    Some(Warning {
        code: WarningCode::HoldLimited,
        severity: Severity::Caution,
        message: format!(
            "Hold this point for {limit} seconds at most, not minutes: organs and large arteries lie under it. Release slowly and repeat a few short holds instead."
        ),
    })
}

/// Decides whether a guided session may start at `now`.
/// `sessions_before` counts the sessions already on the point that local
/// day in `tz`.
pub fn admit_guided(
    req: &GuidedRequest,
    screening: &Screening,
    catalog: &CatalogView,
    now: Timestamp,
    tz: &TimeZone,
    sessions_before: u32,
) -> Result<Admission, Refusal> {
    // A property of the point that no screening answer changes, so it is
    // said first.
    let point = catalog.point(&req.trigger_point);
    if let Some(why) = point.and_then(|p| p.therapist_only.as_deref()) {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "trigger_point".to_owned(),
            format!("{}{}", names::TRIGGER_POINT, req.trigger_point),
        );
        return Err(Refusal {
            reason: RefusalReason::TherapistOnly,
            message: format!(
                "This point is for a trained therapist only, not for self-treatment: {why}"
            ),
            metadata,
        });
    }
    let s = assess(screening, catalog);
    if s.status == ScreeningStatus::Contraindicated {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "blocking".to_owned(),
            join_names(names::CONTRAINDICATION, &s.blocking),
        );
        return Err(Refusal {
            reason: RefusalReason::Contraindicated,
            message: format!(
                "Massage is ruled out until a medical provider clears it: {}.",
                display_list(catalog, &s.blocking)
            ),
            metadata,
        });
    }
    if s.status == ScreeningStatus::Required {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "missing".to_owned(),
            join_names(names::CONTRAINDICATION, &s.missing),
        );
        return Err(Refusal {
            reason: RefusalReason::ScreeningRequired,
            message: format!(
                "Please answer the health screening first: {}.",
                display_list(catalog, &s.missing)
            ),
            metadata,
        });
    }
    if let Some(why) = point.and_then(|p| p.excluded_tools.get(&req.tool)) {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "trigger_point".to_owned(),
            format!("{}{}", names::TRIGGER_POINT, req.trigger_point),
        );
        metadata.insert("tool".to_owned(), format!("{}{}", names::TOOL, req.tool));
        return Err(Refusal {
            reason: RefusalReason::ToolExcluded,
            message: format!("This tool must never be used on this point: {why}"),
            metadata,
        });
    }
    let excluded = excluding_conditions(screening, catalog, &req.trigger_point);
    if !excluded.is_empty() {
        let ids: Vec<String> = excluded.iter().map(|(c, _)| (*c).to_owned()).collect();
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "trigger_point".to_owned(),
            format!("{}{}", names::TRIGGER_POINT, req.trigger_point),
        );
        metadata.insert(
            "conditions".to_owned(),
            join_names(names::CONTRAINDICATION, &ids),
        );
        let why: Vec<&str> = excluded.iter().map(|(_, w)| *w).collect();
        return Err(Refusal {
            reason: RefusalReason::ConditionExcluded,
            message: format!(
                "This point is ruled out for you even with clearance: {}",
                why.join(" ")
            ),
            metadata,
        });
    }
    let by_condition = tool_ruled_out_by(screening, catalog, &req.tool);
    if !by_condition.is_empty() {
        let ids: Vec<String> = by_condition.iter().map(|(c, _)| c.id.clone()).collect();
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "trigger_point".to_owned(),
            format!("{}{}", names::TRIGGER_POINT, req.trigger_point),
        );
        metadata.insert("tool".to_owned(), format!("{}{}", names::TOOL, req.tool));
        metadata.insert(
            "conditions".to_owned(),
            join_names(names::CONTRAINDICATION, &ids),
        );
        let why: Vec<&str> = by_condition.iter().map(|(_, w)| *w).collect();
        return Err(Refusal {
            reason: RefusalReason::ConditionExcluded,
            message: format!(
                "This tool is ruled out for you even with clearance ({}): {}",
                display_list(catalog, &ids),
                why.join(" ")
            ),
            metadata,
        });
    }
    let g = &catalog.guidance;
    let local_date = time::local_date(now, tz);
    if sessions_before >= g.max_sessions_per_point_per_day {
        let mut metadata = BTreeMap::new();
        metadata.insert(
            "trigger_point".to_owned(),
            format!("{}{}", names::TRIGGER_POINT, req.trigger_point),
        );
        metadata.insert("local_date".to_owned(), local_date.to_string());
        metadata.insert(
            "limit".to_owned(),
            g.max_sessions_per_point_per_day.to_string(),
        );
        let next = time::start_of_next_day(local_date, tz);
        if let Some(next) = &next {
            metadata.insert("next_allowed_time".to_owned(), next.timestamp().to_string());
            metadata.insert("next_allowed_local_time".to_owned(), rfc3339_local(next));
        }
        return Err(Refusal {
            reason: RefusalReason::DailyLimitReached,
            message: format!(
                "You have worked this point {} times today, the most advised. The next session is allowed {}.",
                sessions_before,
                next.as_ref().map_or_else(
                    || "tomorrow".to_owned(),
                    |n| format!("from {}", n.strftime("%Y-%m-%d %H:%M %Z"))
                ),
            ),
            metadata,
        });
    }
    let instructions = point
        .and_then(|p| p.techniques.get(&req.tool))
        .cloned()
        .unwrap_or_default();
    let ceiling = pressure_ceiling(screening, catalog, &req.trigger_point);
    let limit = point.and_then(|p| p.max_hold_seconds);
    Ok(Admission {
        local_date,
        sessions_today: sessions_before + 1,
        target_pressure: g.target_pressure.min(ceiling.value),
        instructions,
        duration_seconds: limit.map_or(req.duration_seconds, |l| req.duration_seconds.min(l)),
        hold_warning: hold_limited_warning(catalog, &req.trigger_point),
    })
}

/// A zoned time as RFC 3339 with its offset, e.g. `2026-03-30T00:00:00+02:00`.
pub fn rfc3339_local(z: &jiff::Zoned) -> String {
    z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// What the rules need to know besides the session itself.
#[derive(Debug, Clone, Copy)]
pub struct SessionContext<'a> {
    /// The catalog snapshot.
    pub catalog: &'a CatalogView,
    /// The person's screening.
    pub screening: &'a Screening,
    /// Sessions on the point that local day, this one included.
    pub sessions_that_day: u32,
    /// Earlier tenderness readings on the point within the trend window
    /// ending on this session's local date: (local date, tenderness).
    pub history: &'a [(Date, u8)],
    /// This session's local date.
    pub local_date: Date,
}

/// The safety warnings for one session, most serious first.
pub fn session_warnings(s: &SessionDraft, ctx: &SessionContext<'_>) -> Vec<Warning> {
    let g = &ctx.catalog.guidance;
    let mut out = Vec::new();
    let mut warn = |code, severity, message: String| {
        out.push(Warning {
            code,
            severity,
            message,
        });
    };
    let medical = Severity::MedicalAttention;
    if s.pain_quality == PainQuality::Sharp {
        warn(
            WarningCode::SharpPain,
            medical,
            "Sharp pain is a warning sign, not a trigger point. Stop and seek medical attention."
                .to_owned(),
        );
    }
    if s.worse_with_activity {
        warn(
            WarningCode::WorseWithActivity,
            medical,
            "Pain that gets worse with activity such as eating or walking can have a medical cause. Please seek medical attention."
                .to_owned(),
        );
    }
    if s.worse_with_massage {
        warn(
            WarningCode::WorseWithMassage,
            medical,
            "Pain that gets worse with massage is not a trigger point responding. Stop and seek medical attention."
                .to_owned(),
        );
    }
    let mut readings: Vec<(Date, u8)> = ctx.history.to_vec();
    if let Some(t) = s.tenderness() {
        readings.push((ctx.local_date, t));
    }
    if progress::worsening(&readings, ctx.local_date, g) {
        warn(
            WarningCode::TendernessRising,
            medical,
            format!(
                "Tenderness on this point has gone up over the past {} days. Please seek medical attention.",
                g.trend_window_days
            ),
        );
    }
    let a = assess(ctx.screening, ctx.catalog);
    match a.status {
        ScreeningStatus::Contraindicated => warn(
            WarningCode::Contraindicated,
            medical,
            format!(
                "Your screening shows a condition that rules massage out until a medical provider clears it: {}.",
                display_list(ctx.catalog, &a.blocking)
            ),
        ),
        ScreeningStatus::Required => warn(
            WarningCode::ScreeningIncomplete,
            Severity::Info,
            "Please complete the health screening before your next session.".to_owned(),
        ),
        ScreeningStatus::Cleared => {}
    }
    let excluded = excluding_conditions(ctx.screening, ctx.catalog, &s.trigger_point);
    if !excluded.is_empty() {
        let why: Vec<&str> = excluded.iter().map(|(_, w)| *w).collect();
        warn(
            WarningCode::ConditionExcluded,
            medical,
            format!(
                "This point is ruled out for you even with clearance: {}",
                why.join(" ")
            ),
        );
    }
    let by_condition = tool_ruled_out_by(ctx.screening, ctx.catalog, &s.tool);
    if !by_condition.is_empty() {
        let names: Vec<&str> = by_condition
            .iter()
            .map(|(c, _)| c.display_name.as_str())
            .collect();
        let why: Vec<&str> = by_condition.iter().map(|(_, w)| *w).collect();
        warn(
            WarningCode::ConditionExcluded,
            medical,
            format!(
                "This tool is ruled out for you even with clearance ({}): {}",
                names.join(", "),
                why.join(" ")
            ),
        );
    }
    if let Some(why) = ctx
        .catalog
        .point(&s.trigger_point)
        .and_then(|p| p.therapist_only.as_deref())
    {
        warn(
            WarningCode::TherapistOnly,
            Severity::Caution,
            format!("This point is for a trained therapist only, not for self-treatment: {why}"),
        );
    }
    if let Some(why) = ctx
        .catalog
        .point(&s.trigger_point)
        .and_then(|p| p.excluded_tools.get(&s.tool))
    {
        warn(
            WarningCode::ToolExcluded,
            Severity::Caution,
            format!("This tool must never be used on this point: {why}"),
        );
    }
    let ceiling = pressure_ceiling(ctx.screening, ctx.catalog, &s.trigger_point);
    if s.pressure > ceiling.value {
        let aim = g.target_pressure.min(ceiling.value);
        let message = match &ceiling.why {
            CeilingWhy::Guidance => format!(
                "Pressure {} is above {}: too much pressure can cause harm. Aim for about {aim}.",
                s.pressure, ceiling.value
            ),
            CeilingWhy::Place => format!(
                "Pressure {} is above {}, the most advised on this point: the face, the neck and the belly need a gentler touch. Aim for about {aim}.",
                s.pressure, ceiling.value
            ),
            CeilingWhy::Conditions(names) => format!(
                "Pressure {} is above {}, the most advised until a medical provider clears firm pressure for: {}. Aim for about {aim}.",
                s.pressure,
                ceiling.value,
                names.join(", ")
            ),
        };
        warn(WarningCode::PressureTooHigh, Severity::Caution, message);
    }
    // The belly's short holds are advice for self-treatment; a therapist-only
    // point is worked by a therapist, whose call the hold's length is.
    let hold_limit = ctx
        .catalog
        .point(&s.trigger_point)
        .filter(|p| p.therapist_only.is_none())
        .and_then(|p| p.max_hold_seconds);
    if let Some(limit) = hold_limit
        && s.duration_seconds > limit
    {
        warn(
            WarningCode::DurationTooLong,
            Severity::Caution,
            format!(
                "{} seconds on this point is longer than the {limit} seconds advised here: organs and large arteries lie under it. Repeat a few short holds instead.",
                s.duration_seconds
            ),
        );
    } else if s.duration_seconds > g.max_duration_seconds {
        warn(
            WarningCode::DurationTooLong,
            Severity::Caution,
            format!(
                "{} minutes on one point is longer than the {} minutes advised.",
                s.duration_seconds.div_ceil(60),
                g.max_duration_seconds / 60
            ),
        );
    }
    if ctx.sessions_that_day > g.max_sessions_per_point_per_day {
        warn(
            WarningCode::DailyLimitExceeded,
            Severity::Caution,
            format!(
                "This is session {} on this point today; at most {} a day are advised.",
                ctx.sessions_that_day, g.max_sessions_per_point_per_day
            ),
        );
    }
    out
}

/// What a trigger point allows for the rest of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Sessions still allowed today: none while the point is on hold.
    pub remaining: u32,
    /// Whether the next session waits for the start of the next day: the
    /// daily limit is used up (a hold has no such time; its release does).
    pub next_tomorrow: bool,
}

/// The day's allowance of a point worked `done` times, with at most `max`
/// sessions a day (the catalog's `max_sessions_per_point_per_day`).
pub fn allowance(done: u32, max: u32, on_hold: bool) -> Allowance {
    let remaining = if on_hold { 0 } else { max.saturating_sub(done) };
    Allowance {
        remaining,
        next_tomorrow: remaining == 0 && !on_hold,
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::fixture;
    use super::super::{Answer, Side};
    use super::*;
    use jiff::civil::date;

    fn answered(items: &[(&str, bool, bool)]) -> Screening {
        Screening {
            answers: items
                .iter()
                .map(|(id, present, cleared)| {
                    (
                        (*id).to_owned(),
                        Answer {
                            present: *present,
                            cleared_by_provider: *cleared,
                            cleared_date: cleared.then(|| date(2026, 1, 1)),
                        },
                    )
                })
                .collect(),
            update_time: None,
        }
    }

    fn cleared() -> Screening {
        answered(&[("aneurysm", false, false), ("cancer", false, false)])
    }

    #[track_caller]
    fn check_status(s: Screening, status: ScreeningStatus, missing: &[&str], blocking: &[&str]) {
        let a = assess(&s, &fixture::catalog());
        assert_eq!(a.status, status);
        assert_eq!(a.missing, missing);
        assert_eq!(a.blocking, blocking);
    }

    #[test]
    fn screening_status() {
        use ScreeningStatus::*;
        check_status(Screening::default(), Required, &["aneurysm", "cancer"], &[]);
        check_status(
            answered(&[("aneurysm", false, false)]),
            Required,
            &["cancer"],
            &[],
        );
        check_status(cleared(), Cleared, &[], &[]);
        check_status(
            answered(&[("aneurysm", true, false), ("cancer", false, false)]),
            Contraindicated,
            &[],
            &["aneurysm"],
        );
        check_status(
            answered(&[("aneurysm", true, true), ("cancer", false, false)]),
            Cleared,
            &[],
            &[],
        );
        // Blocking wins over missing: it is the more serious screen.
        check_status(
            answered(&[("cancer", true, false)]),
            Contraindicated,
            &["aneurysm"],
            &["cancer"],
        );
    }

    fn req(point: &str, tool: &str) -> GuidedRequest {
        GuidedRequest {
            trigger_point: point.into(),
            tool: tool.into(),
            side: Side::Both,
            duration_seconds: 60,
        }
    }

    #[track_caller]
    fn check_admit(
        r: GuidedRequest,
        screening: Screening,
        now: &str,
        zone: &str,
        before: u32,
        expected: Result<(&str, u32), RefusalReason>,
    ) -> Option<Refusal> {
        let tz = time::zone(zone).unwrap();
        let got = admit_guided(
            &r,
            &screening,
            &fixture::catalog(),
            now.parse().unwrap(),
            &tz,
            before,
        );
        match (got, expected) {
            (Ok(a), Ok((d, n))) => {
                assert_eq!(
                    (a.local_date.to_string().as_str(), a.sessions_today),
                    (d, n)
                );
                assert_eq!(a.target_pressure, 5);
                None
            }
            (Err(r), Err(reason)) => {
                assert_eq!(r.reason, reason);
                Some(r)
            }
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn admission_rules() {
        use RefusalReason::*;
        let ql = || req("ql_superficial", "lacrosse_ball");
        let now = "2026-03-10T12:00:00Z";
        check_admit(ql(), cleared(), now, "UTC", 0, Ok(("2026-03-10", 1)));
        check_admit(ql(), cleared(), now, "UTC", 5, Ok(("2026-03-10", 6)));
        let r = check_admit(
            ql(),
            Screening::default(),
            now,
            "UTC",
            0,
            Err(ScreeningRequired),
        )
        .unwrap();
        assert_eq!(
            r.metadata["missing"],
            "contraindications/aneurysm,contraindications/cancer"
        );
        let r = check_admit(
            ql(),
            answered(&[("aneurysm", false, false), ("cancer", true, false)]),
            now,
            "UTC",
            0,
            Err(Contraindicated),
        )
        .unwrap();
        assert_eq!(r.metadata["blocking"], "contraindications/cancer");
        check_admit(
            req("ql_superficial", "massage_gun"),
            cleared(),
            now,
            "UTC",
            0,
            Err(ToolExcluded),
        );
        // Aneurysm cleared for massage in general, but the psoas point lies
        // over the aorta: still ruled out.
        let r = check_admit(
            req("iliopsoas_1", "fingers"),
            answered(&[("aneurysm", true, true), ("cancer", false, false)]),
            now,
            "UTC",
            0,
            Err(ConditionExcluded),
        )
        .unwrap();
        assert_eq!(r.metadata["conditions"], "contraindications/aneurysm");
        check_admit(
            req("iliopsoas_1", "fingers"),
            cleared(),
            now,
            "UTC",
            0,
            Ok(("2026-03-10", 1)),
        );
        // A therapist-only point is refused for every tool, before the
        // screening is even asked about: no answer changes it.
        for (tool, screening) in [
            ("massage_therapist", cleared()),
            ("fingers", cleared()),
            ("fingers", Screening::default()),
        ] {
            let r = check_admit(
                req("levator_ani_1", tool),
                screening,
                now,
                "UTC",
                0,
                Err(TherapistOnly),
            )
            .unwrap();
            assert_eq!(r.metadata["trigger_point"], "triggerPoints/levator_ani_1");
            assert!(
                r.message.contains("It lies inside the pelvis."),
                "{}",
                r.message
            );
        }
    }

    /// Screening answers for the catalog with limits: nothing but the listed
    /// conditions present, `cleared` ones cleared by a provider.
    fn limits_screening(present: &[&str], cleared: &[&str]) -> Screening {
        let ids = ["aneurysm", "cancer", "pregnancy"];
        answered(
            &ids.iter()
                .map(|id| (*id, present.contains(id), cleared.contains(id)))
                .collect::<Vec<_>>(),
        )
    }

    /// One row of the LIMITS table: admission with `screening` on `point`
    /// with `tool` gives `expected` (the target pressure, or the refusal).
    #[track_caller]
    fn check_limits(point: &str, tool: &str, screening: Screening, expected: Result<u8, &str>) {
        let tz = time::zone("UTC").unwrap();
        let got = admit_guided(
            &req(point, tool),
            &screening,
            &fixture::with_limits(),
            "2026-03-10T12:00:00Z".parse().unwrap(),
            &tz,
            0,
        );
        match (got, expected) {
            (Ok(a), Ok(p)) => assert_eq!(a.target_pressure, p),
            (Err(r), Err(conditions)) => {
                assert_eq!(r.reason, RefusalReason::ConditionExcluded);
                assert_eq!(r.metadata["conditions"], conditions);
                // People never see raw ids; the metadata carries them.
                assert!(!r.message.contains("contraindications/"), "{}", r.message);
                assert!(!r.message.contains("tools/"), "{}", r.message);
            }
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn limits_conditions_narrow_without_blocking() {
        // A LIMITS condition does not block the screening...
        let a = assess(
            &limits_screening(&["pregnancy"], &[]),
            &fixture::with_limits(),
        );
        assert_eq!(a.status, ScreeningStatus::Cleared);
        assert!(a.blocking.is_empty());
        // ...but a new condition is still a missing answer.
        let a = assess(&cleared(), &fixture::with_limits());
        assert_eq!(a.status, ScreeningStatus::Required);
        assert_eq!(a.missing, ["pregnancy"]);

        let ql = "ql_superficial";
        let psoas = "iliopsoas_1";
        let preg = "contraindications/pregnancy";
        // Nothing reported: the guidance's target.
        check_limits(ql, "lacrosse_ball", limits_screening(&[], &[]), Ok(5));
        // Pregnant, not cleared for firm pressure: aim no higher than 3.
        check_limits(
            ql,
            "lacrosse_ball",
            limits_screening(&["pregnancy"], &[]),
            Ok(3),
        );
        // Cleared by a provider: the ceiling lifts...
        check_limits(
            ql,
            "lacrosse_ball",
            limits_screening(&["pregnancy"], &["pregnancy"]),
            Ok(5),
        );
        // ...but the belly point and the massage gun stay ruled out.
        check_limits(
            psoas,
            "fingers",
            limits_screening(&["pregnancy"], &["pregnancy"]),
            Err(preg),
        );
        check_limits(
            "upper_trap_1",
            "massage_gun",
            limits_screening(&["pregnancy"], &["pregnancy"]),
            Err(preg),
        );
        // The belly's own ceiling applies to everyone.
        check_limits(psoas, "fingers", limits_screening(&[], &[]), Ok(4));
    }

    #[test]
    fn pressure_ceiling_names_what_set_it() {
        let c = fixture::with_limits();
        let none = limits_screening(&[], &[]);
        let preg = limits_screening(&["pregnancy"], &[]);
        let check = |s: &Screening, point: &str, value: u8, why: CeilingWhy| {
            assert_eq!(pressure_ceiling(s, &c, point), Ceiling { value, why });
        };
        check(&none, "ql_superficial", 7, CeilingWhy::Guidance);
        check(&none, "iliopsoas_1", 4, CeilingWhy::Place);
        check(
            &preg,
            "iliopsoas_1",
            3,
            CeilingWhy::Conditions(vec!["Pregnancy".into()]),
        );
        check(
            &preg,
            "nope",
            3,
            CeilingWhy::Conditions(vec!["Pregnancy".into()]),
        );
    }

    #[test]
    fn warnings_under_limits() {
        use WarningCode::*;
        let c = fixture::with_limits();
        let run = |edit: &dyn Fn(&mut SessionDraft), screening: Screening| {
            let mut s = draft();
            edit(&mut s);
            let ctx = SessionContext {
                catalog: &c,
                screening: &screening,
                sessions_that_day: 1,
                history: &[],
                local_date: date(2026, 3, 10),
            };
            session_warnings(&s, &ctx)
        };
        let codes = |w: Vec<Warning>| w.into_iter().map(|w| w.code).collect::<Vec<_>>();
        // Pressure 5 is fine on the low back, too firm while pregnant and
        // not cleared, fine again once cleared.
        assert!(codes(run(&|_| {}, limits_screening(&[], &[]))).is_empty());
        let w = run(&|_| {}, limits_screening(&["pregnancy"], &[]));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].code, PressureTooHigh);
        assert!(w[0].message.contains("Pregnancy"), "{}", w[0].message);
        assert!(
            codes(run(
                &|_| {},
                limits_screening(&["pregnancy"], &["pregnancy"])
            ))
            .is_empty()
        );
        // 5 on the belly point is above its own ceiling of 4.
        let w = run(
            &|s| {
                s.trigger_point = "iliopsoas_1".into();
                s.tool = "fingers".into();
                s.duration_seconds = 60;
            },
            limits_screening(&[], &[]),
        );
        assert_eq!(codes(w.clone()), [PressureTooHigh]);
        assert!(w[0].message.contains("gentler"), "{}", w[0].message);
        // Logged on the belly while pregnant, even cleared: stored, warned.
        assert_eq!(
            codes(run(
                &|s| {
                    s.trigger_point = "iliopsoas_1".into();
                    s.tool = "fingers".into();
                    s.pressure = 3;
                    s.duration_seconds = 60;
                },
                limits_screening(&["pregnancy"], &["pregnancy"]),
            )),
            [ConditionExcluded]
        );
        // The massage gun while pregnant: ruled out by the condition, and on
        // the QL point by the point too.
        let w = run(
            &|s| s.tool = "massage_gun".into(),
            limits_screening(&["pregnancy"], &["pregnancy"]),
        );
        assert_eq!(codes(w.clone()), [ConditionExcluded, ToolExcluded]);
        assert!(!w[0].message.contains("tools/"), "{}", w[0].message);
    }

    /// The belly's hold limit (catalog data, `max_hold_seconds`): a guided
    /// session holds no longer and says so; a logged one held longer is
    /// warned; elsewhere nothing changes.
    #[test]
    fn belly_holds_are_short() {
        use WarningCode::*;
        let c = fixture::with_limits();
        let tz = time::zone("UTC").unwrap();
        let admit = |point: &str, tool: &str, secs: u32| {
            let mut r = req(point, tool);
            r.duration_seconds = secs;
            admit_guided(
                &r,
                &limits_screening(&[], &[]),
                &c,
                "2026-03-10T12:00:00Z".parse().unwrap(),
                &tz,
                0,
            )
            .unwrap()
        };
        // (point, tool, requested, held, warned)
        for (point, tool, asked, held, warned) in [
            ("iliopsoas_1", "fingers", 240, 60, true),
            ("iliopsoas_1", "fingers", 180, 60, true),
            ("ql_superficial", "lacrosse_ball", 240, 240, false),
        ] {
            let a = admit(point, tool, asked);
            assert_eq!(a.duration_seconds, held, "{point} {asked}");
            assert_eq!(
                a.hold_warning.as_ref().map(|w| w.code),
                warned.then_some(HoldLimited),
                "{point}"
            );
        }
        let w = admit("iliopsoas_1", "fingers", 240).hold_warning.unwrap();
        assert!(w.message.contains("60 seconds"), "{}", w.message);
        // Logged: 60 s on the belly is fine, 61 s is warned, 240 s on the
        // low back is fine.
        let logged = |point: &str, tool: &str, secs: u32| {
            let mut s = draft();
            s.trigger_point = point.into();
            s.tool = tool.into();
            s.pressure = 3;
            s.duration_seconds = secs;
            let screening = limits_screening(&[], &[]);
            let ctx = SessionContext {
                catalog: &c,
                screening: &screening,
                sessions_that_day: 1,
                history: &[],
                local_date: date(2026, 3, 10),
            };
            session_warnings(&s, &ctx)
                .into_iter()
                .map(|w| w.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(logged("iliopsoas_1", "fingers", 60), []);
        assert_eq!(logged("iliopsoas_1", "fingers", 61), [DurationTooLong]);
        assert_eq!(logged("ql_superficial", "lacrosse_ball", 240), []);
        // A therapist-only point in the pelvis: the hold is the therapist's
        // call; the therapist-only warning says what matters.
        let mut c2 = c.clone();
        if let Some(p) = c2.points.get_mut("levator_ani_1") {
            p.max_hold_seconds = Some(60);
        }
        let mut s = draft();
        s.trigger_point = "levator_ani_1".into();
        s.tool = "massage_therapist".into();
        s.pressure = 3;
        s.duration_seconds = 120;
        let screening = limits_screening(&[], &[]);
        let ctx = SessionContext {
            catalog: &c2,
            screening: &screening,
            sessions_that_day: 1,
            history: &[],
            local_date: date(2026, 3, 10),
        };
        let codes: Vec<_> = session_warnings(&s, &ctx)
            .into_iter()
            .map(|w| w.code)
            .collect();
        assert!(!codes.contains(&DurationTooLong), "{codes:?}");
    }

    #[test]
    fn daily_limit_names_the_next_local_midnight() {
        use RefusalReason::*;
        let ql = || req("ql_superficial", "lacrosse_ball");
        // 23:30 UTC on 28 March is 00:30 on 29 March in Berlin, the day
        // summer time starts; the next session is allowed at midnight on the
        // 30th, which is +02:00.
        let r = check_admit(
            ql(),
            cleared(),
            "2026-03-28T23:30:00Z",
            "Europe/Berlin",
            6,
            Err(DailyLimitReached),
        )
        .unwrap();
        assert_eq!(r.metadata["local_date"], "2026-03-29");
        assert_eq!(
            r.metadata["next_allowed_local_time"],
            "2026-03-30T00:00:00+02:00"
        );
        assert_eq!(r.metadata["next_allowed_time"], "2026-03-29T22:00:00Z");
        // The same instant in New York is still the 28th.
        let r = check_admit(
            ql(),
            cleared(),
            "2026-03-28T23:30:00Z",
            "America/New_York",
            6,
            Err(DailyLimitReached),
        )
        .unwrap();
        assert_eq!(r.metadata["local_date"], "2026-03-28");
        assert_eq!(
            r.metadata["next_allowed_local_time"],
            "2026-03-29T00:00:00-04:00"
        );
        // In autumn Berlin's day is 25 hours long; midnight is +01:00 again.
        let r = check_admit(
            ql(),
            cleared(),
            "2026-10-25T10:00:00Z",
            "Europe/Berlin",
            6,
            Err(DailyLimitReached),
        )
        .unwrap();
        assert_eq!(
            r.metadata["next_allowed_local_time"],
            "2026-10-26T00:00:00+01:00"
        );
        assert_eq!(r.metadata["limit"], "6");
    }

    fn draft() -> SessionDraft {
        SessionDraft {
            trigger_point: "ql_superficial".into(),
            tool: "lacrosse_ball".into(),
            side: Side::Left,
            pressure: 5,
            duration_seconds: 90,
            tenderness_before: Some(5),
            tenderness_after: Some(3),
            pain_quality: PainQuality::Aching,
            worse_with_activity: false,
            worse_with_massage: false,
            twitch_response: false,
            notes: String::new(),
            perform_time: "2026-03-10T12:00:00Z".parse().unwrap(),
            guided_session: None,
        }
    }

    #[track_caller]
    fn check_warnings(
        edit: impl FnOnce(&mut SessionDraft),
        screening: Screening,
        that_day: u32,
        history: &[(Date, u8)],
        expected: &[WarningCode],
    ) {
        let mut s = draft();
        edit(&mut s);
        let catalog = fixture::catalog();
        let ctx = SessionContext {
            catalog: &catalog,
            screening: &screening,
            sessions_that_day: that_day,
            history,
            local_date: date(2026, 3, 10),
        };
        let got: Vec<_> = session_warnings(&s, &ctx)
            .into_iter()
            .map(|w| w.code)
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn warnings_on_logged_sessions() {
        use WarningCode::*;
        check_warnings(|_| {}, cleared(), 1, &[], &[]);
        check_warnings(|s| s.pressure = 7, cleared(), 1, &[], &[]);
        check_warnings(|s| s.pressure = 8, cleared(), 1, &[], &[PressureTooHigh]);
        check_warnings(|s| s.duration_seconds = 300, cleared(), 1, &[], &[]);
        check_warnings(
            |s| s.duration_seconds = 301,
            cleared(),
            1,
            &[],
            &[DurationTooLong],
        );
        check_warnings(|_| {}, cleared(), 6, &[], &[]);
        check_warnings(|_| {}, cleared(), 7, &[], &[DailyLimitExceeded]);
        check_warnings(
            |s| s.pain_quality = PainQuality::Sharp,
            cleared(),
            1,
            &[],
            &[SharpPain],
        );
        check_warnings(
            |s| s.worse_with_activity = true,
            cleared(),
            1,
            &[],
            &[WorseWithActivity],
        );
        check_warnings(
            |s| s.worse_with_massage = true,
            cleared(),
            1,
            &[],
            &[WorseWithMassage],
        );
        check_warnings(|_| {}, Screening::default(), 1, &[], &[ScreeningIncomplete]);
        check_warnings(
            |_| {},
            answered(&[("aneurysm", false, false), ("cancer", true, false)]),
            1,
            &[],
            &[Contraindicated],
        );
        check_warnings(
            |s| s.tool = "massage_gun".into(),
            cleared(),
            1,
            &[],
            &[ToolExcluded],
        );
        check_warnings(
            |s| s.trigger_point = "iliopsoas_1".into(),
            answered(&[("aneurysm", true, true), ("cancer", false, false)]),
            1,
            &[],
            &[ConditionExcluded],
        );
        // A logged session on a therapist-only point is kept, with a warning.
        check_warnings(
            |s| s.trigger_point = "levator_ani_1".into(),
            cleared(),
            1,
            &[],
            &[TherapistOnly],
        );
        check_warnings(
            |s| {
                s.trigger_point = "levator_ani_1".into();
                s.pressure = 9;
            },
            cleared(),
            1,
            &[],
            &[TherapistOnly, PressureTooHigh],
        );
        let rising = [
            (date(2026, 3, 5), 3),
            (date(2026, 3, 7), 4),
            (date(2026, 3, 8), 5),
        ];
        check_warnings(
            |s| s.tenderness_before = Some(6),
            cleared(),
            1,
            &rising,
            &[TendernessRising],
        );
        let falling = [
            (date(2026, 3, 5), 8),
            (date(2026, 3, 7), 7),
            (date(2026, 3, 8), 6),
        ];
        check_warnings(|_| {}, cleared(), 1, &falling, &[]);
        // Readings older than the window do not count.
        let old = [(date(2026, 2, 1), 1), (date(2026, 2, 2), 2)];
        check_warnings(|s| s.tenderness_before = Some(6), cleared(), 1, &old, &[]);
        check_warnings(
            |s| {
                s.pressure = 9;
                s.pain_quality = PainQuality::Sharp;
            },
            cleared(),
            8,
            &[],
            &[SharpPain, PressureTooHigh, DailyLimitExceeded],
        );
    }

    #[track_caller]
    fn check_allowance(done: u32, max: u32, on_hold: bool, remaining: u32, next_tomorrow: bool) {
        assert_eq!(
            allowance(done, max, on_hold),
            Allowance {
                remaining,
                next_tomorrow
            }
        );
    }

    #[test]
    fn daily_allowance() {
        check_allowance(0, 3, false, 3, false);
        check_allowance(2, 3, false, 1, false);
        check_allowance(3, 3, false, 0, true);
        check_allowance(5, 3, false, 0, true);
        check_allowance(0, 3, true, 0, false);
        check_allowance(3, 3, true, 0, false);
        check_allowance(0, 0, false, 0, true);
    }
}
