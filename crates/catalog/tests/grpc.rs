//! The service over real gRPC on 127.0.0.1:0: codes, details, pagination,
//! caching, reloads.

mod common;

use std::time::Duration;

use common::{FIXTURE, TestServer, internal};
use knotwork_proto::catalog::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

#[track_caller]
fn assert_violation(status: &tonic::Status, code: Code, field: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let br = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    assert!(
        br.field_violations.iter().any(|v| v.field == field),
        "no violation of {field} in {:?}",
        br.field_violations
    );
}

fn low_back(page_size: i32, page_token: String) -> pb::FindByPainRequest {
    pb::FindByPainRequest {
        locations: vec![pb::PainLocation {
            region: "lower back".into(),
            side: pb::Side::Left as i32,
        }],
        symptoms: vec![],
        page_size,
        page_token,
    }
}

#[tokio::test]
async fn gets_carry_the_version_and_bad_names_are_refused() {
    let server = TestServer::start().await;
    let mut c = server.client();
    let version = c
        .get_catalog_version(pb::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.catalog_version.len(), 64);
    assert!(!version.edition.is_empty());

    // The real catalog's ids are the content author's; find one through a list.
    let first = c
        .list_trigger_points(pb::ListTriggerPointsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let name = first.trigger_points[0].name.clone();
    let got = c
        .get_trigger_point(pb::GetTriggerPointRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.trigger_point.unwrap().name, name);
    assert_eq!(got.catalog_version, version.catalog_version);

    let missing = c
        .get_trigger_point(pb::GetTriggerPointRequest {
            name: "triggerPoints/no_such_point".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    for bad in [
        "",
        "no_such_point",
        "muscles/upper_trapezius",
        "triggerPoints/Bad-Id",
    ] {
        let err = c
            .get_trigger_point(pb::GetTriggerPointRequest { name: bad.into() })
            .await
            .unwrap_err();
        assert_violation(&err, Code::InvalidArgument, "name");
    }
    let err = c
        .get_muscle(pb::GetMuscleRequest {
            name: "muscles/nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let m = c
        .get_muscle(pb::GetMuscleRequest {
            name: "muscles/quadratus_lumborum".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!m.muscle.unwrap().trigger_points.is_empty());
    let r = c
        .get_region(pb::GetRegionRequest {
            name: "regions/low_back".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.region.unwrap().red_flags.is_empty());
    let t = c
        .get_tool(pb::GetToolRequest {
            name: "tools/ql_claw".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        t.tool
            .unwrap()
            .suited_muscles
            .contains(&"muscles/quadratus_lumborum".to_owned())
    );

    let batch = c
        .batch_get_trigger_points(pb::BatchGetTriggerPointsRequest {
            names: vec![name.clone(), name.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.trigger_points.len(), 2);
    let err = c
        .batch_get_trigger_points(pb::BatchGetTriggerPointsRequest {
            names: vec![name.clone(), "x".into()],
        })
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "names[1]");
    let err = c
        .batch_get_trigger_points(pb::BatchGetTriggerPointsRequest { names: vec![] })
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "names");
}

#[tokio::test]
async fn find_by_pain_pages_and_refuses_bad_requests() {
    let server = TestServer::start().await;
    let mut c = server.client();
    let all = c
        .find_by_pain(low_back(100, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert!(all.matches.len() > 3);
    assert!(all.next_page_token.is_empty());
    assert_eq!(all.resolved_locations[0].region, "regions/low_back");
    assert!(!all.red_flags.is_empty());
    // Press the side that hurts.
    for m in &all.matches {
        for tp in &m.trigger_points {
            if tp.trigger_point.as_ref().unwrap().bilateral {
                assert_eq!(tp.press_side, pb::Side::Left as i32);
            }
        }
    }
    // Scores never rise down the list; primary muscles come first.
    for w in all.matches.windows(2) {
        assert!(w[0].score >= w[1].score);
        assert!(w[0].primary || !w[1].primary);
    }

    let mut paged = Vec::new();
    let mut token = String::new();
    let mut tokens = Vec::new();
    loop {
        let page = c
            .find_by_pain(low_back(2, token.clone()))
            .await
            .unwrap()
            .into_inner();
        assert!(page.matches.len() <= 2);
        paged.extend(page.matches.into_iter().map(|m| m.muscle.unwrap().name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        tokens.push(token.clone());
    }
    let expected: Vec<String> = all
        .matches
        .iter()
        .map(|m| m.muscle.clone().unwrap().name)
        .collect();
    assert_eq!(paged, expected);

    // A tampered token, a token of another query, junk.
    let mut tampered = tokens[0].clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let err = c.find_by_pain(low_back(2, tampered)).await.unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "page_token");
    let mut other = low_back(2, tokens[0].clone());
    other.locations[0].region = "temple".into();
    let err = c.find_by_pain(other).await.unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "page_token");
    let err = c
        .find_by_pain(low_back(2, "garbage!".into()))
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "page_token");

    for size in [-1, 101] {
        let err = c
            .find_by_pain(low_back(size, String::new()))
            .await
            .unwrap_err();
        assert_violation(&err, Code::InvalidArgument, "page_size");
    }
    let err = c
        .find_by_pain(pb::FindByPainRequest::default())
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "locations");
    let mut unknown = low_back(0, String::new());
    unknown.locations.push(pb::PainLocation {
        region: "xyzzy".into(),
        side: 0,
    });
    unknown.symptoms.push("qwertyuiop".into());
    let err = c.find_by_pain(unknown).await.unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "locations[1].region");
    assert_violation(&err, Code::InvalidArgument, "symptoms[0]");
}

#[tokio::test]
async fn search_is_typo_tolerant_and_validated() {
    let server = TestServer::start().await;
    let mut c = server.client();
    let search = |q: &str| pb::SearchRequest {
        query: q.into(),
        ..Default::default()
    };
    let r = c.search(search("trapezious")).await.unwrap().into_inner();
    assert!(
        r.results[0].resource.starts_with("muscles/")
            && r.results[0].resource.contains("trapezius"),
        "{:?}",
        r.results[0]
    );
    let r = c.search(search("Lacrosse")).await.unwrap().into_inner();
    assert_eq!(r.results[0].resource, "tools/lacrosse_ball");
    let r = c.search(search("shin pain")).await.unwrap().into_inner();
    assert!(
        r.results
            .iter()
            .any(|h| h.resource == "muscles/tibialis_anterior"),
        "{:?}",
        r.results
    );
    let only_tools = c
        .search(pb::SearchRequest {
            query: "ball".into(),
            kinds: vec![pb::ResourceKind::Tool as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!only_tools.results.is_empty());
    assert!(
        only_tools
            .results
            .iter()
            .all(|h| h.kind == pb::ResourceKind::Tool as i32)
    );

    let err = c.search(search("   ")).await.unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "query");
    let err = c.search(search(&"a".repeat(201))).await.unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "query");
    let err = c
        .search(pb::SearchRequest {
            query: "neck".into(),
            kinds: vec![0],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "kinds[0]");
}

#[tokio::test]
async fn lists_filter_and_snapshot_caches() {
    let server = TestServer::start().await;
    let mut c = server.client();
    let muscles = c
        .list_muscles(pb::ListMusclesRequest {
            tool: "tools/ql_claw".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        muscles
            .muscles
            .iter()
            .any(|m| m.name == "muscles/quadratus_lumborum")
    );
    let tools = c
        .list_tools(pb::ListToolsRequest {
            muscle: "muscles/quadratus_lumborum".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(tools.tools.iter().any(|t| t.name == "tools/ql_claw"));
    let pts = c
        .list_trigger_points(pb::ListTriggerPointsRequest {
            muscle: "muscles/quadratus_lumborum".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!pts.trigger_points.is_empty());
    assert!(
        pts.trigger_points
            .iter()
            .all(|t| t.muscle == "muscles/quadratus_lumborum")
    );
    let err = c
        .list_trigger_points(pb::ListTriggerPointsRequest {
            region: "regions/atlantis".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .list_muscles(pb::ListMusclesRequest {
            region: "atlantis".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "region");
    let err = c
        .list_regions(pb::ListRegionsRequest {
            page_size: 501,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "page_size");
    let backs = c
        .list_regions(pb::ListRegionsRequest {
            area: "low back".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(backs.regions.iter().any(|r| r.name == "regions/low_back"));
    assert!(backs.regions.iter().all(|r| r.area == "Low back"));
    // Paging regions 10 at a time covers them all once.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let p = c
            .list_regions(pb::ListRegionsRequest {
                page_size: 10,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(p.regions.into_iter().map(|r| r.name));
        if p.next_page_token.is_empty() {
            break;
        }
        token = p.next_page_token;
    }
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), names.len());
    assert!(names.len() >= 40);

    let conditions = c
        .list_contraindications(pb::ListContraindicationsRequest {
            kind: pb::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(conditions.contraindications.len() >= 7);
    assert!(
        conditions
            .contraindications
            .iter()
            .all(|x| !x.screening_question.is_empty())
    );
    let guidance = c
        .get_technique_guidance(pb::GetTechniqueGuidanceRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(guidance.guidance.unwrap().target_pressure, 5);
    assert!(
        !c.list_red_flags(pb::ListRedFlagsRequest {})
            .await
            .unwrap()
            .into_inner()
            .red_flags
            .is_empty()
    );
    assert!(
        !c.list_sources(pb::ListSourcesRequest {})
            .await
            .unwrap()
            .into_inner()
            .sources
            .is_empty()
    );
    assert!(
        !c.list_symptoms(pb::ListSymptomsRequest {})
            .await
            .unwrap()
            .into_inner()
            .symptoms
            .is_empty()
    );

    let snap = c
        .get_catalog_snapshot(pb::GetCatalogSnapshotRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!snap.not_modified);
    let s = snap.snapshot.unwrap();
    assert_eq!(s.catalog_version, snap.catalog_version);
    assert!(s.trigger_points.len() >= 60);
    let again = c
        .get_catalog_snapshot(pb::GetCatalogSnapshotRequest {
            if_none_match: snap.catalog_version.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.not_modified);
    assert!(again.snapshot.is_none());
    assert_eq!(again.catalog_version, snap.catalog_version);
}

#[tokio::test]
async fn recommended_tools_list_techniques_and_exclusions() {
    let (server, _file) = TestServer::with_file(FIXTURE).await;
    let mut c = server.client();
    let r = c
        .list_recommended_tools(pb::ListRecommendedToolsRequest {
            trigger_point: "triggerPoints/sternocleidomastoid_1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.recommended[0].tool.as_ref().unwrap().name,
        "tools/fingers"
    );
    assert!(!r.recommended[0].instructions.is_empty());
    assert_eq!(r.excluded[0].tool, "tools/massage_gun");
    let err = c
        .list_recommended_tools(pb::ListRecommendedToolsRequest {
            trigger_point: "triggerPoints/nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn reload_needs_the_credential_swaps_and_refuses_bad_files() {
    let (server, file) = TestServer::with_file(FIXTURE).await;
    let mut c = server.client();
    let mut admin = server.admin();
    let v1 = c
        .get_catalog_version(pb::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner()
        .catalog_version;

    let err = admin
        .reload_catalog(pb::ReloadCatalogRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let unchanged = admin
        .reload_catalog(internal(pb::ReloadCatalogRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!unchanged.changed);
    assert_eq!(unchanged.catalog_version, v1);

    // A page token cut from this version...
    let temple = |token: String| pb::FindByPainRequest {
        locations: vec![pb::PainLocation {
            region: "temple".into(),
            side: 0,
        }],
        symptoms: vec![],
        page_size: 1,
        page_token: token,
    };
    let first = c
        .find_by_pain(temple(String::new()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());

    std::fs::write(
        &file,
        FIXTURE.replace("edition = \"test.1\"", "edition = \"test.2\""),
    )
    .unwrap();
    let r = admin
        .reload_catalog(internal(pb::ReloadCatalogRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(r.changed);
    assert_eq!(r.previous_version, v1);
    let v2 = c
        .get_catalog_version(pb::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.catalog_version, r.catalog_version);
    assert_eq!(v2.edition, "test.2");
    // ...is refused by the next version rather than giving a shifted page.
    let err = c
        .find_by_pain(temple(first.next_page_token))
        .await
        .unwrap_err();
    assert_violation(&err, Code::InvalidArgument, "page_token");

    // A bad file is refused, naming the entry; the old version keeps serving.
    std::fs::write(
        &file,
        FIXTURE.replace("muscle = \"piriformis\"", "muscle = \"piriformiss\""),
    )
    .unwrap();
    let err = admin
        .reload_catalog(internal(pb::ReloadCatalogRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("trigger_points[piriformis_1]"),
        "{}",
        err.message()
    );
    let info = err.get_details_error_info().unwrap();
    assert_eq!(info.reason, "CATALOG_INVALID");
    assert_eq!(info.domain, "knotwork.dev");
    let still = c
        .get_catalog_version(pb::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.catalog_version, v2.catalog_version);
    std::fs::remove_file(&file).unwrap();
    let err = admin
        .reload_catalog(internal(pb::ReloadCatalogRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // A restart serves the stored (imported) version of the last good file.
    std::fs::write(
        &file,
        FIXTURE.replace("edition = \"test.1\"", "edition = \"test.2\""),
    )
    .unwrap();
    let dir = server.stop().await;
    let f = file.clone();
    let server = TestServer::start_in(dir, move |c| c.catalog_file = Some(f)).await;
    let after = server
        .client()
        .get_catalog_version(pb::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.catalog_version, v2.catalog_version);
}

#[tokio::test]
async fn readers_never_see_a_mix_during_reloads() {
    let a = FIXTURE.to_owned();
    let b = FIXTURE.replace("About 5 of 10.", "Version B pressure.");
    let (server, file) = TestServer::with_file(&a).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let mut c = server.client();
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = std::collections::HashMap::<String, String>::new();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let s = c
                    .get_catalog_snapshot(pb::GetCatalogSnapshotRequest::default())
                    .await
                    .unwrap()
                    .into_inner();
                let snap = s.snapshot.unwrap();
                // The response's version, the snapshot's version and its
                // content must all belong to one version.
                assert_eq!(s.catalog_version, snap.catalog_version);
                let text = snap.guidance.unwrap().pressure_description;
                if let Some(prev) = seen.insert(s.catalog_version.clone(), text.clone()) {
                    assert_eq!(prev, text, "one version, two contents");
                }
                n += 1;
            }
            (n, seen.len())
        }));
    }
    let mut admin = server.admin();
    for i in 0..10 {
        std::fs::write(&file, if i % 2 == 0 { &b } else { &a }).unwrap();
        let r = admin
            .reload_catalog(internal(pb::ReloadCatalogRequest {}))
            .await
            .unwrap()
            .into_inner();
        assert!(r.changed);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut versions = 0;
    for r in readers {
        let (n, v) = tokio::time::timeout(Duration::from_secs(20), r)
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        versions = versions.max(v);
    }
    // The readers really did straddle reloads.
    assert_eq!(versions, 2);
}

#[tokio::test]
async fn an_invalid_file_at_startup_stops_run_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        FIXTURE.replace("x = 0.42, y = 0.75", "x = 0.42, y = 7.5"),
    )
    .unwrap();
    let mut config = knotwork_catalog::Config::local(dir.path().join("data"));
    config.catalog_file = Some(file);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        knotwork_catalog::run(config, listener, std::future::pending()),
    )
    .await
    .expect("run must fail fast")
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("trigger_points[tibialis_anterior_1]"),
        "{err}"
    );
}

#[test]
fn the_binary_exits_non_zero_on_an_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        FIXTURE.replace("id = \"shin\"", "id = \"shin\"\nheight = 3"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_knotwork-catalog"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--catalog-file")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("height"), "{stderr}");
}

/// SIGHUP makes the binary re-read its file (unix only).
#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_file() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog.toml");
    std::fs::write(&file, FIXTURE).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_knotwork-catalog"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--catalog-file")
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    // The log line "catalog service listening" carries the bound address.
    let addr = tokio::task::spawn_blocking(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.ok()?;
            if line.contains("catalog service listening") {
                let v: serde_json::Value = serde_json::from_str(&line).ok()?;
                return v.get("addr")?.as_str().map(str::to_owned);
            }
        }
        None
    });
    let addr = tokio::time::timeout(Duration::from_secs(20), addr)
        .await
        .unwrap()
        .unwrap()
        .expect("listening line");
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c =
        knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient::new(channel);
    let before = c
        .get_catalog_version(pb::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.edition, "test.1");
    std::fs::write(
        &file,
        FIXTURE.replace("edition = \"test.1\"", "edition = \"test.hup\""),
    )
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = c
            .get_catalog_version(pb::GetCatalogVersionRequest {})
            .await
            .unwrap()
            .into_inner();
        if now.edition == "test.hup" {
            assert_ne!(now.catalog_version, before.catalog_version);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reflection_lists_the_catalog_service() {
    use futures::StreamExt as _;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let server = TestServer::start().await;
    let mut client = ServerReflectionClient::new(server.channel.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(futures::stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"knotwork.catalog.v1.CatalogService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

/// Prod mode refuses, at start, the development internal credential and
/// one shorter than 32 bytes, naming the setting; a strong one starts.
#[tokio::test]
async fn prod_mode_refuses_weak_internal_credentials() {
    use knotwork_runtime::prod::{DEV_INTERNAL_TOKEN, Mode};
    for (token, word, ok) in [
        (DEV_INTERNAL_TOKEN, "development", false),
        ("short-credential", "16 bytes", false),
        ("a-random-credential-of-32-bytes!", "", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = knotwork_catalog::Config::local(dir.path().to_path_buf());
        config.mode = Mode::Prod;
        config.internal_token = token.to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = knotwork_catalog::run(config, listener, async {}).await;
        if ok {
            result.expect("a strong credential starts (and stops at once)");
            continue;
        }
        let err = result.unwrap_err().to_string();
        assert!(err.contains("KNOTWORK_INTERNAL_TOKEN"), "{err}");
        assert!(err.contains(word), "{err}");
        assert!(!err.contains(token), "the value is not repeated: {err}");
    }
}
