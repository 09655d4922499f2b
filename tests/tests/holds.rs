//! Safety over days, end to end through the gateway: each way a point goes
//! on hold, the refusal and its ErrorInfo, logging while held, what the
//! relief plan and today show, journal corrections, and the release.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use tonic::Code;
use tonic_types::StatusExt;

const QL: &str = "triggerPoints/quadratus_lumborum_superficial";
const QL_DEEP: &str = "triggerPoints/quadratus_lumborum_deep";
const PIRIFORMIS: &str = "triggerPoints/piriformis";
const ILIOCOSTALIS: &str = "triggerPoints/iliocostalis_lumborum";
const BALL: &str = "tools/lacrosse_ball";

fn now_minus_days(days: u64) -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now() - std::time::Duration::from_secs(days * 86_400))
}

fn record(point: &str, days_ago: u64, tenderness: i32) -> ses::SessionRecord {
    ses::SessionRecord {
        trigger_point: point.into(),
        tool: BALL.into(),
        side: cat::Side::Left as i32,
        pressure: 5,
        duration_seconds: 180,
        tenderness_before: Some(tenderness),
        pain_quality: ses::PainQuality::Aching as i32,
        perform_time: Some(now_minus_days(days_ago)),
        ..Default::default()
    }
}

struct Person<'a> {
    stack: &'a TestStack,
    user: &'static str,
    session: ses::session_service_client::SessionServiceClient<tonic::transport::Channel>,
    views: ViewServiceClient<tonic::transport::Channel>,
}

impl<'a> Person<'a> {
    /// A person with a profile (Berlin, a ball) and a screening with
    /// nothing present.
    async fn new(stack: &'a TestStack, user: &'static str) -> Self {
        let mut session = stack.session().await;
        let views = ViewServiceClient::new(stack.channel().await);
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
        let answers = conditions
            .iter()
            .map(|c| ses::ScreeningAnswer {
                contraindication: c.name.clone(),
                ..Default::default()
            })
            .collect();
        session
            .update_profile(stack.as_user(
                user,
                ses::UpdateProfileRequest {
                    profile: Some(ses::Profile {
                        time_zone: "Europe/Berlin".into(),
                        tools: vec![BALL.into(), "tools/fingers".into()],
                        ..Default::default()
                    }),
                    update_mask: None,
                },
            ))
            .await
            .unwrap();
        session
            .submit_screening(stack.as_user(user, ses::SubmitScreeningRequest { answers }))
            .await
            .unwrap();
        Self {
            stack,
            user,
            session,
            views,
        }
    }

    async fn log(&mut self, rid: &str, r: ses::SessionRecord) -> ses::SessionRecord {
        self.session
            .log_session(self.stack.as_user(
                self.user,
                ses::LogSessionRequest {
                    request_id: rid.into(),
                    session: Some(r),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .session
            .unwrap()
    }

    async fn start(&mut self, rid: &str, point: &str) -> Result<ses::GuidedSession, tonic::Status> {
        self.session
            .start_guided_session(self.stack.as_user(
                self.user,
                ses::StartGuidedSessionRequest {
                    request_id: rid.into(),
                    trigger_point: point.into(),
                    tool: BALL.into(),
                    side: cat::Side::Left as i32,
                    duration_seconds: 0,
                },
            ))
            .await
            .map(|r| r.into_inner().guided_session.unwrap())
    }

    async fn holds(&mut self, include_released: bool) -> Vec<ses::Hold> {
        self.session
            .list_holds(
                self.stack
                    .as_user(self.user, ses::ListHoldsRequest { include_released }),
            )
            .await
            .unwrap()
            .into_inner()
            .holds
    }

    async fn release(
        &mut self,
        point: &str,
        checked: bool,
        date: &str,
    ) -> Result<Vec<ses::Hold>, tonic::Status> {
        self.session
            .release_hold(self.stack.as_user(
                self.user,
                ses::ReleaseHoldRequest {
                    trigger_point: point.into(),
                    provider_checked: checked,
                    checked_date: date.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().holds)
    }

    async fn plan(&mut self, region: &str) -> gw::GetReliefPlanResponse {
        self.views
            .get_relief_plan(self.stack.as_user(
                self.user,
                gw::GetReliefPlanRequest {
                    locations: vec![cat::PainLocation {
                        region: region.into(),
                        side: cat::Side::Unspecified as i32,
                    }],
                    symptoms: vec![],
                    max_candidates: 20,
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn today(&mut self) -> gw::GetTodayResponse {
        self.views
            .get_today(
                self.stack
                    .as_user(self.user, gw::GetTodayRequest::default()),
            )
            .await
            .unwrap()
            .into_inner()
    }
}

fn codes(r: &ses::SessionRecord) -> Vec<ses::WarningCode> {
    r.warnings.iter().map(|w| w.code()).collect()
}

fn today_in_berlin() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .date()
        .to_string()
}

/// Every point a relief plan recommends (as a candidate's point or as the
/// next suspect).
fn recommended(plan: &gw::GetReliefPlanResponse) -> Vec<String> {
    let mut out: Vec<String> = plan
        .candidates
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.trigger_point.clone()))
        .collect();
    if !plan.suggested_next.is_empty() {
        out.push(plan.suggested_next.clone());
    }
    out
}

#[tokio::test]
async fn sharp_pain_puts_the_muscle_on_hold_until_a_provider_checked_it() {
    let stack = TestStack::start().await;
    let mut p = Person::new(&stack, "hold-sharp").await;

    // Before: the QL is a candidate for low back pain and may be guided.
    let before = p.plan("low back").await;
    assert!(
        recommended(&before).iter().any(|n| n == QL),
        "{:?}",
        recommended(&before)
    );
    p.start("g-before", QL).await.unwrap();

    // A session with sharp pain, worse with activity and with massage.
    let mut sharp = record(QL, 0, 6);
    sharp.pain_quality = ses::PainQuality::Sharp as i32;
    sharp.worse_with_activity = true;
    sharp.worse_with_massage = true;
    let logged = p.log("sharp", sharp).await;
    assert!(codes(&logged).contains(&ses::WarningCode::SharpPain));

    let holds = p.holds(false).await;
    assert_eq!(holds.len(), 1, "{holds:?}");
    let hold = &holds[0];
    assert_eq!(hold.reason(), ses::HoldReason::MedicalWarning);
    assert_eq!(hold.muscle, "muscles/quadratus_lumborum");
    assert_eq!(hold.session, logged.name);
    assert!(hold.active);
    assert!(hold.why.contains("Sharp pain"), "{}", hold.why);

    // Guided sessions on the point, and on the other point of the muscle,
    // are refused with POINT_ON_HOLD naming point, time and why.
    for point in [QL, QL_DEEP] {
        let e = p.start(&format!("g-{point}"), point).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        let info = e.get_details_error_info().unwrap();
        assert_eq!(info.reason, "POINT_ON_HOLD");
        assert_eq!(info.domain, "knotwork.dev");
        assert_eq!(info.metadata["trigger_point"], point);
        assert_eq!(info.metadata["muscle"], "muscles/quadratus_lumborum");
        assert_eq!(info.metadata["since"], hold.since_local_time);
        assert!(
            info.metadata["since"].ends_with("+01:00")
                || info.metadata["since"].ends_with("+02:00"),
            "Berlin local time: {}",
            info.metadata["since"]
        );
        assert_eq!(info.metadata["why"], hold.why);
        assert_eq!(info.metadata["hold"], hold.name);
    }

    // Logging while held still stores the record, and warns.
    let again = p.log("while-held", record(QL_DEEP, 0, 5)).await;
    assert!(!again.name.is_empty());
    assert_eq!(codes(&again)[0], ses::WarningCode::PointOnHold);
    assert!(again.warnings[0].medical_attention_advised);

    // The relief plan never recommends it and lists it apart.
    let plan = p.plan("low back").await;
    let rec = recommended(&plan);
    assert!(!rec.iter().any(|n| n == QL || n == QL_DEEP), "{rec:?}");
    let aside: Vec<_> = plan
        .set_aside
        .iter()
        .filter(|s| s.trigger_point == QL)
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", plan.set_aside);
    assert_eq!(aside[0].reason, "POINT_ON_HOLD");
    assert!(aside[0].advice.contains("medical provider"));
    assert_eq!(aside[0].hold.as_ref().unwrap().name, hold.name);

    // Today lists the hold and allows no session on the point.
    let today = p.today().await;
    assert_eq!(today.holds.len(), 1);
    let allowance = today
        .day
        .unwrap()
        .allowances
        .into_iter()
        .find(|a| a.trigger_point == QL)
        .unwrap();
    assert!(allowance.on_hold);
    assert_eq!(allowance.sessions_remaining, 0);
    assert!(
        today
            .set_aside
            .iter()
            .any(|s| s.trigger_point == QL && s.reason == "POINT_ON_HOLD")
    );

    // Correcting or deleting the session that caused it does not release it.
    let fixed = p
        .session
        .update_session(stack.as_user(
            p.user,
            ses::UpdateSessionRequest {
                session: Some(ses::SessionRecord {
                    name: logged.name.clone(),
                    pain_quality: ses::PainQuality::Aching as i32,
                    notes: "it was a dull ache after all".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["pain_quality".into(), "notes".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(fixed.pain_quality(), ses::PainQuality::Aching);
    assert!(fixed.worse_with_activity, "fields outside the mask stay");
    assert_eq!(fixed.notes, "it was a dull ache after all");
    for _ in 0..2 {
        let d = p
            .session
            .delete_session(stack.as_user(
                p.user,
                ses::DeleteSessionRequest {
                    name: logged.name.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let _ = d.deleted;
    }
    assert_eq!(p.holds(false).await.len(), 1, "deleting never releases");
    let e = p.start("g-after-delete", QL).await.unwrap_err();
    assert_eq!(e.get_details_error_info().unwrap().reason, "POINT_ON_HOLD");

    // The release needs the provider's check and a plausible date.
    let today_date = today_in_berlin();
    let e = p.release(QL, false, &today_date).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = p.release(QL, true, "2000-01-01").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = p.release(QL, true, "2999-01-01").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = p.release(PIRIFORMIS, true, &today_date).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "nothing held there");
    let released = p.release(QL_DEEP, true, &today_date).await.unwrap();
    assert_eq!(released.len(), 1);
    assert!(!released[0].active);
    assert_eq!(released[0].provider_checked_date, today_date);
    // Idempotent.
    let again = p.release(QL, true, &today_date).await.unwrap();
    assert_eq!(again, released);
    assert!(p.holds(false).await.is_empty());
    assert_eq!(p.holds(true).await.len(), 1);

    // Guided sessions start again, and the export keeps the history.
    p.start("g-released", QL).await.unwrap();
    let export = p
        .session
        .export_user_data(stack.as_user(p.user, ses::ExportUserDataRequest {}))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export.holds.len(), 1);
    assert!(export.holds[0].since.is_some());
    assert_eq!(export.holds[0].provider_checked_date, today_date);
    assert!(export.holds[0].release_time.is_some());
}

#[tokio::test]
async fn tingling_beside_the_sciatic_nerve_puts_piriformis_on_hold() {
    let stack = TestStack::start().await;
    let mut p = Person::new(&stack, "hold-nerve").await;
    // Tingling on the QL (no nerve in its cautions): no hold.
    let mut ql = record(QL, 0, 4);
    ql.pain_quality = ses::PainQuality::Tingling as i32;
    let logged = p.log("ql-tingle", ql).await;
    assert!(!codes(&logged).contains(&ses::WarningCode::NerveSensation));
    assert!(p.holds(false).await.is_empty());

    for (i, q) in [ses::PainQuality::Burning, ses::PainQuality::Electric]
        .into_iter()
        .enumerate()
    {
        let mut r = record(PIRIFORMIS, 0, 4);
        r.pain_quality = q as i32;
        let logged = p.log(&format!("piri-{i}"), r).await;
        assert!(
            codes(&logged).contains(&ses::WarningCode::NerveSensation),
            "{:?}",
            logged.warnings
        );
    }
    let holds = p.holds(false).await;
    assert_eq!(holds.len(), 1, "one hold per reason: {holds:?}");
    assert_eq!(holds[0].reason(), ses::HoldReason::NerveSensation);
    assert!(holds[0].why.to_lowercase().contains("sciatic nerve"));
    let e = p.start("g-piri", PIRIFORMIS).await.unwrap_err();
    let info = e.get_details_error_info().unwrap();
    assert_eq!(info.reason, "POINT_ON_HOLD");
    assert_eq!(info.metadata["trigger_point"], PIRIFORMIS);
}

#[tokio::test]
async fn rising_tenderness_is_worsening_and_puts_the_point_on_hold() {
    let stack = TestStack::start().await;
    let mut p = Person::new(&stack, "hold-worse").await;
    // Four days of rising tenderness on the iliocostalis point.
    for (i, t) in [3, 4, 5, 6].into_iter().enumerate() {
        let days_ago = 3 - i as u64;
        p.log(&format!("ilio-{i}"), record(ILIOCOSTALIS, days_ago, t))
            .await;
    }
    let progress = p
        .session
        .list_progress(stack.as_user(
            p.user,
            ses::ListProgressRequest {
                trigger_point: ILIOCOSTALIS.into(),
                days: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .progress;
    assert_eq!(progress[0].status(), ses::ProgressStatus::Worsening);
    let hold = progress[0]
        .hold
        .as_ref()
        .expect("worsening holds the point");
    assert_eq!(hold.reason(), ses::HoldReason::Worsening);
    let e = p.start("g-ilio", ILIOCOSTALIS).await.unwrap_err();
    assert_eq!(e.get_details_error_info().unwrap().reason, "POINT_ON_HOLD");

    // A flat week of daily work on the QL: not improving, and its
    // alternatives never name the worsening point.
    for d in 0..7 {
        p.log(&format!("ql-{d}"), record(QL, d, 5)).await;
    }
    let progress = p
        .session
        .list_progress(stack.as_user(
            p.user,
            ses::ListProgressRequest {
                trigger_point: QL.into(),
                days: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .progress;
    assert_eq!(
        progress[0].status(),
        ses::ProgressStatus::NotImproving,
        "{:?}",
        progress[0]
    );
    let alts = &progress[0].alternative_trigger_points;
    assert!(!alts.is_empty());
    assert!(
        !alts.iter().any(|a| a == ILIOCOSTALIS || a == QL),
        "{alts:?}"
    );

    // Neither the relief plan nor its next suspect names it.
    let plan = p.plan("low back").await;
    let rec = recommended(&plan);
    assert!(!rec.iter().any(|n| n == ILIOCOSTALIS), "{rec:?}");
    assert!(
        !plan.suggested_next.is_empty(),
        "a stalled point gets a next suspect"
    );
    assert!(
        plan.set_aside
            .iter()
            .any(|s| s.trigger_point == ILIOCOSTALIS)
    );
}
