//! "With a therapist only", through the gateway: a pelvic floor point is still
//! found by pain (people should learn the likely cause) and carries its note,
//! a guided self-treatment session on it is refused with FAILED_PRECONDITION
//! and the THERAPIST_ONLY reason even after a clear screening, and a session
//! logged on it is kept with a warning.

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic_types::StatusExt;

const POINT: &str = "triggerPoints/levator_ani";

#[tokio::test]
async fn a_therapist_only_point_is_shown_but_never_self_treated() {
    let stack = TestStack::start().await;

    // Pain at the tailbone finds the levator ani, marked for a therapist.
    let mut catalog = stack.catalog().await;
    let found = catalog
        .find_by_pain(cat::FindByPainRequest {
            locations: vec![cat::PainLocation {
                region: "tailbone".into(),
                side: cat::Side::Unspecified as i32,
            }],
            page_size: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let point = found
        .matches
        .iter()
        .flat_map(|m| &m.trigger_points)
        .filter_map(|p| p.trigger_point.as_ref())
        .find(|p| p.name == POINT)
        .expect("levator ani found by tailbone pain");
    assert!(point.therapist_only);
    assert!(!point.therapist_only_note.is_empty());
    assert!(
        point
            .techniques
            .iter()
            .all(|t| t.tool == "tools/massage_therapist"),
        "{:?}",
        point.techniques
    );
    // A self-treatable point in the same answer is not marked.
    let ql = catalog
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: "triggerPoints/quadratus_lumborum_superficial".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!ql.trigger_point.unwrap().therapist_only);

    // A clear screening: nothing present.
    let conditions = catalog
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .contraindications;
    let answers = conditions
        .iter()
        .map(|c| ses::ScreeningAnswer {
            contraindication: c.name.clone(),
            ..Default::default()
        })
        .collect();
    let mut session = stack.session().await;
    session
        .submit_screening(stack.as_user("carol", ses::SubmitScreeningRequest { answers }))
        .await
        .unwrap();

    // Refused for every tool, the therapist's own included: the guided
    // session is self-treatment.
    for tool in ["tools/fingers", "tools/massage_therapist"] {
        let e = session
            .start_guided_session(stack.as_user(
                "carol",
                ses::StartGuidedSessionRequest {
                    request_id: format!("guided-{}", tool.trim_start_matches("tools/")),
                    trigger_point: POINT.into(),
                    tool: tool.into(),
                    side: cat::Side::Both as i32,
                    duration_seconds: 0,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
        let info = e.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "THERAPIST_ONLY");
        assert_eq!(info.metadata["trigger_point"], POINT);
    }
    // A self-treatable point still starts for the same person.
    session
        .start_guided_session(stack.as_user(
            "carol",
            ses::StartGuidedSessionRequest {
                request_id: "guided-ql".into(),
                trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
                tool: "tools/lacrosse_ball".into(),
                side: cat::Side::Both as i32,
                duration_seconds: 0,
            },
        ))
        .await
        .unwrap();

    // A session that already happened is kept, with the warning.
    let logged = session
        .log_session(stack.as_user(
            "carol",
            ses::LogSessionRequest {
                request_id: "therapist-log-1".into(),
                session: Some(ses::SessionRecord {
                    trigger_point: POINT.into(),
                    tool: "tools/massage_therapist".into(),
                    side: cat::Side::Left as i32,
                    pressure: 4,
                    duration_seconds: 120,
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
    let codes: Vec<i32> = logged.warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, [ses::WarningCode::TherapistOnly as i32]);
}
