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
//! - Ties keep the catalog's order.
//! - Only techniques for tools the person owns are offered, never an
//!   excluded tool.
//! - Blocks: SCREENING_REQUIRED or CONTRAINDICATED for every point; per
//!   point TOOL_EXCLUDED (an owned tool must never be used there),
//!   CONDITION_EXCLUDED (a condition the person reported rules it out, even
//!   when a provider cleared massage in general), DAILY_LIMIT_REACHED (no
//!   session left today) and NO_OWNED_TOOL (no owned tool works it).

use std::collections::{HashMap, HashSet};

/// Tenderness (0-10) from which a pressed point counts as "found tender".
pub const TENDER_THRESHOLD: f64 = 3.0;
/// Score added for a point pressed and found tender.
pub const TENDER_BONUS: f64 = 0.5;
/// Score removed for a point worked a week without improvement.
pub const STALLED_PENALTY: f64 = 0.75;

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
    /// No session left today on this point.
    DailyLimitReached,
    /// No owned tool works this point.
    NoOwnedTool,
}

impl Block {
    /// The ErrorInfo reason the session service uses for the same refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Block::ScreeningRequired => "SCREENING_REQUIRED",
            Block::Contraindicated => "CONTRAINDICATED",
            Block::ToolExcluded(_) => "TOOL_EXCLUDED",
            Block::ConditionExcluded(_) => "CONDITION_EXCLUDED",
            Block::DailyLimitReached => "DAILY_LIMIT_REACHED",
            Block::NoOwnedTool => "NO_OWNED_TOOL",
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
            Block::DailyLimitReached => "No session left on this point today.".into(),
            Block::NoOwnedTool => "None of your tools works this point.".into(),
        }
    }
}

/// A point of a candidate, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PointFacts {
    /// `triggerPoints/{id}`.
    pub name: String,
    /// Tools with a technique for this point, in catalog order.
    pub technique_tools: Vec<String>,
    /// Tools that must never be used on it.
    pub excluded_tools: Vec<String>,
    /// Conditions that rule it out.
    pub excluded_conditions: Vec<String>,
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
    /// The next suspect after a stalled point.
    pub suggested_next: Option<String>,
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
    let mut ranked: Vec<Ranked> = candidates
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let base = if top > 0.0 { c.score / top } else { 0.0 };
            let mut adjustments = Vec::new();
            for p in &c.points {
                let Some(h) = person.history.get(&p.name) else {
                    continue;
                };
                let tender = h.max_tenderness.is_some_and(|t| t >= TENDER_THRESHOLD);
                match h.trend {
                    Trend::Stalled => adjustments.push(Adjustment {
                        point: p.name.clone(),
                        delta: -STALLED_PENALTY,
                        reason: "Worked for a week without improvement: try another suspect."
                            .into(),
                    }),
                    Trend::Improving | Trend::Unknown if tender => adjustments.push(Adjustment {
                        point: p.name.clone(),
                        delta: TENDER_BONUS,
                        reason: "You pressed this point and found it tender.".into(),
                    }),
                    _ => {}
                }
            }
            let score = base + adjustments.iter().map(|a| a.delta).sum::<f64>();
            let points = c
                .points
                .iter()
                .enumerate()
                .map(|(i, p)| plan_point(i, p, person))
                .collect();
            Ranked {
                index,
                score,
                adjustments,
                points,
            }
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
        .flat_map(|r| candidates[r.index].points.iter().map(|p| p.name.as_str()))
        .collect();
    let suggested_next = person.recent.iter().find(|p| stalled(p)).and_then(|stuck| {
        let alts = person
            .history
            .get(stuck)
            .map(|h| h.alternatives.as_slice())
            .unwrap_or(&[]);
        alts.iter()
            .find(|a| planned.contains(&a.as_str()) && !stalled(a) && *a != stuck)
            .or_else(|| alts.iter().find(|a| !stalled(a) && *a != stuck))
            .cloned()
            .or_else(|| {
                planned
                    .iter()
                    .find(|p| **p != stuck.as_str() && !stalled(p))
                    .map(|p| (*p).to_owned())
            })
    });
    Plan {
        ranked,
        blocks,
        suggested_next,
    }
}

fn plan_point(index: usize, p: &PointFacts, person: &Person) -> PlannedPoint {
    let tools: Vec<String> = p
        .technique_tools
        .iter()
        .filter(|t| person.owned_tools.contains(*t) && !p.excluded_tools.contains(t))
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
    if person.remaining_today.get(&p.name).is_some_and(|r| *r <= 0) {
        blocks.push(Block::DailyLimitReached);
    }
    if tools.is_empty() {
        blocks.push(Block::NoOwnedTool);
    }
    PlannedPoint {
        index,
        tools,
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, tools: &[&str]) -> PointFacts {
        PointFacts {
            name: name.into(),
            technique_tools: tools.iter().map(|t| (*t).into()).collect(),
            ..Default::default()
        }
    }

    fn cand(score: f64, points: &[&str]) -> Candidate {
        Candidate {
            score,
            points: points.iter().map(|p| point(p, &["tools/ball"])).collect(),
        }
    }

    fn person() -> Person {
        Person {
            owned_tools: ["tools/ball".to_owned()].into(),
            screening: ScreeningState::Cleared,
            present_conditions: HashSet::new(),
            history: HashMap::new(),
            recent: Vec::new(),
            remaining_today: HashMap::new(),
        }
    }

    fn hist(trend: Trend, tender: Option<f64>, alts: &[&str]) -> History {
        History {
            trend,
            max_tenderness: tender,
            alternatives: alts.iter().map(|a| (*a).into()).collect(),
        }
    }

    /// Checks the order of the candidates (by their first point's name)
    /// and the suggested next suspect.
    #[track_caller]
    fn check(
        candidates: &[Candidate],
        person: &Person,
        expected_order: &[&str],
        expected_next: Option<&str>,
    ) {
        let plan = plan(candidates, person, 10);
        let order: Vec<&str> = plan
            .ranked
            .iter()
            .map(|r| candidates[r.index].points[0].name.as_str())
            .collect();
        assert_eq!(order, expected_order);
        assert_eq!(plan.suggested_next.as_deref(), expected_next);
    }

    #[test]
    fn ranking_table() {
        let c = [cand(10.0, &["a"]), cand(8.0, &["b"]), cand(6.0, &["c"])];
        // No history: the catalog's order.
        check(&c, &person(), &["a", "b", "c"], None);

        // Pressed and found tender: rises.
        let mut p = person();
        p.history
            .insert("c".into(), hist(Trend::Unknown, Some(6.0), &[]));
        check(&c, &p, &["c", "a", "b"], None);

        // Pressed but not tender: stays.
        let mut p = person();
        p.history
            .insert("c".into(), hist(Trend::Unknown, Some(1.0), &[]));
        check(&c, &p, &["a", "b", "c"], None);

        // Improving and tender: rises too.
        let mut p = person();
        p.history
            .insert("b".into(), hist(Trend::Improving, Some(4.0), &[]));
        check(&c, &p, &["b", "a", "c"], None);

        // Worsening: no rise (the session service warns instead).
        let mut p = person();
        p.history
            .insert("c".into(), hist(Trend::Worsening, Some(8.0), &[]));
        check(&c, &p, &["a", "b", "c"], None);

        // Stalled a week: falls, and its alternative in the plan is next.
        let mut p = person();
        p.history
            .insert("a".into(), hist(Trend::Stalled, Some(5.0), &["x", "c"]));
        p.recent = vec!["a".into()];
        check(&c, &p, &["b", "c", "a"], Some("c"));

        // Stalled with no planned alternative: the first alternative.
        let mut p = person();
        p.history
            .insert("a".into(), hist(Trend::Stalled, None, &["x"]));
        p.recent = vec!["a".into()];
        check(&c, &p, &["b", "c", "a"], Some("x"));

        // Stalled with no alternative at all: the best other planned point.
        let mut p = person();
        p.history
            .insert("a".into(), hist(Trend::Stalled, None, &[]));
        p.recent = vec!["a".into()];
        check(&c, &p, &["b", "c", "a"], Some("b"));

        // An alternative that is itself stalled is skipped.
        let mut p = person();
        p.history
            .insert("a".into(), hist(Trend::Stalled, None, &["b", "c"]));
        p.history
            .insert("b".into(), hist(Trend::Stalled, None, &[]));
        p.recent = vec!["a".into(), "b".into()];
        check(&c, &p, &["c", "a", "b"], Some("c"));

        // Equal scores keep the catalog's order.
        let same = [cand(5.0, &["p"]), cand(5.0, &["q"])];
        check(&same, &person(), &["p", "q"], None);
    }

    #[test]
    fn truncates_after_reranking() {
        let c = [cand(10.0, &["a"]), cand(8.0, &["b"]), cand(6.0, &["c"])];
        let mut p = person();
        p.history
            .insert("c".into(), hist(Trend::Unknown, Some(6.0), &[]));
        let plan = plan(&c, &p, 2);
        assert_eq!(
            plan.ranked.iter().map(|r| r.index).collect::<Vec<_>>(),
            [2, 0]
        );
        assert_eq!(plan.ranked[0].adjustments.len(), 1);
        assert!(plan.ranked[0].adjustments[0].delta > 0.0);
    }

    #[track_caller]
    fn check_blocks(p: &PointFacts, person: &Person, tools: &[&str], blocks: &[Block]) {
        let planned = plan_point(0, p, person);
        assert_eq!(planned.tools, tools);
        assert_eq!(planned.blocks, blocks);
    }

    #[test]
    fn point_blocks_table() {
        let base = PointFacts {
            name: "triggerPoints/p".into(),
            technique_tools: vec![
                "tools/ball".into(),
                "tools/cane".into(),
                "tools/roller".into(),
            ],
            excluded_tools: vec!["tools/gun".into()],
            excluded_conditions: vec!["contraindications/pregnancy".into()],
        };
        let mut owner = person();
        owner.owned_tools = ["tools/ball".to_owned(), "tools/roller".to_owned()].into();
        // Only owned tools, in catalog order.
        check_blocks(&base, &owner, &["tools/ball", "tools/roller"], &[]);

        // Owns nothing that works it.
        let mut none = person();
        none.owned_tools = ["tools/band".to_owned()].into();
        check_blocks(&base, &none, &[], &[Block::NoOwnedTool]);

        // Owns an excluded tool: it is never offered and it is flagged.
        let mut gun = owner.clone();
        gun.owned_tools.insert("tools/gun".into());
        let mut listed = base.clone();
        listed.technique_tools.push("tools/gun".into());
        check_blocks(
            &listed,
            &gun,
            &["tools/ball", "tools/roller"],
            &[Block::ToolExcluded("tools/gun".into())],
        );

        // A reported condition rules it out.
        let mut preg = owner.clone();
        preg.present_conditions
            .insert("contraindications/pregnancy".into());
        check_blocks(
            &base,
            &preg,
            &["tools/ball", "tools/roller"],
            &[Block::ConditionExcluded(
                "contraindications/pregnancy".into(),
            )],
        );

        // Daily limit reached, and one session left.
        let mut done = owner.clone();
        done.remaining_today.insert("triggerPoints/p".into(), 0);
        check_blocks(
            &base,
            &done,
            &["tools/ball", "tools/roller"],
            &[Block::DailyLimitReached],
        );
        done.remaining_today.insert("triggerPoints/p".into(), 1);
        check_blocks(&base, &done, &["tools/ball", "tools/roller"], &[]);
    }

    #[test]
    fn global_blocks_table() {
        let c = [cand(1.0, &["a"])];
        for (state, expected) in [
            (ScreeningState::Cleared, vec![]),
            (ScreeningState::Required, vec![Block::ScreeningRequired]),
            (
                ScreeningState::Contraindicated,
                vec![Block::Contraindicated],
            ),
        ] {
            let mut p = person();
            p.screening = state;
            assert_eq!(plan(&c, &p, 10).blocks, expected, "{state:?}");
        }
        assert_eq!(Block::NoOwnedTool.reason(), "NO_OWNED_TOOL");
    }
}
