//! The gateway's speed benchmark (issue 5, "Speed"): requests per second
//! and p50/p99 latency of a catalog read (`GetCatalogVersion`) and a
//! session write (`LogSession`) at 1 and 64 concurrent callers, direct to
//! the backend and through the gateway, plus the bare gRPC echo baseline.
//! Backends are the test fakes (in-memory), each on its own runtime; client,
//! gateway and backends share the machine's cores.
//!
//! Run: `cargo bench -p knotwork-gateway` (`BENCH_SECS` sets the seconds
//! per row, default 3; `BENCH_OUT` the JSON file, default
//! `bench-results.json` in the crate folder).

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knotwork_proto::bench::v1::echo_service_client::EchoServiceClient;
use knotwork_proto::bench::v1::echo_service_server::{EchoService, EchoServiceServer};
use knotwork_proto::bench::v1::{EchoRequest, EchoResponse};
use knotwork_proto::catalog::v1::GetCatalogVersionRequest;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::metadata::{INTERNAL_TOKEN, USER_ID};
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_proto::session::v1::{LogSessionRequest, SessionRecord};
use support::*;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: req.into_inner().payload,
        }))
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    workload: &'static str,
    path: &'static str,
    callers: usize,
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs `call` from `callers` concurrent tasks for `secs` (after a short
/// warm-up) and returns the row.
async fn measure<F, Fut>(
    workload: &'static str,
    path: &'static str,
    callers: usize,
    secs: f64,
    call: F,
) -> Row
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let warm_until = Instant::now() + Duration::from_millis(300);
    let end = warm_until + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..callers {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                call(c, n).await;
                n += 1;
                if start >= warm_until {
                    lat.push(start.elapsed().as_micros() as u32);
                }
            }
            lat
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Row {
        workload,
        path,
        callers,
        requests: all.len(),
        rps: all.len() as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn direct_session_req(user: String, n: u64) -> Request<LogSessionRequest> {
    let mut req = Request::new(log_req(&user, n));
    req.metadata_mut().insert(USER_ID, user.parse().unwrap());
    req.metadata_mut()
        .insert(INTERNAL_TOKEN, INTERNAL.parse().unwrap());
    req
}

fn log_req(user: &str, n: u64) -> LogSessionRequest {
    LogSessionRequest {
        request_id: format!("{user}-{n}"),
        session: Some(SessionRecord {
            trigger_point: "triggerPoints/ql_superficial".into(),
            pressure: 5,
            duration_seconds: 60,
            ..Default::default()
        }),
    }
}

#[tokio::main]
async fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let out = std::env::var("BENCH_OUT").unwrap_or_else(|_| "bench-results.json".into());

    let catalog = spawn_catalog(
        FakeCatalog {
            name: "bench".into(),
            ..Default::default()
        },
        None,
    )
    .await;
    let session = spawn_session(FakeSession::new("bench"), None).await;
    let echo_listener = bind(None).await;
    let echo_addr = echo_listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServiceServer::new(Echo))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                echo_listener,
            )),
    );
    let mut cfg = config(&[catalog.url()], &[session.url()]);
    cfg.user_rate = 0;
    cfg.addr_rate = 0;
    cfg.health_interval_ms = 5_000;
    let gateway = spawn_gateway(cfg).await;

    let echo_ch = channel(&format!("http://{echo_addr}")).await;
    let catalog_direct = channel(&catalog.url()).await;
    let session_direct = channel(&session.url()).await;
    let via = channel(&gateway.url()).await;
    let tokens: Arc<Vec<String>> =
        Arc::new((0..64).map(|i| token(&format!("bench-user-{i}"))).collect());

    let mut rows = Vec::new();
    for callers in [1usize, 64] {
        let ch: Channel = echo_ch.clone();
        rows.push(
            measure(
                "echo (gRPC baseline)",
                "direct",
                callers,
                secs,
                move |_, _| {
                    let mut c = EchoServiceClient::new(ch.clone());
                    async move {
                        c.echo(EchoRequest {
                            payload: vec![0; 32],
                        })
                        .await
                        .unwrap();
                    }
                },
            )
            .await,
        );
        for (path, ch) in [("direct", catalog_direct.clone()), ("gateway", via.clone())] {
            rows.push(
                measure("catalog read", path, callers, secs, move |_, _| {
                    let mut c = CatalogServiceClient::new(ch.clone());
                    async move {
                        c.get_catalog_version(GetCatalogVersionRequest {})
                            .await
                            .unwrap();
                    }
                })
                .await,
            );
        }
        let ch = session_direct.clone();
        rows.push(
            measure(
                "session write",
                "direct",
                callers,
                secs,
                move |caller, n| {
                    let mut c = SessionServiceClient::new(ch.clone());
                    async move {
                        c.log_session(direct_session_req(format!("bench-user-{caller}"), n))
                            .await
                            .unwrap();
                    }
                },
            )
            .await,
        );
        let (ch, tokens) = (via.clone(), tokens.clone());
        rows.push(
            measure(
                "session write",
                "gateway",
                callers,
                secs,
                move |caller, n| {
                    let mut c = SessionServiceClient::new(ch.clone());
                    let req = authed(log_req(&format!("bench-user-{caller}"), n), &tokens[caller]);
                    async move {
                        c.log_session(req).await.unwrap();
                    }
                },
            )
            .await,
        );
    }

    println!(
        "{:<22} {:<8} {:>7} {:>10} {:>9} {:>9}",
        "workload", "path", "callers", "rps", "p50 ms", "p99 ms"
    );
    for r in &rows {
        println!(
            "{:<22} {:<8} {:>7} {:>10.0} {:>9.3} {:>9.3}",
            r.workload, r.path, r.callers, r.rps, r.p50_ms, r.p99_ms
        );
    }
    let find = |w: &str, p: &str, c: usize| {
        rows.iter()
            .find(|r| r.workload == w && r.path == p && r.callers == c)
            .unwrap()
    };
    let mut goals = Vec::new();
    for w in ["catalog read", "session write"] {
        let added = find(w, "gateway", 1).p50_ms - find(w, "direct", 1).p50_ms;
        let kept = find(w, "gateway", 64).rps / find(w, "direct", 64).rps;
        println!(
            "{w}: gateway adds {added:.3} ms at p50 (goal < 0.3); keeps {:.0}% of direct throughput at 64 callers (goal >= 50%)",
            kept * 100.0
        );
        goals.push(
            serde_json::json!({"workload": w, "p50_added_ms": added, "throughput_kept": kept}),
        );
    }
    let json = serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "seconds_per_row": secs,
        "backends": "test fakes (in memory), own runtimes",
        "rows": rows,
        "goals": goals,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("wrote {out}");
    gateway.stop().await;
}
