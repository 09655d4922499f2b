//! Holds: safety that lasts beyond one call.
//!
//! A hold stops self-treatment of a muscle for one person until they state
//! that a medical provider has checked it. It begins when a session on one
//! of the muscle's points
//! - carries a medical-attention warning (sharp pain, worse with activity,
//!   worse with massage): [`HoldReason::MedicalWarning`];
//! - reports a nerve-type sensation (tingling, burning, numbness, electric)
//!   on a point whose catalog cautions name a nerve:
//!   [`HoldReason::NerveSensation`];
//! - makes the point's tenderness worsen across the trend window (the same
//!   rule as progress WORSENING): [`HoldReason::Worsening`].
//!
//! **A hold covers the whole muscle, not only the point.** People locate
//! points by feel and a few centimetres apart; the neighbouring points of
//! one muscle share its tissue, its nerves and its vessels, and a warning
//! sign is about what lies under the skin, not about the chart's dot. Holding
//! only the dot would let the next session press the same spot under
//! another name. So the safe side is the muscle.
//!
//! While a muscle is held, guided sessions on its points are refused
//! (POINT_ON_HOLD), logged sessions are kept with a warning, and no view
//! recommends its points. Only [`release`] ends a hold; deleting or
//! correcting a session never does.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{
    CatalogView, FieldViolation, Refusal, RefusalReason, SessionRecord, Severity, Warning,
    WarningCode, names, rules, time,
};

/// The schema version of a stored [`Hold`].
pub const HOLD_SCHEMA: u32 = 1;

/// What a held person is told to do.
pub const ADVICE: &str = "Stop self-treatment of this muscle until a medical provider has checked it. When they have, record the date of the check to release the hold.";

/// Why a muscle went on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HoldReason {
    /// Sharp pain, worse with activity or worse with massage.
    MedicalWarning,
    /// A nerve-type sensation beside a nerve.
    NerveSensation,
    /// Tenderness worsening.
    Worsening,
}

/// The person's statement that a provider checked the held muscle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// When the hold was released.
    pub time: Timestamp,
    /// The date of the provider's check.
    pub provider_checked_date: Date,
}

/// A hold on one muscle of one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Schema version ([`HOLD_SCHEMA`]).
    pub schema: u32,
    /// Hold id.
    pub id: String,
    /// The point whose session caused it (id).
    pub trigger_point: String,
    /// The muscle it covers (id).
    pub muscle: String,
    /// Why.
    pub reason: HoldReason,
    /// What happened, in plain language.
    pub why: String,
    /// When it began.
    pub since: Timestamp,
    /// The session that caused it (id), when one did.
    pub session: Option<String>,
    /// The release, once the person has recorded the provider's check.
    pub release: Option<Release>,
}

impl Hold {
    /// Whether it still applies.
    pub fn active(&self) -> bool {
        self.release.is_none()
    }

    /// `since` as local time in `tz`, RFC 3339 with its offset.
    pub fn since_local(&self, tz: &TimeZone) -> String {
        rules::rfc3339_local(&self.since.to_zoned(tz.clone()))
    }
}

/// Muscles with an active hold.
pub fn held_muscles(all: &[Hold]) -> BTreeSet<String> {
    all.iter()
        .filter(|h| h.active())
        .map(|h| h.muscle.clone())
        .collect()
}

/// The first active hold on `point`'s muscle, if any.
pub fn active_for_point<'a>(
    holds: &'a [Hold],
    catalog: &CatalogView,
    point: &str,
) -> Option<&'a Hold> {
    // Most people hold nothing: no catalog lookup then (progress and
    // plans ask this for every point they show).
    if !holds.iter().any(Hold::active) {
        return None;
    }
    let muscle = muscle_of(catalog, point);
    holds.iter().find(|h| h.active() && h.muscle == muscle)
}

/// The muscle of `point`; the point itself when the catalog does not know it
/// (a point removed from the chart keeps its holds).
pub fn muscle_of<'a>(catalog: &'a CatalogView, point: &'a str) -> &'a str {
    catalog
        .point(point)
        .map(|p| p.muscle.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or(point)
}

fn display(catalog: &CatalogView, point: &str) -> String {
    catalog
        .point(point)
        .map_or_else(|| point.to_owned(), |p| p.display_name.clone())
}

/// The warning a session on a nerve-side point carries when it reports a
/// nerve-type sensation.
pub fn nerve_warning(record: &SessionRecord, catalog: &CatalogView) -> Option<Warning> {
    let p = catalog.point(&record.draft.trigger_point)?;
    if !record.draft.pain_quality.nerve_type() || p.nerve_cautions.is_empty() {
        return None;
    }
    Some(Warning {
        code: WarningCode::NerveSensation,
        severity: Severity::MedicalAttention,
        message: format!(
            "Tingling, burning, numbness or electric feelings here mean the pressure may be on a nerve ({}). Move off at once; this muscle is on hold until a medical provider has checked it.",
            p.nerve_cautions.join(", ")
        ),
    })
}

/// The warning a session carries when its muscle was already on hold.
pub fn on_hold_warning(hold: &Hold, catalog: &CatalogView, tz: &TimeZone) -> Warning {
    Warning {
        code: WarningCode::PointOnHold,
        severity: Severity::MedicalAttention,
        message: format!(
            "This muscle is on hold since {} ({}). The session is recorded, but stop self-treatment here until a medical provider has checked it.",
            hold.since_local(tz),
            display(catalog, &hold.trigger_point)
        ),
    }
}

/// Every warning of a session, most serious first (a stable sort, so the
/// rules' own order holds within one severity).
pub fn merge_warnings(mut rules: Vec<Warning>, extra: Vec<Warning>) -> Vec<Warning> {
    rules.extend(extra);
    rules.sort_by_key(|w| std::cmp::Reverse(severity_rank(w.severity)));
    rules
}

fn severity_rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Caution => 1,
        Severity::MedicalAttention => 2,
    }
}

/// The holds a stored session starts: one per reason, unless the muscle
/// already has an active hold for that reason. `record.warnings` must be
/// final (they carry the medical-attention and rising-tenderness signs).
pub fn triggered(
    record: &SessionRecord,
    catalog: &CatalogView,
    existing: &[Hold],
    now: Timestamp,
) -> Vec<Hold> {
    let point = &record.draft.trigger_point;
    let muscle = muscle_of(catalog, point);
    let name = display(catalog, point);
    let date = record.local_date;
    let has = |code| record.warnings.iter().any(|w| w.code == code);
    let mut signs = Vec::new();
    if has(WarningCode::SharpPain) {
        signs.push("sharp pain");
    }
    if has(WarningCode::WorseWithActivity) {
        signs.push("pain worse with activity");
    }
    if has(WarningCode::WorseWithMassage) {
        signs.push("pain worse with massage");
    }
    let mut out: Vec<(HoldReason, String)> = Vec::new();
    if !signs.is_empty() {
        out.push((
            HoldReason::MedicalWarning,
            format!(
                "{} was reported on {name} on {date}.",
                capitalise(&signs.join(", "))
            ),
        ));
    }
    if has(WarningCode::NerveSensation) {
        let nerves = catalog
            .point(point)
            .map(|p| p.nerve_cautions.join(", "))
            .unwrap_or_default();
        out.push((
            HoldReason::NerveSensation,
            format!(
                "A nerve-type sensation was reported on {name}, beside the {}, on {date}.",
                nerves.to_lowercase()
            ),
        ));
    }
    if has(WarningCode::TendernessRising) {
        out.push((
            HoldReason::Worsening,
            format!("Tenderness on {name} has been going up (up to {date})."),
        ));
    }
    out.into_iter()
        .filter(|(reason, _)| {
            !existing
                .iter()
                .any(|h| h.active() && h.muscle == muscle && h.reason == *reason)
        })
        .map(|(reason, why)| Hold {
            schema: HOLD_SCHEMA,
            id: uuid_like(&record.id, reason),
            trigger_point: point.clone(),
            muscle: muscle.to_owned(),
            reason,
            why,
            since: now,
            session: Some(record.id.clone()),
            release: None,
        })
        .collect()
}

/// A hold id derived from the session and the reason, so applying the same
/// session twice cannot create two holds.
fn uuid_like(session: &str, reason: HoldReason) -> String {
    let tag = match reason {
        HoldReason::MedicalWarning => "m",
        HoldReason::NerveSensation => "n",
        HoldReason::Worsening => "w",
    };
    format!("{session}-{tag}")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The refusal of a guided session on a held muscle.
pub fn refusal(hold: &Hold, point: &str, catalog: &CatalogView, tz: &TimeZone) -> Refusal {
    Refusal::new(
        RefusalReason::PointOnHold,
        format!(
            "{} is on hold since {}: {} {ADVICE}",
            display(catalog, point),
            hold.since_local(tz),
            hold.why
        ),
    )
    .with("trigger_point", format!("{}{point}", names::TRIGGER_POINT))
    .with("muscle", format!("muscles/{}", hold.muscle))
    .with("since", hold.since_local(tz))
    .with("why", hold.why.clone())
    .with("hold", format!("{}{}", names::HOLD, hold.id))
}

/// Checks a release: the person must state that a provider checked it, on a
/// date not before the hold began (local) and not after `today`.
pub fn check_release(
    provider_checked: bool,
    checked_date: &str,
    earliest: Date,
    today: Date,
) -> Result<Date, Vec<FieldViolation>> {
    let mut v = Vec::new();
    if !provider_checked {
        v.push(FieldViolation::new(
            "provider_checked",
            "must be true: only a medical provider's check releases a hold",
        ));
    }
    let date = match checked_date.parse::<Date>() {
        Ok(d) if d > today => {
            v.push(FieldViolation::new("checked_date", "is in the future"));
            None
        }
        Ok(d) if d < earliest => {
            v.push(FieldViolation::new(
                "checked_date",
                format!("is before the hold began ({earliest})"),
            ));
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            v.push(FieldViolation::new("checked_date", "must be YYYY-MM-DD"));
            None
        }
    };
    match date {
        Some(d) if v.is_empty() => Ok(d),
        _ => Err(v),
    }
}

/// Marks every active hold on `muscle` released.
pub fn release(holds: &mut [Hold], muscle: &str, date: Date, now: Timestamp) -> usize {
    let mut n = 0;
    for h in holds
        .iter_mut()
        .filter(|h| h.active() && h.muscle == muscle)
    {
        h.release = Some(Release {
            time: now,
            provider_checked_date: date,
        });
        n += 1;
    }
    n
}

/// The earliest local date a release may name for `muscle`'s active holds.
pub fn earliest_release_date(holds: &[Hold], muscle: &str, tz: &TimeZone) -> Option<Date> {
    holds
        .iter()
        .filter(|h| h.active() && h.muscle == muscle)
        .map(|h| time::local_date(h.since, tz))
        .min()
}

/// What a guided session should know before it starts (none of these block
/// it): a count near the daily limit, a held point nearby, a profile never
/// saved.
pub fn guided_warnings(
    point: &str,
    sessions_today: u32,
    holds: &[Hold],
    catalog: &CatalogView,
    profile_saved: bool,
) -> Vec<Warning> {
    let g = &catalog.guidance;
    let mut out = Vec::new();
    let max = g.max_sessions_per_point_per_day;
    if max > 1 && sessions_today + 1 >= max {
        out.push(Warning {
            code: WarningCode::NearDailyLimit,
            severity: Severity::Info,
            message: format!(
                "This is session {sessions_today} of the {max} advised on this point today."
            ),
        });
    }
    let muscle = muscle_of(catalog, point);
    let region = catalog.point(point).map(|p| p.region.as_str());
    let mut named = Vec::new();
    for h in holds.iter().filter(|h| h.active() && h.muscle != muscle) {
        let near = catalog
            .points
            .values()
            .any(|p| p.muscle == h.muscle && Some(p.region.as_str()) == region);
        if near && !named.contains(&h.muscle) {
            named.push(h.muscle.clone());
            out.push(Warning {
                code: WarningCode::NeighbourOnHold,
                severity: Severity::Caution,
                message: format!(
                    "{} nearby is on hold ({}). Keep pressure off that spot and stop if the pain turns sharp.",
                    display(catalog, &h.trigger_point),
                    h.why.trim_end_matches('.')
                ),
            });
        }
    }
    if !profile_saved {
        out.push(Warning {
            code: WarningCode::ProfileIncomplete,
            severity: Severity::Info,
            message: "Your profile is not set up: days are counted in UTC and no tools are known. Set your time zone and tools."
                .to_owned(),
        });
    }
    merge_warnings(out, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::super::catalog::fixture;
    use super::super::{Origin, PainQuality, SessionDraft, Side};
    use super::*;
    use jiff::civil::date;

    fn record(point: &str, edit: impl FnOnce(&mut SessionDraft)) -> SessionRecord {
        let mut draft = SessionDraft {
            trigger_point: point.into(),
            tool: "lacrosse_ball".into(),
            side: Side::Left,
            pressure: 5,
            duration_seconds: 90,
            tenderness_before: Some(5),
            tenderness_after: None,
            pain_quality: PainQuality::Aching,
            worse_with_activity: false,
            worse_with_massage: false,
            twitch_response: false,
            notes: String::new(),
            perform_time: "2026-03-10T12:00:00Z".parse().unwrap(),
            guided_session: None,
        };
        edit(&mut draft);
        SessionRecord {
            id: "s1".into(),
            draft,
            create_time: "2026-03-10T12:00:00Z".parse().unwrap(),
            local_date: date(2026, 3, 10),
            origin: Origin::Logged,
            warnings: Vec::new(),
        }
    }

    fn warn(code: WarningCode) -> Warning {
        Warning {
            code,
            severity: Severity::MedicalAttention,
            message: String::new(),
        }
    }

    /// `held` with its quadratus lumborum holds released.
    fn released_ql(held: &[Hold]) -> Vec<Hold> {
        let mut out = held.to_vec();
        release(
            &mut out,
            "quadratus_lumborum",
            date(2026, 3, 11),
            Timestamp::now(),
        );
        out
    }

    /// The reasons of the holds a session starts, given its final warnings
    /// and the holds already there.
    #[track_caller]
    fn check(
        point: &str,
        edit: impl FnOnce(&mut SessionDraft),
        codes: &[WarningCode],
        existing: &[Hold],
        expected: &[HoldReason],
    ) -> Vec<Hold> {
        let catalog = fixture::catalog();
        let mut r = record(point, edit);
        r.warnings = codes.iter().map(|c| warn(*c)).collect();
        if let Some(w) = nerve_warning(&r, &catalog) {
            r.warnings.push(w);
        }
        let got = triggered(&r, &catalog, existing, r.create_time);
        let reasons: Vec<_> = got.iter().map(|h| h.reason).collect();
        assert_eq!(reasons, expected);
        got
    }

    #[test]
    fn what_starts_a_hold() {
        use HoldReason::*;
        use WarningCode::*;
        check("ql_superficial", |_| {}, &[], &[], &[]);
        let h = check(
            "ql_superficial",
            |_| {},
            &[SharpPain],
            &[],
            &[MedicalWarning],
        );
        assert_eq!(h[0].muscle, "quadratus_lumborum");
        assert!(h[0].why.starts_with("Sharp pain"), "{}", h[0].why);
        check(
            "ql_superficial",
            |_| {},
            &[WorseWithActivity],
            &[],
            &[MedicalWarning],
        );
        let h = check(
            "ql_superficial",
            |_| {},
            &[SharpPain, WorseWithMassage],
            &[],
            &[MedicalWarning],
        );
        assert!(h[0].why.contains("worse with massage"));
        check(
            "ql_superficial",
            |_| {},
            &[TendernessRising],
            &[],
            &[Worsening],
        );
        // A caution-level warning starts nothing.
        check("ql_superficial", |_| {}, &[PressureTooHigh], &[], &[]);
        // Nerve-type sensations: only beside a nerve.
        for q in [
            PainQuality::Tingling,
            PainQuality::Burning,
            PainQuality::Numbness,
            PainQuality::Electric,
        ] {
            let h = check(
                "piriformis_1",
                |d| d.pain_quality = q,
                &[],
                &[],
                &[HoldReason::NerveSensation],
            );
            assert!(h[0].why.contains("sciatic nerve"), "{}", h[0].why);
            check("ql_superficial", |d| d.pain_quality = q, &[], &[], &[]);
        }
        check(
            "piriformis_1",
            |d| d.pain_quality = PainQuality::Dull,
            &[],
            &[],
            &[],
        );
        // Already held for the same reason on the same muscle (another
        // point): nothing new; another reason: a new hold.
        let held = check("ql_deep", |_| {}, &[SharpPain], &[], &[MedicalWarning]);
        check("ql_superficial", |_| {}, &[SharpPain], &held, &[]);
        check(
            "ql_superficial",
            |_| {},
            &[TendernessRising],
            &held,
            &[Worsening],
        );
        // A released hold does not count.
        let released = released_ql(&held);
        check(
            "ql_superficial",
            |_| {},
            &[SharpPain],
            &released,
            &[MedicalWarning],
        );
    }

    #[test]
    fn a_hold_covers_the_whole_muscle() {
        let catalog = fixture::catalog();
        let held = check(
            "ql_deep",
            |_| {},
            &[WarningCode::SharpPain],
            &[],
            &[HoldReason::MedicalWarning],
        );
        assert!(active_for_point(&held, &catalog, "ql_superficial").is_some());
        assert!(active_for_point(&held, &catalog, "ql_deep").is_some());
        assert!(active_for_point(&held, &catalog, "piriformis_1").is_none());
        // A released hold covers nothing; no holds, nothing either.
        let released = released_ql(&held);
        assert!(active_for_point(&released, &catalog, "ql_deep").is_none());
        assert!(active_for_point(&[], &catalog, "ql_deep").is_none());
        // A point the chart no longer has is its own muscle.
        assert_eq!(muscle_of(&catalog, "gone_point"), "gone_point");
        assert_eq!(muscle_of(&catalog, "ql_deep"), "quadratus_lumborum");
        let tz = time::zone("Europe/Berlin").unwrap();
        let r = refusal(&held[0], "ql_superficial", &catalog, &tz);
        assert_eq!(r.reason, RefusalReason::PointOnHold);
        assert_eq!(r.metadata["trigger_point"], "triggerPoints/ql_superficial");
        assert_eq!(r.metadata["muscle"], "muscles/quadratus_lumborum");
        assert_eq!(r.metadata["since"], "2026-03-10T13:00:00+01:00");
        assert!(r.metadata["why"].starts_with("Sharp pain"));
    }

    #[track_caller]
    fn check_release_case(checked: bool, d: &str, expected: Result<Date, &[&str]>) {
        let got = check_release(checked, d, date(2026, 3, 10), date(2026, 3, 12));
        match expected {
            Ok(e) => assert_eq!(got, Ok(e)),
            Err(fields) => {
                let f: Vec<_> = got.unwrap_err().into_iter().map(|v| v.field).collect();
                assert_eq!(f, fields);
            }
        }
    }

    #[test]
    fn release_needs_a_provider_and_a_plausible_date() {
        check_release_case(true, "2026-03-10", Ok(date(2026, 3, 10)));
        check_release_case(true, "2026-03-12", Ok(date(2026, 3, 12)));
        check_release_case(true, "2026-03-13", Err(&["checked_date"]));
        check_release_case(true, "2026-03-09", Err(&["checked_date"]));
        check_release_case(true, "yesterday", Err(&["checked_date"]));
        check_release_case(false, "2026-03-11", Err(&["provider_checked"]));
        check_release_case(false, "", Err(&["provider_checked", "checked_date"]));
    }

    #[test]
    fn guided_warnings_table() {
        use WarningCode::*;
        let catalog = fixture::catalog();
        let codes = |point: &str, n: u32, holds: &[Hold], saved: bool| -> Vec<WarningCode> {
            guided_warnings(point, n, holds, &catalog, saved)
                .into_iter()
                .map(|w| w.code)
                .collect()
        };
        assert_eq!(codes("ql_superficial", 1, &[], true), []);
        assert_eq!(codes("ql_superficial", 4, &[], true), []);
        assert_eq!(codes("ql_superficial", 5, &[], true), [NearDailyLimit]);
        assert_eq!(codes("ql_superficial", 6, &[], true), [NearDailyLimit]);
        assert_eq!(codes("ql_superficial", 1, &[], false), [ProfileIncomplete]);
        // Piriformis (buttock) held: a point in the buttock is warned, the
        // low back is not. The fixture's QL points lie in the low back.
        let piri = check(
            "piriformis_1",
            |d| d.pain_quality = PainQuality::Tingling,
            &[],
            &[],
            &[HoldReason::NerveSensation],
        );
        assert_eq!(codes("ql_superficial", 1, &piri, true), []);
        let ql = check(
            "ql_deep",
            |_| {},
            &[SharpPain],
            &[],
            &[HoldReason::MedicalWarning],
        );
        assert_eq!(codes("upper_trap_1", 1, &ql, true), []);
        let mut moved = catalog.clone();
        if let Some(p) = moved.points.get_mut("upper_trap_1") {
            p.region = "low_back".into();
        }
        let got: Vec<_> = guided_warnings("upper_trap_1", 5, &ql, &moved, false)
            .into_iter()
            .map(|w| w.code)
            .collect();
        // Most serious first.
        assert_eq!(got, [NeighbourOnHold, NearDailyLimit, ProfileIncomplete]);
    }

    #[test]
    fn warnings_merge_most_serious_first() {
        let info = Warning {
            code: WarningCode::ScreeningIncomplete,
            severity: Severity::Info,
            message: String::new(),
        };
        let got = merge_warnings(vec![info.clone()], vec![warn(WarningCode::PointOnHold)]);
        assert_eq!(got[0].code, WarningCode::PointOnHold);
        assert_eq!(got[1], info);
    }
}
