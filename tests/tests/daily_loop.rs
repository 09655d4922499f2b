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
