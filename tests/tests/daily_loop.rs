//! The daily loop through the gateway (issue 15): the how-to guides served
//! from the catalog and linked from points, tools and the guidance.

use knotwork_proto::catalog::v1 as cat;
use knotwork_tests::TestStack;
use tonic::Code;
use tonic_types::StatusExt;

/// Every guide the issue asks for is served, paged, and readable by name.
#[tokio::test]
async fn guides_are_listed_read_and_linked() {
    let stack = TestStack::start().await;
    let mut catalog = stack.catalog().await;

    // List in pages of 4 until the end; every guide comes back once.
    let mut names = Vec::new();
    let mut token = String::new();
    for _ in 0..20 {
        let page = catalog
            .list_guides(cat::ListGuidesRequest {
                page_size: 4,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.guides.len() <= 4);
        assert!(!page.catalog_version.is_empty());
        names.extend(page.guides.into_iter().map(|g| g.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(token.is_empty(), "paging did not end");
    for want in [
        "guides/find_a_knot",
        "guides/pressure_five_of_ten",
        "guides/hold_or_stroke",
        "guides/referred_pain",
        "guides/when_to_stop",
        "guides/tool_ball",
        "guides/tool_ql_claw",
        "guides/tool_foam_roller",
        "guides/tool_massage_gun",
        "guides/tool_back_buddy",
        "guides/tool_partner",
    ] {
        assert_eq!(
            names.iter().filter(|n| *n == want).count(),
            1,
            "{want} in {names:?}"
        );
    }

    // One guide, whole, with its sources named.
    let knot = catalog
        .get_guide(cat::GetGuideRequest {
            name: "guides/find_a_knot".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .guide
        .unwrap();
    assert!(knot.every_point);
    assert!(knot.sections.len() >= 3);
    assert!(
        knot.sections
            .iter()
            .any(|s| s.text.contains("taut") || s.heading.contains("taut"))
    );
    assert!(knot.sources.contains(&"sources/travell_simons".to_owned()));

    // Filtered by tool: the claw's guide, and only guides teaching it.
    let claw = catalog
        .list_guides(cat::ListGuidesRequest {
            tool: "tools/ql_claw".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let claw_names: Vec<&str> = claw.guides.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(claw_names, ["guides/tool_ql_claw"]);

    // Links: the tool names its guide, a point names the basics and the
    // guides of its techniques' tools, the guidance names the basics.
    let tool = catalog
        .get_tool(cat::GetToolRequest {
            name: "tools/ql_claw".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .tool
        .unwrap();
    assert_eq!(tool.guides, ["guides/tool_ql_claw"]);
    let points = catalog
        .list_trigger_points(cat::ListTriggerPointsRequest {
            tool: "tools/ql_claw".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let point = &points.trigger_points[0];
    assert!(point.guides.contains(&"guides/when_to_stop".to_owned()));
    assert!(point.guides.contains(&"guides/tool_ql_claw".to_owned()));
    let got = catalog
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: point.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap();
    assert_eq!(got.guides, point.guides, "encoded and typed answers differ");
    let guidance = catalog
        .get_technique_guidance(cat::GetTechniqueGuidanceRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        guidance
            .guides
            .contains(&"guides/pressure_five_of_ten".to_owned())
    );
    assert!(!guidance.guides.contains(&"guides/tool_ql_claw".to_owned()));

    // The snapshot carries them for offline apps.
    let snapshot = catalog
        .get_catalog_snapshot(cat::GetCatalogSnapshotRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(snapshot.snapshot.unwrap().guides.len(), names.len());
}

/// Unknown guides are NOT_FOUND, malformed names and filters are
/// INVALID_ARGUMENT naming the field.
#[tokio::test]
async fn guide_errors_are_clear() {
    let stack = TestStack::start().await;
    let mut catalog = stack.catalog().await;
    let missing = catalog
        .get_guide(cat::GetGuideRequest {
            name: "guides/no_such_guide".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    for (name, tool, page_token, field) in [
        ("Guides/x", "", "", "name"),
        ("", "tools/no_such_tool", "", ""),
        ("", "muscles/ql", "", "tool"),
        ("", "", "garbage", "page_token"),
    ] {
        let err = if name.is_empty() {
            catalog
                .list_guides(cat::ListGuidesRequest {
                    tool: tool.into(),
                    page_token: page_token.into(),
                    ..Default::default()
                })
                .await
                .unwrap_err()
        } else {
            catalog
                .get_guide(cat::GetGuideRequest { name: name.into() })
                .await
                .unwrap_err()
        };
        if field.is_empty() {
            assert_eq!(err.code(), Code::NotFound, "{tool}");
            continue;
        }
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{name} {tool} {page_token}"
        );
        let fields: Vec<String> = err
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
            .unwrap_or_default();
        assert!(
            fields.iter().any(|f| f == field),
            "{fields:?}, want {field}"
        );
    }
}

/// Pain check-ins: one per region per local day (a second replaces the
/// first), idempotent by request id, listed, summarised per region, in the
/// export, and refused clearly when wrong.
#[tokio::test]
async fn pain_check_ins_through_the_gateway() {
    use knotwork_proto::session::v1 as ses;
    let stack = TestStack::start().await;
    let mut session = stack.session().await;
    let record = |rid: &str, region: &str, score: i32| ses::RecordCheckInRequest {
        request_id: rid.into(),
        region: region.into(),
        score,
    };

    let first = session
        .record_check_in(stack.as_user("ana", record("c1", "regions/low_back", 6)))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.replayed && !first.replaced);
    let c = first.check_in.unwrap();
    assert_eq!((c.region.as_str(), c.score), ("regions/low_back", 6));
    assert_eq!(c.name, format!("checkIns/{}.low_back", c.local_date));

    // Same day, same region, new request: replaces.
    let second = session
        .record_check_in(stack.as_user("ana", record("c2", "regions/low_back", 4)))
        .await
        .unwrap()
        .into_inner();
    assert!(second.replaced && !second.replayed);
    // A retry of the first request writes nothing and returns what is stored.
    let retry = session
        .record_check_in(stack.as_user("ana", record("c1", "regions/low_back", 6)))
        .await
        .unwrap()
        .into_inner();
    assert!(retry.replayed);
    assert_eq!(retry.check_in.unwrap().score, 4);
    session
        .record_check_in(stack.as_user("ana", record("c3", "regions/buttock", 2)))
        .await
        .unwrap();
    // Another person's check-in stays theirs.
    session
        .record_check_in(stack.as_user("ben", record("c1", "regions/low_back", 9)))
        .await
        .unwrap();

    let all = session
        .list_check_ins(stack.as_user("ana", ses::ListCheckInsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .check_ins;
    let got: Vec<(&str, i32)> = all.iter().map(|c| (c.region.as_str(), c.score)).collect();
    assert_eq!(got, [("regions/buttock", 2), ("regions/low_back", 4)]);
    let only = session
        .list_check_ins(stack.as_user(
            "ana",
            ses::ListCheckInsRequest {
                region: "regions/buttock".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .check_ins;
    assert_eq!(only.len(), 1);

    let progress = session
        .list_region_progress(stack.as_user("ana", ses::ListRegionProgressRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .regions;
    assert_eq!(progress.len(), 2);
    let lb = progress
        .iter()
        .find(|r| r.region == "regions/low_back")
        .unwrap();
    assert_eq!((lb.first_score, lb.latest_score, lb.check_ins), (4, 4, 1));
    assert!(lb.summary.starts_with("low back: 4"), "{}", lb.summary);
    assert_eq!(lb.daily.len(), 1);

    let export = session
        .export_user_data(stack.as_user("ana", ses::ExportUserDataRequest {}))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export.check_ins.len(), 2);

    // Refusals: unknown region, score out of range, both; bad dates; no token.
    for (req, fields) in [
        (record("e1", "regions/nowhere", 5), vec!["region"]),
        (record("e2", "regions/low_back", 11), vec!["score"]),
        (
            record("", "low_back", -1),
            vec!["request_id", "region", "score"],
        ),
    ] {
        let err = session
            .record_check_in(stack.as_user("ana", req))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let got: Vec<String> = err
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
            .unwrap_or_default();
        assert_eq!(got, fields);
    }
    let err = session
        .list_check_ins(stack.as_user(
            "ana",
            ses::ListCheckInsRequest {
                start_date: "2026-13-01".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = session
        .list_region_progress(stack.as_user("ana", ses::ListRegionProgressRequest { days: 401 }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = session
        .record_check_in(record("n1", "regions/low_back", 3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

/// The clinician's report: a FHIR R4 collection Bundle built by the real
/// service from a real check-in and session, pseudonymous, with the date
/// range and sections the person chose. The bundle is also written to
/// `target/tmp/fhir-bundle.json`, which CI validates with `fhir.resources`
/// (`.ci/fhir.sh`).
#[tokio::test]
async fn fhir_bundle_for_a_clinician() {
    use knotwork_proto::session::v1 as ses;
    let stack = TestStack::start().await;
    let mut session = stack.session().await;
    let user = "carol-secret-id";
    session
        .record_check_in(stack.as_user(
            user,
            ses::RecordCheckInRequest {
                request_id: "f1".into(),
                region: "regions/low_back".into(),
                score: 6,
            },
        ))
        .await
        .unwrap();
    session
        .log_session(stack.as_user(
            user,
            ses::LogSessionRequest {
                request_id: "f2".into(),
                session: Some(ses::SessionRecord {
                    trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
                    tool: "tools/ql_claw".into(),
                    side: cat::Side::Left as i32,
                    pressure: 5,
                    duration_seconds: 240,
                    tenderness_before: Some(6),
                    tenderness_after: Some(4),
                    notes: "my private note".into(),
                    perform_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap();

    let report = session
        .export_fhir_bundle(stack.as_user(user, ses::ExportFhirBundleRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.observations, report.procedures), (1, 1));
    let bundle: serde_json::Value = serde_json::from_str(&report.bundle_json).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Patient", "Observation", "Procedure"]);
    let patient_id = entries[0]["resource"]["id"].as_str().unwrap();
    let obs = &entries[1]["resource"];
    assert_eq!(obs["code"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(obs["code"]["coding"][0]["code"], "72514-3");
    assert_eq!(obs["valueInteger"], 6);
    assert_eq!(obs["bodySite"]["coding"][0]["code"], "low_back");
    assert_eq!(obs["subject"]["reference"], format!("Patient/{patient_id}"));
    let proc = &entries[2]["resource"];
    assert_eq!(proc["status"], "completed");
    assert!(
        proc["note"][0]["text"]
            .as_str()
            .unwrap()
            .contains("6/10 before")
    );
    assert!(!report.bundle_json.contains(user), "user id in the bundle");
    assert!(!report.bundle_json.contains("my private note"));

    // What to include, and when.
    let only_pain = session
        .export_fhir_bundle(stack.as_user(
            user,
            ses::ExportFhirBundleRequest {
                omit_sessions: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((only_pain.observations, only_pain.procedures), (1, 0));
    let long_ago = session
        .export_fhir_bundle(stack.as_user(
            user,
            ses::ExportFhirBundleRequest {
                start_date: "2020-01-01".into(),
                end_date: "2020-01-31".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((long_ago.observations, long_ago.procedures), (0, 0));
    let err = session
        .export_fhir_bundle(stack.as_user(
            user,
            ses::ExportFhirBundleRequest {
                start_date: "yesterday".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // For the CI validator (a real FHIR library).
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-bundle.json");
    std::fs::write(&path, &report.bundle_json).unwrap();
}

#[cfg(test)]
mod plan {
    //! Today's plan, reminders, the iCalendar export, streaks and the
    //! region next-suspect rule, through the gateway.

    use std::time::{Duration, SystemTime};

    use knotwork_proto::gateway::v1 as gw;
    use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
    use knotwork_proto::session::v1 as ses;
    use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
    use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
    use knotwork_tests::TestStack;
    use tonic::Code;
    use tonic::transport::Channel;
    use tonic_types::StatusExt;

    const QL: &str = "triggerPoints/quadratus_lumborum_superficial";
    const DAY: u64 = 86_400;

    fn ago(seconds: u64) -> prost_types::Timestamp {
        prost_types::Timestamp::from(SystemTime::now() - Duration::from_secs(seconds))
    }

    /// A fixed-offset zone where it is about noon now, so that "n days ago,
    /// minus a few minutes" always falls on local day `today - n`.
    fn noon_zone() -> String {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let hour = i64::try_from(secs % DAY / 3600).unwrap();
        // Etc/GMT+N is N hours behind UTC.
        match hour - 12 {
            0 => "Etc/GMT".to_owned(),
            n if n > 0 => format!("Etc/GMT+{n}"),
            n => format!("Etc/GMT{n}"),
        }
    }

    fn fields(err: &tonic::Status) -> Vec<String> {
        err.get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    async fn set_profile(
        stack: &TestStack,
        s: &mut SessionServiceClient<Channel>,
        user: &str,
        zone: &str,
        wake: &str,
        sleep: &str,
    ) {
        s.update_profile(stack.as_user(
            user,
            ses::UpdateProfileRequest {
                profile: Some(ses::Profile {
                    time_zone: zone.into(),
                    tools: vec!["tools/lacrosse_ball".into()],
                    wake_time: wake.into(),
                    sleep_time: sleep.into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
        ))
        .await
        .unwrap();
    }

    async fn log(
        stack: &TestStack,
        s: &mut SessionServiceClient<Channel>,
        user: &str,
        point: &str,
        seconds_ago: u64,
    ) {
        s.log_session(stack.as_user(
            user,
            ses::LogSessionRequest {
                request_id: format!("{point}-{seconds_ago}"),
                session: Some(ses::SessionRecord {
                    trigger_point: point.into(),
                    tool: "tools/lacrosse_ball".into(),
                    side: knotwork_proto::catalog::v1::Side::Both as i32,
                    pressure: 5,
                    duration_seconds: 90,
                    perform_time: Some(ago(seconds_ago)),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap();
    }

    async fn today(
        stack: &TestStack,
        v: &mut ViewServiceClient<Channel>,
        user: &str,
        date: &str,
    ) -> gw::GetTodayResponse {
        v.get_today(stack.as_user(
            user,
            gw::GetTodayRequest {
                local_date: date.into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
    }

    fn local_times(plan: &ses::DailyPlan) -> Vec<&str> {
        plan.slots.iter().map(|s| s.local_time.as_str()).collect()
    }

    fn seconds(plan: &ses::DailyPlan) -> Vec<i64> {
        plan.slots
            .iter()
            .map(|s| s.time.as_ref().unwrap().seconds)
            .collect()
    }

    /// The schedule: points, sessions left within the daily limit, times
    /// spread through the waking hours (an early riser and a late one),
    /// correct on daylight-saving days, bounded and with totals.
    #[tokio::test]
    async fn today_is_a_schedule_through_the_waking_hours() {
        let stack = TestStack::start().await;
        let mut s = stack.session().await;
        let mut v = ViewServiceClient::new(stack.channel().await);

        // An early riser in Berlin who worked the QL yesterday and once today.
        set_profile(&stack, &mut s, "early", "Europe/Berlin", "05:00", "21:00").await;
        log(&stack, &mut s, "early", QL, DAY).await;
        log(&stack, &mut s, "early", QL, 60).await;
        let t = today(&stack, &mut v, "early", "").await;
        let plan = t.plan.unwrap();
        assert_eq!(
            (plan.wake_time.as_str(), plan.sleep_time.as_str()),
            ("05:00", "21:00")
        );
        assert_eq!(plan.points.len(), 1);
        let p = &plan.points[0];
        assert_eq!(p.trigger_point, QL);
        assert_eq!(
            (
                p.sessions_planned,
                p.sessions_done,
                p.sessions_left,
                p.sessions_allowed
            ),
            (3, 1, 2, 5)
        );
        assert_eq!(
            (
                plan.sessions_planned,
                plan.sessions_done,
                plan.sessions_left
            ),
            (3, 1, 2)
        );
        assert_eq!(plan.points_total, 1);
        assert_eq!(plan.slots.len(), 3);
        // The first slot holds the session done; every slot lies in 05:00-21:00.
        assert_eq!(plan.slots[0].state, ses::SlotState::Done as i32);
        assert!(plan.slots[0].trigger_points_left.is_empty());
        assert_eq!(plan.slots[2].trigger_points_left, [QL]);
        for s in &plan.slots {
            let hhmm = &s.local_time[11..16];
            assert!(("05:00".."21:00").contains(&hhmm), "{}", s.local_time);
        }
        assert_eq!(t.progress_total, 1);
        let a = t.adherence.unwrap();
        assert_eq!((a.streak_days, a.streak_includes_today), (2, true));

        // The spring-forward day and the day before: the same wall-clock
        // times, offsets +01:00 then +02:00, 23 hours apart in real time.
        let before = today(&stack, &mut v, "early", "2027-03-27")
            .await
            .plan
            .unwrap();
        let dst = today(&stack, &mut v, "early", "2027-03-28")
            .await
            .plan
            .unwrap();
        assert_eq!(
            local_times(&before),
            [
                "2027-03-27T07:40:00+01:00",
                "2027-03-27T13:00:00+01:00",
                "2027-03-27T18:20:00+01:00"
            ]
        );
        assert_eq!(
            local_times(&dst),
            [
                "2027-03-28T07:40:00+02:00",
                "2027-03-28T13:00:00+02:00",
                "2027-03-28T18:20:00+02:00"
            ]
        );
        for (a, b) in seconds(&before).iter().zip(seconds(&dst)) {
            assert_eq!(b - a, 23 * 3600);
        }
        // A day ahead plans from today's points, nothing done yet.
        assert_eq!(dst.sessions_left, 3);
        assert!(
            dst.slots
                .iter()
                .all(|s| s.state == ses::SlotState::Upcoming as i32)
        );

        // A late riser in New York, asleep at 02:00: the times end at
        // midnight, and stay on the wall clock across both changes.
        set_profile(&stack, &mut s, "owl", "America/New_York", "12:00", "02:00").await;
        log(&stack, &mut s, "owl", QL, DAY).await;
        for (date, offset) in [("2027-03-14", "-04:00"), ("2027-11-07", "-05:00")] {
            let plan = today(&stack, &mut v, "owl", date).await.plan.unwrap();
            let want: Vec<String> = ["14:00", "18:00", "22:00"]
                .iter()
                .map(|h| format!("{date}T{h}:00{offset}"))
                .collect();
            assert_eq!(local_times(&plan), want);
        }

        // Bad input is refused naming the field.
        let err = v
            .get_today(stack.as_user(
                "early",
                gw::GetTodayRequest {
                    local_date: "2026-02-30".into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(fields(&err), ["local_date"]);
        for (wake, sleep, field) in [
            ("25:00", "22:00", "profile.wake_time"),
            ("09:00", "11:00", "profile.sleep_time"),
        ] {
            let err = s
                .update_profile(stack.as_user(
                    "early",
                    ses::UpdateProfileRequest {
                        profile: Some(ses::Profile {
                            wake_time: wake.into(),
                            sleep_time: sleep.into(),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec!["wake_time".into(), "sleep_time".into()],
                        }),
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert_eq!(fields(&err), [field]);
        }
        // The refused updates changed nothing.
        let profile = s
            .get_profile(stack.as_user("early", ses::GetProfileRequest {}))
            .await
            .unwrap()
            .into_inner()
            .profile
            .unwrap();
        assert_eq!(
            (profile.wake_time.as_str(), profile.sleep_time.as_str()),
            ("05:00", "21:00")
        );
    }

    /// Reminders for native notifications (paged, in the window, across a
    /// daylight-saving change) and the week as an iCalendar file.
    #[tokio::test]
    async fn reminders_and_the_calendar() {
        let stack = TestStack::start().await;
        let mut s = stack.session().await;
        set_profile(&stack, &mut s, "rem", "Europe/Berlin", "", "").await;
        log(&stack, &mut s, "rem", QL, DAY).await;

        // The coming week, in pages of 5: the same as one page.
        let all = s
            .list_reminders(stack.as_user("rem", ses::ListRemindersRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert!(all.next_page_token.is_empty());
        // 6 days ahead in full (3 each) and what is left of today.
        assert!(
            (18..=21).contains(&all.reminders.len()),
            "{}",
            all.reminders.len()
        );
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let now = i64::try_from(now).unwrap();
        let mut last = 0;
        for r in &all.reminders {
            let t = r.time.as_ref().unwrap().seconds;
            assert!(t >= now - 60 && t < now + 7 * 86_400 + 60, "{r:?}");
            assert!(t > last, "soonest first");
            last = t;
            assert_eq!(r.trigger_points, [QL]);
            assert!(r.body.contains("QL superficial point"), "{}", r.body);
            assert!(r.name.starts_with(&format!("reminders/{}.", r.local_date)));
        }
        let mut paged = Vec::new();
        let mut token = String::new();
        for _ in 0..10 {
            let page = s
                .list_reminders(stack.as_user(
                    "rem",
                    ses::ListRemindersRequest {
                        start_time: all.reminders[0].time,
                        end_time: Some(prost_types::Timestamp {
                            seconds: all.reminders[0].time.unwrap().seconds + 7 * 86_400,
                            nanos: 0,
                        }),
                        page_size: 5,
                        page_token: token.clone(),
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            assert!(page.reminders.len() <= 5);
            paged.extend(page.reminders.into_iter().map(|r| r.name));
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        let names: Vec<String> = all.reminders.iter().map(|r| r.name.clone()).collect();
        assert_eq!(paged[..names.len()], names[..]);

        // A window across Berlin's spring-forward night.
        let dst = s
            .list_reminders(stack.as_user(
                "rem",
                ses::ListRemindersRequest {
                    start_time: Some("2027-03-27T00:00:00Z".parse().unwrap()),
                    end_time: Some("2027-03-30T00:00:00Z".parse().unwrap()),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let times: Vec<&str> = dst
            .reminders
            .iter()
            .map(|r| r.local_time.as_str())
            .collect();
        assert_eq!(
            times,
            [
                "2027-03-27T09:30:00+01:00",
                "2027-03-27T14:30:00+01:00",
                "2027-03-27T19:30:00+01:00",
                "2027-03-28T09:30:00+02:00",
                "2027-03-28T14:30:00+02:00",
                "2027-03-28T19:30:00+02:00",
                "2027-03-29T09:30:00+02:00",
                "2027-03-29T14:30:00+02:00",
                "2027-03-29T19:30:00+02:00",
            ]
        );

        // Windows that are refused, naming the field.
        for (start, end, field) in [
            ("2027-03-27T00:00:00Z", "2027-03-26T00:00:00Z", "end_time"),
            ("2027-03-01T00:00:00Z", "2027-03-20T00:00:00Z", "end_time"),
            ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", "start_time"),
        ] {
            let err = s
                .list_reminders(stack.as_user(
                    "rem",
                    ses::ListRemindersRequest {
                        start_time: Some(start.parse().unwrap()),
                        end_time: Some(end.parse().unwrap()),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert_eq!(fields(&err), [field], "{start} {end}");
        }
        let err = s
            .list_reminders(stack.as_user(
                "rem",
                ses::ListRemindersRequest {
                    page_token: "forged".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(fields(&err), ["page_token"]);

        // The calendar: the coming week, three events a day.
        let cal = s
            .export_calendar(stack.as_user("rem", ses::ExportCalendarRequest::default()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cal.content_type, "text/calendar");
        assert_eq!(cal.events, 21);
        let text = String::from_utf8(cal.calendar).unwrap();
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert_eq!(text.matches("BEGIN:VEVENT\r\n").count(), 21);
        assert!(
            !text.contains("rem@") && !text.contains(":rem"),
            "user id in the file"
        );
        // Across the change: 09:30 local is 08:30Z, then 07:30Z.
        let dst = s
            .export_calendar(stack.as_user(
                "rem",
                ses::ExportCalendarRequest {
                    start_date: "2027-03-27".into(),
                    days: 2,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let text = String::from_utf8(dst.calendar).unwrap();
        assert_eq!(dst.events, 6);
        assert!(text.contains("\r\nDTSTART:20270327T083000Z\r\n"), "{text}");
        assert!(text.contains("\r\nDTSTART:20270328T073000Z\r\n"), "{text}");
        let err = s
            .export_calendar(stack.as_user(
                "rem",
                ses::ExportCalendarRequest {
                    start_date: String::new(),
                    days: 15,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(fields(&err), ["days"]);
    }

    /// Days in a row and the week's sessions done against planned, on
    /// Today and on Progress alike.
    #[tokio::test]
    async fn streaks_and_adherence() {
        let stack = TestStack::start().await;
        let mut s = stack.session().await;
        let mut v = ViewServiceClient::new(stack.channel().await);
        set_profile(&stack, &mut s, "streak", &noon_zone(), "", "").await;
        // Days -5 (1 session), -3 (3), -2 (1), -1 (2); none today yet.
        for (day, n) in [(5, 1), (3, 3), (2, 1), (1, 2)] {
            for k in 0..n {
                log(&stack, &mut s, "streak", QL, day * DAY + k * 60).await;
            }
        }
        let a = today(&stack, &mut v, "streak", "").await.adherence.unwrap();
        // Planned: the QL on days -5..0 (6 days x 3); done 1+0+3+1+2+0.
        assert_eq!(
            (
                a.streak_days,
                a.streak_includes_today,
                a.week_sessions_done,
                a.week_sessions_planned,
                a.week_active_days,
                a.week_percent
            ),
            (3, false, 7, 18, 4, 38)
        );
        let p = s
            .list_progress(stack.as_user("streak", ses::ListProgressRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .adherence
            .unwrap();
        assert_eq!(p, a, "Progress and Today agree");

        // A session today extends the streak and counts in the week.
        log(&stack, &mut s, "streak", QL, 0).await;
        let a = today(&stack, &mut v, "streak", "").await.adherence.unwrap();
        assert_eq!(
            (a.streak_days, a.streak_includes_today, a.week_sessions_done),
            (4, true, 8)
        );
        // Someone who never worked has nothing planned and no streak.
        let none = today(&stack, &mut v, "nobody", "").await;
        let a = none.adherence.unwrap();
        assert_eq!(
            (a.streak_days, a.week_sessions_planned, a.week_percent),
            (0, 0, 0)
        );
        assert!(none.plan.unwrap().slots.is_empty());
    }

    /// A region whose pain check-ins are not better after a consistent week
    /// moves the relief plan on to the region's other muscles, with a
    /// reason; a held point is never the next suspect.
    #[tokio::test]
    async fn a_region_not_better_moves_the_next_suspect() {
        let stack = TestStack::start().await;
        let mut s = stack.session().await;
        let mut v = ViewServiceClient::new(stack.channel().await);
        let user = "region";
        set_profile(&stack, &mut s, user, &noon_zone(), "", "").await;
        s.submit_screening(stack.as_user(user, cleared_screening(&stack).await))
            .await
            .unwrap();

        // A week of check-ins at 6, imported (check-ins are recorded for
        // today only), then today's through the gateway.
        let export = s
            .export_user_data(stack.as_user(user, ses::ExportUserDataRequest {}))
            .await
            .unwrap()
            .into_inner()
            .export
            .unwrap();
        let today_date = export_today(&mut s, &stack, user).await;
        let mut data = export.clone();
        data.check_ins = (1..=6)
            .map(|n| {
                let d = today_date - jiff::Span::new().days(n);
                ses::PainCheckIn {
                    name: format!("checkIns/{d}.low_back"),
                    region: "regions/low_back".into(),
                    score: 6,
                    local_date: d.to_string(),
                    record_time: Some(ago(u64::try_from(n).unwrap() * DAY)),
                }
            })
            .collect();
        let mut admin = SessionAdminServiceClient::new(
            Channel::from_shared(stack.session_urls[0].clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
        let mut req = tonic::Request::new(ses::ImportUserRequest { export: Some(data) });
        req.metadata_mut().insert(
            knotwork_proto::metadata::INTERNAL_TOKEN,
            knotwork_tests::INTERNAL_TOKEN.parse().unwrap(),
        );
        admin.import_user(req).await.unwrap();
        s.record_check_in(stack.as_user(
            user,
            ses::RecordCheckInRequest {
                request_id: "today".into(),
                region: "regions/low_back".into(),
                score: 6,
            },
        ))
        .await
        .unwrap();
        // The QL worked on 5 of the last 7 days (no tenderness readings,
        // so the point's own rule says nothing).
        for day in 0..5 {
            log(&stack, &mut s, user, QL, day * DAY).await;
        }

        let regions = s
            .list_region_progress(stack.as_user(user, ses::ListRegionProgressRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .regions;
        let lb = regions
            .iter()
            .find(|r| r.region == "regions/low_back")
            .unwrap();
        assert_eq!(
            lb.status,
            ses::ProgressStatus::NotImproving as i32,
            "{lb:?}"
        );
        assert_eq!(lb.tried_trigger_points, [QL]);
        assert!(!lb.advice.is_empty());

        let plan = relief(&stack, &mut v, user).await;
        assert!(!plan.suggested_next.is_empty(), "a next suspect");
        assert_ne!(plan.suggested_next, QL);
        let next_muscle = muscle_of(&plan, &plan.suggested_next);
        assert_ne!(next_muscle, muscle_of(&plan, QL));
        assert!(
            plan.suggested_next_reason
                .contains("not better after a consistent week"),
            "{}",
            plan.suggested_next_reason
        );
        // The tried muscle carries the reason in its adjustments.
        let tried = plan
            .candidates
            .iter()
            .find(|c| c.points.iter().any(|p| p.trigger_point == QL))
            .unwrap();
        assert!(tried.adjustments.iter().any(|a| a.delta < 0.0));

        // The suggested point goes on hold (sharp pain): never suggested.
        let held = plan.suggested_next.clone();
        s.log_session(stack.as_user(
            user,
            ses::LogSessionRequest {
                request_id: "sharp".into(),
                session: Some(ses::SessionRecord {
                    trigger_point: held.clone(),
                    tool: "tools/lacrosse_ball".into(),
                    side: knotwork_proto::catalog::v1::Side::Both as i32,
                    pressure: 4,
                    duration_seconds: 60,
                    pain_quality: ses::PainQuality::Sharp as i32,
                    perform_time: Some(ago(0)),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap();
        let after = relief(&stack, &mut v, user).await;
        assert_ne!(after.suggested_next, held);
        assert!(after.set_aside.iter().any(|p| p.trigger_point == held));
        if !after.suggested_next.is_empty() {
            assert_ne!(muscle_of(&after, &after.suggested_next), next_muscle);
            assert_ne!(
                muscle_of(&after, &after.suggested_next),
                muscle_of(&plan, QL)
            );
        }
    }

    async fn relief(
        stack: &TestStack,
        v: &mut ViewServiceClient<Channel>,
        user: &str,
    ) -> gw::GetReliefPlanResponse {
        v.get_relief_plan(stack.as_user(
            user,
            gw::GetReliefPlanRequest {
                locations: vec![knotwork_proto::catalog::v1::PainLocation {
                    region: "low back".into(),
                    ..Default::default()
                }],
                max_candidates: 20,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
    }

    /// The muscle of a point among the plan's candidates (or set aside).
    fn muscle_of(plan: &gw::GetReliefPlanResponse, point: &str) -> String {
        plan.candidates
            .iter()
            .find(|c| c.points.iter().any(|p| p.trigger_point == point))
            .and_then(|c| c.r#match.as_ref())
            .and_then(|m| m.muscle.as_ref())
            .map(|m| m.name.clone())
            .unwrap_or_else(|| format!("(not a candidate: {point})"))
    }

    /// Today's local date for `user`, from the service itself.
    async fn export_today(
        s: &mut SessionServiceClient<Channel>,
        stack: &TestStack,
        user: &str,
    ) -> jiff::civil::Date {
        s.get_day(stack.as_user(user, ses::GetDayRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .local_date
            .parse()
            .unwrap()
    }

    /// Every screening question answered "no".
    async fn cleared_screening(stack: &TestStack) -> ses::SubmitScreeningRequest {
        use knotwork_proto::catalog::v1 as cat;
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
        ses::SubmitScreeningRequest {
            answers: conditions
                .iter()
                .map(|c| ses::ScreeningAnswer {
                    contraindication: c.name.clone(),
                    ..Default::default()
                })
                .collect(),
        }
    }
}
