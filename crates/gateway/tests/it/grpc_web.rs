//! Browsers: grpc-web over HTTP/1.1 (binary and text), CORS preflights and
//! a server stream.

use base64::Engine;
use knotwork_proto::catalog::v1::{GetCatalogVersionRequest, GetCatalogVersionResponse};
use knotwork_proto::session::v1::{GuideSessionRequest, GuideSessionResponse};
use prost::Message;

use crate::support::*;

const VERSION_PATH: &str = "/knotwork.catalog.v1.CatalogService/GetCatalogVersion";

#[tokio::test]
async fn unary_binary_and_text() {
    let s = stack().await;
    let body = frame(&GetCatalogVersionRequest {});
    let resp = http1(
        s.gateway.addr,
        "POST",
        VERSION_PATH,
        &[
            ("Content-Type", "application/grpc-web+proto"),
            ("X-Grpc-Web", "1"),
            ("Origin", "http://app.test"),
        ],
        &body,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/grpc-web")
    );
    assert!(resp.header("x-request-id").is_some());
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let (data, trailers) = unframe(&resp.body);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    assert_eq!(
        GetCatalogVersionResponse::decode(data[0].as_slice())
            .unwrap()
            .catalog_version,
        "c0"
    );

    let b64 = base64::engine::general_purpose::STANDARD;
    let resp = http1(
        s.gateway.addr,
        "POST",
        VERSION_PATH,
        &[
            ("Content-Type", "application/grpc-web-text"),
            ("Accept", "application/grpc-web-text"),
        ],
        b64.encode(&body).as_bytes(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/grpc-web-text")
    );
    let (data, trailers) = decode_web(&resp);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    assert_eq!(
        GetCatalogVersionResponse::decode(data[0].as_slice())
            .unwrap()
            .catalog_version,
        "c0"
    );
}

#[tokio::test]
async fn cors_preflight_dev_allows_any_origin() {
    let s = stack().await;
    let resp = http1(
        s.gateway.addr,
        "OPTIONS",
        VERSION_PATH,
        &[
            ("Origin", "http://app.test"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type,x-grpc-web,authorization",
            ),
        ],
        b"",
    )
    .await;
    assert!(resp.status == 200 || resp.status == 204, "{resp:?}");
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let methods = resp
        .header("access-control-allow-methods")
        .unwrap()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"));
    let allowed = resp
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-grpc-web"),
        "{allowed}"
    );
}

#[tokio::test]
async fn cors_prod_allows_only_listed_origins() {
    let catalog = FakeCatalog {
        name: "c".into(),
        ..Default::default()
    };
    let csrv = spawn_catalog(catalog, None).await;
    let ssrv = spawn_session(FakeSession::new("s"), None).await;
    let mut cfg = config(&[csrv.url()], &[ssrv.url()]);
    cfg.mode = knotwork_gateway::Mode::Prod;
    cfg.internal_token = "prod-internal-credential-32-bytes".into();
    cfg.jwt_secret = "prod-secret-of-at-least-32-bytes!".into();
    cfg.cors_origins = vec!["https://app.knotwork.test".into()];
    // The fake backends are plain text.
    cfg.allow_plaintext_backends = true;
    let gw = spawn_gateway(cfg).await;
    async fn preflight(addr: std::net::SocketAddr, origin: &str) -> RawResponse {
        http1(
            addr,
            "OPTIONS",
            VERSION_PATH,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
            b"",
        )
        .await
    }
    let ok = preflight(gw.addr, "https://app.knotwork.test").await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.knotwork.test")
    );
    let evil = preflight(gw.addr, "https://evil.test").await;
    assert_eq!(evil.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn prod_mode_refuses_dev_secrets() {
    let mut cfg = config(
        &["http://127.0.0.1:1".into()],
        &["http://127.0.0.1:1".into()],
    );
    cfg.mode = knotwork_gateway::Mode::Prod;
    // Refused for the secrets, not for the plain-text backends.
    cfg.allow_plaintext_backends = true;
    let listener = bind(None).await;
    let err = knotwork_gateway::run(cfg, listener, None, async {})
        .await
        .unwrap_err();
    assert!(matches!(err, knotwork_gateway::Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("KNOTWORK_INTERNAL_TOKEN"), "{err}");
}

#[tokio::test]
async fn prod_mode_refuses_a_short_hs256_secret() {
    let mut cfg = config(
        &["http://127.0.0.1:1".into()],
        &["http://127.0.0.1:1".into()],
    );
    cfg.mode = knotwork_gateway::Mode::Prod;
    cfg.allow_plaintext_backends = true;
    cfg.internal_token = "i".repeat(32);
    cfg.jwt_secret = "k".into();
    let err = knotwork_gateway::run(cfg, bind(None).await, None, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("KNOTWORK_JWT_SECRET"), "{err}");
    assert!(err.to_string().contains("1 bytes"), "{err}");
}

#[tokio::test]
async fn server_stream_over_grpc_web() {
    let s = stack().await;
    let bearer = format!("Bearer {}", token("alice"));
    let resp = http1(
        s.gateway.addr,
        "POST",
        "/knotwork.session.v1.SessionService/GuideSession",
        &[
            ("Content-Type", "application/grpc-web+proto"),
            ("Authorization", bearer.as_str()),
        ],
        &frame(&GuideSessionRequest {
            name: "guidedSessions/1".into(),
        }),
    )
    .await;
    assert_eq!(resp.status, 200);
    let (data, trailers) = unframe(&resp.body);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let cues: Vec<i32> = data
        .iter()
        .map(|d| GuideSessionResponse::decode(d.as_slice()).unwrap().cue)
        .collect();
    assert_eq!(cues, [1, 2, 4, 6]);
}
