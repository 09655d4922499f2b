//! A catalogue of malformed requests across the public methods of
//! CatalogService, SessionService and ViewService, sent through the gateway.
//! Each row names the call, the status code it must get and, for
//! INVALID_ARGUMENT, the field a `google.rpc.BadRequest` violation must name.
//! After every row has run, the caller's stored data (ExportUserData) and
//! the catalog version must be exactly what they were before.
//!
//! The table is mirrored in RELIABILITY.md; the test prints it in that form
//! (`cargo test -p knotwork-tests --test malformed -- --nocapture`).

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::TestStack;
use prost_types::{FieldMask, Timestamp};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

struct Row {
    name: String,
    call: Call,
    code: Code,
    field: Option<&'static str>,
}

fn boxed<T, F>(f: F) -> Call
where
    F: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
{
    Box::pin(async move { f.await.map(|_| ()) })
}

const USER: &str = "malformed-user";
const POINT: &str = "triggerPoints/quadratus_lumborum_superficial";

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

fn now_ts() -> Option<Timestamp> {
    Some(Timestamp::from(SystemTime::now() - Duration::from_secs(60)))
}

/// A prost message with field 1 as bytes: sent on a method whose field 1 is
/// a `string`, it carries invalid UTF-8 past the client's type checks.
#[derive(Clone, PartialEq, prost::Message)]
struct RawName {
    #[prost(bytes = "vec", tag = "1")]
    name: Vec<u8>,
}

/// Calls `path` with a raw message (for bytes a typed client cannot send).
async fn raw_call(ch: Channel, path: &'static str, msg: RawName) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<RawName, RawName>::default();
    grpc.unary(
        tonic::Request::new(msg),
        http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .map(|_| ())
    .map_err(names_utf8)
}

/// Passes a decode refusal through only when its message names the problem
/// (so a bare INVALID_ARGUMENT without it fails the row).
fn names_utf8(s: Status) -> Status {
    if s.code() == Code::InvalidArgument && !s.message().contains("not UTF-8") {
        return Status::unknown(format!("decode refusal without the reason: {s:?}"));
    }
    s
}

struct Env {
    stack: TestStack,
    ch: Channel,
    tool: String,
    /// A real first-page token of a Search for "neck".
    search_token: String,
    /// The name of the session stored before the table runs.
    seeded: String,
}

impl Env {
    fn cat(&self) -> cat::catalog_service_client::CatalogServiceClient<Channel> {
        cat::catalog_service_client::CatalogServiceClient::new(self.ch.clone())
    }
    fn ses(&self) -> ses::session_service_client::SessionServiceClient<Channel> {
        ses::session_service_client::SessionServiceClient::new(self.ch.clone())
            .max_encoding_message_size(64 * 1024 * 1024)
    }
    fn view(&self) -> gw::view_service_client::ViewServiceClient<Channel> {
        gw::view_service_client::ViewServiceClient::new(self.ch.clone())
    }
    fn me<T>(&self, m: T) -> tonic::Request<T> {
        self.stack.as_user(USER, m)
    }
    fn good(&self) -> ses::SessionRecord {
        ses::SessionRecord {
            trigger_point: POINT.into(),
            tool: self.tool.clone(),
            side: cat::Side::Left as i32,
            pressure: 5,
            duration_seconds: 200,
            tenderness_before: Some(5),
            tenderness_after: Some(3),
            notes: "seeded".into(),
            perform_time: now_ts(),
            ..Default::default()
        }
    }
    fn log(
        &self,
        name: &str,
        f: impl FnOnce(&mut ses::SessionRecord),
        code: Code,
        field: &'static str,
    ) -> Row {
        let mut s = self.good();
        f(&mut s);
        let req = self.me(ses::LogSessionRequest {
            request_id: format!("mal-{name}"),
            session: Some(s),
        });
        let mut c = self.ses();
        Row {
            name: format!("SessionService.LogSession: {name}"),
            call: boxed(async move { c.log_session(req).await }),
            code,
            field: Some(field),
        }
    }
}

fn row(name: &str, call: Call, code: Code, field: Option<&'static str>) -> Row {
    Row {
        name: name.to_owned(),
        call,
        code,
        field,
    }
}

fn invalid(name: &str, call: Call, field: &'static str) -> Row {
    row(name, call, Code::InvalidArgument, Some(field))
}

fn rows(e: &Env) -> Vec<Row> {
    let mut v = Vec::new();
    macro_rules! cat_call {
        ($method:ident, $req:expr) => {{
            let mut c = e.cat();
            let req = $req;
            boxed(async move { c.$method(req).await })
        }};
    }
    macro_rules! ses_call {
        ($method:ident, $req:expr) => {{
            let mut c = e.ses();
            let req = e.me($req);
            boxed(async move { c.$method(req).await })
        }};
    }
    macro_rules! view_call {
        ($method:ident, $req:expr) => {{
            let mut c = e.view();
            let req = e.me($req);
            boxed(async move { c.$method(req).await })
        }};
    }
    let huge = "x".repeat(100 * 1024);
    let loc = |region: &str| cat::PainLocation {
        region: region.into(),
        side: cat::Side::Unspecified as i32,
    };

    // ---- CatalogService (public) ----
    let tp = |name: &str| cat::GetTriggerPointRequest { name: name.into() };
    v.push(invalid(
        "CatalogService.GetTriggerPoint: empty name",
        cat_call!(get_trigger_point, tp("")),
        "name",
    ));
    v.push(invalid(
        "CatalogService.GetTriggerPoint: other collection",
        cat_call!(get_trigger_point, tp("muscles/trapezius")),
        "name",
    ));
    v.push(invalid(
        "CatalogService.GetTriggerPoint: nested name",
        cat_call!(get_trigger_point, tp("triggerPoints/a/b")),
        "name",
    ));
    v.push(invalid(
        "CatalogService.GetTriggerPoint: 100 KiB name",
        cat_call!(get_trigger_point, tp(&format!("triggerPoints/{huge}"))),
        "name",
    ));
    v.push(row(
        "CatalogService.GetTriggerPoint: unknown id",
        cat_call!(get_trigger_point, tp("triggerPoints/does_not_exist")),
        Code::NotFound,
        None,
    ));
    v.push(invalid(
        "CatalogService.GetMuscle: empty id",
        cat_call!(
            get_muscle,
            cat::GetMuscleRequest {
                name: "muscles/".into()
            }
        ),
        "name",
    ));
    v.push(row(
        "CatalogService.GetRegion: unknown id",
        cat_call!(
            get_region,
            cat::GetRegionRequest {
                name: "regions/atlantis".into()
            }
        ),
        Code::NotFound,
        None,
    ));
    v.push(invalid(
        "CatalogService.GetTool: empty name",
        cat_call!(
            get_tool,
            cat::GetToolRequest {
                name: String::new()
            }
        ),
        "name",
    ));
    v.push(invalid(
        "CatalogService.BatchGetTriggerPoints: no names",
        cat_call!(
            batch_get_trigger_points,
            cat::BatchGetTriggerPointsRequest { names: vec![] }
        ),
        "names",
    ));
    v.push(invalid(
        "CatalogService.BatchGetTriggerPoints: 101 names",
        cat_call!(
            batch_get_trigger_points,
            cat::BatchGetTriggerPointsRequest {
                names: vec![POINT.into(); 101]
            }
        ),
        "names",
    ));
    v.push(invalid(
        "CatalogService.BatchGetTriggerPoints: 100 000 names (repeated field)",
        cat_call!(
            batch_get_trigger_points,
            cat::BatchGetTriggerPointsRequest {
                names: vec!["x".into(); 100_000]
            }
        ),
        "names",
    ));
    v.push(invalid(
        "CatalogService.BatchGetTriggerPoints: bad name",
        cat_call!(
            batch_get_trigger_points,
            cat::BatchGetTriggerPointsRequest {
                names: vec![POINT.into(), "nope".into()]
            }
        ),
        "names[1]",
    ));
    let search = |q: &str, size: i32, token: &str, kinds: Vec<i32>| cat::SearchRequest {
        query: q.into(),
        kinds,
        page_size: size,
        page_token: token.into(),
    };
    v.push(invalid(
        "CatalogService.Search: empty query",
        cat_call!(search, search("", 0, "", vec![])),
        "query",
    ));
    v.push(invalid(
        "CatalogService.Search: blank query",
        cat_call!(search, search(" \t ", 0, "", vec![])),
        "query",
    ));
    v.push(invalid(
        "CatalogService.Search: 201-character query",
        cat_call!(search, search(&"a".repeat(201), 0, "", vec![])),
        "query",
    ));
    v.push(invalid(
        "CatalogService.Search: unknown kind 99",
        cat_call!(search, search("neck", 0, "", vec![99])),
        "kinds[0]",
    ));
    v.push(invalid(
        "CatalogService.Search: page_size -1",
        cat_call!(search, search("neck", -1, "", vec![])),
        "page_size",
    ));
    v.push(invalid(
        "CatalogService.Search: page_size 101",
        cat_call!(search, search("neck", 101, "", vec![])),
        "page_size",
    ));
    v.push(invalid(
        "CatalogService.Search: garbage page token",
        cat_call!(search, search("neck", 2, "!!garbage!!", vec![])),
        "page_token",
    ));
    let mut flipped = e.search_token.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    v.push(invalid(
        "CatalogService.Search: tampered page token (one character)",
        cat_call!(search, search("neck", 2, &flipped, vec![])),
        "page_token",
    ));
    v.push(invalid(
        "CatalogService.Search: page token of another query",
        cat_call!(search, search("shoulder", 2, &e.search_token, vec![])),
        "page_token",
    ));
    v.push(invalid(
        "CatalogService.Search: 65-character page token",
        cat_call!(search, search("neck", 2, &"A".repeat(65), vec![])),
        "page_token",
    ));
    v.push(invalid(
        "CatalogService.ListRegions: unknown view 42",
        cat_call!(
            list_regions,
            cat::ListRegionsRequest {
                view: 42,
                ..Default::default()
            }
        ),
        "view",
    ));
    v.push(invalid(
        "CatalogService.ListRegions: unknown area",
        cat_call!(
            list_regions,
            cat::ListRegionsRequest {
                area: "atlantis".into(),
                ..Default::default()
            }
        ),
        "area",
    ));
    v.push(invalid(
        "CatalogService.ListTriggerPoints: page_size 501",
        cat_call!(
            list_trigger_points,
            cat::ListTriggerPointsRequest {
                page_size: 501,
                ..Default::default()
            }
        ),
        "page_size",
    ));
    v.push(invalid(
        "CatalogService.ListTriggerPoints: page_size i32::MIN",
        cat_call!(
            list_trigger_points,
            cat::ListTriggerPointsRequest {
                page_size: i32::MIN,
                ..Default::default()
            }
        ),
        "page_size",
    ));
    v.push(invalid(
        "CatalogService.ListMuscles: bad region filter",
        cat_call!(
            list_muscles,
            cat::ListMusclesRequest {
                region: "lower back".into(),
                ..Default::default()
            }
        ),
        "region",
    ));
    v.push(invalid(
        "CatalogService.ListContraindications: unknown kind 77",
        cat_call!(
            list_contraindications,
            cat::ListContraindicationsRequest { kind: 77 }
        ),
        "kind",
    ));
    let pain = |locations: Vec<cat::PainLocation>, symptoms: Vec<String>| cat::FindByPainRequest {
        locations,
        symptoms,
        ..Default::default()
    };
    v.push(invalid(
        "CatalogService.FindByPain: no locations",
        cat_call!(find_by_pain, pain(vec![], vec![])),
        "locations",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: 17 locations",
        cat_call!(find_by_pain, pain(vec![loc("neck"); 17], vec![])),
        "locations",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: 10 000 locations (repeated field)",
        cat_call!(find_by_pain, pain(vec![loc("neck"); 10_000], vec![])),
        "locations",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: empty region",
        cat_call!(find_by_pain, pain(vec![loc("")], vec![])),
        "locations[0].region",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: 201-byte region",
        cat_call!(find_by_pain, pain(vec![loc(&"n".repeat(201))], vec![])),
        "locations[0].region",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: unknown region",
        cat_call!(
            find_by_pain,
            pain(vec![loc("left elbow of the moon")], vec![])
        ),
        "locations[0].region",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: 17 symptoms",
        cat_call!(
            find_by_pain,
            pain(vec![loc("neck")], vec!["pain".into(); 17])
        ),
        "symptoms",
    ));
    v.push(invalid(
        "CatalogService.FindByPain: page_size 1000",
        cat_call!(
            find_by_pain,
            cat::FindByPainRequest {
                locations: vec![loc("neck")],
                page_size: 1000,
                ..Default::default()
            }
        ),
        "page_size",
    ));
    v.push(invalid(
        "CatalogService.ListRecommendedTools: empty point",
        cat_call!(
            list_recommended_tools,
            cat::ListRecommendedToolsRequest {
                trigger_point: String::new()
            }
        ),
        "trigger_point",
    ));
    {
        let ch = e.ch.clone();
        // Bytes that do not decode are refused by the codec
        // (knotwork_proto::codec) with INVALID_ARGUMENT naming the problem,
        // before any handler runs; tonic's own codec would say INTERNAL.
        v.push(row(
            "CatalogService.GetTriggerPoint: invalid UTF-8 in name (raw bytes; refused by the codec)",
            Box::pin(raw_call(
                ch,
                "/knotwork.catalog.v1.CatalogService/GetTriggerPoint",
                RawName {
                    name: vec![b't', 0xff, 0xfe, b'x'],
                },
            )),
            Code::InvalidArgument,
            None,
        ));
        let ch = e.ch.clone();
        let auth = e.me(()).metadata().clone();
        let msg = RawName {
            name: b"sessions/\xc3\x28".to_vec(),
        };
        v.push(row(
            "SessionService.GetSession: invalid UTF-8 in name (raw bytes; refused by the codec)",
            Box::pin(async move {
                let mut grpc = tonic::client::Grpc::new(ch);
                grpc.ready()
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                let mut r = tonic::Request::new(msg);
                *r.metadata_mut() = auth;
                grpc.unary(
                    r,
                    http::uri::PathAndQuery::from_static(
                        "/knotwork.session.v1.SessionService/GetSession",
                    ),
                    tonic_prost::ProstCodec::<RawName, RawName>::default(),
                )
                .await
                .map(|_| ())
                .map_err(names_utf8)
            }),
            Code::InvalidArgument,
            None,
        ));
    }

    // ---- SessionService (bearer token) ----
    v.push(e.log(
        "empty request_id",
        |_| {},
        Code::InvalidArgument,
        "request_id",
    ));
    if let Some(r) = v.last_mut() {
        let mut c = e.ses();
        let req = e.me(ses::LogSessionRequest {
            request_id: String::new(),
            session: Some(e.good()),
        });
        r.call = boxed(async move { c.log_session(req).await });
    }
    {
        let mut c = e.ses();
        let req = e.me(ses::LogSessionRequest {
            request_id: "r".repeat(65),
            session: Some(e.good()),
        });
        v.push(invalid(
            "SessionService.LogSession: 65-character request_id",
            boxed(async move { c.log_session(req).await }),
            "request_id",
        ));
        let mut c = e.ses();
        let req = e.me(ses::LogSessionRequest {
            request_id: "ctl\u{7}".into(),
            session: Some(e.good()),
        });
        v.push(invalid(
            "SessionService.LogSession: control character in request_id",
            boxed(async move { c.log_session(req).await }),
            "request_id",
        ));
        let mut c = e.ses();
        let req = e.me(ses::LogSessionRequest {
            request_id: "no-session".into(),
            session: None,
        });
        v.push(invalid(
            "SessionService.LogSession: no session",
            boxed(async move { c.log_session(req).await }),
            "session",
        ));
    }
    let ia = Code::InvalidArgument;
    v.push(e.log("pressure 11", |s| s.pressure = 11, ia, "session.pressure"));
    v.push(e.log("pressure -1", |s| s.pressure = -1, ia, "session.pressure"));
    v.push(e.log(
        "duration 0",
        |s| s.duration_seconds = 0,
        ia,
        "session.duration_seconds",
    ));
    v.push(e.log(
        "duration 3601",
        |s| s.duration_seconds = 3601,
        ia,
        "session.duration_seconds",
    ));
    v.push(e.log(
        "duration i32::MIN",
        |s| s.duration_seconds = i32::MIN,
        ia,
        "session.duration_seconds",
    ));
    v.push(e.log(
        "tenderness_before 11",
        |s| s.tenderness_before = Some(11),
        ia,
        "session.tenderness_before",
    ));
    v.push(e.log(
        "tenderness_after -3",
        |s| s.tenderness_after = Some(-3),
        ia,
        "session.tenderness_after",
    ));
    v.push(e.log("unknown side 99", |s| s.side = 99, ia, "session.side"));
    v.push(e.log(
        "unknown pain_quality 42",
        |s| s.pain_quality = 42,
        ia,
        "session.pain_quality",
    ));
    v.push(e.log(
        "notes of 2001 characters",
        |s| s.notes = "n".repeat(2001),
        ia,
        "session.notes",
    ));
    v.push(e.log(
        "notes of 2001 two-byte characters",
        |s| s.notes = "é".repeat(2001),
        ia,
        "session.notes",
    ));
    v.push(e.log(
        "notes of 1 MiB",
        |s| s.notes = "n".repeat(1024 * 1024),
        ia,
        "session.notes",
    ));
    v.push(e.log(
        "perform_time in year 9999",
        |s| s.perform_time = ts(253_402_000_000, 0),
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "perform_time before 1970",
        |s| s.perform_time = ts(-86_400 * 365, 0),
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "perform_time in 1999",
        |s| s.perform_time = ts(946_684_799, 0),
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "perform_time seconds i64::MAX",
        |s| s.perform_time = ts(i64::MAX, 0),
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "perform_time nanos 2e9",
        |s| s.perform_time = ts(1_700_000_000, 2_000_000_000),
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "perform_time missing",
        |s| s.perform_time = None,
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "perform_time 10 minutes ahead",
        |s| {
            s.perform_time = Some(Timestamp::from(
                SystemTime::now() + Duration::from_secs(600),
            ))
        },
        ia,
        "session.perform_time",
    ));
    v.push(e.log(
        "unknown trigger point",
        |s| s.trigger_point = "triggerPoints/nope".into(),
        ia,
        "session.trigger_point",
    ));
    v.push(e.log(
        "empty trigger point",
        |s| s.trigger_point = String::new(),
        ia,
        "session.trigger_point",
    ));
    v.push(e.log(
        "trigger point in another collection",
        |s| s.trigger_point = "muscles/trapezius".into(),
        ia,
        "session.trigger_point",
    ));
    v.push(e.log(
        "unknown tool",
        |s| s.tool = "tools/chainsaw".into(),
        ia,
        "session.tool",
    ));
    v.push(e.log(
        "bad guided_session name",
        |s| s.guided_session = "nope".into(),
        ia,
        "session.guided_session",
    ));
    v.push(e.log(
        "unknown guided session",
        |s| s.guided_session = "guidedSessions/unknown".into(),
        ia,
        "session.guided_session",
    ));
    {
        // The same request id as the seeded session, other content:
        // INVALID_ARGUMENT with ErrorInfo REQUEST_ID_REUSED, and nothing
        // changes (the export check after the table).
        let mut c = e.ses();
        let mut other = e.good();
        other.pressure = 9;
        other.notes = "different content".into();
        let req = e.me(ses::LogSessionRequest {
            request_id: "seed-1".into(),
            session: Some(other),
        });
        v.push(row(
            "SessionService.LogSession: reused request_id, different content (ErrorInfo REQUEST_ID_REUSED)",
            Box::pin(async move {
                match c.log_session(req).await {
                    Ok(r) => Err(Status::internal(format!("accepted: {r:?}"))),
                    Err(s)
                        if s.get_details_error_info().map(|i| i.reason)
                            == Some("REQUEST_ID_REUSED".to_owned()) =>
                    {
                        Err(s)
                    }
                    Err(s) => Err(Status::unknown(format!("no REQUEST_ID_REUSED: {s:?}"))),
                }
            }),
            Code::InvalidArgument,
            Some("request_id"),
        ));
    }
    let batch =
        |n: usize, f: &dyn Fn(usize, &mut ses::SessionRecord)| ses::BatchLogSessionsRequest {
            requests: (0..n)
                .map(|i| {
                    let mut s = e.good();
                    f(i, &mut s);
                    ses::LogSessionRequest {
                        request_id: format!("batch-mal-{i}"),
                        session: Some(s),
                    }
                })
                .collect(),
        };
    v.push(invalid(
        "SessionService.BatchLogSessions: empty batch",
        ses_call!(batch_log_sessions, batch(0, &|_, _| {})),
        "requests",
    ));
    v.push(invalid(
        "SessionService.BatchLogSessions: 501 items",
        ses_call!(batch_log_sessions, batch(501, &|_, _| {})),
        "requests",
    ));
    {
        // Every item invalid: the call succeeds and reports each item.
        let mut c = e.ses();
        let req = e.me(batch(3, &|i, s| {
            s.pressure = 20 + i32::try_from(i).unwrap();
        }));
        v.push(row(
            "SessionService.BatchLogSessions: every item invalid (per-item INVALID_ARGUMENT)",
            Box::pin(async move {
                let r = c.batch_log_sessions(req).await?.into_inner();
                let ok = r.results.len() == 3
                    && r.results.iter().enumerate().all(|(i, x)| match &x.outcome {
                        Some(ses::batch_log_result::Outcome::Error(err)) => {
                            err.code == Code::InvalidArgument as i32
                                && err
                                    .field_violations
                                    .iter()
                                    .any(|f| f.field == format!("requests[{i}].session.pressure"))
                        }
                        _ => false,
                    });
                if ok {
                    Ok(())
                } else {
                    Err(Status::internal(format!("unexpected batch result {r:?}")))
                }
            }),
            Code::Ok,
            None,
        ));
    }
    let get = |n: &str| ses::GetSessionRequest { name: n.into() };
    v.push(invalid(
        "SessionService.GetSession: empty name",
        ses_call!(get_session, get("")),
        "name",
    ));
    v.push(invalid(
        "SessionService.GetSession: `sessions/`",
        ses_call!(get_session, get("sessions/")),
        "name",
    ));
    v.push(invalid(
        "SessionService.GetSession: nested name",
        ses_call!(get_session, get("sessions/a/../b")),
        "name",
    ));
    v.push(row(
        "SessionService.GetSession: unknown id",
        ses_call!(
            get_session,
            get("sessions/01930000-0000-7000-8000-000000000000")
        ),
        Code::NotFound,
        None,
    ));
    let list = |size: i32, token: &str| ses::ListSessionsRequest {
        page_size: size,
        page_token: token.into(),
        ..Default::default()
    };
    v.push(invalid(
        "SessionService.ListSessions: page_size -5",
        ses_call!(list_sessions, list(-5, "")),
        "page_size",
    ));
    v.push(invalid(
        "SessionService.ListSessions: page_size 501",
        ses_call!(list_sessions, list(501, "")),
        "page_size",
    ));
    v.push(invalid(
        "SessionService.ListSessions: garbage page token",
        ses_call!(list_sessions, list(0, "garbage")),
        "page_token",
    ));
    v.push(invalid(
        "SessionService.ListSessions: truncated page token",
        ses_call!(list_sessions, list(0, "1700000000000000_")),
        "page_token",
    ));
    v.push(invalid(
        "SessionService.ListSessions: start_time after year 9999",
        ses_call!(
            list_sessions,
            ses::ListSessionsRequest {
                start_time: ts(253_402_400_000, 0),
                ..Default::default()
            }
        ),
        "start_time",
    ));
    v.push(invalid(
        "SessionService.ListSessions: end_time nanos -2e9",
        ses_call!(
            list_sessions,
            ses::ListSessionsRequest {
                end_time: ts(0, -2_000_000_000),
                ..Default::default()
            }
        ),
        "end_time",
    ));
    v.push(invalid(
        "SessionService.ListSessions: bad trigger_point filter",
        ses_call!(
            list_sessions,
            ses::ListSessionsRequest {
                trigger_point: "quadratus".into(),
                ..Default::default()
            }
        ),
        "trigger_point",
    ));
    v.push(invalid(
        "SessionService.ListProgress: days 366",
        ses_call!(
            list_progress,
            ses::ListProgressRequest {
                days: 366,
                ..Default::default()
            }
        ),
        "days",
    ));
    v.push(invalid(
        "SessionService.ListProgress: days -1",
        ses_call!(
            list_progress,
            ses::ListProgressRequest {
                days: -1,
                ..Default::default()
            }
        ),
        "days",
    ));
    v.push(invalid(
        "SessionService.GetDay: month 13",
        ses_call!(
            get_day,
            ses::GetDayRequest {
                local_date: "2026-13-01".into(),
                max_sessions: 0,
            }
        ),
        "local_date",
    ));
    v.push(invalid(
        "SessionService.GetDay: not a date",
        ses_call!(
            get_day,
            ses::GetDayRequest {
                local_date: "yesterday".into(),
                max_sessions: 0,
            }
        ),
        "local_date",
    ));
    v.push(invalid(
        "SessionService.GetDay: 9999-12-31",
        ses_call!(
            get_day,
            ses::GetDayRequest {
                local_date: "9999-12-31".into(),
                max_sessions: 0,
            }
        ),
        "local_date",
    ));
    let profile = |tz: &str, tools: Vec<String>, mask: Vec<&str>| ses::UpdateProfileRequest {
        profile: Some(ses::Profile {
            time_zone: tz.into(),
            tools,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: mask.into_iter().map(str::to_owned).collect(),
        }),
    };
    v.push(invalid(
        "SessionService.UpdateProfile: unknown time zone",
        ses_call!(
            update_profile,
            profile("Mars/Olympus_Mons", vec![], vec!["time_zone"])
        ),
        "profile.time_zone",
    ));
    v.push(invalid(
        "SessionService.UpdateProfile: unknown tool",
        ses_call!(
            update_profile,
            profile("UTC", vec!["tools/chainsaw".into()], vec!["tools"])
        ),
        "profile.tools[0]",
    ));
    v.push(invalid(
        "SessionService.UpdateProfile: unknown mask path",
        ses_call!(update_profile, profile("UTC", vec![], vec!["email"])),
        "update_mask",
    ));
    let answer = |c: &str, date: &str| ses::SubmitScreeningRequest {
        answers: vec![ses::ScreeningAnswer {
            contraindication: c.into(),
            present: true,
            cleared_by_provider: !date.is_empty(),
            cleared_date: date.into(),
        }],
    };
    v.push(invalid(
        "SessionService.SubmitScreening: unknown condition",
        ses_call!(submit_screening, answer("contraindications/nope", "")),
        "answers[0].contraindication",
    ));
    let guided = |rid: &str, tool: &str, duration: i32| ses::StartGuidedSessionRequest {
        request_id: rid.into(),
        trigger_point: POINT.into(),
        tool: tool.into(),
        side: 0,
        duration_seconds: duration,
    };
    v.push(invalid(
        "SessionService.StartGuidedSession: empty request_id",
        ses_call!(start_guided_session, guided("", &e.tool, 0)),
        "request_id",
    ));
    v.push(invalid(
        "SessionService.StartGuidedSession: duration 10 s",
        ses_call!(start_guided_session, guided("g1", &e.tool, 10)),
        "duration_seconds",
    ));
    v.push(invalid(
        "SessionService.StartGuidedSession: unknown tool",
        ses_call!(start_guided_session, guided("g2", "tools/chainsaw", 0)),
        "tool",
    ));
    {
        let mut c = e.ses();
        let req = e.me(ses::GuideSessionRequest {
            name: "nope".into(),
        });
        v.push(invalid(
            "SessionService.GuideSession: bad name",
            boxed(async move { c.guide_session(req).await }),
            "name",
        ));
        let mut c = e.ses();
        let req = e.me(ses::GuideSessionRequest {
            name: "guidedSessions/unknown".into(),
        });
        v.push(row(
            "SessionService.GuideSession: unknown id",
            boxed(async move { c.guide_session(req).await }),
            Code::NotFound,
            None,
        ));
    }
    v.push(invalid(
        "SessionService.DeleteUserData: confirm false",
        ses_call!(
            delete_user_data,
            ses::DeleteUserDataRequest { confirm: false }
        ),
        "confirm",
    ));

    // ---- ViewService (bearer token) ----
    let plan = |locations: Vec<cat::PainLocation>, max: i32| gw::GetReliefPlanRequest {
        locations,
        symptoms: vec![],
        max_candidates: max,
    };
    v.push(invalid(
        "ViewService.GetReliefPlan: no locations",
        view_call!(get_relief_plan, plan(vec![], 0)),
        "locations",
    ));
    v.push(invalid(
        "ViewService.GetReliefPlan: 17 locations",
        view_call!(get_relief_plan, plan(vec![loc("neck"); 17], 0)),
        "locations",
    ));
    v.push(invalid(
        "ViewService.GetReliefPlan: max_candidates 51",
        view_call!(get_relief_plan, plan(vec![loc("neck")], 51)),
        "max_candidates",
    ));
    v.push(invalid(
        "ViewService.GetReliefPlan: max_candidates -1",
        view_call!(get_relief_plan, plan(vec![loc("neck")], -1)),
        "max_candidates",
    ));
    v.push(invalid(
        "ViewService.GetReliefPlan: unknown region",
        view_call!(
            get_relief_plan,
            plan(vec![loc("left elbow of the moon")], 0)
        ),
        "locations[0].region",
    ));
    v.push(invalid(
        "ViewService.GetReliefPlan: 201-byte region",
        view_call!(get_relief_plan, plan(vec![loc(&"n".repeat(201))], 0)),
        "locations[0].region",
    ));

    // ---- Transport-level limits ----
    {
        // Above the gateway's 4 MiB message limit.
        let mut c = e.ses();
        let mut s = e.good();
        s.notes = "n".repeat(5 * 1024 * 1024);
        let req = e.me(ses::LogSessionRequest {
            request_id: "too-big".into(),
            session: Some(s),
        });
        v.push(row(
            "SessionService.LogSession: 5 MiB message (over the 4 MiB limit)",
            boxed(async move { c.log_session(req).await }),
            Code::ResourceExhausted,
            None,
        ));
    }
    v
}

/// The caller's stored data, without the export's own timestamp.
async fn snapshot(e: &Env) -> ses::UserDataExport {
    let mut x = e
        .ses()
        .export_user_data(e.me(ses::ExportUserDataRequest {}))
        .await
        .expect("export")
        .into_inner()
        .export
        .expect("export body");
    x.export_time = None;
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_and_change_nothing() {
    // The per-user rate limit is off: this test sends ~100 calls as one user
    // in a second, which is not what it is about.
    let stack = TestStack::start_with(1, |g| g.user_rate = 0).await;
    let ch = stack.channel().await;
    let mut c = cat::catalog_service_client::CatalogServiceClient::new(ch.clone());
    let tool = c
        .get_trigger_point(cat::GetTriggerPointRequest { name: POINT.into() })
        .await
        .unwrap()
        .into_inner()
        .trigger_point
        .unwrap()
        .techniques[0]
        .tool
        .clone();
    let search_token = c
        .search(cat::SearchRequest {
            query: "neck".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(
        !search_token.is_empty(),
        "a search for neck has more than one result"
    );
    let version = c
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut e = Env {
        stack,
        ch,
        tool,
        search_token,
        seeded: String::new(),
    };

    // Some state to protect: a profile, a screening answer and a session.
    let mut s = e.ses();
    s.update_profile(e.me(ses::UpdateProfileRequest {
        profile: Some(ses::Profile {
            time_zone: "Europe/Berlin".into(),
            tools: vec![e.tool.clone()],
            ..Default::default()
        }),
        update_mask: None,
    }))
    .await
    .unwrap();
    e.seeded = s
        .log_session(e.me(ses::LogSessionRequest {
            request_id: "seed-1".into(),
            session: Some(e.good()),
        }))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap()
        .name;
    let before = snapshot(&e).await;
    assert_eq!(before.sessions.len(), 1);

    let rows = rows(&e);
    let total = rows.len();
    let mut failures = Vec::new();
    let mut table = String::from("| # | request | expected | field |\n|---|---|---|---|\n");
    for (i, r) in rows.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(20), r.call)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("test timeout: no answer in 20 s")));
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            i + 1,
            r.name,
            knotwork_runtime::grpc::code_name(r.code),
            r.field.map(|f| format!("`{f}`")).unwrap_or_default()
        ));
        match got {
            Ok(()) if r.code == Code::Ok => {}
            Ok(()) => failures.push(format!("{}: accepted, want {:?}", r.name, r.code)),
            Err(s) if s.code() != r.code => failures.push(format!(
                "{}: got {:?} ({}), want {:?}",
                r.name,
                s.code(),
                s.message(),
                r.code
            )),
            Err(s) => {
                if let Some(field) = r.field {
                    let fields: Vec<String> = s
                        .get_details_bad_request()
                        .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
                        .unwrap_or_default();
                    if !fields.iter().any(|f| f == field) {
                        failures.push(format!(
                            "{}: BadRequest fields {fields:?}, want {field}",
                            r.name
                        ));
                    }
                }
            }
        }
    }
    println!("{table}");
    println!(
        "malformed requests tried: {total}, as documented: {}",
        total - failures.len()
    );

    // Nothing changed.
    let after = snapshot(&e).await;
    assert_eq!(before, after, "stored data changed");
    let now = c
        .get_catalog_version(cat::GetCatalogVersionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version, now, "catalog changed");
    // And the gateway still serves.
    e.ses()
        .list_sessions(e.me(ses::ListSessionsRequest::default()))
        .await
        .expect("still serving");
    assert!(
        failures.is_empty(),
        "{} of {total} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 40, "{total} rows");
}
