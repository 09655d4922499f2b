//! Malformed gRPC framing gets a documented client-error status, never
//! INTERNAL (issue 17, item 4): a grpc-web-text body that is not base64, a
//! length prefix longer than its body, a compressed flag without
//! `grpc-encoding`, an unknown flag, a partial prefix, no message at all, a
//! body that does not decompress; a prefix over the size limit is
//! RESOURCE_EXHAUSTED. Each case is sent through the gateway over three
//! transports (grpc-web on HTTP/1.1, grpc-web on HTTP/2, gRPC on HTTP/2)
//! to a catalog method (forwarded as bytes) and a session method (typed,
//! with a token), and a connected client is served throughout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine;
use http_body_util::BodyExt;
use knotwork_proto::catalog::v1 as cat;
use knotwork_tests::TestStack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

const CATALOG: &str = "/knotwork.catalog.v1.CatalogService/GetCatalogVersion";
const SESSION: &str = "/knotwork.session.v1.SessionService/GetProfile";

/// One malformed body and the grpc-status codes it may get.
struct Case {
    name: &'static str,
    /// Sent base64-encoded as grpc-web-text (`body` is then as sent).
    text: bool,
    /// A `grpc-encoding` header to send.
    encoding: Option<&'static str>,
    body: Vec<u8>,
    /// Accepted codes: INVALID_ARGUMENT (3), or for the listed cases
    /// RESOURCE_EXHAUSTED (8) or UNIMPLEMENTED (12, an encoding the
    /// server does not accept).
    codes: &'static [u32],
}

fn cases() -> Vec<Case> {
    let b64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes()
    };
    let case = |name, text, body: Vec<u8>, codes| Case {
        name,
        text,
        encoding: None,
        body,
        codes,
    };
    vec![
        case(
            "grpc-web-text: body not base64",
            true,
            b"!!!not base64!!!".to_vec(),
            &[3],
        ),
        case(
            "grpc-web-text: prefix announces 100 bytes, 3 sent",
            true,
            b64(&[0, 0, 0, 0, 100, 1, 2, 3]),
            &[3],
        ),
        case(
            "prefix announces 100 bytes, body ends after 10",
            false,
            vec![0, 0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            &[3],
        ),
        case(
            "compressed flag without grpc-encoding",
            false,
            vec![1, 0, 0, 0, 2, 0x0a, 0x00],
            &[3],
        ),
        case(
            "compressed flag 7 (only 0 and 1 exist)",
            false,
            vec![7, 0, 0, 0, 0],
            &[3],
        ),
        case("only 2 bytes of the 5-byte prefix", false, vec![0, 0], &[3]),
        case("no message at all (empty body)", false, Vec::new(), &[3]),
        Case {
            name: "gzip flag, body not gzip",
            text: false,
            encoding: Some("gzip"),
            body: vec![1, 0, 0, 0, 3, 1, 2, 3],
            codes: &[3, 12],
        },
        case(
            "prefix announces 2 GiB",
            false,
            vec![0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3],
            &[8],
        ),
    ]
}

/// The first `grpc-status:` in `text` (headers or a grpc-web trailer frame).
fn grpc_status(text: &[u8]) -> Option<u32> {
    let text = String::from_utf8_lossy(text).to_lowercase();
    let i = text.find("grpc-status:")?;
    text[i + 12..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn content_type(case: &Case, web: bool) -> &'static str {
    match (web, case.text) {
        (true, true) => "application/grpc-web-text",
        (true, false) => "application/grpc-web+proto",
        (false, _) => "application/grpc",
    }
}

/// grpc-web over HTTP/1.1 on a raw socket; the grpc-status it got.
async fn http1(addr: &str, path: &str, bearer: Option<&str>, case: &Case) -> Option<u32> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {}\r\nx-grpc-web: 1\r\n\
         content-length: {}\r\nconnection: close\r\n",
        content_type(case, true),
        case.body.len()
    );
    if let Some(b) = bearer {
        head.push_str(&format!("authorization: Bearer {b}\r\n"));
    }
    if let Some(e) = case.encoding {
        head.push_str(&format!("grpc-encoding: {e}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&case.body).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let status = grpc_status(&out);
    if status.is_none() && case.text {
        // grpc-web-text: the trailer frame is base64 too.
        let text = String::from_utf8_lossy(&out);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .unwrap_or_default();
        return grpc_status(&decoded);
    }
    status
}

/// grpc-web (`web`) or gRPC over HTTP/2 through a tonic channel; the
/// grpc-status from the headers, the trailers or a grpc-web trailer frame.
async fn http2(
    channel: &tonic::transport::Channel,
    path: &str,
    bearer: Option<&str>,
    case: &Case,
    web: bool,
) -> Option<u32> {
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://gateway{path}"))
        .header("content-type", content_type(case, web))
        .header("te", "trailers");
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    if let Some(e) = case.encoding {
        req = req.header("grpc-encoding", e);
    }
    let req = req
        .body(tonic::body::Body::new(
            http_body_util::Full::new(bytes::Bytes::from(case.body.clone()))
                .map_err(|e| match e {}),
        ))
        .unwrap();
    let resp = channel.clone().oneshot(req).await.ok()?;
    let (parts, body) = resp.into_parts();
    if let Some(s) = parts.headers.get("grpc-status") {
        return s.to_str().ok()?.parse().ok();
    }
    let collected = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .ok()?
        .ok()?;
    if let Some(s) = collected.trailers().and_then(|t| t.get("grpc-status")) {
        return s.to_str().ok()?.parse().ok();
    }
    let bytes = collected.to_bytes();
    grpc_status(&bytes).or_else(|| {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(String::from_utf8_lossy(&bytes).trim())
            .ok()?;
        grpc_status(&decoded)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_framing_gets_a_client_error() {
    let stack = TestStack::start().await;
    let addr = stack.gateway_url.trim_start_matches("http://").to_owned();
    let token = stack.token("framing-user");
    let channel = stack.channel().await;
    let mut steady = stack.catalog().await;
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for case in cases() {
        for (path, bearer) in [(CATALOG, None), (SESSION, Some(token.as_str()))] {
            let mut got = vec![("grpc-web/1.1", http1(&addr, path, bearer, &case).await)];
            got.push((
                "grpc-web/2",
                http2(&channel, path, bearer, &case, true).await,
            ));
            if !case.text {
                got.push(("grpc/2", http2(&channel, path, bearer, &case, false).await));
            }
            for (transport, code) in got {
                let ok = code.is_some_and(|c| case.codes.contains(&c));
                let line = format!("{} | {path} | {transport}: {code:?}", case.name);
                if !ok {
                    wrong.push(line.clone());
                }
                report.push(line);
            }
            steady
                .get_catalog_version(cat::GetCatalogVersionRequest {})
                .await
                .unwrap_or_else(|s| panic!("after {}: steady client refused: {s:?}", case.name));
        }
    }
    println!(
        "malformed framing: {} answers, {} wrong\n  {}",
        report.len(),
        wrong.len(),
        report.join("\n  ")
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
