//! Listener limits against abuse, at the gateway's port over raw sockets:
//! the header timeout closes connections that send nothing, half an HTTP/2
//! preface, half a SETTINGS or HEADERS frame or half an HTTP/1.1 header
//! block; a connection that made its request may idle past it; an idle
//! HTTP/2 connection whose peer does not answer keepalive pings is closed
//! after the keepalive interval and timeout; the HTTP/2 stream limit is
//! advertised in SETTINGS and a stream over it is refused with
//! REFUSED_STREAM while the others are served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_tests::TestStack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const PATH: &str = "/knotwork.catalog.v1.CatalogService/GetCatalogVersion";
const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const DATA: u8 = 0x0;
const RST_STREAM: u8 = 0x3;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const REFUSED_STREAM: u32 = 0x7;

fn frame(len: usize, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let mut f = (len as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f
}

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` and waits up to `wait` for the server to close; returns
/// how long that took, or `None` if the connection stayed open.
async fn closed_after(addr: &str, bytes: &[u8], wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let left = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue, // the server's SETTINGS, a GOAWAY: keep reading
            Err(_) => return None,
        }
    }
}

fn grpc_web_request(addr: &str) -> Vec<u8> {
    let mut r = format!(
        "POST {PATH} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/grpc-web+proto\r\n\
         x-grpc-web: 1\r\ncontent-length: 5\r\n\r\n"
    )
    .into_bytes();
    r.extend_from_slice(&[0, 0, 0, 0, 0]);
    r
}

/// Reads one chunked grpc-web response (up to its last chunk).
async fn read_response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&out).contains("\r\n0\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            other => panic!(
                "response incomplete ({other:?}): {}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_timeout_closes_stalled_connections_only() {
    let bound = Duration::from_millis(500);
    let stack = TestStack::start_with(1, |g| {
        g.limits.header_timeout_ms = 500;
        g.limits.keepalive_interval_secs = 1;
        g.limits.keepalive_timeout_secs = 1;
    })
    .await;
    let gw = addr(&stack.gateway_url);

    let mut h2_half_headers = PREFACE.to_vec();
    h2_half_headers.extend(frame(0, SETTINGS, 0, 0));
    h2_half_headers.extend(frame(1000, HEADERS, END_HEADERS, 1));
    h2_half_headers.extend_from_slice(&[0x83, 0x86, 0x84]);
    let cases: [(&str, Vec<u8>); 5] = [
        ("nothing", Vec::new()),
        ("half the HTTP/2 preface", PREFACE[..12].to_vec()),
        ("half the client's SETTINGS frame", {
            let mut b = PREFACE.to_vec();
            b.extend(frame(6, SETTINGS, 0, 0));
            b.extend_from_slice(&[0, 3]);
            b
        }),
        ("a HEADERS frame cut short", h2_half_headers),
        (
            "half an HTTP/1.1 header block",
            format!("POST {PATH} HTTP/1.1\r\nhost: {gw}\r\n").into_bytes(),
        ),
    ];
    let mut report = Vec::new();
    for (name, bytes) in cases {
        let took = closed_after(&gw, &bytes, Duration::from_secs(5)).await;
        let took = took.unwrap_or_else(|| panic!("{name}: still open after 5 s"));
        assert!(
            took >= bound - Duration::from_millis(100) && took < bound * 6,
            "{name}: closed after {took:?}, bound {bound:?}"
        );
        report.push(format!("{name}: closed after {took:?}"));
    }
    // A settled HTTP/2 connection without a call is not cut at the header
    // timeout (clients connect before their first call), but a peer that
    // never answers the keepalive pings is (interval 1 s + timeout 1 s).
    let mut idle = PREFACE.to_vec();
    idle.extend(frame(0, SETTINGS, 0, 0));
    let took = closed_after(&gw, &idle, Duration::from_secs(8))
        .await
        .expect("an unresponsive idle HTTP/2 connection is closed");
    assert!(
        took >= Duration::from_millis(1500),
        "idle HTTP/2 connection closed after {took:?}, before the keepalive"
    );
    report.push(format!(
        "idle HTTP/2 connection, pings unanswered: closed after {took:?}"
    ));
    println!("header timeout {bound:?}:\n  {}", report.join("\n  "));

    // A connection that sent a request may idle past the bound: a second
    // grpc-web request on the same HTTP/1.1 connection is served.
    let mut s = TcpStream::connect(&gw).await.unwrap();
    s.write_all(&grpc_web_request(&gw)).await.unwrap();
    let first = read_response(&mut s).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    tokio::time::sleep(bound * 3).await;
    s.write_all(&grpc_web_request(&gw)).await.unwrap();
    let second = read_response(&mut s).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert!(second.contains("grpc-status:0"), "{second}");

    // Normal gRPC clients are served throughout.
    stack
        .catalog()
        .await
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .expect("served");
}

/// HPACK for a gRPC POST to `PATH` (static-table names, literal values).
fn request_headers(authority: &str) -> Vec<u8> {
    let mut h = vec![0x83, 0x86]; // :method POST, :scheme http
    let mut literal = |index: u8, value: &str| {
        h.push(0x40 | index);
        h.push(value.len() as u8);
        h.extend_from_slice(value.as_bytes());
    };
    literal(4, PATH); // :path
    literal(1, authority); // :authority
    literal(31, "application/grpc"); // content-type
    h.extend_from_slice(&[0x00, 2]);
    h.extend_from_slice(b"te");
    h.push(8);
    h.extend_from_slice(b"trailers");
    h
}

/// Reads one frame: (type, flags, stream, payload).
async fn read_frame(s: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).await.unwrap();
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    (head[3], head[4], stream, payload)
}

/// Opens an HTTP/2 connection and returns it with the server's
/// SETTINGS_MAX_CONCURRENT_STREAMS (acknowledged).
async fn h2_connect(addr: &str) -> (TcpStream, Option<u32>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(PREFACE).await.unwrap();
    s.write_all(&frame(0, SETTINGS, 0, 0)).await.unwrap();
    let max = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (kind, flags, _, payload) = read_frame(&mut s).await;
            if kind == SETTINGS && flags & ACK == 0 {
                return payload.chunks(6).find_map(|p| {
                    (u16::from_be_bytes([p[0], p[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
                        .then(|| u32::from_be_bytes([p[2], p[3], p[4], p[5]]))
                });
            }
        }
    })
    .await
    .expect("server SETTINGS");
    s.write_all(&frame(0, SETTINGS, ACK, 0)).await.unwrap();
    (s, max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_limit_are_refused() {
    let stack = TestStack::start_with(1, |g| g.limits.max_concurrent_streams = 2).await;
    let gw = addr(&stack.gateway_url);

    // The backends advertise the default limit, the gateway its setting.
    let (_, backend_max) = h2_connect(&addr(&stack.catalog_url)).await;
    assert_eq!(
        backend_max,
        Some(knotwork_runtime::listen::DEFAULT_MAX_CONCURRENT_STREAMS)
    );
    let (mut s, max) = h2_connect(&gw).await;
    assert_eq!(max, Some(2));

    // Three calls opened (headers sent, body not yet): the third is refused.
    let headers = request_headers(&gw);
    for id in [1u32, 3, 5] {
        s.write_all(&frame(headers.len(), HEADERS, END_HEADERS, id))
            .await
            .unwrap();
        s.write_all(&headers).await.unwrap();
    }
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (kind, _, stream, payload) = read_frame(&mut s).await;
            if kind == RST_STREAM {
                let code = u32::from_be_bytes(payload[..4].try_into().unwrap());
                return (stream, code);
            }
        }
    })
    .await
    .expect("a RST_STREAM");
    assert_eq!(refused, (5, REFUSED_STREAM));

    // The first two are served once their message arrives.
    for id in [1u32, 3] {
        s.write_all(&frame(5, DATA, END_STREAM, id)).await.unwrap();
        s.write_all(&[0, 0, 0, 0, 0]).await.unwrap();
    }
    let mut answered = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while answered.len() < 2 {
            let (kind, flags, stream, _) = read_frame(&mut s).await;
            // The trailers: a HEADERS frame that ends the stream.
            if kind == HEADERS && flags & END_STREAM != 0 {
                answered.push(stream);
            }
            assert_ne!(kind, RST_STREAM, "stream {stream} reset");
        }
    })
    .await
    .expect("both calls answered");
    answered.sort_unstable();
    assert_eq!(answered, [1, 3]);
}
