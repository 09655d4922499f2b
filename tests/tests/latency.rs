//! A latency floor is a reliability fault too: on loopback a unary call
//! should take a few milliseconds. When a server's accepted sockets keep
//! Nagle's algorithm on, a response written in two pieces (headers and
//! data, then the trailers) waits for the client's delayed ACK, about 40 ms,
//! on every call whose body does not fit in the first write.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_with_a_body_answer_without_a_delayed_ack_stall() {
    let stack = TestStack::start_with(1, |g| g.user_rate = 0).await;
    let tool = stack
        .catalog()
        .await
        .get_trigger_point(cat::GetTriggerPointRequest {
            name: "triggerPoints/quadratus_lumborum_superficial".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap()
        .techniques[0]
        .tool
        .clone();
    let mut session = stack.session().await;
    let mut names = Vec::new();
    for i in 0..5 {
        let s = ses::SessionRecord {
            trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
            tool: tool.clone(),
            side: cat::Side::Left as i32,
            pressure: 5,
            duration_seconds: 200,
            notes: "a note long enough to need a second write ".repeat(4),
            perform_time: Some(prost_types::Timestamp::from(
                std::time::SystemTime::now() - Duration::from_secs(60 * i),
            )),
            ..Default::default()
        };
        names.push(
            session
                .log_session(stack.as_user(
                    "latency",
                    ses::LogSessionRequest {
                        request_id: format!("lat-{i}"),
                        session: Some(s),
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .session
                .unwrap()
                .name,
        );
    }
    let mut gets = Vec::new();
    let mut lists = Vec::new();
    for _ in 0..4 {
        for n in &names {
            let t = Instant::now();
            session
                .get_session(stack.as_user("latency", ses::GetSessionRequest { name: n.clone() }))
                .await
                .unwrap();
            gets.push(t.elapsed());
        }
        let t = Instant::now();
        session
            .list_sessions(stack.as_user("latency", ses::ListSessionsRequest::default()))
            .await
            .unwrap();
        lists.push(t.elapsed());
    }
    let (g, l) = (median(gets), median(lists));
    println!("median through the gateway: GetSession {g:?}, ListSessions {l:?}");
    assert!(g < Duration::from_millis(20), "GetSession median {g:?}");
    assert!(l < Duration::from_millis(20), "ListSessions median {l:?}");
}
