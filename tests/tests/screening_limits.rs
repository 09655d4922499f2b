//! The screening's LIMITS conditions end to end, through the gateway: a
//! person who reports pregnancy is not blocked, but the belly point is
//! refused (FAILED_PRECONDITION, ErrorInfo `CONDITION_EXCLUDED`, ids in the
//! metadata and display names in the message), guided sessions elsewhere aim
//! for the gentle ceiling, and a logged session above it is kept with a
//! warning. Blood thinners rule the massage gun out everywhere.

// Helpers outside `#[test]` functions: a panic there is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic_types::StatusExt as _;

/// Answers every screening condition for `user`: `present` ones yes, none
/// cleared.
async fn screen(stack: &TestStack, user: &str, present: &[&str]) -> ses::Screening {
    screen_cleared(stack, user, present, &[]).await
}

/// Answers every screening condition for `user`: `present` ones yes, and of
/// those the `cleared` ones cleared by a provider.
async fn screen_cleared(
    stack: &TestStack,
    user: &str,
    present: &[&str],
    cleared: &[&str],
) -> ses::Screening {
    let conditions = stack
        .catalog()
        .await
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .contraindications;
    assert!(
        conditions
            .iter()
            .any(|c| c.effect == cat::ScreeningEffect::Limits as i32),
        "the catalog has LIMITS conditions"
    );
    stack
        .session()
        .await
        .submit_screening(
            stack.as_user(
                user,
                ses::SubmitScreeningRequest {
                    answers: conditions
                        .iter()
                        .map(|c| {
                            let cleared = cleared.contains(&c.name.as_str());
                            ses::ScreeningAnswer {
                                contraindication: c.name.clone(),
                                present: present.contains(&c.name.as_str()),
                                cleared_by_provider: cleared,
                                cleared_date: if cleared {
                                    "2026-01-05".into()
                                } else {
                                    String::new()
                                },
                            }
                        })
                        .collect(),
                },
            ),
        )
        .await
        .unwrap()
        .into_inner()
        .screening
        .unwrap()
}

async fn start(
    stack: &TestStack,
    user: &str,
    point: &str,
    tool: &str,
) -> Result<ses::GuidedSession, tonic::Status> {
    stack
        .session()
        .await
        .start_guided_session(stack.as_user(
            user,
            ses::StartGuidedSessionRequest {
                request_id: format!("{user}-{point}-{tool}"),
                trigger_point: format!("triggerPoints/{point}"),
                tool: format!("tools/{tool}"),
                side: cat::Side::Right as i32,
                duration_seconds: 0,
            },
        ))
        .await
        .map(|r| r.into_inner().guided_session.unwrap())
}

#[track_caller]
fn condition_excluded(s: &tonic::Status, condition: &str) {
    assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s:?}");
    let info = s.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "CONDITION_EXCLUDED");
    assert_eq!(info.metadata["conditions"], condition);
    // People never see raw ids: the message is for them, the metadata for
    // machines.
    for raw in ["contraindications/", "tools/", "triggerPoints/"] {
        assert!(!s.message().contains(raw), "{}", s.message());
    }
}

#[tokio::test]
async fn limits_conditions_refuse_what_they_concern_through_the_gateway() {
    let stack = TestStack::start().await;
    let pregnancy = "contraindications/pregnancy";

    // Pregnancy limits self-massage; it does not rule it out.
    let s = screen(&stack, "pat", &[pregnancy]).await;
    assert_eq!(s.status(), ses::ScreeningStatus::Cleared, "{s:?}");
    assert!(s.blocking.is_empty());

    // The belly point is refused, with the reason and the condition.
    let refused = start(&stack, "pat", "iliopsoas_psoas", "fingers")
        .await
        .unwrap_err();
    condition_excluded(&refused, pregnancy);

    // Elsewhere a guided session starts, aiming for the gentle ceiling
    // until a provider clears firm pressure.
    let g = start(
        &stack,
        "pat",
        "quadratus_lumborum_superficial",
        "tennis_ball",
    )
    .await
    .unwrap();
    assert_eq!(g.target_pressure, 3);

    // A session logged above the ceiling is kept, with a warning that names
    // the condition.
    let logged = stack
        .session()
        .await
        .log_session(stack.as_user(
            "pat",
            ses::LogSessionRequest {
                request_id: "pat-log-1".into(),
                session: Some(ses::SessionRecord {
                    trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
                    tool: "tools/tennis_ball".into(),
                    side: cat::Side::Left as i32,
                    pressure: 5,
                    duration_seconds: 180,
                    pain_quality: ses::PainQuality::Aching as i32,
                    perform_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let w = logged
        .warnings
        .iter()
        .find(|w| w.code() == ses::WarningCode::PressureTooHigh)
        .expect("a pressure warning");
    assert!(w.message.contains("Pregnancy"), "{}", w.message);

    // Blood thinners rule the massage gun out, on a point that takes one.
    screen(&stack, "kim", &["contraindications/blood_thinners"]).await;
    let refused = start(&stack, "kim", "gastrocnemius_medial", "massage_gun")
        .await
        .unwrap_err();
    condition_excluded(&refused, "contraindications/blood_thinners");
    assert_eq!(
        refused.get_details_error_info().unwrap().metadata["tool"],
        "tools/massage_gun"
    );
    // The same point with the fingers is fine.
    start(&stack, "kim", "gastrocnemius_medial", "fingers")
        .await
        .unwrap();
}

/// Every tool of the chart, owned.
const ALL_TOOLS: [&str; 10] = [
    "fingers",
    "knuckles_elbows",
    "partner",
    "lacrosse_ball",
    "tennis_ball",
    "golf_ball",
    "ql_claw",
    "foam_roller",
    "massage_gun",
    "back_buddy",
];

async fn own_every_tool(stack: &TestStack, user: &str) {
    stack
        .session()
        .await
        .update_profile(stack.as_user(
            user,
            ses::UpdateProfileRequest {
                profile: Some(ses::Profile {
                    time_zone: "Europe/Berlin".into(),
                    tools: ALL_TOOLS.iter().map(|t| format!("tools/{t}")).collect(),
                    ..Default::default()
                }),
                update_mask: None,
            },
        ))
        .await
        .unwrap();
}

/// The relief plan never offers what StartGuidedSession would refuse: for
/// each region, every technique of every unblocked planned point starts,
/// aiming no higher than the plan's `max_pressure`, which is the session's
/// own ceiling. `ceiling` is the expected cap from conditions, if any.
async fn plan_agrees_with_the_session(
    stack: &TestStack,
    user: &str,
    regions: &[&str],
    ceiling: Option<i32>,
) -> usize {
    use knotwork_proto::gateway::v1 as gw;
    let mut views = gw::view_service_client::ViewServiceClient::new(stack.channel().await);
    let mut started = 0;
    // At most 5 tools a point, under the daily limit of 6 a point.
    let mut per_point: std::collections::HashMap<String, usize> = Default::default();
    // Owning every tool, some planned point excludes one.
    let mut tool_blocks = 0;
    for region in regions {
        let plan = views
            .get_relief_plan(stack.as_user(
                user,
                gw::GetReliefPlanRequest {
                    locations: vec![cat::PainLocation {
                        region: format!("regions/{region}"),
                        side: cat::Side::Right as i32,
                    }],
                    symptoms: vec![],
                    max_candidates: 4,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(plan.blocks.is_empty(), "{region}: {:?}", plan.blocks);
        assert!(!plan.candidates.is_empty(), "{region}: candidates");
        for c in &plan.candidates {
            for p in &c.points {
                assert!(
                    (1..=7).contains(&p.max_pressure),
                    "{region}: {} max_pressure {}",
                    p.trigger_point,
                    p.max_pressure
                );
                if let Some(cap) = ceiling {
                    assert!(
                        p.max_pressure <= cap,
                        "{}: {}",
                        p.trigger_point,
                        p.max_pressure
                    );
                }
                let excluded: Vec<&str> = c
                    .r#match
                    .iter()
                    .flat_map(|m| &m.trigger_points)
                    .filter_map(|t| t.trigger_point.as_ref())
                    .filter(|t| t.name == p.trigger_point)
                    .flat_map(|t| &t.excluded_tools)
                    .map(|x| x.tool.as_str())
                    .collect();
                for b in &p.blocks {
                    for raw in ["contraindications/", "tools/", "triggerPoints/"] {
                        assert!(!b.message.contains(raw), "{}", b.message);
                    }
                    // A block on one tool names it, and that tool is not offered.
                    match b.reason.as_str() {
                        "TOOL_EXCLUDED" => {
                            assert!(
                                excluded.contains(&b.tool.as_str()),
                                "{}: {:?} not among the point's excluded tools {excluded:?}",
                                p.trigger_point,
                                b.tool
                            );
                            tool_blocks += 1;
                        }
                        "CONDITION_EXCLUDED" => {}
                        _ => assert!(b.tool.is_empty(), "{}: {b:?}", p.trigger_point),
                    }
                    assert!(
                        p.techniques.iter().all(|t| t.tool != b.tool),
                        "{}: {} offered despite {b:?}",
                        p.trigger_point,
                        b.tool
                    );
                }
                if !p.blocks.is_empty() {
                    continue;
                }
                let point = p.trigger_point.trim_start_matches("triggerPoints/");
                for t in &p.techniques {
                    let n = per_point.entry(p.trigger_point.clone()).or_default();
                    if *n >= 5 {
                        break;
                    }
                    *n += 1;
                    let tool = t.tool.trim_start_matches("tools/");
                    let g = start(stack, user, point, tool).await.unwrap_or_else(|e| {
                        panic!("{region}: the plan offered {point} with {tool}, refused: {e:?}")
                    });
                    assert!(
                        g.target_pressure <= p.max_pressure,
                        "{point}: aims {} above the plan's {}",
                        g.target_pressure,
                        p.max_pressure
                    );
                    started += 1;
                }
            }
        }
    }
    assert!(tool_blocks > 0, "no TOOL_EXCLUDED block in {regions:?}");
    started
}

#[tokio::test]
async fn the_relief_plan_applies_condition_tool_limits_and_ceilings() {
    let stack = TestStack::start().await;
    let thinners = "contraindications/blood_thinners";
    let regions = ["calf", "neck_side", "buttock", "upper_back", "thigh_front"];

    // Blood thinners, not cleared: the massage gun is never offered, a point
    // that takes one says why, and every point aims at the gentle ceiling.
    screen(&stack, "ann", &[thinners]).await;
    own_every_tool(&stack, "ann").await;
    let started = plan_agrees_with_the_session(&stack, "ann", &regions, Some(3)).await;
    assert!(
        started >= 10,
        "guided sessions started from the plan: {started}"
    );

    use knotwork_proto::gateway::v1 as gw;
    let mut views = gw::view_service_client::ViewServiceClient::new(stack.channel().await);
    let calf = views
        .get_relief_plan(stack.as_user(
            "ann",
            gw::GetReliefPlanRequest {
                locations: vec![cat::PainLocation {
                    region: "regions/calf".into(),
                    side: cat::Side::Right as i32,
                }],
                symptoms: vec![],
                max_candidates: 10,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let points: Vec<&gw::PlannedPoint> = calf.candidates.iter().flat_map(|c| &c.points).collect();
    assert!(
        points
            .iter()
            .all(|p| p.techniques.iter().all(|t| t.tool != "tools/massage_gun")),
        "no massage gun offered"
    );
    let ruled_out = points
        .iter()
        .flat_map(|p| &p.blocks)
        .find(|b| b.reason == "CONDITION_EXCLUDED")
        .expect("a calf point that takes a massage gun says it is ruled out");
    assert!(
        ruled_out.message.contains("Blood thinners"),
        "{}",
        ruled_out.message
    );
    // It rules out the tool, not the point, and names the tool.
    assert_eq!(ruled_out.tool, "tools/massage_gun");

    // Cleared by a provider: firm pressure comes back up to the place's own
    // ceiling (the side of the neck is 4), the gun stays out.
    screen_cleared(&stack, "bo", &[thinners], &[thinners]).await;
    own_every_tool(&stack, "bo").await;
    plan_agrees_with_the_session(&stack, "bo", &regions, None).await;
    let neck = views
        .get_relief_plan(stack.as_user(
            "bo",
            gw::GetReliefPlanRequest {
                locations: vec![cat::PainLocation {
                    region: "regions/neck_side".into(),
                    side: cat::Side::Right as i32,
                }],
                symptoms: vec![],
                max_candidates: 10,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let ceilings: Vec<i32> = neck
        .candidates
        .iter()
        .flat_map(|c| &c.points)
        .map(|p| p.max_pressure)
        .collect();
    assert!(
        ceilings.contains(&4),
        "a side-of-neck point at 4: {ceilings:?}"
    );
    assert!(ceilings.iter().all(|c| *c > 3), "cleared: {ceilings:?}");
    assert!(
        neck.candidates
            .iter()
            .flat_map(|c| &c.points)
            .all(|p| p.techniques.iter().all(|t| t.tool != "tools/massage_gun")),
        "the gun stays out after clearance"
    );
}
