//! The Foundation path, through the gateway only: health of every service,
//! "what can cause low back pain?", a session logged and read back as a user,
//! and a refusal without a token.

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn app_path_through_the_gateway() {
    let stack = TestStack::start().await;

    // Health of each, as the gateway reports it.
    let mut health = HealthClient::new(stack.channel().await);
    for service in [
        "",
        "knotwork.catalog.v1.CatalogService",
        "knotwork.session.v1.SessionService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "health of {service:?}");
    }

    // Which trigger points can cause low back pain? (Public: no token.)
    let mut catalog = stack.catalog().await;
    let found = catalog
        .find_by_pain(cat::FindByPainRequest {
            locations: vec![cat::PainLocation {
                region: "lower back".into(),
                side: cat::Side::Unspecified as i32,
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!found.catalog_version.is_empty());
    let muscles: Vec<&str> = found
        .matches
        .iter()
        .filter_map(|m| m.muscle.as_ref().map(|m| m.name.as_str()))
        .collect();
    assert!(
        muscles.contains(&"muscles/quadratus_lumborum"),
        "quadratus lumborum missing from {muscles:?}"
    );
    let ql = found
        .matches
        .iter()
        .find(|m| m.muscle.as_ref().unwrap().name == "muscles/quadratus_lumborum")
        .unwrap();
    let point = ql.trigger_points[0].trigger_point.clone().unwrap();
    let tool = point.techniques[0].tool.clone();

    // Log a session for it as alice, then read it back.
    let mut session = stack.session().await;
    let record = ses::SessionRecord {
        trigger_point: point.name.clone(),
        tool: tool.clone(),
        side: cat::Side::Left as i32,
        pressure: 5,
        duration_seconds: 240,
        tenderness_before: Some(6),
        tenderness_after: Some(4),
        pain_quality: ses::PainQuality::Aching as i32,
        notes: "first try".into(),
        perform_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        ..Default::default()
    };
    let logged = session
        .log_session(stack.as_user(
            "alice",
            ses::LogSessionRequest {
                request_id: "foundation-1".into(),
                session: Some(record),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!logged.replayed);
    let stored = logged.session.unwrap();
    assert!(stored.name.starts_with("sessions/"), "{}", stored.name);

    let got = session
        .get_session(stack.as_user(
            "alice",
            ses::GetSessionRequest {
                name: stored.name.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(got.trigger_point, point.name);
    assert_eq!(got.tool, tool);
    assert_eq!(got.pressure, 5);
    assert_eq!(got.duration_seconds, 240);
    assert_eq!(got.tenderness_after, Some(4));
    assert_eq!(got.notes, "first try");

    let listed = session
        .list_sessions(stack.as_user("alice", ses::ListSessionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.sessions.len(), 1);
    assert_eq!(listed.sessions[0].name, stored.name);

    // Another user sees none of it.
    let other = session
        .list_sessions(stack.as_user("bob", ses::ListSessionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(other.sessions.is_empty());

    // No token: refused at the gateway.
    let refused = session
        .list_sessions(ses::ListSessionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}

/// The chart's pictures through the gateway, without a token: the body map
/// and a referral picture come from the same catalog version.
#[tokio::test]
async fn body_map_and_referral_pictures_through_the_gateway() {
    let stack = TestStack::start().await;
    let mut catalog = stack.catalog().await;
    let map = catalog
        .get_body_map(cat::GetBodyMapRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(map.body_map.is_some_and(|m| m.shapes.len() > 60));
    let picture = catalog
        .get_trigger_point_picture(cat::GetTriggerPointPictureRequest {
            name: "triggerPoints/upper_trapezius_1".into(),
            side: cat::Side::Left as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(picture.catalog_version, map.catalog_version);
    assert!(picture.svg.contains("role=\"img\"") && picture.svg.contains("zone primary"));
    let refused = catalog
        .get_trigger_point_picture(cat::GetTriggerPointPictureRequest {
            name: "triggerPoints/upper_trapezius_1".into(),
            side: cat::Side::Midline as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
}
