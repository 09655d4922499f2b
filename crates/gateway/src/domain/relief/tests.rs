use super::*;

fn point(name: &str, tools: &[&str]) -> PointFacts {
    PointFacts {
        name: name.into(),
        technique_tools: tools.iter().map(|t| (*t).into()).collect(),
        ..Default::default()
    }
}

/// A candidate muscle named after its first point.
fn cand(score: f64, points: &[&str]) -> Candidate {
    let muscle = format!("muscles/{}", points[0]);
    Candidate {
        score,
        points: points
            .iter()
            .map(|p| PointFacts {
                muscle: muscle.clone(),
                ..point(p, &["tools/ball"])
            })
            .collect(),
    }
}

fn held(why: &str) -> HeldMuscle {
    HeldMuscle {
        why: why.into(),
        advice: "See a provider.".into(),
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
        held: HashMap::new(),
        tools_ruled_out: HashMap::new(),
        max_safe_pressure: 7,
        condition_ceiling: None,
        stalled_regions: Vec::new(),
    }
}

fn hist(trend: Trend, tender: Option<f64>, alts: &[&str]) -> History {
    History {
        trend,
        max_tenderness: tender,
        alternatives: alts.iter().map(|a| (*a).into()).collect(),
        twitch: false,
        tenderness_change: None,
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

    // Worsening: never recommended (set aside).
    let mut p = person();
    p.history
        .insert("c".into(), hist(Trend::Worsening, Some(8.0), &[]));
    check(&c, &p, &["a", "b"], None);

    // A twitch response: "you found it", even when not tender.
    let mut p = person();
    let mut h = hist(Trend::Unknown, None, &[]);
    h.twitch = true;
    p.history.insert("c".into(), h);
    check(&c, &p, &["c", "a", "b"], None);

    // Tenderness came down across sessions: found it.
    let mut p = person();
    let mut h = hist(Trend::Improving, Some(2.0), &[]);
    h.tenderness_change = Some(-2.0);
    p.history.insert("b".into(), h.clone());
    check(&c, &p, &["b", "a", "c"], None);
    // A drop smaller than the threshold is not enough.
    h.tenderness_change = Some(-0.5);
    p.history.insert("b".into(), h);
    check(&c, &p, &["a", "b", "c"], None);

    // A held muscle leaves the plan even when it was found tender, and
    // is never the next suspect.
    let mut p = person();
    p.history
        .insert("a".into(), hist(Trend::Unknown, Some(9.0), &[]));
    p.held.insert("muscles/a".into(), held("Sharp pain."));
    check(&c, &p, &["b", "c"], None);
    let mut p = person();
    p.history
        .insert("b".into(), hist(Trend::Stalled, None, &["a", "c"]));
    p.recent = vec!["b".into()];
    p.held.insert("muscles/a".into(), held("Sharp pain."));
    check(&c, &p, &["c", "b"], Some("c"));
    // A worsening alternative is never the next suspect either.
    let mut p = person();
    p.history
        .insert("b".into(), hist(Trend::Stalled, None, &["a", "c"]));
    p.history
        .insert("a".into(), hist(Trend::Worsening, None, &[]));
    p.recent = vec!["b".into()];
    check(&c, &p, &["c", "b"], Some("c"));

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
fn set_aside_points_say_why() {
    let c = [cand(10.0, &["a", "a2"]), cand(8.0, &["b", "b2"])];
    let mut p = person();
    p.held.insert("muscles/a".into(), held("Sharp pain on a."));
    p.history
        .insert("b2".into(), hist(Trend::Worsening, Some(4.0), &[]));
    let plan = plan(&c, &p, 10);
    let aside: Vec<_> = plan
        .set_aside
        .iter()
        .map(|s| (s.point.as_str(), s.reason()))
        .collect();
    assert_eq!(
        aside,
        [
            ("a", "POINT_ON_HOLD"),
            ("a2", "POINT_ON_HOLD"),
            ("b2", "WORSENING")
        ]
    );
    assert!(plan.set_aside[0].message.contains("Sharp pain on a."));
    assert_eq!(plan.ranked.len(), 1);
    let kept: Vec<_> = plan.ranked[0].points.iter().map(|p| p.index).collect();
    assert_eq!(kept, [0], "b2 left its candidate");
}

/// Property: over random histories, holds and plans, no held or
/// worsening point is ever recommended, as a candidate's point or as the
/// next suspect.
#[test]
fn never_recommends_a_held_or_worsening_point() {
    let names: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
    for seed in 0..2000 {
        let mut rng = fastrand::Rng::with_seed(seed);
        // Point p{i} lies in muscle m{i % 6}, as in a real chart.
        let candidates: Vec<Candidate> = (0..rng.usize(1..6))
            .map(|m| Candidate {
                score: rng.f64() * 10.0,
                points: (0..rng.usize(1..3))
                    .map(|k| PointFacts {
                        name: names[m + 6 * k].clone(),
                        muscle: format!("muscles/m{m}"),
                        technique_tools: vec!["tools/ball".into()],
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect();
        let mut p = person();
        for n in &names {
            if rng.bool() {
                let trend = [
                    Trend::Unknown,
                    Trend::Improving,
                    Trend::Stalled,
                    Trend::Worsening,
                ][rng.usize(..4)];
                let alts: Vec<&str> = (0..rng.usize(0..4))
                    .map(|_| names[rng.usize(..names.len())].as_str())
                    .collect();
                let mut h = hist(trend, Some(rng.f64() * 10.0), &alts);
                h.twitch = rng.bool();
                h.tenderness_change = Some(rng.f64() * 6.0 - 3.0);
                p.history.insert(n.clone(), h);
                p.recent.push(n.clone());
            }
        }
        for m in 0..6 {
            if rng.u8(..4) == 0 {
                p.held.insert(format!("muscles/m{m}"), held("x"));
            }
        }
        // The session service never lists a point of a held muscle as an
        // alternative (progress::fill_alternatives); worsening ones are
        // left in, so the plan must filter them itself.
        let held_muscles = p.held.clone();
        for h in p.history.values_mut() {
            h.alternatives.retain(|a| {
                let i: usize = a[1..].parse().unwrap_or(0);
                !held_muscles.contains_key(&format!("muscles/m{}", i % 6))
            });
        }
        let bad = |n: &str| {
            let i: usize = n[1..].parse().unwrap_or(0);
            p.held.contains_key(&format!("muscles/m{}", i % 6)) || p.worsening(n)
        };
        let got = plan(&candidates, &p, rng.usize(1..10));
        for r in &got.ranked {
            for pp in &r.points {
                let pt = &candidates[r.index].points[pp.index];
                assert!(
                    !p.held.contains_key(&pt.muscle) && !p.worsening(&pt.name),
                    "seed {seed}: recommended {}",
                    pt.name
                );
            }
        }
        if let Some(next) = &got.suggested_next {
            assert!(!bad(next), "seed {seed}: next suspect {next}");
        }
    }
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

#[track_caller]
fn check_ceiling(point: Option<u8>, condition: Option<u8>, expected: u8) {
    let p = PointFacts {
        max_safe_pressure: point,
        ..point_facts_with_ball()
    };
    let mut who = person();
    who.condition_ceiling = condition;
    assert_eq!(plan_point(0, &p, &who).max_pressure, expected);
}

fn point_facts_with_ball() -> PointFacts {
    point("triggerPoints/p", &["tools/ball"])
}

#[test]
fn pressure_ceiling_table() {
    // The guidance's ceiling, unless the place or a condition is lower.
    check_ceiling(None, None, 7);
    check_ceiling(Some(4), None, 4);
    check_ceiling(None, Some(3), 3);
    check_ceiling(Some(4), Some(3), 3);
    check_ceiling(Some(3), Some(4), 3);
}

#[test]
fn point_blocks_table() {
    let base = PointFacts {
        name: "triggerPoints/p".into(),
        muscle: "muscles/m".into(),
        technique_tools: vec![
            "tools/ball".into(),
            "tools/cane".into(),
            "tools/roller".into(),
        ],
        excluded_tools: vec!["tools/gun".into()],
        excluded_conditions: vec!["contraindications/pregnancy".into()],
        max_safe_pressure: None,
    };
    let mut owner = person();
    owner.owned_tools = ["tools/ball".to_owned(), "tools/roller".to_owned()].into();
    // Only owned tools, in catalog order.
    check_blocks(&base, &owner, &["tools/ball", "tools/roller"], &[]);

    // Owns nothing that works it.
    let mut none = person();
    none.owned_tools = ["tools/band".to_owned()].into();
    // The block names the tools that would work it.
    check_blocks(
        &base,
        &none,
        &[],
        &[Block::NoOwnedTool(vec![
            "tools/ball".into(),
            "tools/cane".into(),
            "tools/roller".into(),
        ])],
    );

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

    // A condition rules an owned tool out everywhere: never offered,
    // and said why; a tool not owned is not mentioned.
    let mut thin = owner.clone();
    thin.tools_ruled_out.insert(
        "tools/roller".into(),
        vec!["contraindications/osteoporosis".into()],
    );
    thin.tools_ruled_out.insert(
        "tools/cane".into(),
        vec!["contraindications/osteoporosis".into()],
    );
    check_blocks(
        &base,
        &thin,
        &["tools/ball"],
        &[Block::ToolRuledOut(
            "tools/roller".into(),
            vec!["contraindications/osteoporosis".into()],
        )],
    );
    // The only owned tool ruled out: nothing left to use.
    thin.owned_tools = ["tools/roller".to_owned()].into();
    check_blocks(
        &base,
        &thin,
        &[],
        &[
            Block::ToolRuledOut(
                "tools/roller".into(),
                vec!["contraindications/osteoporosis".into()],
            ),
            // The roller and the cane are ruled out for this person: only
            // the ball would do.
            Block::NoOwnedTool(vec!["tools/ball".into()]),
        ],
    );
}

fn stalled_region(tried: &[&str]) -> StalledRegion {
    StalledRegion {
        region: "regions/low_back".into(),
        summary: "low back: 6 -> 6 over 6 days".into(),
        tried: tried.iter().map(|t| (*t).to_owned()).collect(),
    }
}

#[test]
fn stalled_region_table() {
    let c = [
        cand(10.0, &["a", "a2"]),
        cand(9.0, &["b"]),
        cand(8.0, &["c"]),
    ];
    // The tried muscle sinks; the next suspect is the best untried one.
    let mut p = person();
    p.stalled_regions = vec![stalled_region(&["a"])];
    check(&c, &p, &["b", "c", "a"], Some("b"));
    let plan = plan(&c, &p, 10);
    assert!(
        plan.next_reason.contains("low back: 6 -> 6"),
        "{}",
        plan.next_reason
    );
    let sunk = plan.ranked.iter().find(|r| r.index == 0).unwrap();
    assert_eq!(sunk.adjustments.len(), 1, "once per muscle");

    // Two muscles tried: the third is next.
    p.stalled_regions = vec![stalled_region(&["a2", "b"])];
    check(&c, &p, &["c", "a", "b"], Some("c"));

    // The untried muscle is held or worsening: never suggested.
    let mut held = p.clone();
    held.held
        .insert("muscles/c".into(), self::held("Sharp pain."));
    check(&c, &held, &["a", "b"], None);
    let mut worse = p.clone();
    worse
        .history
        .insert("c".into(), hist(Trend::Worsening, Some(7.0), &[]));
    check(&c, &worse, &["a", "b"], None);
    assert!(plan_next_reason(&c, &worse).is_empty());

    // A stalled point comes first, with its own reason.
    let mut both = p.clone();
    both.history
        .insert("a".into(), hist(Trend::Stalled, Some(5.0), &["b"]));
    both.recent = vec!["a".into()];
    // b was tried in the region's week, so the next is c.
    check(&c, &both, &["c", "b", "a"], Some("c"));
    assert!(plan_next_reason(&c, &both).contains("worked for a week"));

    // Without a stalled region nothing moves.
    check(&c, &person(), &["a", "b", "c"], None);
    assert!(plan_next_reason(&c, &person()).is_empty());
}

fn plan_next_reason(c: &[Candidate], p: &Person) -> String {
    plan(c, p, 10).next_reason
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
    assert_eq!(Block::NoOwnedTool(Vec::new()).reason(), "NO_OWNED_TOOL");
}

#[test]
fn only_a_block_on_one_tool_names_it() {
    let gun = || "tools/gun".to_owned();
    for (block, tool) in [
        (Block::ToolExcluded(gun()), Some("tools/gun")),
        (
            Block::ToolRuledOut(gun(), vec!["contraindications/blood_thinners".into()]),
            Some("tools/gun"),
        ),
        (
            Block::ConditionExcluded("contraindications/pregnancy".into()),
            None,
        ),
        (Block::ScreeningRequired, None),
        (Block::Contraindicated, None),
        (Block::DailyLimitReached, None),
        (Block::NoOwnedTool(vec![gun()]), None),
    ] {
        assert_eq!(block.tool(), tool, "{block:?}");
    }
}
