//! The relief plan and today screens, composed from both backends.

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
use knotwork_proto::gateway::v1::{GetReliefPlanRequest, GetTodayRequest};
use knotwork_proto::session::v1 as ses;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

fn tp(
    name: &str,
    tools: &[&str],
    excluded_tools: &[&str],
    excluded_conditions: &[&str],
) -> cat::TriggerPointMatch {
    cat::TriggerPointMatch {
        trigger_point: Some(cat::TriggerPoint {
            name: format!("triggerPoints/{name}"),
            techniques: tools
                .iter()
                .map(|t| cat::Technique {
                    tool: format!("tools/{t}"),
                    instructions: format!("use the {t}"),
                })
                .collect(),
            excluded_tools: excluded_tools
                .iter()
                .map(|t| cat::ToolExclusion {
                    tool: format!("tools/{t}"),
                    reason: "no".into(),
                })
                .collect(),
            excluded_conditions: excluded_conditions
                .iter()
                .map(|c| cat::ConditionExclusion {
                    contraindication: format!("contraindications/{c}"),
                    reason: "no".into(),
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn muscle(name: &str, score: f64, points: Vec<cat::TriggerPointMatch>) -> cat::MuscleMatch {
    cat::MuscleMatch {
        muscle: Some(cat::Muscle {
            name: format!("muscles/{name}"),
            ..Default::default()
        }),
        score,
        trigger_points: points,
        ..Default::default()
    }
}

fn progress(
    point: &str,
    status: ses::ProgressStatus,
    tenderness: Option<f64>,
    alts: &[&str],
) -> ses::PointProgress {
    ses::PointProgress {
        trigger_point: format!("triggerPoints/{point}"),
        status: status as i32,
        days: vec![ses::DailyProgress {
            local_date: "2026-11-20".into(),
            session_count: 1,
            mean_tenderness_before: tenderness,
            ..Default::default()
        }],
        alternative_trigger_points: alts.iter().map(|a| format!("triggerPoints/{a}")).collect(),
        ..Default::default()
    }
}

fn request() -> GetReliefPlanRequest {
    GetReliefPlanRequest {
        locations: vec![cat::PainLocation {
            region: "low_back".into(),
            side: 0,
        }],
        symptoms: vec![],
        max_candidates: 0,
    }
}

#[tokio::test]
async fn relief_plan_is_personal() {
    let s = stack().await;
    *s.catalog.matches.lock().unwrap() = vec![
        muscle(
            "m1",
            10.0,
            vec![tp("a", &["ball", "cane"], &["gun"], &["pregnancy"])],
        ),
        muscle("m2", 8.0, vec![tp("b", &["ball"], &[], &[])]),
        muscle("m3", 6.0, vec![tp("c", &["roller"], &[], &[])]),
    ];
    s.session.with_user("alice", |d| {
        d.profile.tools = vec!["tools/ball".into(), "tools/gun".into()];
        d.screening = ses::Screening {
            status: ses::ScreeningStatus::Cleared as i32,
            answers: vec![ses::ScreeningAnswer {
                contraindication: "contraindications/pregnancy".into(),
                present: true,
                cleared_by_provider: true,
                cleared_date: "2026-01-01".into(),
            }],
            ..Default::default()
        };
        d.progress = vec![
            progress("a", ses::ProgressStatus::NotImproving, Some(5.0), &["c"]),
            progress("b", ses::ProgressStatus::InsufficientData, Some(6.0), &[]),
        ];
        d.allowances = vec![ses::PointAllowance {
            trigger_point: "triggerPoints/b".into(),
            sessions_done: 6,
            sessions_remaining: 0,
            ..Default::default()
        }];
    });
    let mut views = ViewServiceClient::new(channel(&s.gateway.url()).await);
    let plan = views
        .get_relief_plan(authed(request(), &token("alice")))
        .await
        .unwrap()
        .into_inner();

    let order: Vec<&str> = plan
        .candidates
        .iter()
        .map(|c| {
            c.r#match
                .as_ref()
                .unwrap()
                .muscle
                .as_ref()
                .unwrap()
                .name
                .as_str()
        })
        .collect();
    assert_eq!(order, ["muscles/m2", "muscles/m3", "muscles/m1"]);
    assert_eq!(
        plan.candidates
            .iter()
            .map(|c| c.catalog_rank)
            .collect::<Vec<_>>(),
        [2, 3, 1]
    );
    assert!(plan.candidates[0].adjustments[0].delta > 0.0);
    assert!(plan.candidates[2].adjustments[0].delta < 0.0);
    assert_eq!(plan.suggested_next, "triggerPoints/c");
    assert!(plan.blocks.is_empty());
    assert_eq!(plan.owned_tools, ["tools/ball", "tools/gun"]);
    assert_eq!(plan.red_flags.len(), 1);
    assert_eq!(plan.guidance.as_ref().unwrap().target_pressure, 5);

    let reasons = |i: usize| -> Vec<String> {
        plan.candidates[i].points[0]
            .blocks
            .iter()
            .map(|b| b.reason.clone())
            .collect()
    };
    let tools = |i: usize| -> Vec<String> {
        plan.candidates[i].points[0]
            .techniques
            .iter()
            .map(|t| t.tool.clone())
            .collect()
    };
    // b: owned ball, no session left today.
    assert_eq!(tools(0), ["tools/ball"]);
    assert_eq!(reasons(0), ["DAILY_LIMIT_REACHED"]);
    assert_eq!(
        plan.candidates[0].points[0]
            .allowance
            .as_ref()
            .unwrap()
            .sessions_remaining,
        0
    );
    // c: only a roller works it.
    assert!(tools(1).is_empty());
    assert_eq!(reasons(1), ["NO_OWNED_TOOL"]);
    // a: the cane is not owned, the gun is excluded, pregnancy rules it out.
    assert_eq!(tools(2), ["tools/ball"]);
    assert_eq!(reasons(2), ["TOOL_EXCLUDED", "CONDITION_EXCLUDED"]);
    // The tool block names its tool; the block on the point names none.
    let block_tools: Vec<&str> = plan.candidates[2].points[0]
        .blocks
        .iter()
        .map(|b| b.tool.as_str())
        .collect();
    assert_eq!(block_tools, ["tools/gun", ""]);
    assert!(
        plan.candidates[..2]
            .iter()
            .flat_map(|c| &c.points[0].blocks)
            .all(|b| b.tool.is_empty()),
        "DAILY_LIMIT_REACHED and NO_OWNED_TOOL name no tool"
    );
    assert!(plan.candidates[2].points[0].progress.is_some());
    // The match itself carries only the owned techniques too.
    let m = plan.candidates[2].r#match.as_ref().unwrap();
    assert_eq!(
        m.trigger_points[0]
            .trigger_point
            .as_ref()
            .unwrap()
            .techniques
            .len(),
        1
    );

    // Bob has no screening: a global block, and the catalog's order.
    let plan = views
        .get_relief_plan(authed(
            GetReliefPlanRequest {
                max_candidates: 2,
                ..request()
            },
            &token("bob"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        plan.blocks
            .iter()
            .map(|b| b.reason.as_str())
            .collect::<Vec<_>>(),
        ["SCREENING_REQUIRED"]
    );
    assert_eq!(plan.candidates.len(), 2);
    assert_eq!(plan.candidates[0].catalog_rank, 1);
    assert!(plan.suggested_next.is_empty());
}

#[tokio::test]
async fn relief_plan_validates() {
    let s = stack().await;
    let mut views = ViewServiceClient::new(channel(&s.gateway.url()).await);
    let cases = [
        (
            GetReliefPlanRequest {
                locations: vec![],
                ..request()
            },
            "locations",
        ),
        (
            GetReliefPlanRequest {
                max_candidates: 51,
                ..request()
            },
            "max_candidates",
        ),
        (
            GetReliefPlanRequest {
                max_candidates: -1,
                ..request()
            },
            "max_candidates",
        ),
    ];
    for (req, field) in cases {
        let err = views
            .get_relief_plan(authed(req, &token("alice")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let details = err.get_error_details();
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            field
        );
    }
}

#[tokio::test]
async fn today() {
    let s = stack().await;
    s.session.with_user("carol", |d| {
        d.progress = vec![progress(
            "a",
            ses::ProgressStatus::Improving,
            Some(4.0),
            &[],
        )];
        d.allowances = vec![ses::PointAllowance {
            trigger_point: "triggerPoints/a".into(),
            sessions_done: 1,
            sessions_remaining: 5,
            ..Default::default()
        }];
    });
    let mut views = ViewServiceClient::new(channel(&s.gateway.url()).await);
    let today = views
        .get_today(authed(GetTodayRequest::default(), &token("carol")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        today.day.as_ref().unwrap().allowances[0].sessions_remaining,
        5
    );
    assert_eq!(today.progress.len(), 1);
    assert!(today.screening.is_some());
    assert_eq!(today.guidance.unwrap().max_sessions_per_point_per_day, 6);
}
