//! Auth attacks, table-driven, through the gateway: forged, expired,
//! misdirected and malformed tokens; a token of one user aimed at another's
//! records; internal metadata injected by a client; direct calls to the
//! backends without the internal credential. Every attack must be refused
//! with the right code, and each table has a positive control (the honest
//! call succeeds), so the test fails if the gateway refuses everything.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::metadata::{INTERNAL_TOKEN, USER_ID};
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_admin_service_client::SessionAdminServiceClient;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::{INTERNAL_TOKEN as STACK_INTERNAL, JWT_SECRET, TestStack};
use serde_json::{Value, json};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;
use tonic_types::StatusExt;

const ISSUER: &str = knotwork_runtime::dev::JWT_ISSUER;
const AUDIENCE: &str = "knotwork";
const RSA_KEY: &str = include_str!("../fixtures/rs256-test-only.key.pem");
const RSA_PUB: &str = include_str!("../fixtures/rs256-test-only.pub.pem");
const KID: &str = "test-only-1";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now()})
}

fn with(mut base: Value, key: &str, v: Value) -> Value {
    base[key] = v;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn hs(alg: Algorithm, c: &Value, secret: &[u8], kid: Option<&str>) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, c, &EncodingKey::from_secret(secret)).unwrap()
}

fn rs(c: &Value, kid: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &h,
        c,
        &EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `alg: none`: a header and claims, and an empty signature.
fn unsigned(c: &Value) -> String {
    format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(c))
}

/// A valid token whose claims were re-encoded (another `sub`), keeping the
/// original signature.
fn tampered(valid: &str, c: &Value) -> String {
    let mut parts = valid.split('.');
    let (h, _, s) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    format!("{h}.{}.{s}", b64(c))
}

/// What a case sends as `authorization` (or several of them).
enum Auth {
    None,
    Raw(String),
    Bearer(String),
    Twice(String),
}

struct Case {
    name: &'static str,
    auth: Auth,
    /// `None` for the positive control.
    refused: Option<&'static str>,
}

fn case(name: &'static str, auth: Auth, reason: &'static str) -> Case {
    Case {
        name,
        auth,
        refused: Some(reason),
    }
}

/// Runs every case as a ListSessions and returns how many were refused.
async fn run_table(stack: &TestStack, cases: Vec<Case>) -> usize {
    let mut client = stack.session().await;
    let mut refused = 0;
    let mut failures = Vec::new();
    for c in cases {
        let mut req = tonic::Request::new(ses::ListSessionsRequest::default());
        let md = req.metadata_mut();
        match &c.auth {
            Auth::None => {}
            Auth::Raw(v) => {
                md.insert("authorization", v.parse().unwrap());
            }
            Auth::Bearer(t) => {
                md.insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            Auth::Twice(t) => {
                md.insert("authorization", format!("Bearer {t}").parse().unwrap());
                md.append("authorization", format!("Bearer {t}").parse().unwrap());
            }
        }
        let got = client.list_sessions(req).await;
        match (c.refused, got) {
            (None, Ok(_)) => {}
            (None, Err(s)) => failures.push(format!("{}: control refused: {s:?}", c.name)),
            (Some(_), Ok(_)) => failures.push(format!("{}: ACCEPTED", c.name)),
            (Some(reason), Err(s)) => {
                let info = s.get_details_error_info().map(|i| i.reason);
                if s.code() != Code::Unauthenticated || info.as_deref() != Some(reason) {
                    failures.push(format!(
                        "{}: got {:?} {info:?}, want UNAUTHENTICATED {reason}",
                        c.name,
                        s.code()
                    ));
                } else {
                    refused += 1;
                }
                // The refusal must not echo the token.
                if let Auth::Bearer(t) | Auth::Twice(t) = &c.auth
                    && t.len() > 16
                    && s.message().contains(t.as_str())
                {
                    failures.push(format!("{}: refusal echoes the token", c.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "auth table:\n{}", failures.join("\n"));
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_invalid_tokens_are_refused_hs256() {
    let stack = TestStack::start().await;
    let secret = JWT_SECRET.as_bytes();
    let good = hs(Algorithm::HS256, &claims("alice"), secret, None);
    let n = now();
    let cases = vec![
        Case {
            name: "control: valid HS256",
            auth: Auth::Bearer(good.clone()),
            refused: None,
        },
        case("no authorization", Auth::None, "TOKEN_MISSING"),
        case(
            "alg none",
            Auth::Bearer(unsigned(&claims("alice"))),
            "TOKEN_MALFORMED",
        ),
        case(
            "alg none, signature of a valid token kept",
            Auth::Bearer(format!(
                "{}.{}.{}",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims("alice")),
                good.rsplit('.').next().unwrap()
            )),
            "TOKEN_MALFORMED",
        ),
        case(
            "expired an hour ago",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &with(claims("alice"), "exp", json!(n - 3600)),
                secret,
                None,
            )),
            "TOKEN_EXPIRED",
        ),
        case(
            "not valid for an hour",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &with(claims("alice"), "nbf", json!(n + 3600)),
                secret,
                None,
            )),
            "TOKEN_NOT_YET_VALID",
        ),
        case(
            "wrong issuer",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &with(claims("alice"), "iss", json!("evil-issuer")),
                secret,
                None,
            )),
            "TOKEN_WRONG_ISSUER",
        ),
        case(
            "wrong audience",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &with(claims("alice"), "aud", json!("another-app")),
                secret,
                None,
            )),
            "TOKEN_WRONG_AUDIENCE",
        ),
        case(
            "tampered payload (sub changed, old signature)",
            Auth::Bearer(tampered(&good, &claims("bob"))),
            "TOKEN_INVALID_SIGNATURE",
        ),
        case(
            "tampered payload (exp extended, old signature)",
            Auth::Bearer(tampered(
                &good,
                &with(claims("alice"), "exp", json!(n + 10 * 365 * 86400)),
            )),
            "TOKEN_INVALID_SIGNATURE",
        ),
        case(
            "signed with another secret",
            Auth::Bearer(hs(Algorithm::HS256, &claims("alice"), b"guessed", None)),
            "TOKEN_INVALID_SIGNATURE",
        ),
        case(
            "HS512 with the right secret (algorithm switch)",
            Auth::Bearer(hs(Algorithm::HS512, &claims("alice"), secret, None)),
            "TOKEN_WRONG_ALGORITHM",
        ),
        case(
            "RS256 token at an HS256 gateway",
            Auth::Bearer(rs(&claims("alice"), Some(KID))),
            "TOKEN_WRONG_ALGORITHM",
        ),
        case(
            "no exp",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &without(claims("alice"), "exp"),
                secret,
                None,
            )),
            "TOKEN_MISSING_CLAIM",
        ),
        case(
            "no sub",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &without(claims("alice"), "sub"),
                secret,
                None,
            )),
            "TOKEN_MISSING_CLAIM",
        ),
        case(
            "empty sub",
            Auth::Bearer(hs(Algorithm::HS256, &claims(""), secret, None)),
            "TOKEN_INVALID_SUBJECT",
        ),
        case(
            "sub with a NUL (key-prefix smuggling)",
            Auth::Bearer(hs(Algorithm::HS256, &claims("bob\u{0}x"), secret, None)),
            "TOKEN_INVALID_SUBJECT",
        ),
        case(
            "sub of 256 characters",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &claims(&"a".repeat(256)),
                secret,
                None,
            )),
            "TOKEN_INVALID_SUBJECT",
        ),
        case(
            "garbage token",
            Auth::Bearer("not-a-jwt".into()),
            "TOKEN_MALFORMED",
        ),
        case(
            "three garbage segments",
            Auth::Bearer("a.b.c".into()),
            "TOKEN_MALFORMED",
        ),
        case(
            "token of 9 KiB",
            Auth::Bearer(format!("{good}{}", "A".repeat(9 * 1024))),
            "TOKEN_MALFORMED",
        ),
        case(
            "missing `Bearer`",
            Auth::Raw(good.clone()),
            "TOKEN_MALFORMED",
        ),
        case(
            "`Basic` scheme",
            Auth::Raw(format!("Basic {good}")),
            "TOKEN_MALFORMED",
        ),
        case(
            "`Bearer` alone",
            Auth::Raw("Bearer ".into()),
            "TOKEN_MALFORMED",
        ),
        case(
            "two authorization headers",
            Auth::Twice(good.clone()),
            "TOKEN_MALFORMED",
        ),
    ];
    let total = cases.len() - 1;
    let refused = run_table(&stack, cases).await;
    assert_eq!(refused, total);
    println!("attacks refused (HS256 gateway): {refused}/{total}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_are_refused_rs256_jwks() {
    let jwks = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/rs256-test-only.jwks.json"
    );
    let stack = TestStack::start_with(1, |g| {
        g.jwt_jwks_file = Some(jwks.into());
    })
    .await;
    let good = rs(&claims("alice"), Some(KID));
    let pem = RSA_PUB.as_bytes();
    let cases = vec![
        Case {
            name: "control: valid RS256",
            auth: Auth::Bearer(good.clone()),
            refused: None,
        },
        case(
            "HS256 signed with the RS256 public key text (kid kept)",
            Auth::Bearer(hs(Algorithm::HS256, &claims("alice"), pem, Some(KID))),
            "TOKEN_WRONG_ALGORITHM",
        ),
        case(
            "HS256 signed with the RS256 public key text (no kid)",
            Auth::Bearer(hs(Algorithm::HS256, &claims("alice"), pem, None)),
            "TOKEN_WRONG_ALGORITHM",
        ),
        case(
            "HS256 signed with the public key, trimmed",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &claims("alice"),
                RSA_PUB.trim().as_bytes(),
                Some(KID),
            )),
            "TOKEN_WRONG_ALGORITHM",
        ),
        case(
            "HS256 with the dev secret at a JWKS gateway",
            Auth::Bearer(hs(
                Algorithm::HS256,
                &claims("alice"),
                JWT_SECRET.as_bytes(),
                Some(KID),
            )),
            "TOKEN_WRONG_ALGORITHM",
        ),
        case(
            "alg none",
            Auth::Bearer(unsigned(&claims("alice"))),
            "TOKEN_MALFORMED",
        ),
        case(
            "unknown kid",
            Auth::Bearer(rs(&claims("alice"), Some("someone-elses-key"))),
            "TOKEN_UNKNOWN_KEY",
        ),
        case(
            "tampered payload",
            Auth::Bearer(tampered(&good, &claims("bob"))),
            "TOKEN_INVALID_SIGNATURE",
        ),
        case(
            "expired",
            Auth::Bearer(rs(
                &with(claims("alice"), "exp", json!(now() - 3600)),
                Some(KID),
            )),
            "TOKEN_EXPIRED",
        ),
        case(
            "wrong audience",
            Auth::Bearer(rs(
                &with(claims("alice"), "aud", json!(["other"])),
                Some(KID),
            )),
            "TOKEN_WRONG_AUDIENCE",
        ),
    ];
    let total = cases.len() - 1;
    let refused = run_table(&stack, cases).await;
    assert_eq!(refused, total);
    println!("attacks refused (RS256/JWKS gateway): {refused}/{total}");
}

fn session_of(tool: &str, notes: &str) -> ses::SessionRecord {
    ses::SessionRecord {
        trigger_point: "triggerPoints/quadratus_lumborum_superficial".into(),
        tool: tool.into(),
        side: cat::Side::Left as i32,
        pressure: 5,
        duration_seconds: 240,
        tenderness_before: Some(6),
        tenderness_after: Some(4),
        notes: notes.into(),
        perform_time: Some(prost_types::Timestamp::from(SystemTime::now())),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_reach_another_users_records() {
    let stack = TestStack::start().await;
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
    let secret_note = "alice-private-note-7d1e";
    let mut session = stack.session().await;
    let alice = session
        .log_session(stack.as_user(
            "alice",
            ses::LogSessionRequest {
                request_id: "iso-1".into(),
                session: Some(session_of(&tool, secret_note)),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();

    // Control: alice reads her own session.
    session
        .get_session(stack.as_user(
            "alice",
            ses::GetSessionRequest {
                name: alice.name.clone(),
            },
        ))
        .await
        .expect("alice reads her own session");

    let mut refused = 0;
    // Bob asks for alice's session by name.
    let s = session
        .get_session(stack.as_user(
            "bob",
            ses::GetSessionRequest {
                name: alice.name.clone(),
            },
        ))
        .await
        .expect_err("bob must not read alice's session");
    assert!(
        matches!(s.code(), Code::NotFound | Code::PermissionDenied),
        "{s:?}"
    );
    assert!(!s.message().contains(secret_note));
    refused += 1;

    // Bob tries to speak as alice with injected internal metadata, with and
    // without his own token: the gateway strips it.
    for with_token in [true, false] {
        let mut req = if with_token {
            stack.as_user(
                "bob",
                ses::GetSessionRequest {
                    name: alice.name.clone(),
                },
            )
        } else {
            tonic::Request::new(ses::GetSessionRequest {
                name: alice.name.clone(),
            })
        };
        req.metadata_mut().insert(USER_ID, "alice".parse().unwrap());
        req.metadata_mut()
            .insert(INTERNAL_TOKEN, STACK_INTERNAL.parse().unwrap());
        let s = session.get_session(req).await.expect_err("injection");
        let want: &[Code] = if with_token {
            &[Code::NotFound, Code::PermissionDenied]
        } else {
            &[Code::Unauthenticated]
        };
        assert!(want.contains(&s.code()), "with_token={with_token}: {s:?}");
        refused += 1;
    }
    // Duplicated injected headers, on a list and an export.
    let mut req = stack.as_user("bob", ses::ListSessionsRequest::default());
    // (HTTP/2 lower-cases header names, so case variants are the same key.)
    req.metadata_mut()
        .insert(USER_ID, MetadataValue::from_static("alice"));
    req.metadata_mut()
        .append(USER_ID, MetadataValue::from_static("alice"));
    req.metadata_mut()
        .insert(INTERNAL_TOKEN, STACK_INTERNAL.parse().unwrap());
    let listed = session.list_sessions(req).await.unwrap().into_inner();
    assert!(listed.sessions.is_empty(), "bob sees {:?}", listed.sessions);
    refused += 1;
    let mut req = stack.as_user("bob", ses::ExportUserDataRequest {});
    req.metadata_mut().insert(USER_ID, "alice".parse().unwrap());
    let export = session
        .export_user_data(req)
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap();
    assert_eq!(export.user_id, "bob");
    assert!(export.sessions.is_empty());
    assert!(!format!("{export:?}").contains(secret_note));
    refused += 1;
    // Bob's delete does not touch alice.
    session
        .delete_user_data(stack.as_user("bob", ses::DeleteUserDataRequest { confirm: true }))
        .await
        .unwrap();
    let still = session
        .get_session(stack.as_user(
            "alice",
            ses::GetSessionRequest {
                name: alice.name.clone(),
            },
        ))
        .await
        .expect("alice's session survives bob's delete")
        .into_inner()
        .session
        .unwrap();
    assert_eq!(still.notes, secret_note);
    println!("isolation attacks refused: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_refuse_callers_without_the_internal_credential() {
    let stack = TestStack::start().await;
    let direct = Endpoint::from_shared(stack.session_urls[0].clone())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let mut session = SessionServiceClient::new(direct.clone());
    let mut admin = SessionAdminServiceClient::new(direct);

    type Md = Vec<(&'static str, String)>;
    let bearer = format!("Bearer {}", stack.token("alice"));
    let cases: Vec<(&str, Md, bool)> = vec![
        (
            "control: internal credential",
            vec![
                (INTERNAL_TOKEN, STACK_INTERNAL.into()),
                (USER_ID, "alice".into()),
            ],
            true,
        ),
        ("nothing", vec![], false),
        ("user id only", vec![(USER_ID, "alice".into())], false),
        (
            "a valid bearer token only",
            vec![("authorization", bearer.clone())],
            false,
        ),
        (
            "bearer token and user id",
            vec![("authorization", bearer), (USER_ID, "alice".into())],
            false,
        ),
        (
            "wrong internal credential",
            vec![(INTERNAL_TOKEN, "guess".into()), (USER_ID, "alice".into())],
            false,
        ),
        (
            "credential prefix",
            vec![
                (INTERNAL_TOKEN, STACK_INTERNAL[..4].into()),
                (USER_ID, "alice".into()),
            ],
            false,
        ),
        (
            "credential plus a byte",
            vec![
                (INTERNAL_TOKEN, format!("{STACK_INTERNAL}x")),
                (USER_ID, "alice".into()),
            ],
            false,
        ),
        (
            "empty credential",
            vec![(INTERNAL_TOKEN, String::new()), (USER_ID, "alice".into())],
            false,
        ),
        (
            "dev default credential",
            vec![
                (INTERNAL_TOKEN, knotwork_runtime::dev::INTERNAL_TOKEN.into()),
                (USER_ID, "alice".into()),
            ],
            false,
        ),
        (
            "credential without a user id",
            vec![(INTERNAL_TOKEN, STACK_INTERNAL.into())],
            false,
        ),
    ];
    let mut refused = 0;
    for (name, md, ok) in &cases {
        let mut req = tonic::Request::new(ses::ListSessionsRequest::default());
        for (k, v) in md {
            req.metadata_mut().insert(*k, v.parse().unwrap());
        }
        match (session.list_sessions(req).await, ok) {
            (Ok(_), true) => {}
            (Err(s), false) if s.code() == Code::Unauthenticated => refused += 1,
            (got, _) => panic!("{name}: {got:?}"),
        }
    }
    // The admin service, which moves users between shards.
    for md in [vec![], vec![(INTERNAL_TOKEN, "guess".to_owned())]] {
        let mut req = tonic::Request::new(ses::ExportUserRequest {
            user_id: "alice".into(),
        });
        for (k, v) in &md {
            req.metadata_mut().insert(*k, v.parse().unwrap());
        }
        let s = admin.export_user(req).await.expect_err("admin refused");
        assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
        refused += 1;
    }
    // The catalog's admin service, directly.
    let mut cadmin = cat::catalog_admin_service_client::CatalogAdminServiceClient::new(
        Endpoint::from_shared(stack.catalog_url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let s = cadmin
        .reload_catalog(cat::ReloadCatalogRequest {})
        .await
        .expect_err("catalog admin refused");
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    refused += 1;
    // The gateway does not expose either admin service.
    let mut via_gateway = SessionAdminServiceClient::new(stack.channel().await);
    let mut req = tonic::Request::new(ses::ListUsersRequest::default());
    req.metadata_mut()
        .insert(INTERNAL_TOKEN, STACK_INTERNAL.parse().unwrap());
    let s = via_gateway.list_users(req).await.expect_err("not exposed");
    assert_eq!(s.code(), Code::Unimplemented, "{s:?}");
    let mut via_gateway =
        cat::catalog_admin_service_client::CatalogAdminServiceClient::new(stack.channel().await);
    let s = via_gateway
        .reload_catalog(cat::ReloadCatalogRequest {})
        .await
        .expect_err("not exposed");
    assert_eq!(s.code(), Code::Unimplemented, "{s:?}");
    refused += 2;
    println!("backend credential attacks refused: {refused}");
}
