//! Secrets and health data never reach the logs: the three binaries run at
//! `RUST_LOG=trace` with JSON logs captured, a full scenario goes through
//! the gateway (profile, screening with a provider clearance, sessions with
//! notes, a guided session, an export, refused forged and expired tokens),
//! then every captured line is scanned for the bearer tokens, the JWT
//! secret, the internal credential, the notes and the screening answers.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, INTERNAL, POINT, SECRET};

const SESSION: &str = "knotwork.session.v1.SessionService";

fn bearer<T>(token: &str, m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_health_data_in_trace_logs() {
    let root = tempfile::tempdir().unwrap();
    let trace = [("RUST_LOG", "trace".to_owned())];
    let catalog = procs::catalog(root.path(), &trace);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let session = procs::session(root.path(), &catalog.url(), &trace);
    procs::wait_serving(&session.url(), SESSION, Duration::from_secs(30)).await;
    let gateway = procs::gateway(root.path(), &catalog.url(), &[session.url()], &trace);
    procs::wait_serving(&gateway.url(), SESSION, Duration::from_secs(30)).await;

    let ch = procs::channel(&gateway.url(), Duration::from_secs(20));
    let user = "log-scan-user";
    let token = procs::token(user);
    let note = "private-note-about-my-neck-4b9f";
    let cleared = "2024-02-29";
    let mut s = SessionServiceClient::new(ch.clone());
    let conditions = cat::catalog_service_client::CatalogServiceClient::new(ch.clone())
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .contraindications;
    // The answer that must stay private: a present condition, cleared by a
    // provider on a distinctive date.
    let private_condition = conditions[0].name.clone();
    let answers = conditions
        .iter()
        .enumerate()
        .map(|(i, c)| ses::ScreeningAnswer {
            contraindication: c.name.clone(),
            present: i == 0,
            cleared_by_provider: i == 0,
            cleared_date: if i == 0 {
                cleared.into()
            } else {
                String::new()
            },
        })
        .collect();
    s.update_profile(bearer(
        &token,
        ses::UpdateProfileRequest {
            profile: Some(ses::Profile {
                time_zone: "Europe/Berlin".into(),
                tools: vec![tool.clone()],
                ..Default::default()
            }),
            update_mask: None,
        },
    ))
    .await
    .unwrap();
    s.submit_screening(bearer(&token, ses::SubmitScreeningRequest { answers }))
        .await
        .unwrap();
    let logged = s
        .log_session(bearer(
            &token,
            ses::LogSessionRequest {
                request_id: "log-scan-1".into(),
                session: Some(procs::record(&tool, 3, note)),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    s.batch_log_sessions(bearer(
        &token,
        ses::BatchLogSessionsRequest {
            requests: vec![ses::LogSessionRequest {
                request_id: "log-scan-2".into(),
                session: Some(procs::record(&tool, 2, note)),
            }],
        },
    ))
    .await
    .unwrap();
    s.get_session(bearer(&token, ses::GetSessionRequest { name: logged.name }))
        .await
        .unwrap();
    let _ = s
        .start_guided_session(bearer(
            &token,
            ses::StartGuidedSessionRequest {
                request_id: "log-scan-g".into(),
                trigger_point: POINT.into(),
                tool: tool.clone(),
                side: cat::Side::Right as i32,
                duration_seconds: 0,
            },
        ))
        .await;
    let export = s
        .export_user_data(bearer(&token, ses::ExportUserDataRequest {}))
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert!(export.sessions.iter().any(|x| x.notes == note));
    gw::view_service_client::ViewServiceClient::new(ch.clone())
        .get_today(bearer(&token, gw::GetTodayRequest::default()))
        .await
        .unwrap();
    // Refused tokens: forged (right shape, wrong key) and expired.
    let forged = knotwork_gateway::auth::mint_dev_token(
        "a-guessed-secret",
        knotwork_runtime::dev::JWT_ISSUER,
        knotwork_runtime::dev::JWT_AUDIENCE,
        user,
        Duration::from_secs(600),
    )
    .unwrap();
    for t in [&forged, &format!("{token}x")] {
        let mut r = tonic::Request::new(ses::ListSessionsRequest::default());
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
        assert_eq!(
            s.list_sessions(r).await.unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }
    // A direct call with a wrong internal credential.
    let mut direct =
        SessionServiceClient::new(procs::channel(&session.url(), Duration::from_secs(5)));
    let mut r = tonic::Request::new(ses::GetProfileRequest {});
    r.metadata_mut().insert(
        knotwork_proto::metadata::INTERNAL_TOKEN,
        "wrong-internal-7c2d".parse().unwrap(),
    );
    assert!(direct.get_profile(r).await.is_err());

    // Let the processes flush, then stop them cleanly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut procs_ = [gateway, session, catalog];
    for p in &mut procs_ {
        p.terminate(Duration::from_secs(15));
    }

    let signature = token.rsplit('.').next().unwrap().to_owned();
    let forged_sig = forged.rsplit('.').next().unwrap().to_owned();
    let needles: Vec<(&str, String)> = vec![
        ("bearer token", token.clone()),
        ("bearer token signature", signature),
        ("forged token signature", forged_sig),
        ("JWT secret", SECRET.to_owned()),
        ("internal credential", INTERNAL.to_owned()),
        (
            "wrong internal credential",
            "wrong-internal-7c2d".to_owned(),
        ),
        ("session notes", note.to_owned()),
        ("screening clearance date", cleared.to_owned()),
    ];
    let mut lines = 0;
    let mut hits = Vec::new();
    for p in &procs_ {
        let text = p.log_text();
        lines += text.lines().count();
        for (what, needle) in &needles {
            if let Some(line) = text.lines().find(|l| l.contains(needle.as_str())) {
                hits.push(format!(
                    "{} log: {what}: {}",
                    p.name,
                    &line[..line.len().min(300)]
                ));
            }
        }
        // The screening answer itself: the condition with its answer.
        if p.name != "catalog" {
            for l in text
                .lines()
                .filter(|l| l.contains(private_condition.as_str()))
            {
                hits.push(format!(
                    "{} log: screening answer: {}",
                    p.name,
                    &l[..l.len().min(300)]
                ));
            }
        }
    }
    // The capture works: trace lines and the refusal are there.
    let gw_log = procs_[0].log_text();
    assert!(lines > 100, "only {lines} log lines captured");
    assert!(gw_log.contains("TRACE"), "gateway not logging at trace");
    assert!(
        gw_log.contains("not authenticated"),
        "refused calls are not logged"
    );
    println!(
        "log scan: {lines} lines at trace level, {} needles, {} hits",
        needles.len() + 1,
        hits.len()
    );
    assert!(hits.is_empty(), "secrets in logs:\n{}", hits.join("\n"));
}
