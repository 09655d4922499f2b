//! The edge against callers that hold resources (issue 17, items 3, 5 and
//! 6), at the gateway's port over loopback:
//!
//! - `KNOTWORK_TRUSTED_PROXIES`: the forwarding header counts only from a
//!   trusted peer, and only its right-most untrusted hop;
//! - the request-body timeout: an HTTP/1.1 POST that declares 1 000 bytes
//!   and sends 5 is answered and closed at the bound; HTTP/2 streams with
//!   headers and no (or half a) body are answered and reset at the bound;
//! - calls waiting for their body are capped per connection and per
//!   caller (user, or address without a valid token);
//! - GuideSession streams are capped per user;
//! - an oversized request header block fails its own HTTP/2 stream, never
//!   the connection that other calls share.
//!
//! Raw HTTP/2 goes through the `h2` client (it sends what it is told, frames
//! header blocks into CONTINUATIONs and decodes the answers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use knotwork_tests::procs::POINT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic_types::StatusExt;

const PATH: &str = "/knotwork.catalog.v1.CatalogService/GetCatalogVersion";
/// An empty GetCatalogVersionRequest, framed.
const EMPTY_MESSAGE: [u8; 5] = [0, 0, 0, 0, 0];

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// An anonymous call claiming to come from `xff` (as a proxy would say).
fn via(xff: &str) -> tonic::Request<cat::GetCatalogVersionRequest> {
    let mut req = tonic::Request::new(cat::GetCatalogVersionRequest {});
    req.metadata_mut()
        .insert("x-forwarded-for", xff.parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // The test client is the proxy: 127.0.0.1 is trusted.
    let stack = TestStack::start_with(1, |g| {
        g.addr_rate = 1;
        g.addr_burst = 3;
        g.trusted_proxies = vec!["127.0.0.1/32".into(), "10.0.0.0/8".into()];
    })
    .await;
    let mut catalog = stack.catalog().await;
    let limited = |r: Result<_, tonic::Status>| match r {
        Ok(_) => false,
        Err(s) => {
            assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
            true
        }
    };
    // Client 203.0.113.1 uses up its own bucket ...
    let mut a_limited = 0;
    for _ in 0..6 {
        a_limited += usize::from(limited(
            catalog.get_catalog_version(via("203.0.113.1")).await,
        ));
    }
    assert!(a_limited >= 2, "203.0.113.1 limited {a_limited} of 6");
    // ... and cannot escape it by writing another address to the left of
    // the one the proxy appended, nor behind a second trusted proxy.
    assert!(limited(
        catalog
            .get_catalog_version(via("198.51.100.7, 203.0.113.1"))
            .await
    ));
    assert!(limited(
        catalog
            .get_catalog_version(via("198.51.100.7, 203.0.113.1, 10.1.1.1"))
            .await
    ));
    // Another client behind the same proxy has its own bucket.
    for _ in 0..3 {
        catalog
            .get_catalog_version(via("203.0.113.2"))
            .await
            .expect("another client behind the proxy is served");
    }
    drop(stack);

    // Without trusted proxies the header is ignored: a new address per
    // call does not escape the peer's bucket.
    let stack = TestStack::start_with(1, |g| {
        g.addr_rate = 1;
        g.addr_burst = 3;
    })
    .await;
    let mut catalog = stack.catalog().await;
    let mut spoofed_limited = 0;
    for i in 0..6 {
        let r = catalog
            .get_catalog_version(via(&format!("198.51.100.{i}")))
            .await;
        spoofed_limited += usize::from(limited(r));
    }
    assert!(
        spoofed_limited >= 2,
        "spoofed addresses limited {spoofed_limited} of 6"
    );
    println!(
        "trusted proxy: one client limited {a_limited} of 6, its forged hops limited 2 of 2, \
         a neighbour served 3 of 3; untrusted peer: forged addresses limited {spoofed_limited} of 6"
    );
}

/// Opens an HTTP/2 connection to `addr`; the connection's task is
/// returned so a test can tell it is still up (a GOAWAY ends it).
async fn h2_connect(
    addr: &str,
) -> (
    h2::client::SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let task = tokio::spawn(conn);
    (client.ready().await.unwrap(), task)
}

/// A gRPC request to `PATH` with `extra` headers.
fn grpc_request(addr: &str, extra: &[(&str, String)]) -> http::Request<()> {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in extra {
        b = b.header(*name, value.as_str());
    }
    b.body(()).unwrap()
}

/// How one HTTP/2 call ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// A gRPC status (trailers-only or in the trailers), with its ErrorInfo
    /// reason when it has one.
    Grpc(i32, Option<String>),
    /// A non-200 HTTP status.
    Http(u16),
    /// The stream was reset before an answer.
    Reset(h2::Reason),
}

fn grpc_outcome(headers: &http::HeaderMap) -> Option<Outcome> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let reason = headers.get("grpc-status-details-bin").and_then(|d| {
        let status = tonic::Status::with_details(
            Code::from_i32(code),
            "",
            Bytes::from(
                base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                    d.as_bytes(),
                )
                .ok()?,
            ),
        );
        status
            .get_details_error_info()
            .map(|i| match i.metadata.get("scope") {
                Some(scope) => format!("{} scope={scope}", i.reason),
                None => i.reason,
            })
    });
    Some(Outcome::Grpc(code, reason))
}

/// Waits for the answer to a call.
async fn outcome(resp: h2::client::ResponseFuture) -> Outcome {
    let resp = match resp.await {
        Ok(r) => r,
        Err(e) => return Outcome::Reset(e.reason().expect("a stream error, not the connection")),
    };
    if resp.status() != 200 {
        return Outcome::Http(resp.status().as_u16());
    }
    if let Some(o) = grpc_outcome(resp.headers()) {
        return o;
    }
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        if let Err(e) = chunk {
            return Outcome::Reset(e.reason().expect("a stream error"));
        }
    }
    match body.trailers().await {
        Ok(Some(t)) => grpc_outcome(&t).expect("grpc-status in the trailers"),
        Ok(None) => panic!("no trailers"),
        Err(e) => Outcome::Reset(e.reason().expect("a stream error")),
    }
}

/// Sends a whole GetCatalogVersion call on `client` and waits for it.
async fn served(client: &mut h2::client::SendRequest<Bytes>, addr: &str) -> Outcome {
    let (resp, mut send) = client.send_request(grpc_request(addr, &[]), false).unwrap();
    send.send_data(Bytes::from_static(&EMPTY_MESSAGE), true)
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), outcome(resp))
        .await
        .expect("answered")
}

const DEADLINE_EXCEEDED: i32 = Code::DeadlineExceeded as i32;
const RESOURCE_EXHAUSTED: i32 = Code::ResourceExhausted as i32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http2_bodies_are_capped_and_reset_at_the_bound() {
    let bound = Duration::from_millis(600);
    let stack = TestStack::start_with(1, |g| {
        g.body_timeout_ms = 600;
        g.max_pending_per_connection = 3;
        g.max_pending_per_user = 4;
    })
    .await;
    let gw = addr(&stack.gateway_url);
    let (mut client, conn) = h2_connect(&gw).await;
    let (mut other, other_conn) = h2_connect(&gw).await;

    // Six calls wait for their body (headers only, half a frame prefix, a
    // whole message without the end of the stream): four on one
    // connection (cap 3), two more from the same address on another
    // (address cap 4). Each call's outcome is reported as it comes, since
    // the server may see a connection's streams in another order.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let bodies: [Option<&'static [u8]>; 3] =
        [None, Some(&EMPTY_MESSAGE[..3]), Some(&EMPTY_MESSAGE[..])];
    let open = |c: &mut h2::client::SendRequest<Bytes>, i: usize, sends: &mut Vec<_>| {
        let (resp, mut send) = c.send_request(grpc_request(&gw, &[]), false).unwrap();
        if let Some(b) = bodies[i % 3] {
            send.send_data(Bytes::from_static(b), false).unwrap();
        }
        sends.push(send);
        let tx = tx.clone();
        tokio::spawn(async move {
            let o = outcome(resp).await;
            let _ = tx.send((i, o, started.elapsed()));
        });
    };
    let mut sends = Vec::new();
    for i in 0..4 {
        open(&mut client, i, &mut sends);
    }
    let mut refused = Vec::new();
    let mut timed_out = Vec::new();
    for _ in 0..6 {
        // The second connection's calls start once the first's refusal is
        // in, so the two caps are met in a known order.
        if refused.len() == 1 && sends.len() == 4 {
            for i in 4..6 {
                open(&mut other, i, &mut sends);
            }
        }
        let (i, o, t) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("every call answered")
            .unwrap();
        match o {
            Outcome::Grpc(RESOURCE_EXHAUSTED, Some(reason)) => {
                assert!(t < bound / 2, "refused after {t:?}");
                refused.push((i, reason));
            }
            Outcome::Grpc(DEADLINE_EXCEEDED, Some(reason)) => {
                assert_eq!(reason, "REQUEST_BODY_TIMEOUT");
                assert!(
                    t >= bound - Duration::from_millis(50) && t < bound * 5,
                    "answered after {t:?}, bound {bound:?}"
                );
                timed_out.push((i, t));
            }
            other => panic!("call {i}: {other:?}"),
        }
    }
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].0 < 4, "{refused:?}");
    assert_eq!(refused[0].1, "TOO_MANY_PENDING_REQUESTS scope=connection");
    assert!(refused[1].0 >= 4, "{refused:?}");
    assert_eq!(refused[1].1, "TOO_MANY_PENDING_REQUESTS scope=address");
    // The server is done with each timed-out stream: it was reset, so a
    // late body goes nowhere.
    for &(i, _) in &timed_out {
        let send = &mut sends[i];
        let reset = tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| send.poll_reset(cx)),
        )
        .await
        .expect("the stream is reset");
        assert!(reset.is_ok(), "{reset:?}");
    }
    // The slots came back and the connections are fine: whole calls served.
    for _ in 0..4 {
        assert_eq!(served(&mut client, &gw).await, Outcome::Grpc(0, None));
    }
    assert_eq!(served(&mut other, &gw).await, Outcome::Grpc(0, None));
    assert!(
        !conn.is_finished() && !other_conn.is_finished(),
        "the connections stayed up"
    );
    let took: Vec<_> = timed_out.iter().map(|(_, t)| *t).collect();
    println!(
        "body timeout {bound:?}: 4 stalled HTTP/2 calls answered DEADLINE_EXCEEDED and reset \
         after {took:?}; the 4th on a connection (cap 3) and the 5th of an address (cap 4) \
         refused at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_cap_is_per_user_for_verified_callers() {
    let stack = TestStack::start_with(1, |g| {
        g.body_timeout_ms = 5_000;
        g.max_pending_per_connection = 0;
        g.max_pending_per_user = 2;
    })
    .await;
    let gw = addr(&stack.gateway_url);
    let (mut client, _conn) = h2_connect(&gw).await;
    let bearer = |u: &str| [("authorization", format!("Bearer {}", stack.token(u)))];
    // User U opens three calls without their bodies: tokens are verified
    // concurrently, so any one of the three may be the one over the cap of
    // 2; it is refused at once by user, the other two are held.
    let mut calls = Vec::new();
    for _ in 0..3 {
        let (resp, send) = client
            .send_request(grpc_request(&gw, &bearer("pending-u")), false)
            .unwrap();
        calls.push((tokio::spawn(outcome(resp)), send));
    }
    let (first, i) = tokio::time::timeout(Duration::from_secs(2), async {
        let [a, b, c] = &mut calls[..] else {
            unreachable!()
        };
        tokio::select! {
            o = &mut a.0 => (o.unwrap(), 0),
            o = &mut b.0 => (o.unwrap(), 1),
            o = &mut c.0 => (o.unwrap(), 2),
        }
    })
    .await
    .expect("one of U's calls refused at once");
    assert_eq!(
        first,
        Outcome::Grpc(
            RESOURCE_EXHAUSTED,
            Some("TOO_MANY_PENDING_REQUESTS scope=user".into())
        )
    );
    calls.remove(i);
    let held = calls;
    // ... while user V and an anonymous caller from the same address each
    // have their own count.
    let mut others = Vec::new();
    for extra in [bearer("pending-v").to_vec(), Vec::new(), Vec::new()] {
        others.push(
            client
                .send_request(grpc_request(&gw, &extra), false)
                .unwrap(),
        );
    }
    for (resp, mut send) in others {
        send.send_data(Bytes::from_static(&EMPTY_MESSAGE), true)
            .unwrap();
        let o = tokio::time::timeout(Duration::from_secs(5), outcome(resp))
            .await
            .unwrap();
        assert_eq!(o, Outcome::Grpc(0, None));
    }
    // U's held calls are served once their bodies arrive.
    for (resp, mut send) in held {
        assert!(!resp.is_finished(), "U's other calls are held");
        send.send_data(Bytes::from_static(&EMPTY_MESSAGE), true)
            .unwrap();
        let o = tokio::time::timeout(Duration::from_secs(5), resp)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o, Outcome::Grpc(0, None));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http1_body_is_answered_and_closed_at_the_bound() {
    let bound = Duration::from_millis(600);
    let stack = TestStack::start_with(1, |g| g.body_timeout_ms = 600).await;
    let gw = addr(&stack.gateway_url);
    let started = Instant::now();
    let mut s = TcpStream::connect(&gw).await.unwrap();
    // Declares 1 000 bytes, sends 5.
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: {gw}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\ncontent-length: 1000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[0, 0, 0, 3, 0xe3]).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("still open after 5 s: {}", String::from_utf8_lossy(&out)),
        }
    };
    let text = String::from_utf8_lossy(&out).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("grpc-status: 4"), "{text}");
    assert!(
        closed >= bound - Duration::from_millis(50) && closed < bound * 5,
        "closed after {closed:?}, bound {bound:?}"
    );
    println!(
        "HTTP/1.1 POST declaring 1000 bytes, sending 5: DEADLINE_EXCEEDED and closed after {closed:?} (bound {bound:?})"
    );
    // Everyone else is served.
    stack
        .catalog()
        .await
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_fail_their_stream_only() {
    let stack = TestStack::start().await;
    let gw = addr(&stack.gateway_url);
    let (mut client, conn) = h2_connect(&gw).await;
    let limit = knotwork_runtime::listen::DEFAULT_MAX_HEADER_BYTES as usize;
    let mut report = Vec::new();
    // Over the limit, within what HTTP/2 decodes: the gateway refuses the
    // call; past that (a 64 KiB value): HTTP/2 answers 431 for the stream.
    for (size, want) in [
        (limit + 1_000, "refused"),
        (60 * 1024, "refused"),
        (64 * 1024, "431"),
        (80 * 1024, "431"),
    ] {
        // A call with the big header, and a normal call beside it on the
        // same connection.
        let big = client
            .send_request(grpc_request(&gw, &[("x-pad", "a".repeat(size))]), false)
            .map(|(resp, mut send)| {
                // The server may have refused the stream already.
                let _ = send.send_data(Bytes::from_static(&EMPTY_MESSAGE), true);
                (resp, send)
            })
            .unwrap();
        let neighbour = served(&mut client, &gw).await;
        assert_eq!(
            neighbour,
            Outcome::Grpc(0, None),
            "beside a {size}-byte header"
        );
        let o = tokio::time::timeout(Duration::from_secs(5), outcome(big.0))
            .await
            .expect("answered");
        match want {
            "refused" => assert_eq!(
                o,
                Outcome::Grpc(RESOURCE_EXHAUSTED, Some("HEADERS_TOO_LARGE".into())),
                "{size}"
            ),
            _ => assert!(
                matches!(o, Outcome::Http(431) | Outcome::Reset(_)),
                "{size}: {o:?}"
            ),
        }
        assert!(
            !conn.is_finished(),
            "{size}-byte header closed the connection"
        );
        report.push(format!("{size} B: {o:?}"));
    }
    // The connection still serves, and a header just under the limit passes.
    assert_eq!(served(&mut client, &gw).await, Outcome::Grpc(0, None));
    let (resp, mut send) = client
        .send_request(
            grpc_request(&gw, &[("x-pad", "a".repeat(limit - 1_000))]),
            false,
        )
        .unwrap();
    send.send_data(Bytes::from_static(&EMPTY_MESSAGE), true)
        .unwrap();
    assert_eq!(outcome(resp).await, Outcome::Grpc(0, None));
    assert!(!conn.is_finished());
    println!(
        "oversized headers, each beside a normal call on one connection: {}",
        report.join("; ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_streams_are_capped_per_user() {
    let stack = TestStack::start_with(1, |g| g.max_guide_streams_per_user = 2).await;
    let mut catalog = stack.catalog().await;
    let session = stack.session().await;
    let conditions = catalog
        .list_contraindications(cat::ListContraindicationsRequest {
            kind: cat::ContraindicationKind::Condition as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .contraindications;
    let tool = catalog
        .get_trigger_point(cat::GetTriggerPointRequest { name: POINT.into() })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap()
        .techniques[0]
        .tool
        .clone();
    let mut n = 0;
    let mut open = |user: &'static str| {
        n += 1;
        let request_id = format!("guided-{n}");
        let (stack, mut session, tool, conditions) =
            (&stack, session.clone(), tool.clone(), conditions.clone());
        async move {
            session
                .submit_screening(
                    stack.as_user(
                        user,
                        ses::SubmitScreeningRequest {
                            answers: conditions
                                .iter()
                                .map(|c| ses::ScreeningAnswer {
                                    contraindication: c.name.clone(),
                                    ..Default::default()
                                })
                                .collect(),
                        },
                    ),
                )
                .await
                .unwrap();
            let guided = session
                .start_guided_session(stack.as_user(
                    user,
                    ses::StartGuidedSessionRequest {
                        request_id,
                        trigger_point: POINT.into(),
                        tool,
                        side: cat::Side::Right as i32,
                        duration_seconds: 0,
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .guided_session
                .unwrap();
            session
                .guide_session(stack.as_user(user, ses::GuideSessionRequest { name: guided.name }))
                .await
        }
    };
    let mut a1 = open("guide-a").await.unwrap().into_inner();
    let mut a2 = open("guide-a").await.unwrap().into_inner();
    assert_eq!(
        a1.message().await.unwrap().unwrap().cue(),
        ses::GuideCue::Start
    );
    assert_eq!(
        a2.message().await.unwrap().unwrap().cue(),
        ses::GuideCue::Start
    );
    let refused = open("guide-a").await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let quota = refused.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, "guide_streams");
    assert_eq!(
        refused.get_details_error_info().unwrap().reason,
        "TOO_MANY_GUIDE_STREAMS"
    );
    // Another user is not affected.
    let mut b = open("guide-b").await.unwrap().into_inner();
    assert_eq!(
        b.message().await.unwrap().unwrap().cue(),
        ses::GuideCue::Start
    );
    // Closing one of A's streams frees its place (once the gateway sees the
    // stream end: polled with a bound).
    drop(a1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut a3 = loop {
        match open("guide-a").await {
            Ok(s) => break s.into_inner(),
            Err(s) if s.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => panic!("A's place did not come back: {s:?}"),
        }
    };
    assert_eq!(
        a3.message().await.unwrap().unwrap().cue(),
        ses::GuideCue::Start
    );
    drop((a2, a3, b));
}
