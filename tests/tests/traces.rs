//! Traces across every hop: the three services, run as processes with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, export their spans to a small OTLP
//! receiver (the OTLP TraceService on our own tonic stack), and one call's
//! spans form one trace: the client's span -> the gateway's -> the
//! session's -> the catalog's (the session refreshing its catalog view for
//! a point it does not know), and the client's -> the gateway's -> the
//! catalog's for a catalog read forwarded as raw bytes. Log lines written
//! inside a call carry its trace id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::session::v1 as ses;
use knotwork_tests::procs::{self, POINT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// One received span with the service that sent it.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    name: String,
    kind: i32,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
}

/// The OTLP receiver: keeps every span it is sent.
#[derive(Debug, Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Got>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                got.push(Got {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent: span.parent_span_id,
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    fn trace(&self, trace_id: &[u8]) -> Vec<Got> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// Polls (bounded) until `done` holds for the spans of `trace_id`.
    async fn wait(&self, trace_id: &[u8], done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let started = Instant::now();
        loop {
            let spans = self.trace(trace_id);
            if done(&spans) {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "trace incomplete after 30 s: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh W3C context: (trace id, span id, the `traceparent` value).
fn client_context() -> ([u8; 16], [u8; 8], String) {
    let trace: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    let span: [u8; 8] = std::array::from_fn(|_| fastrand::u8(1..));
    let header = format!("00-{}-{}-01", hex(&trace), hex(&span));
    (trace, span, header)
}

fn server_spans<'a>(spans: &'a [Got], service: &str) -> Vec<&'a Got> {
    spans
        .iter()
        .filter(|s| s.service == service && s.kind == SpanKind::Server as i32)
        .collect()
}

/// Whether `span` descends from `ancestor` through spans of `spans`.
fn descends(spans: &[Got], span: &Got, ancestor: &Got) -> bool {
    let mut parent = span.parent.clone();
    for _ in 0..spans.len() {
        if parent == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(p) => parent = p.parent.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_covers_gateway_session_and_catalog() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let catalog = procs::catalog(dir.path(), &env);
    let session = procs::session(dir.path(), &catalog.url(), &env);
    let gateway = procs::gateway(dir.path(), &catalog.url(), &[session.url()], &env);
    for p in [&catalog, &session, &gateway] {
        procs::wait_serving(&p.url(), "", Duration::from_secs(60)).await;
    }
    let channel = procs::channel(&gateway.url(), Duration::from_secs(10));

    // 1. A session call naming a point the session's view does not know:
    // the session asks the catalog for a newer view inside the call.
    let (trace, client_span, traceparent) = client_context();
    let mut req = procs::as_user(
        "tracer",
        ses::LogSessionRequest {
            request_id: "trace-1".into(),
            session: Some(ses::SessionRecord {
                trigger_point: "triggerPoints/not_in_any_chart".into(),
                ..procs::record("tools/hands", 5, "traced")
            }),
        },
    );
    req.metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let err = ses::session_service_client::SessionServiceClient::new(channel.clone())
        .log_session(req)
        .await
        .expect_err("an unknown point is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");

    let spans = receiver
        .wait(&trace, |s| {
            !server_spans(s, "gateway").is_empty()
                && !server_spans(s, "session").is_empty()
                && !server_spans(s, "catalog").is_empty()
        })
        .await;
    let gw = server_spans(&spans, "gateway");
    assert_eq!(gw.len(), 1, "{spans:#?}");
    let gw = gw[0];
    assert_eq!(
        gw.parent, client_span,
        "the gateway's span is the client's child"
    );
    assert!(gw.name.ends_with("SessionService/LogSession"), "{gw:?}");
    let ss = server_spans(&spans, "session");
    assert_eq!(ss.len(), 1, "{spans:#?}");
    let ss = ss[0];
    assert_eq!(
        ss.parent, gw.span_id,
        "the session's span is the gateway's child"
    );
    let cs = server_spans(&spans, "catalog");
    assert_eq!(cs.len(), 1, "{spans:#?}");
    let cs = cs[0];
    assert!(
        cs.name.ends_with("CatalogService/GetCatalogVersion"),
        "{cs:?}"
    );
    assert!(
        descends(&spans, cs, ss),
        "the catalog's span descends from the session's: {spans:#?}"
    );

    // 2. A catalog read, forwarded by the gateway as raw bytes.
    let (trace, client_span, traceparent) = client_context();
    let mut req = tonic::Request::new(cat::GetTriggerPointRequest {
        name: POINT.to_owned(),
    });
    req.metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    cat::catalog_service_client::CatalogServiceClient::new(channel.clone())
        .get_trigger_point(req)
        .await
        .expect("catalog read");
    let spans = receiver
        .wait(&trace, |s| {
            !server_spans(s, "gateway").is_empty() && !server_spans(s, "catalog").is_empty()
        })
        .await;
    let gw = server_spans(&spans, "gateway")[0];
    assert_eq!(gw.parent, client_span);
    let cs = server_spans(&spans, "catalog")[0];
    assert_eq!(
        cs.parent, gw.span_id,
        "the catalog's span is the gateway's child"
    );
    assert!(
        cs.name.ends_with("CatalogService/GetTriggerPoint"),
        "{cs:?}"
    );

    // 3. Log lines inside a call carry its trace id: an unauthenticated
    // session call is logged by the gateway.
    let (trace, _, traceparent) = client_context();
    let mut req = tonic::Request::new(ses::GetProfileRequest::default());
    req.metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let err = ses::session_service_client::SessionServiceClient::new(channel)
        .get_profile(req)
        .await
        .expect_err("no token");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let want = hex(&trace);
    let started = Instant::now();
    loop {
        let logged = gateway.log_text().lines().any(|l| {
            l.contains(&want)
                && l.contains("not authenticated")
                && l.contains("\"trace_id\"")
                && l.contains("\"span_id\"")
        });
        if logged {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no log line with trace id {want}:\n{}",
            gateway.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.abort();
}
