//! The checks a data file passes before it is served: each names the bad
//! entry (`muscles[ql]`) and what is wrong with it. [`Checker`] collects
//! the problems; `Catalog::validate` runs the checks over every table.

use std::collections::{HashMap, HashSet};

use super::super::model::*;
use super::super::text::Vocabulary;
use super::Problem;

pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
}

impl Checker {
    pub(super) fn fail(&mut self, entry: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            entry: entry.to_owned(),
            message: message.into(),
        });
    }

    /// The vocabulary of `entries` (id, name, synonyms) of the table
    /// `table`, whose entries are each a `what`: a phrase that names two
    /// entries would make resolution ambiguous, so it is a problem.
    pub(super) fn vocabulary(
        &mut self,
        table: &str,
        what: &str,
        entries: &[(&str, &str, &[String])],
    ) -> Vocabulary {
        let mut vocab = Vocabulary::default();
        for (i, (id, name, synonyms)) in entries.iter().enumerate() {
            for phrase in [*id, *name]
                .into_iter()
                .chain(synonyms.iter().map(String::as_str))
            {
                if let Err(col) = vocab.add(i, phrase) {
                    let other = entries[col.first].0;
                    self.fail(
                        &format!("{table}[{id}]"),
                        format!("\"{phrase}\" already names {what} \"{other}\""),
                    );
                }
            }
        }
        vocab
    }

    pub(super) fn reference(
        &mut self,
        entry: &str,
        field: &str,
        id: &str,
        table: &str,
        map: &HashMap<String, usize>,
    ) {
        if !map.contains_key(id) {
            self.fail(entry, format!("{field} refers to unknown {table} \"{id}\""));
        }
    }

    pub(super) fn references(
        &mut self,
        entry: &str,
        field: &str,
        ids: &[String],
        table: &str,
        map: &HashMap<String, usize>,
    ) {
        let mut seen = HashSet::new();
        for id in ids {
            self.reference(entry, field, id, table, map);
            if !seen.insert(id.as_str()) {
                self.fail(entry, format!("{field} lists \"{id}\" twice"));
            }
        }
    }

    pub(super) fn text(&mut self, entry: &str, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(entry, format!("{field} must not be empty"));
        }
    }
}

pub(super) struct Places<'a> {
    pub(super) regions: &'a HashMap<String, usize>,
    pub(super) points: &'a HashMap<String, usize>,
    pub(super) tools: &'a HashMap<String, usize>,
}

/// The screening effect and limits of one contraindication.
pub(super) fn check_limits(
    c: &mut Checker,
    e: &str,
    x: &Contraindication,
    g: &Guidance,
    p: &Places<'_>,
) {
    let has_limits = !x.excluded_regions.is_empty()
        || !x.excluded_points.is_empty()
        || !x.excluded_tools.is_empty()
        || x.max_pressure_until_cleared.is_some();
    if x.kind == ContraindicationKind::Location {
        if x.effect != ScreeningEffect::RulesOut || has_limits {
            c.fail(e, "a LOCATION takes no effect or limits");
        }
        return;
    }
    match (x.effect, x.max_pressure_until_cleared) {
        (ScreeningEffect::RulesOut, Some(_)) => c.fail(
            e,
            "max_pressure_until_cleared only applies to a LIMITS condition",
        ),
        (ScreeningEffect::Limits, None) => c.fail(
            e,
            "a LIMITS condition needs max_pressure_until_cleared (it advises a provider before firm pressure)",
        ),
        (_, Some(v)) if !(1..=g.target_pressure).contains(&v) => c.fail(
            e,
            format!(
                "max_pressure_until_cleared {v} must be 1..={} (the target pressure)",
                g.target_pressure
            ),
        ),
        _ => {}
    }
    for (field, list, table, map) in [
        ("excluded_regions", &x.excluded_regions, "region", p.regions),
        (
            "excluded_points",
            &x.excluded_points,
            "trigger point",
            p.points,
        ),
    ] {
        let ids: Vec<String> = list.iter().map(|l| l.id.clone()).collect();
        c.references(e, field, &ids, table, map);
        for l in list {
            c.text(e, &format!("{field}.reason"), &l.reason);
        }
    }
    let tools: Vec<String> = x.excluded_tools.iter().map(|t| t.tool.clone()).collect();
    c.references(e, "excluded_tools", &tools, "tool", p.tools);
    for t in &x.excluded_tools {
        c.text(e, "excluded_tools.reason", &t.reason);
    }
}

pub(super) fn check_guide(
    c: &mut Checker,
    g: &Guide,
    tools: &HashMap<String, usize>,
    sources: &HashMap<String, usize>,
) {
    let e = format!("guides[{}]", g.id);
    c.text(&e, "title", &g.title);
    c.text(&e, "summary", &g.summary);
    c.references(&e, "tools", &g.tools, "tool", tools);
    c.references(&e, "sources", &g.sources, "source", sources);
    if g.sources.is_empty() {
        c.fail(&e, "must name at least one source");
    }
    if g.sections.is_empty() {
        c.fail(&e, "must have at least one section");
    }
    for (i, s) in g.sections.iter().enumerate() {
        c.text(&e, &format!("sections[{i}].heading"), &s.heading);
        c.text(&e, &format!("sections[{i}].text"), &s.text);
    }
}

pub(super) fn check_guidance(c: &mut Checker, g: &Guidance, sources: &HashMap<String, usize>) {
    let e = "guidance";
    if !(1..=10).contains(&g.target_pressure)
        || !(g.target_pressure..=10).contains(&g.max_safe_pressure)
    {
        c.fail(
            e,
            "pressures must satisfy 1 <= target_pressure <= max_safe_pressure <= 10",
        );
    }
    if g.min_duration_seconds <= 0 || g.max_duration_seconds < g.min_duration_seconds {
        c.fail(
            e,
            "durations must satisfy 0 < min_duration_seconds <= max_duration_seconds",
        );
    }
    for (name, v) in [
        (
            "max_sessions_per_point_per_day",
            g.max_sessions_per_point_per_day,
        ),
        (
            "recommended_sessions_per_day_min",
            g.recommended_sessions_per_day_min,
        ),
        ("expected_improvement_days", g.expected_improvement_days),
        ("trend_window_days", g.trend_window_days),
        ("consistent_days_min", g.consistent_days_min),
        ("min_tenderness_change", g.min_tenderness_change),
    ] {
        if v <= 0 {
            c.fail(e, format!("{name} must be positive"));
        }
    }
    if g.recommended_sessions_per_day_min > g.max_sessions_per_point_per_day {
        c.fail(
            e,
            "recommended_sessions_per_day_min exceeds max_sessions_per_point_per_day",
        );
    }
    if g.consistent_days_min > g.trend_window_days {
        c.fail(e, "consistent_days_min exceeds trend_window_days");
    }
    if g.min_tenderness_change > 10 {
        c.fail(e, "min_tenderness_change is beyond the 0-10 scale");
    }
    c.text(e, "pressure_description", &g.pressure_description);
    c.text(e, "summary", &g.summary);
    c.references(e, "sources", &g.sources, "source", sources);
}

pub(super) struct Refs<'a> {
    pub(super) regions: &'a HashMap<String, usize>,
    pub(super) muscles: &'a HashMap<String, usize>,
    pub(super) tools: &'a HashMap<String, usize>,
    pub(super) symptoms: &'a HashMap<String, usize>,
    pub(super) sources: &'a HashMap<String, usize>,
    pub(super) contras: &'a HashMap<String, usize>,
    pub(super) contraindications: &'a [Contraindication],
    pub(super) tool_data: &'a [Tool],
}

pub(super) fn check_point(c: &mut Checker, t: &TriggerPoint, r: &Refs<'_>) {
    let e = format!("trigger_points[{}]", t.id);
    let e = e.as_str();
    c.text(e, "name", &t.name);
    c.text(e, "location", &t.location);
    c.reference(e, "muscle", &t.muscle, "muscle", r.muscles);
    c.reference(e, "region", &t.region, "region", r.regions);
    let (x, y) = (t.chart.x, t.chart.y);
    if !(x.is_finite() && (0.0..=1.0).contains(&x) && y.is_finite() && (0.0..=1.0).contains(&y)) {
        c.fail(e, format!("chart point ({x}, {y}) is outside 0..1"));
    } else if t.bilateral {
        // Lateral points are drawn on the person's right side: the right half
        // of the back view, the left half of the front view.
        let wrong = match t.chart.view {
            View::Back => x < 0.5,
            View::Front => x > 0.5,
        };
        if wrong {
            c.fail(
                e,
                format!("bilateral point is drawn on the person's left side (x = {x}); give the right side"),
            );
        }
    }
    if t.referrals.is_empty() {
        c.fail(e, "needs at least one referral zone");
    } else if !t.referrals.iter().any(|x| x.kind == ReferralKind::Primary) {
        c.fail(e, "needs at least one PRIMARY referral zone");
    }
    let mut seen = HashSet::new();
    for x in &t.referrals {
        c.reference(e, "referrals.region", &x.region, "region", r.regions);
        if !seen.insert(x.region.as_str()) {
            c.fail(e, format!("referrals list region \"{}\" twice", x.region));
        }
    }
    c.references(e, "symptoms", &t.symptoms, "symptom", r.symptoms);
    c.references(e, "sources", &t.sources, "source", r.sources);
    if t.techniques.is_empty() {
        c.fail(e, "needs at least one technique");
    }
    let mut used = HashSet::new();
    for x in &t.techniques {
        c.reference(e, "techniques.tool", &x.tool, "tool", r.tools);
        c.text(e, "techniques.text", &x.text);
        if !used.insert(x.tool.as_str()) {
            c.fail(e, format!("techniques list tool \"{}\" twice", x.tool));
        }
    }
    for x in &t.excluded_tools {
        c.reference(e, "excluded_tools.tool", &x.tool, "tool", r.tools);
        c.text(e, "excluded_tools.reason", &x.reason);
        if used.contains(x.tool.as_str()) {
            c.fail(
                e,
                format!("tool \"{}\" is both a technique and excluded", x.tool),
            );
        }
    }
    for x in &t.excluded_conditions {
        match r.contras.get(&x.condition) {
            None => c.fail(
                e,
                format!(
                    "excluded_conditions.condition refers to unknown contraindication \"{}\"",
                    x.condition
                ),
            ),
            Some(&i) if r.contraindications[i].kind != ContraindicationKind::Condition => c.fail(
                e,
                format!(
                    "excluded_conditions.condition \"{}\" is a LOCATION, not a CONDITION",
                    x.condition
                ),
            ),
            Some(_) => {}
        }
        c.text(e, "excluded_conditions.reason", &x.reason);
    }
    for x in &t.cautions {
        c.text(e, "cautions.structure", &x.structure);
        c.text(e, "cautions.text", &x.text);
    }
    check_therapist_only(c, e, t, r);
}

/// A hold limit (of a region or a point) is a real limit: at least 10 s and
/// shorter than the guidance's longest hold.
pub(super) fn check_hold(c: &mut Checker, e: &str, hold: Option<i32>, g: &Guidance) {
    if let Some(s) = hold
        && !(10..g.max_duration_seconds).contains(&s)
    {
        c.fail(
            e,
            format!(
                "max_hold_seconds {s} must be 10..{} (shorter than the guidance's max_duration_seconds)",
                g.max_duration_seconds
            ),
        );
    }
}

/// A therapist-only point says why, and offers only clinic tools (a
/// therapist): a self-treatment technique on it would contradict the rule
/// that refuses self-treatment there.
fn check_therapist_only(c: &mut Checker, e: &str, t: &TriggerPoint, r: &Refs<'_>) {
    if !t.therapist_only {
        if !t.therapist_only_note.is_empty() {
            c.fail(e, "therapist_only_note is set but therapist_only is not");
        }
        return;
    }
    c.text(e, "therapist_only_note", &t.therapist_only_note);
    for x in &t.techniques {
        let clinic = r
            .tools
            .get(&x.tool)
            .is_some_and(|&i| r.tool_data[i].portability == Portability::Clinic);
        if !clinic {
            c.fail(
                e,
                format!(
                    "a therapist_only point offers self-treatment with tool \"{}\"; only CLINIC tools may be techniques",
                    x.tool
                ),
            );
        }
    }
}
