//! Session sharding over 3 shards: spread, one shard per user, stable
//! across gateway replicas and restarts; and the reshard tool.

use knotwork_gateway::shard_for;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::{ListSessionsRequest, LogSessionRequest, SessionRecord};

use crate::support::*;

async fn log(url: &str, user: &str) {
    let mut client = SessionServiceClient::new(channel(url).await);
    let req = LogSessionRequest {
        request_id: format!("{user}-1"),
        session: Some(SessionRecord {
            trigger_point: "triggerPoints/tp".into(),
            ..Default::default()
        }),
    };
    client.log_session(authed(req, &token(user))).await.unwrap();
}

async fn count(url: &str, user: &str) -> usize {
    let mut client = SessionServiceClient::new(channel(url).await);
    let req = ListSessionsRequest::default();
    client
        .list_sessions(authed(req, &token(user)))
        .await
        .unwrap()
        .get_ref()
        .sessions
        .len()
}

#[tokio::test]
async fn users_spread_over_three_shards_stably() {
    let fakes: Vec<FakeSession> = (0..3).map(|i| FakeSession::new(&format!("s{i}"))).collect();
    let mut servers = Vec::new();
    for f in &fakes {
        servers.push(spawn_session(f.clone(), None).await);
    }
    let shards: Vec<String> = servers.iter().map(Running::url).collect();
    let catalog = spawn_catalog(FakeCatalog::default(), None).await;
    let a = spawn_gateway(config(&[catalog.url()], &shards)).await;
    let b = spawn_gateway(config(&[catalog.url()], &shards)).await;

    let users: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    for u in &users {
        log(&a.url(), u).await;
    }
    for u in &users {
        let holders: Vec<usize> = (0..3).filter(|&i| fakes[i].has_user(u)).collect();
        assert_eq!(holders, [shard_for(u, 3)], "{u} is on exactly its shard");
    }
    for f in &fakes {
        assert!(
            f.users.lock().unwrap().len() >= 3,
            "{} got too few users",
            f.name
        );
    }
    // The other replica finds every user's data.
    for u in &users {
        assert_eq!(count(&b.url(), u).await, 1, "{u} via replica b");
    }
    // A restarted gateway too.
    a.stop().await;
    let a2 = spawn_gateway(config(&[catalog.url()], &shards)).await;
    for u in &users {
        assert_eq!(count(&a2.url(), u).await, 1, "{u} after restart");
    }
}

#[tokio::test]
async fn reshard_moves_exactly_the_users_whose_shard_changes() {
    let fakes: Vec<FakeSession> = (0..3).map(|i| FakeSession::new(&format!("s{i}"))).collect();
    let mut servers = Vec::new();
    for f in &fakes {
        servers.push(spawn_session(f.clone(), None).await);
    }
    let all: Vec<String> = servers.iter().map(Running::url).collect();
    let old = all[..2].to_vec();
    let catalog = spawn_catalog(FakeCatalog::default(), None).await;
    let gw = spawn_gateway(config(&[catalog.url()], &old)).await;
    let users: Vec<String> = (0..40).map(|i| format!("person-{i}")).collect();
    for u in &users {
        log(&gw.url(), u).await;
    }
    gw.stop().await;

    let report = knotwork_gateway::reshard(&old, &all, INTERNAL)
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.users_seen, users.len());
    let expected_moves = users
        .iter()
        .filter(|u| shard_for(u, 3) != shard_for(u, 2))
        .count();
    assert_eq!(report.users_moved, expected_moves);
    assert!(expected_moves > 0);

    let gw = spawn_gateway(config(&[catalog.url()], &all)).await;
    for u in &users {
        let holders: Vec<usize> = (0..3).filter(|&i| fakes[i].has_user(u)).collect();
        assert_eq!(holders, [shard_for(u, 3)], "{u}");
        assert_eq!(count(&gw.url(), u).await, 1, "{u}");
    }
    // Running it again moves nothing.
    let again = knotwork_gateway::reshard(&all, &all, INTERNAL)
        .await
        .unwrap();
    assert_eq!(again.users_moved, 0);
    // A wrong credential is refused.
    assert!(
        knotwork_gateway::reshard(&old, &all, "wrong")
            .await
            .is_err()
    );
}
