//! The safety rules: screening status, whether a guided session may start,
//! and the warnings every logged session carries.
//!
//! Guided sessions look forward, so the rules refuse; logged sessions look
//! back (the session already happened), so they are always kept and the same
//! rules come back as warnings.

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
    let point_name = format!("{}{}", names::TRIGGER_POINT, req.trigger_point);
    let tool_name = format!("{}{}", names::TOOL, req.tool);
    if let Some(why) = point.and_then(|p| p.therapist_only.as_deref()) {
        return Err(Refusal::new(
            RefusalReason::TherapistOnly,
            format!("This point is for a trained therapist only, not for self-treatment: {why}"),
        )
        .with("trigger_point", point_name));
    }
    let s = assess(screening, catalog);
    if s.status == ScreeningStatus::Contraindicated {
        return Err(Refusal::new(
            RefusalReason::Contraindicated,
            format!(
                "Massage is ruled out until a medical provider clears it: {}.",
                display_list(catalog, &s.blocking)
            ),
        )
        .with("blocking", join_names(names::CONTRAINDICATION, &s.blocking)));
    }
    if s.status == ScreeningStatus::Required {
        return Err(Refusal::new(
            RefusalReason::ScreeningRequired,
            format!(
                "Please answer the health screening first: {}.",
                display_list(catalog, &s.missing)
            ),
        )
        .with("missing", join_names(names::CONTRAINDICATION, &s.missing)));
    }
    if let Some(why) = point.and_then(|p| p.excluded_tools.get(&req.tool)) {
        return Err(Refusal::new(
            RefusalReason::ToolExcluded,
            format!("This tool must never be used on this point: {why}"),
        )
        .with("trigger_point", point_name)
        .with("tool", tool_name));
    }
    let excluded = excluding_conditions(screening, catalog, &req.trigger_point);
    if !excluded.is_empty() {
        let ids: Vec<String> = excluded.iter().map(|(c, _)| (*c).to_owned()).collect();
        let why: Vec<&str> = excluded.iter().map(|(_, w)| *w).collect();
        return Err(Refusal::new(
            RefusalReason::ConditionExcluded,
            format!(
                "This point is ruled out for you even with clearance: {}",
                why.join(" ")
            ),
        )
        .with("trigger_point", point_name)
        .with("conditions", join_names(names::CONTRAINDICATION, &ids)));
    }
    let by_condition = tool_ruled_out_by(screening, catalog, &req.tool);
    if !by_condition.is_empty() {
        let ids: Vec<String> = by_condition.iter().map(|(c, _)| c.id.clone()).collect();
        let why: Vec<&str> = by_condition.iter().map(|(_, w)| *w).collect();
        return Err(Refusal::new(
            RefusalReason::ConditionExcluded,
            format!(
                "This tool is ruled out for you even with clearance ({}): {}",
                display_list(catalog, &ids),
                why.join(" ")
            ),
        )
        .with("trigger_point", point_name)
        .with("tool", tool_name)
        .with("conditions", join_names(names::CONTRAINDICATION, &ids)));
    }
    let g = &catalog.guidance;
    let local_date = time::local_date(now, tz);
    if sessions_before >= g.max_sessions_per_point_per_day {
        let next = time::start_of_next_day(local_date, tz);
        let mut refusal = Refusal::new(
            RefusalReason::DailyLimitReached,
            format!(
                "You have worked this point {} times today, the most advised. The next session is allowed {}.",
                sessions_before,
                next.as_ref().map_or_else(
                    || "tomorrow".to_owned(),
                    |n| format!("from {}", n.strftime("%Y-%m-%d %H:%M %Z"))
                ),
            ),
        )
        .with("trigger_point", point_name)
        .with("local_date", local_date.to_string())
        .with("limit", g.max_sessions_per_point_per_day.to_string());
        if let Some(next) = &next {
            refusal = refusal
                .with("next_allowed_time", next.timestamp().to_string())
                .with("next_allowed_local_time", rfc3339_local(next));
        }
        return Err(refusal);
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
mod tests;
