//! A session shard restarted while the catalog is away: it reports SERVING
//! once its own storage is open and serves with the catalog view it
//! persisted in its earlier run (journal reads, and writes checked against
//! that view); a shard that never saw the catalog serves what needs no
//! catalog and answers UNAVAILABLE for the rest, instead of never becoming
//! ready (which made the kubelet restart it in a loop).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, internal, record};

fn client(url: &str) -> SessionServiceClient<tonic::transport::Channel> {
    SessionServiceClient::new(procs::channel(url, Duration::from_secs(10)))
}

async fn log(url: &str, user: &str, tool: &str, id: &str) -> Result<(), tonic::Status> {
    client(url)
        .log_session(internal(
            user,
            ses::LogSessionRequest {
                request_id: id.to_owned(),
                session: Some(record(tool, 10, id)),
            },
        ))
        .await
        .map(|_| ())
}

async fn journal(url: &str, user: &str) -> Vec<String> {
    client(url)
        .list_sessions(internal(user, ses::ListSessionsRequest::default()))
        .await
        .expect("journal read")
        .into_inner()
        .sessions
        .into_iter()
        .map(|s| s.notes)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_restarts_and_serves_while_the_catalog_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = procs::catalog(dir.path(), &[]);
    let mut session = procs::session(dir.path(), &catalog.url(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(60)).await;
    procs::wait_serving(&session.url(), "", Duration::from_secs(60)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    log(&session.url(), "ana", &tool, "before-outage")
        .await
        .unwrap();

    // The catalog goes away, then the shard restarts.
    catalog.kill();
    session
        .terminate(Duration::from_secs(20))
        .expect("clean exit");
    session.start();
    let ready = procs::wait_serving(&session.url(), "", Duration::from_secs(30)).await;
    assert!(
        ready < Duration::from_secs(8),
        "with a persisted view the shard is ready at once, not after the catalog wait: {ready:?}"
    );
    assert_eq!(journal(&session.url(), "ana").await, ["before-outage"]);
    // Writes are checked against the persisted view.
    log(&session.url(), "ana", &tool, "during-outage")
        .await
        .unwrap();
    let mut notes = journal(&session.url(), "ana").await;
    notes.sort();
    assert_eq!(notes, ["before-outage", "during-outage"]);

    // A shard that never saw the catalog: SERVING after a short wait,
    // journal reads work, what needs the catalog is UNAVAILABLE.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = procs::session(fresh_dir.path(), &catalog.url(), &[]);
    procs::wait_serving(&fresh.url(), "", Duration::from_secs(60)).await;
    assert!(journal(&fresh.url(), "ana").await.is_empty());
    let err = log(&fresh.url(), "ana", &tool, "no-view")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
}
