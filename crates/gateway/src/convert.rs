//! Protobuf <-> domain for the relief plan.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::session::v1 as ses;

use crate::domain::relief::{
    self, Candidate, HeldMuscle, History, Person, PointFacts, ScreeningState, StalledRegion, Trend,
};

/// The catalog's matches as domain candidates.
pub fn candidates(matches: &[cat::MuscleMatch]) -> Vec<Candidate> {
    matches
        .iter()
        .map(|m| Candidate {
            score: m.score,
            points: m
                .trigger_points
                .iter()
                .map(|tpm| {
                    // Only the facts the plan reads are copied, not the
                    // point's texts and pictures.
                    let empty = cat::TriggerPoint::default();
                    let tp = tpm.trigger_point.as_ref().unwrap_or(&empty);
                    PointFacts {
                        name: tp.name.clone(),
                        muscle: tp.muscle.clone(),
                        technique_tools: tp.techniques.iter().map(|t| t.tool.clone()).collect(),
                        excluded_tools: tp.excluded_tools.iter().map(|t| t.tool.clone()).collect(),
                        excluded_conditions: tp
                            .excluded_conditions
                            .iter()
                            .map(|c| c.contraindication.clone())
                            .collect(),
                        max_safe_pressure: u8::try_from(tp.max_safe_pressure)
                            .ok()
                            .filter(|v| *v > 0),
                    }
                })
                .collect(),
        })
        .collect()
}

fn trend(status: i32) -> Trend {
    match ses::ProgressStatus::try_from(status) {
        Ok(ses::ProgressStatus::Improving) => Trend::Improving,
        Ok(ses::ProgressStatus::NotImproving) => Trend::Stalled,
        Ok(ses::ProgressStatus::Worsening) => Trend::Worsening,
        _ => Trend::Unknown,
    }
}

/// What the journal says about the person.
pub fn person(
    profile: &ses::Profile,
    screening: &ses::Screening,
    progress: &[ses::PointProgress],
    day: &ses::GetDayResponse,
    holds: &[ses::Hold],
    conditions: &[cat::Contraindication],
    guidance: Option<&cat::TechniqueGuidance>,
) -> Person {
    let state = match ses::ScreeningStatus::try_from(screening.status) {
        Ok(ses::ScreeningStatus::Cleared) => ScreeningState::Cleared,
        Ok(ses::ScreeningStatus::Contraindicated) => ScreeningState::Contraindicated,
        _ => ScreeningState::Required,
    };
    let history = progress
        .iter()
        .map(|p| {
            let max_tenderness = p
                .days
                .iter()
                .filter_map(|d| d.mean_tenderness_before)
                .fold(None, |acc: Option<f64>, t| {
                    Some(acc.map_or(t, |a| a.max(t)))
                });
            (
                p.trigger_point.clone(),
                History {
                    trend: trend(p.status),
                    max_tenderness,
                    alternatives: p.alternative_trigger_points.clone(),
                    twitch: p.twitch_reported,
                    tenderness_change: p.tenderness_change,
                },
            )
        })
        .collect();
    // The same rules as the session's `tool_ruled_out_by` and
    // `pressure_ceiling`: a tool ruled out by a present condition stays out
    // after clearance; a condition's ceiling holds until a provider clears it.
    let answers: HashMap<&str, &ses::ScreeningAnswer> = screening
        .answers
        .iter()
        .filter(|a| a.present)
        .map(|a| (a.contraindication.as_str(), a))
        .collect();
    let mut tools_ruled_out: HashMap<String, Vec<String>> = HashMap::new();
    let mut condition_ceiling: Option<u8> = None;
    for c in conditions {
        let Some(a) = answers.get(c.name.as_str()) else {
            continue;
        };
        for t in &c.excluded_tools {
            tools_ruled_out
                .entry(t.tool.clone())
                .or_default()
                .push(c.name.clone());
        }
        if !a.cleared_by_provider
            && let Ok(v) = u8::try_from(c.max_pressure_until_cleared)
            && v > 0
        {
            condition_ceiling = Some(condition_ceiling.map_or(v, |x| x.min(v)));
        }
    }
    Person {
        tools_ruled_out,
        condition_ceiling,
        max_safe_pressure: guidance
            .and_then(|g| u8::try_from(g.max_safe_pressure).ok())
            .filter(|v| *v > 0)
            .unwrap_or(DEFAULT_MAX_PRESSURE),
        owned_tools: profile.tools.iter().cloned().collect(),
        screening: state,
        present_conditions: screening
            .answers
            .iter()
            .filter(|a| a.present)
            .map(|a| a.contraindication.clone())
            .collect::<HashSet<_>>(),
        history,
        recent: progress.iter().map(|p| p.trigger_point.clone()).collect(),
        remaining_today: day
            .allowances
            .iter()
            .map(|a| (a.trigger_point.clone(), a.sessions_remaining))
            .collect(),
        held: holds
            .iter()
            .filter(|h| h.active)
            .map(|h| {
                (
                    h.muscle.clone(),
                    HeldMuscle {
                        why: h.why.clone(),
                        advice: h.advice.clone(),
                    },
                )
            })
            .collect(),
        stalled_regions: Vec::new(),
    }
}

/// The seed's ceiling, when the catalog's guidance is missing.
const DEFAULT_MAX_PRESSURE: u8 = 7;

/// The requested regions whose pain check-ins are not better after a
/// consistent week (the session's region week rule).
pub fn stalled_regions(
    regions: &[ses::RegionProgress],
    resolved: &[cat::ResolvedLocation],
) -> Vec<StalledRegion> {
    let asked: HashSet<&str> = resolved.iter().map(|r| r.region.as_str()).collect();
    regions
        .iter()
        .filter(|r| {
            r.status == ses::ProgressStatus::NotImproving as i32
                && asked.contains(r.region.as_str())
        })
        .map(|r| StalledRegion {
            region: r.region.clone(),
            summary: r.summary.clone(),
            tried: r.tried_trigger_points.iter().cloned().collect(),
        })
        .collect()
}

/// The worked points not to recommend now: on hold or worsening (GetToday).
pub fn set_aside_progress(progress: &[ses::PointProgress]) -> Vec<gw::SetAsidePoint> {
    progress
        .iter()
        .filter_map(|p| {
            if let Some(h) = p.hold.as_ref().filter(|h| h.active) {
                return Some(gw::SetAsidePoint {
                    trigger_point: p.trigger_point.clone(),
                    reason: "POINT_ON_HOLD".into(),
                    message: format!("On hold: {}", h.why),
                    advice: h.advice.clone(),
                    hold: Some(h.clone()),
                });
            }
            (p.status == ses::ProgressStatus::Worsening as i32).then(|| gw::SetAsidePoint {
                trigger_point: p.trigger_point.clone(),
                reason: "WORSENING".into(),
                message: "Tenderness on this point is going up.".into(),
                advice: "Stop working it and seek medical attention.".into(),
                hold: None,
            })
        })
        .collect()
}

/// Everything the relief plan is built from.
pub struct Inputs {
    /// The catalog's answer, shared with the gateway's other callers of the
    /// same question (`service::view`): only what the plan keeps is copied.
    pub pain: Arc<cat::FindByPainResponse>,
    /// The technique guidance.
    pub guidance: Option<cat::TechniqueGuidance>,
    /// The caller's profile.
    pub profile: ses::Profile,
    /// The caller's screening.
    pub screening: ses::Screening,
    /// Progress per point.
    pub progress: Vec<ses::PointProgress>,
    /// Today.
    pub day: ses::GetDayResponse,
    /// The caller's active holds.
    pub holds: Vec<ses::Hold>,
    /// The catalog's screening conditions (tool limits, pressure ceilings).
    pub conditions: Arc<cat::ListContraindicationsResponse>,
    /// The catalog's tools (their display names, for the blocks that name
    /// one).
    pub tools: Arc<cat::ListToolsResponse>,
    /// The caller's pain per region, with each region's week rule.
    pub regions: Vec<ses::RegionProgress>,
}

fn block(b: &relief::Block) -> gw::Block {
    gw::Block {
        reason: b.reason().to_owned(),
        message: b.message(),
        tool: b.tool().unwrap_or_default().to_owned(),
    }
}

/// A point's block, its message completed with the catalog's own reason
/// and led by the tool's name when it concerns one tool (people see
/// "Massage gun: never use it on this point. ...", never
/// `tools/massage_gun`).
fn point_block(
    b: &relief::Block,
    tp: &cat::TriggerPoint,
    conditions: &[cat::Contraindication],
    tools: &[cat::Tool],
) -> gw::Block {
    let tool_name = |t: &String| {
        tools
            .iter()
            .find(|x| &x.name == t)
            .map(|x| x.display_name.as_str())
            .filter(|n| !n.is_empty())
    };
    // The block's plain message, naming the tool when the catalog does.
    let mut plain = block(b);
    match b {
        relief::Block::ToolExcluded(t) => {
            if let Some(name) = tool_name(t) {
                plain.message = format!("{name}: never use it on this point.");
            }
        }
        relief::Block::ToolRuledOut(t, _) => {
            if let Some(name) = tool_name(t) {
                plain.message =
                    format!("{name}: a condition you reported rules it out, even with clearance.");
            }
        }
        relief::Block::NoOwnedTool(would) => {
            let names: Vec<&str> = would.iter().filter_map(tool_name).collect();
            if !names.is_empty() {
                // Semicolons: a tool's name may hold commas ("A partner's
                // hands, knuckles, elbows or heel").
                plain.message = format!(
                    "None of your tools works this point. It can be worked with: {}.",
                    names.join("; ")
                );
            }
        }
        _ => {}
    }
    with_reason(b, plain, tp, conditions)
}

/// `out` (a block's plain message) completed with the catalog's reason.
fn with_reason(
    b: &relief::Block,
    mut out: gw::Block,
    tp: &cat::TriggerPoint,
    conditions: &[cat::Contraindication],
) -> gw::Block {
    if let relief::Block::ToolRuledOut(tool, ids) = b {
        let mut names = Vec::new();
        let mut whys = Vec::new();
        for c in conditions.iter().filter(|c| ids.contains(&c.name)) {
            names.push(c.display_name.as_str());
            if let Some(x) = c.excluded_tools.iter().find(|x| &x.tool == tool) {
                whys.push(x.reason.as_str());
            }
        }
        if !names.is_empty() {
            out.message = format!(
                "{} ({}): {}",
                out.message.trim_end_matches('.'),
                names.join(", "),
                whys.join(" ")
            );
        }
        return out;
    }
    let why = match b {
        relief::Block::ToolExcluded(t) => tp
            .excluded_tools
            .iter()
            .find(|x| &x.tool == t)
            .map(|x| x.reason.as_str()),
        relief::Block::ConditionExcluded(c) => tp
            .excluded_conditions
            .iter()
            .find(|x| &x.contraindication == c)
            .map(|x| x.reason.as_str()),
        _ => None,
    };
    if let Some(why) = why.filter(|w| !w.is_empty()) {
        out.message = format!("{} {why}", out.message);
    }
    out
}

/// Builds the response from the inputs and the domain plan. Of the
/// catalog's answer (shared, not owned), only the matches and points the
/// plan keeps are copied into the answer (each ranked candidate names its
/// own match, each planned point its own point).
pub fn relief_plan(inputs: Inputs, max: usize) -> gw::GetReliefPlanResponse {
    let cands = candidates(&inputs.pain.matches);
    let mut person = person(
        &inputs.profile,
        &inputs.screening,
        &inputs.progress,
        &inputs.day,
        &inputs.holds,
        &inputs.conditions.contraindications,
        inputs.guidance.as_ref(),
    );
    person.stalled_regions = stalled_regions(&inputs.regions, &inputs.pain.resolved_locations);
    let plan = relief::plan(&cands, &person, max);
    let progress: HashMap<&str, &ses::PointProgress> = inputs
        .progress
        .iter()
        .map(|p| (p.trigger_point.as_str(), p))
        .collect();
    let allowances: HashMap<&str, &ses::PointAllowance> = inputs
        .day
        .allowances
        .iter()
        .map(|a| (a.trigger_point.as_str(), a))
        .collect();
    let candidates = plan
        .ranked
        .iter()
        .filter_map(|r| {
            let kept = inputs.pain.matches.get(r.index)?;
            // Only the points the plan kept (a worsening point is set aside).
            let mut m = cat::MuscleMatch {
                muscle: kept.muscle.clone(),
                score: kept.score,
                trigger_points: r
                    .points
                    .iter()
                    .filter_map(|p| kept.trigger_points.get(p.index).cloned())
                    .collect(),
                explained_regions: kept.explained_regions.clone(),
                explained_symptoms: kept.explained_symptoms.clone(),
                primary: kept.primary,
            };
            let mut points = Vec::new();
            for (tpm, planned) in m.trigger_points.iter_mut().zip(&r.points) {
                let tp = tpm.trigger_point.get_or_insert_with(Default::default);
                // Only techniques for owned, non-excluded tools, in the match too.
                tp.techniques.retain(|t| planned.tools.contains(&t.tool));
                points.push(gw::PlannedPoint {
                    trigger_point: tp.name.clone(),
                    techniques: tp.techniques.clone(),
                    progress: progress.get(tp.name.as_str()).map(|p| (*p).clone()),
                    allowance: allowances.get(tp.name.as_str()).map(|a| (*a).clone()),
                    blocks: planned
                        .blocks
                        .iter()
                        .map(|b| {
                            point_block(
                                b,
                                tp,
                                &inputs.conditions.contraindications,
                                &inputs.tools.tools,
                            )
                        })
                        .collect(),
                    max_pressure: i32::from(planned.max_pressure),
                });
            }
            Some(gw::ReliefCandidate {
                r#match: Some(m),
                catalog_rank: i32::try_from(r.index + 1).unwrap_or(i32::MAX),
                personal_score: r.score,
                adjustments: r
                    .adjustments
                    .iter()
                    .map(|a| gw::RankAdjustment {
                        trigger_point: a.point.clone(),
                        delta: a.delta,
                        reason: a.reason.clone(),
                    })
                    .collect(),
                points,
            })
        })
        .collect();
    gw::GetReliefPlanResponse {
        candidates,
        screening: Some(inputs.screening),
        red_flags: inputs.pain.red_flags.clone(),
        blocks: plan.blocks.iter().map(block).collect(),
        guidance: inputs.guidance,
        owned_tools: inputs.profile.tools,
        suggested_next: plan.suggested_next.unwrap_or_default(),
        suggested_next_reason: plan.next_reason,
        resolved_locations: inputs.pain.resolved_locations.clone(),
        catalog_version: inputs.pain.catalog_version.clone(),
        set_aside: plan
            .set_aside
            .iter()
            .map(|s| gw::SetAsidePoint {
                trigger_point: s.point.clone(),
                reason: s.reason().to_owned(),
                message: s.message.clone(),
                advice: s.advice.clone(),
                hold: s
                    .held_muscle
                    .as_ref()
                    .and_then(|m| inputs.holds.iter().find(|h| h.active && h.muscle == *m))
                    .cloned(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::relief::Block;

    /// People never see raw ids: a point's block says what and why in the
    /// catalog's words; the resource name stays out of the message.
    #[test]
    fn point_blocks_carry_the_catalogs_reason_not_ids() {
        let tp = cat::TriggerPoint {
            name: "triggerPoints/gluteus_maximus".into(),
            excluded_tools: vec![cat::ToolExclusion {
                tool: "tools/massage_gun".into(),
                reason: "The sciatic nerve runs under this point.".into(),
            }],
            excluded_conditions: vec![cat::ConditionExclusion {
                contraindication: "contraindications/pregnancy".into(),
                reason: "No pressure on the belly in pregnancy.".into(),
            }],
            ..Default::default()
        };
        let conditions = [cat::Contraindication {
            name: "contraindications/blood_thinners".into(),
            display_name: "Blood thinners".into(),
            excluded_tools: vec![cat::ToolExclusion {
                tool: "tools/massage_gun".into(),
                reason: "Percussion bruises easily.".into(),
            }],
            ..Default::default()
        }];
        let tools = [
            cat::Tool {
                name: "tools/massage_gun".into(),
                display_name: "Massage gun".into(),
                ..Default::default()
            },
            cat::Tool {
                name: "tools/partner".into(),
                display_name: "A partner's hands, knuckles or elbows".into(),
                ..Default::default()
            },
        ];
        // `tool` names the tool a block rules out, and only then.
        let check = |b: Block, reason: &str, tool: &str, why: &str| {
            let got = point_block(&b, &tp, &conditions, &tools);
            assert_eq!(got.reason, reason);
            assert_eq!(got.tool, tool, "{b:?}");
            assert!(got.message.ends_with(why), "{}", got.message);
            for raw in ["tools/", "contraindications/", "triggerPoints/"] {
                assert!(!got.message.contains(raw), "{}", got.message);
            }
        };
        check(
            Block::ToolExcluded("tools/massage_gun".into()),
            "TOOL_EXCLUDED",
            "tools/massage_gun",
            "The sciatic nerve runs under this point.",
        );
        // A block on one tool leads with the tool's name.
        let named = point_block(
            &Block::ToolExcluded("tools/massage_gun".into()),
            &tp,
            &conditions,
            &tools,
        );
        assert_eq!(
            named.message,
            "Massage gun: never use it on this point. The sciatic nerve runs under this point."
        );
        let ruled_out = point_block(
            &Block::ToolRuledOut(
                "tools/massage_gun".into(),
                vec!["contraindications/blood_thinners".into()],
            ),
            &tp,
            &conditions,
            &tools,
        );
        assert!(
            ruled_out
                .message
                .starts_with("Massage gun: a condition you reported"),
            "{}",
            ruled_out.message
        );
        // A tool the catalog does not name keeps the plain message.
        let unnamed = point_block(
            &Block::ToolExcluded("tools/foam_roller".into()),
            &tp,
            &conditions,
            &tools,
        );
        assert_eq!(unnamed.message, "Never use this tool on this point.");
        assert_eq!(unnamed.tool, "tools/foam_roller");
        check(
            Block::ConditionExcluded("contraindications/pregnancy".into()),
            "CONDITION_EXCLUDED",
            "",
            "No pressure on the belly in pregnancy.",
        );
        // A tool a condition rules out names the condition and its reason.
        check(
            Block::ToolRuledOut(
                "tools/massage_gun".into(),
                vec!["contraindications/blood_thinners".into()],
            ),
            "CONDITION_EXCLUDED",
            "tools/massage_gun",
            "(Blood thinners): Percussion bruises easily.",
        );
        // A block without a catalog reason keeps its plain message.
        check(
            Block::DailyLimitReached,
            "DAILY_LIMIT_REACHED",
            "",
            "No session left on this point today.",
        );
        // No owned tool: the tools that would work it, by name, when the
        // catalog names them.
        check(
            Block::NoOwnedTool(vec![
                "tools/massage_gun".into(),
                "tools/unnamed".into(),
                "tools/partner".into(),
            ]),
            "NO_OWNED_TOOL",
            "",
            "None of your tools works this point. It can be worked with: Massage gun; \
             A partner's hands, knuckles or elbows.",
        );
        check(
            Block::NoOwnedTool(vec!["tools/unnamed".into()]),
            "NO_OWNED_TOOL",
            "",
            "None of your tools works this point.",
        );
        // The blocks on every point name no tool.
        for b in [Block::ScreeningRequired, Block::Contraindicated] {
            assert_eq!(block(&b).tool, "", "{b:?}");
        }
    }
}
