//! Any UTF-8 `sub` works through every session call: the gateway passes
//! the user id to the shard as binary metadata when it is not plain ASCII,
//! and the shard stores and finds the person's data under it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic::Code;

/// Every SessionService call as `user`: none may answer UNAUTHENTICATED,
/// and the data written is read back under the same id.
async fn every_call_as(stack: &TestStack, user: &str) {
    let mut s = stack.session().await;
    let as_user = |m| stack.as_user(user, m);
    let profile = s
        .update_profile(stack.as_user(
            user,
            ses::UpdateProfileRequest {
                profile: Some(ses::Profile {
                    time_zone: "Europe/Lisbon".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
        ))
        .await
        .unwrap_or_else(|e| panic!("{user}: UpdateProfile {e:?}"))
        .into_inner();
    assert_eq!(profile.profile.unwrap().time_zone, "Europe/Lisbon");
    let got = s
        .get_profile(as_user(ses::GetProfileRequest {}))
        .await
        .unwrap();
    assert_eq!(got.into_inner().profile.unwrap().time_zone, "Europe/Lisbon");
    s.get_screening(stack.as_user(user, ses::GetScreeningRequest {}))
        .await
        .unwrap();
    s.list_sessions(stack.as_user(user, ses::ListSessionsRequest::default()))
        .await
        .unwrap();
    s.list_progress(stack.as_user(user, ses::ListProgressRequest::default()))
        .await
        .unwrap();
    s.get_day(stack.as_user(user, ses::GetDayRequest::default()))
        .await
        .unwrap();
    let export = s
        .export_user_data(stack.as_user(user, ses::ExportUserDataRequest {}))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export.user_id, user);
    // Calls whose empty request is not valid still get past authentication:
    // the shard answers about the request, never "missing user id".
    let codes = [
        s.submit_screening(stack.as_user(user, ses::SubmitScreeningRequest::default()))
            .await
            .err(),
        s.start_guided_session(stack.as_user(user, ses::StartGuidedSessionRequest::default()))
            .await
            .err(),
        s.log_session(stack.as_user(user, ses::LogSessionRequest::default()))
            .await
            .err(),
        s.batch_log_sessions(stack.as_user(user, ses::BatchLogSessionsRequest::default()))
            .await
            .err(),
        s.get_session(stack.as_user(
            user,
            ses::GetSessionRequest {
                name: "sessions/none".into(),
            },
        ))
        .await
        .err(),
        s.guide_session(stack.as_user(
            user,
            ses::GuideSessionRequest {
                name: "guidedSessions/none".into(),
            },
        ))
        .await
        .err(),
    ];
    for status in codes.into_iter().flatten() {
        assert_ne!(status.code(), Code::Unauthenticated, "{user}: {status:?}");
    }
    s.delete_user_data(stack.as_user(user, ses::DeleteUserDataRequest { confirm: true }))
        .await
        .unwrap_or_else(|e| panic!("{user}: DeleteUserData {e:?}"));
    let after = s
        .get_profile(as_user(ses::GetProfileRequest {}))
        .await
        .unwrap();
    assert_ne!(
        after.into_inner().profile.unwrap().time_zone,
        "Europe/Lisbon"
    );
}

#[tokio::test]
async fn non_ascii_subjects_work_through_every_session_call() {
    let stack = TestStack::start_with_shards(2).await;
    for user in ["josé", "Zoë Ångström", "用户-42", "ascii-alice"] {
        every_call_as(&stack, user).await;
    }
    // Two people whose ids differ only in accents are two people.
    let mut s = stack.session().await;
    s.update_profile(stack.as_user(
        "rené",
        ses::UpdateProfileRequest {
            profile: Some(ses::Profile {
                time_zone: "Europe/Paris".into(),
                ..Default::default()
            }),
            update_mask: None,
        },
    ))
    .await
    .unwrap();
    let other = s
        .get_profile(stack.as_user("rene", ses::GetProfileRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(other.profile.unwrap().time_zone, "Europe/Paris");
}
