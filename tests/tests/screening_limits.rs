//! The screening's LIMITS conditions end to end, through the gateway: a
//! person who reports pregnancy is not blocked, but the belly point is
//! refused (FAILED_PRECONDITION, ErrorInfo `CONDITION_EXCLUDED`, ids in the
//! metadata and display names in the message), guided sessions elsewhere aim
//! for the gentle ceiling, and a logged session above it is kept with a
//! warning. Blood thinners rule the massage gun out everywhere.

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic_types::StatusExt as _;

/// Answers every screening condition for `user`: `present` ones yes, none
/// cleared.
async fn screen(stack: &TestStack, user: &str, present: &[&str]) -> ses::Screening {
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
                        .map(|c| ses::ScreeningAnswer {
                            contraindication: c.name.clone(),
                            present: present.contains(&c.name.as_str()),
                            ..Default::default()
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
