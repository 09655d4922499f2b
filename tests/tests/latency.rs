//! A latency floor is a reliability fault too: on loopback a unary call
//! should take a few milliseconds. When a server's accepted sockets keep
//! Nagle's algorithm on, a response written in two pieces (headers and
//! data, then the trailers) waits for the client's delayed ACK, about 40 ms,
//! on every call whose body does not fit in the first write.
//!
//! The stall adds at least 40 ms to every call once the connection has left
//! its quick-ACK start, so the test warms the connection up and then looks at
//! the lower quartile: a loaded machine (CI, debug build) slows a few calls,
//! but only the stall puts the fastest quarter above 35 ms.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;

/// Below the 40 ms delayed-ACK minimum, with room for a slow machine.
const STALL_FREE: Duration = Duration::from_millis(35);

fn lower_quartile(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 4]
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
    // Three untimed rounds leave the quick-ACK start behind.
    for round in 0..7 {
        for n in &names {
            let t = Instant::now();
            session
                .get_session(stack.as_user("latency", ses::GetSessionRequest { name: n.clone() }))
                .await
                .unwrap();
            if round >= 3 {
                gets.push(t.elapsed());
            }
        }
        for _ in 0..3 {
            let t = Instant::now();
            session
                .list_sessions(stack.as_user("latency", ses::ListSessionsRequest::default()))
                .await
                .unwrap();
            if round >= 3 {
                lists.push(t.elapsed());
            }
        }
    }
    let (g, l) = (lower_quartile(gets), lower_quartile(lists));
    println!("lower quartile through the gateway: GetSession {g:?}, ListSessions {l:?}");
    assert!(g < STALL_FREE, "GetSession lower quartile {g:?}");
    assert!(l < STALL_FREE, "ListSessions lower quartile {l:?}");
}
