//! Re-ranking a relief plan by the person's own history.
//!
//! Rules (each one is a row of the tests below):
//! - The catalog's score is normalized by the best candidate's score, so a
//!   personal adjustment weighs the same whatever scale the catalog uses.
//! - A point the person pressed and found tender (a mean tenderness before
//!   of at least [`TENDER_THRESHOLD`] on some day) and that is not known to
//!   be stalled or worsening raises its muscle by [`TENDER_BONUS`].
//! - A point worked for a week without improvement (progress status
//!   NOT_IMPROVING) lowers its muscle by [`STALLED_PENALTY`]; the plan then
//!   suggests the next suspect: the first alternative of the most recently
//!   worked stalled point that is in the plan and not stalled itself, else
//!   the first such alternative at all, else the best planned point that is
//!   neither worked without improvement nor the stalled point.
//! - "You found it": a point where the person reported a local twitch
//!   response raises its muscle by [`TWITCH_BONUS`], and a point whose
//!   tenderness came down across sessions by at least
//!   [`FOUND_IT_DROP`] points raises it by [`DROP_BONUS`] (unless stalled or
//!   worsening).
//! - Never recommended: a point whose muscle is on hold (the whole candidate
//!   leaves the plan) or whose tenderness is worsening (the point leaves its
//!   candidate; a candidate left with no point leaves the plan). Both are
//!   listed apart ([`Plan::set_aside`]) with why and what to do, and neither
//!   is ever the next suspect.
//! - A region the person asked about whose pain check-ins are not better
//!   after a consistent week (the session's region week rule) lowers each
//!   candidate muscle with a point worked in that week by
//!   [`STALLED_PENALTY`] (once per muscle, unless the point's own trend
//!   already lowered it); when no stalled point names a next suspect, the
//!   plan suggests the best point of the best muscle not tried that week.
//!   Every suggestion carries a reason the person can read.
//! - Ties keep the catalog's order.
//! - Only techniques for tools the person owns are offered, never an
//!   excluded tool, nor a tool a reported screening condition rules out
//!   everywhere (blood thinners and the massage gun): the plan never offers
//!   what StartGuidedSession would refuse.
//! - Each planned point carries the pressure ceiling StartGuidedSession
//!   applies: the lowest of the guidance's, the point's own (its region's)
//!   and that of every reported condition a provider has not cleared for
//!   firm pressure.
//! - Blocks: SCREENING_REQUIRED or CONTRAINDICATED for every point; per
//!   point TOOL_EXCLUDED (an owned tool must never be used there),
//!   CONDITION_EXCLUDED (a condition the person reported rules the point
//!   out, even when a provider cleared massage in general, or rules out an
//!   owned tool that has a technique there), DAILY_LIMIT_REACHED (no
//!   session left today) and NO_OWNED_TOOL (no usable owned tool works it).
//!   A block that rules out one tool, not the point, names it
//!   ([`Block::tool`]): the point stays workable with the tools left.

use std::collections::{HashMap, HashSet};

/// Tenderness (0-10) from which a pressed point counts as "found tender".
pub const TENDER_THRESHOLD: f64 = 3.0;
/// Score added for a point pressed and found tender.
pub const TENDER_BONUS: f64 = 0.5;
/// Score removed for a point worked a week without improvement.
pub const STALLED_PENALTY: f64 = 0.75;
/// Score added for a point where a twitch response was reported.
pub const TWITCH_BONUS: f64 = 0.5;
/// Score added for a point whose tenderness came down across sessions.
pub const DROP_BONUS: f64 = 0.5;
/// The drop in tenderness (0-10 points, first to latest day) that counts
/// as "you found it".
pub const FOUND_IT_DROP: f64 = 1.0;

/// Where a person's progress on a point stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Not enough data, or unknown.
    Unknown,
    /// Tenderness going down.
    Improving,
    /// A week of work without improvement.
    Stalled,
    /// Tenderness going up.
    Worsening,
}

/// What the person has done on one point.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Where it stands.
    pub trend: Trend,
    /// The highest daily mean tenderness before, when measured.
    pub max_tenderness: Option<f64>,
    /// Other points referring to the same regions (from the session service).
    pub alternatives: Vec<String>,
    /// A twitch response was reported on it.
    pub twitch: bool,
    /// Tenderness change, first to latest day with a reading (negative is
    /// better).
    pub tenderness_change: Option<f64>,
}

/// An active hold on a muscle, as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMuscle {
    /// What happened.
    pub why: String,
    /// What to do.
    pub advice: String,
}

/// A point the plan does not recommend, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// `triggerPoints/{id}`.
    pub point: String,
    /// `muscles/{id}` when the reason is a hold.
    pub held_muscle: Option<String>,
    /// Why, in plain language.
    pub message: String,
    /// What to do.
    pub advice: String,
}

impl SetAside {
    /// `POINT_ON_HOLD` or `WORSENING`.
    pub fn reason(&self) -> &'static str {
        if self.held_muscle.is_some() {
            "POINT_ON_HOLD"
        } else {
            "WORSENING"
        }
    }
}

/// The screening's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreeningState {
    /// Not complete.
    Required,
    /// Done, nothing rules massage out.
    Cleared,
    /// A condition rules massage out.
    Contraindicated,
}

/// What stops a guided session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The screening is not complete.
    ScreeningRequired,
    /// A condition rules massage out.
    Contraindicated,
    /// An owned tool that must never be used on this point.
    ToolExcluded(String),
    /// A reported condition that rules this point out.
    ConditionExcluded(String),
    /// Reported conditions that rule an owned tool out everywhere (the
    /// tool, then the conditions).
    ToolRuledOut(String, Vec<String>),
    /// No session left today on this point.
    DailyLimitReached,
    /// No owned tool works this point. The tools that would, for this
    /// person (a technique for the point, not excluded on it, not ruled
    /// out by a reported condition), in catalog order; maybe none.
    NoOwnedTool(Vec<String>),
}

impl Block {
    /// The ErrorInfo reason the session service uses for the same refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Block::ScreeningRequired => "SCREENING_REQUIRED",
            Block::Contraindicated => "CONTRAINDICATED",
            Block::ToolExcluded(_) => "TOOL_EXCLUDED",
            Block::ConditionExcluded(_) | Block::ToolRuledOut(..) => "CONDITION_EXCLUDED",
            Block::DailyLimitReached => "DAILY_LIMIT_REACHED",
            Block::NoOwnedTool(_) => "NO_OWNED_TOOL",
        }
    }

    /// The one tool the block rules out, when it rules out a tool and not
    /// the point (`tools/{id}`): the point stays workable with the others.
    pub fn tool(&self) -> Option<&str> {
        match self {
            Block::ToolExcluded(t) | Block::ToolRuledOut(t, _) => Some(t),
            Block::ScreeningRequired
            | Block::Contraindicated
            | Block::ConditionExcluded(_)
            | Block::DailyLimitReached
            | Block::NoOwnedTool(_) => None,
        }
    }

    /// A plain-language explanation.
    pub fn message(&self) -> String {
        match self {
            Block::ScreeningRequired => {
                "Complete the health screening before a guided session.".into()
            }
            Block::Contraindicated => {
                "A condition you reported rules massage out until a medical provider clears it."
                    .into()
            }
            // People never see raw ids: the resource name stays in the
            // block for machines; the gateway adds the catalog's reason.
            Block::ToolExcluded(_) => "Never use this tool on this point.".into(),
            Block::ConditionExcluded(_) => "A condition you reported rules this point out.".into(),
            Block::ToolRuledOut(..) => {
                "A condition you reported rules this tool out, even with clearance.".into()
            }
            Block::DailyLimitReached => "No session left on this point today.".into(),
            // The gateway names the tools that would (`convert.rs`).
            Block::NoOwnedTool(_) => "None of your tools works this point.".into(),
        }
    }
}

/// A point of a candidate, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointFacts {
    /// `triggerPoints/{id}`.
    pub name: String,
    /// `muscles/{id}`.
    pub muscle: String,
    /// Tools with a technique for this point, in catalog order.
    pub technique_tools: Vec<String>,
    /// Tools that must never be used on it.
    pub excluded_tools: Vec<String>,
    /// Conditions that rule it out.
    pub excluded_conditions: Vec<String>,
    /// Its own pressure ceiling (its region's), when below the guidance's.
    pub max_safe_pressure: Option<u8>,
}

/// A catalog candidate (a muscle), in catalog order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidate {
    /// The catalog's score.
    pub score: f64,
    /// Its matching points.
    pub points: Vec<PointFacts>,
}

/// What is known about the person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Owned tools, `tools/{id}`.
    pub owned_tools: HashSet<String>,
    /// The screening's verdict.
    pub screening: ScreeningState,
    /// Conditions answered as present, `contraindications/{id}`.
    pub present_conditions: HashSet<String>,
    /// History per point; `recent` gives the most recently worked first.
    pub history: HashMap<String, History>,
    /// Points in most-recently-worked order.
    pub recent: Vec<String>,
    /// Sessions remaining today per point worked today.
    pub remaining_today: HashMap<String, i32>,
    /// Active holds by `muscles/{id}`.
    pub held: HashMap<String, HeldMuscle>,
    /// Tools a reported condition rules out everywhere (cleared or not), by
    /// `tools/{id}`, with the conditions that do.
    pub tools_ruled_out: HashMap<String, Vec<String>>,
    /// The guidance's pressure ceiling (0-10).
    pub max_safe_pressure: u8,
    /// The lowest ceiling of the reported conditions a provider has not
    /// cleared for firm pressure.
    pub condition_ceiling: Option<u8>,
    /// Requested regions whose pain is not better after a consistent week.
    pub stalled_regions: Vec<StalledRegion>,
}

/// A region whose pain check-ins are not better after a consistent week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalledRegion {
    /// `regions/{id}`.
    pub region: String,
    /// The check-ins in a line, e.g. "low back: 6 -> 6 over 6 days".
    pub summary: String,
    /// The points worked that week that reach it, `triggerPoints/{id}`.
    pub tried: HashSet<String>,
}

impl Person {
    fn worsening(&self, point: &str) -> bool {
        self.history
            .get(point)
            .is_some_and(|h| h.trend == Trend::Worsening)
    }
}

/// A score change.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    /// The point that caused it.
    pub point: String,
    /// The change.
    pub delta: f64,
    /// Why.
    pub reason: String,
}

/// A point prepared for the person.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPoint {
    /// Index in the candidate's points.
    pub index: usize,
    /// Tools offered (owned, not excluded), in catalog order.
    pub tools: Vec<String>,
    /// What stops a session on it.
    pub blocks: Vec<Block>,
    /// The highest pressure advised for this person here (0-10).
    pub max_pressure: u8,
}

/// A re-ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Index in the catalog's list (rank - 1).
    pub index: usize,
    /// Score after adjustments.
    pub score: f64,
    /// Why it moved.
    pub adjustments: Vec<Adjustment>,
    /// Its points.
    pub points: Vec<PlannedPoint>,
}

/// The plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Candidates, best first, at most the requested number.
    pub ranked: Vec<Ranked>,
    /// Blocks for every point.
    pub blocks: Vec<Block>,
    /// The next suspect after a stalled point or region.
    pub suggested_next: Option<String>,
    /// Why it is suggested; empty when there is none.
    pub next_reason: String,
    /// Points of the candidates not recommended now (held or worsening),
    /// in catalog order.
    pub set_aside: Vec<SetAside>,
}

/// Builds the plan. See the module docs for the rules.
pub fn plan(candidates: &[Candidate], person: &Person, max: usize) -> Plan {
    let top = candidates.iter().map(|c| c.score).fold(0.0_f64, f64::max);
    let stalled = |p: &str| {
        person
            .history
            .get(p)
            .is_some_and(|h| h.trend == Trend::Stalled)
    };
    let mut set_aside = Vec::new();
    let mut ranked: Vec<Ranked> = candidates
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            let held = c
                .points
                .iter()
                .find_map(|p| person.held.get(&p.muscle).map(|h| (p.muscle.clone(), h)));
            if let Some((muscle, h)) = held {
                set_aside.extend(c.points.iter().map(|p| SetAside {
                    point: p.name.clone(),
                    held_muscle: Some(muscle.clone()),
                    message: format!("On hold: {}", h.why),
                    advice: h.advice.clone(),
                }));
                return None;
            }
            let base = if top > 0.0 { c.score / top } else { 0.0 };
            let mut adjustments = Vec::new();
            if let Some((point, region)) = tried_in(c, person)
                && !stalled(point)
            {
                adjustments.push(Adjustment {
                    point: point.to_owned(),
                    delta: -STALLED_PENALTY,
                    reason: format!(
                        "Your pain is not better after a consistent week working this muscle \
                         ({}): try the region's other muscles.",
                        region.summary
                    ),
                });
            }
            let mut points = Vec::new();
            for (i, p) in c.points.iter().enumerate() {
                if person.worsening(&p.name) {
                    set_aside.push(SetAside {
                        point: p.name.clone(),
                        held_muscle: None,
                        message: "Tenderness on this point is going up.".into(),
                        advice: "Stop working it and seek medical attention.".into(),
                    });
                    continue;
                }
                points.push(plan_point(i, p, person));
                let Some(h) = person.history.get(&p.name) else {
                    continue;
                };
                adjustments.extend(adjust(&p.name, h));
            }
            if points.is_empty() {
                return None;
            }
            let score = base + adjustments.iter().map(|a| a.delta).sum::<f64>();
            Some(Ranked {
                index,
                score,
                adjustments,
                points,
            })
        })
        .collect();
    // Stable sort: ties keep the catalog's order.
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked.truncate(max);

    let blocks = match person.screening {
        ScreeningState::Required => vec![Block::ScreeningRequired],
        ScreeningState::Contraindicated => vec![Block::Contraindicated],
        ScreeningState::Cleared => Vec::new(),
    };

    let planned: Vec<&str> = ranked
        .iter()
        .flat_map(|r| {
            r.points
                .iter()
                .map(|p| candidates[r.index].points[p.index].name.as_str())
        })
        .collect();
    let excluded: HashSet<&str> = set_aside.iter().map(|s| s.point.as_str()).collect();
    // Points of a muscle tried in a stalled region's week are not next.
    let tried: HashSet<&str> = person
        .stalled_regions
        .iter()
        .flat_map(|r| r.tried.iter().map(String::as_str))
        .chain(
            candidates
                .iter()
                .filter(|c| tried_in(c, person).is_some())
                .flat_map(|c| c.points.iter().map(|p| p.name.as_str())),
        )
        .collect();
    let ok = |a: &str| {
        !stalled(a) && !person.worsening(a) && !excluded.contains(a) && !tried.contains(a)
    };
    let point_next = person.recent.iter().find(|p| stalled(p)).and_then(|stuck| {
        let alts = person
            .history
            .get(stuck)
            .map(|h| h.alternatives.as_slice())
            .unwrap_or(&[]);
        alts.iter()
            .find(|a| planned.contains(&a.as_str()) && ok(a) && *a != stuck)
            .or_else(|| alts.iter().find(|a| ok(a) && *a != stuck))
            .cloned()
            .or_else(|| {
                planned
                    .iter()
                    .find(|p| **p != stuck.as_str() && ok(p))
                    .map(|p| (*p).to_owned())
            })
    });
    let (suggested_next, next_reason) = match point_next {
        Some(p) => (
            Some(p),
            "A point you worked for a week did not get better, so it is probably not the \
             source: this one can cause the same pain."
                .to_owned(),
        ),
        None => region_next(candidates, &ranked, person, &ok),
    };
    Plan {
        ranked,
        blocks,
        suggested_next,
        next_reason,
        set_aside,
    }
}

/// The first point of candidate `c` worked in a stalled region's week, with
/// that region.
fn tried_in<'a>(c: &'a Candidate, person: &'a Person) -> Option<(&'a str, &'a StalledRegion)> {
    person.stalled_regions.iter().find_map(|r| {
        c.points
            .iter()
            .find(|p| r.tried.contains(&p.name))
            .map(|p| (p.name.as_str(), r))
    })
}

/// After a stalled region: the best ranked muscle none of whose points was
/// tried that week, and its first point that may be suggested.
fn region_next(
    candidates: &[Candidate],
    ranked: &[Ranked],
    person: &Person,
    ok: &dyn Fn(&str) -> bool,
) -> (Option<String>, String) {
    let Some(region) = person.stalled_regions.first() else {
        return (None, String::new());
    };
    let next = ranked.iter().find_map(|r| {
        let c = &candidates[r.index];
        if tried_in(c, person).is_some() {
            return None;
        }
        r.points
            .iter()
            .map(|p| c.points[p.index].name.as_str())
            .find(|p| ok(p))
    });
    match next {
        Some(p) => (
            Some(p.to_owned()),
            format!(
                "Your pain is not better after a consistent week ({}), so the muscles worked \
                 are probably not the source: this point is in another muscle that can cause \
                 the same pain.",
                region.summary
            ),
        ),
        None => (None, String::new()),
    }
}

/// The personal adjustments one point brings to its muscle.
fn adjust(point: &str, h: &History) -> Vec<Adjustment> {
    let mut out = Vec::new();
    let mut add = |delta, reason: &str| {
        out.push(Adjustment {
            point: point.to_owned(),
            delta,
            reason: reason.to_owned(),
        });
    };
    match h.trend {
        Trend::Stalled => add(
            -STALLED_PENALTY,
            "Worked for a week without improvement: try another suspect.",
        ),
        Trend::Worsening => {}
        Trend::Improving | Trend::Unknown => {
            if h.twitch {
                add(
                    TWITCH_BONUS,
                    "You felt a twitch response here: a sign you found the point.",
                );
            }
            if h.tenderness_change.is_some_and(|c| c <= -FOUND_IT_DROP) {
                add(
                    DROP_BONUS,
                    "Tenderness went down as you worked it: you found it.",
                );
            } else if h.max_tenderness.is_some_and(|t| t >= TENDER_THRESHOLD) {
                add(TENDER_BONUS, "You pressed this point and found it tender.");
            }
        }
    }
    out
}

fn plan_point(index: usize, p: &PointFacts, person: &Person) -> PlannedPoint {
    // The tools safe for this person on this point, owned or not.
    let usable = p
        .technique_tools
        .iter()
        .filter(|t| !p.excluded_tools.contains(t) && !person.tools_ruled_out.contains_key(*t));
    let tools: Vec<String> = usable
        .clone()
        .filter(|t| person.owned_tools.contains(*t))
        .cloned()
        .collect();
    let mut blocks = Vec::new();
    for t in &p.excluded_tools {
        if person.owned_tools.contains(t) {
            blocks.push(Block::ToolExcluded(t.clone()));
        }
    }
    for c in &p.excluded_conditions {
        if person.present_conditions.contains(c) {
            blocks.push(Block::ConditionExcluded(c.clone()));
        }
    }
    for t in &p.technique_tools {
        if let Some(conditions) = person.tools_ruled_out.get(t)
            && person.owned_tools.contains(t)
            && !p.excluded_tools.contains(t)
        {
            blocks.push(Block::ToolRuledOut(t.clone(), conditions.clone()));
        }
    }
    if person.remaining_today.get(&p.name).is_some_and(|r| *r <= 0) {
        blocks.push(Block::DailyLimitReached);
    }
    if tools.is_empty() {
        blocks.push(Block::NoOwnedTool(usable.cloned().collect()));
    }
    let max_pressure = [
        Some(person.max_safe_pressure),
        p.max_safe_pressure,
        person.condition_ceiling,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(person.max_safe_pressure);
    PlannedPoint {
        index,
        tools,
        blocks,
        max_pressure,
    }
}

#[cfg(test)]
mod tests;
