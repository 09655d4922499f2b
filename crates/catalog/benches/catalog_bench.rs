//! The catalog's speed beside gRPC itself (issue 3, "Speed"; issue 14 adds
//! Search, the body map and the referral pictures).
//!
//! In one run on this machine it measures throughput and p50/p99 latency of
//! `GetTriggerPoint`, `FindByPain`, `Search`, `GetBodyMap` and
//! `GetTriggerPointPicture` at 1 and 64 concurrent callers, and of a bare
//! tonic unary echo server (`knotwork.bench.v1.EchoService`) measured the
//! same way: same runtime, same client, same loopback, one HTTP/2 channel per
//! target. It prints a table and writes JSON (default
//! `target/bench-results/catalog.json`).
//!
//! `--url URL` measures a running catalog (e.g. a release `knotwork-catalog`)
//! instead of starting one in-process; `--baseline-url URL` also measures the
//! calls every version has (GetTriggerPoint, FindByPain, Search) on a second
//! catalog in the same rounds, e.g. one built from main, and reports the
//! ratios of their p50 (`vs_baseline_p50`).
//!
//! Run: `cargo bench -p knotwork-catalog --bench catalog_bench -- [--secs N]
//! [--out PATH] [--url URL] [--baseline-url URL]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use knotwork_proto::bench::v1 as echo;
use knotwork_proto::bench::v1::echo_service_client::EchoServiceClient;
use knotwork_proto::bench::v1::echo_service_server::{EchoService, EchoServiceServer};
use knotwork_proto::catalog::v1 as pb;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(
        &self,
        req: Request<echo::EchoRequest>,
    ) -> Result<Response<echo::EchoResponse>, Status> {
        Ok(Response::new(echo::EchoResponse {
            payload: req.into_inner().payload,
        }))
    }
}

/// One measured call: a closure that issues one request on a cloned client.
#[derive(Clone)]
enum Call {
    Echo(EchoServiceClient<Channel>, usize),
    GetCatalogVersion(CatalogServiceClient<Channel>),
    GetTriggerPoint(CatalogServiceClient<Channel>, String),
    FindByPain(CatalogServiceClient<Channel>),
    Search(CatalogServiceClient<Channel>),
    GetBodyMap(CatalogServiceClient<Channel>),
    GetTriggerPointPicture(CatalogServiceClient<Channel>, String),
}

impl Call {
    fn label(&self) -> &'static str {
        match self {
            Call::Echo(_, 32) => "Echo 32 B (baseline)",
            Call::Echo(..) => "Echo, FindByPain size",
            Call::GetCatalogVersion(_) => "GetCatalogVersion",
            Call::GetTriggerPoint(..) => "GetTriggerPoint",
            Call::FindByPain(_) => "FindByPain",
            Call::Search(_) => "Search",
            Call::GetBodyMap(_) => "GetBodyMap",
            Call::GetTriggerPointPicture(..) => "GetTriggerPointPicture",
        }
    }

    async fn once(&mut self) -> usize {
        match self {
            Call::Echo(c, len) => {
                let r = c
                    .echo(echo::EchoRequest {
                        payload: vec![7u8; *len],
                    })
                    .await
                    .unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
            Call::GetCatalogVersion(c) => {
                let r = c
                    .get_catalog_version(pb::GetCatalogVersionRequest {})
                    .await
                    .unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
            Call::GetTriggerPoint(c, name) => {
                let r = c
                    .get_trigger_point(pb::GetTriggerPointRequest { name: name.clone() })
                    .await
                    .unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
            Call::FindByPain(c) => {
                let r = c
                    .find_by_pain(pb::FindByPainRequest {
                        locations: vec![pb::PainLocation {
                            region: "lower back".into(),
                            side: pb::Side::Left as i32,
                        }],
                        symptoms: vec![],
                        page_size: 0,
                        page_token: String::new(),
                    })
                    .await
                    .unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
            Call::Search(c) => {
                let r = c
                    .search(pb::SearchRequest {
                        query: "shoulder blade".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
            Call::GetBodyMap(c) => {
                let r = c.get_body_map(pb::GetBodyMapRequest {}).await.unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
            Call::GetTriggerPointPicture(c, name) => {
                let r = c
                    .get_trigger_point_picture(pb::GetTriggerPointPictureRequest {
                        name: name.clone(),
                        side: pb::Side::Left as i32,
                    })
                    .await
                    .unwrap();
                prost::Message::encoded_len(r.get_ref())
            }
        }
    }
}

/// A call and the name it is reported under.
#[derive(Clone)]
struct Case {
    name: String,
    call: Call,
}

impl Case {
    fn new(call: Call) -> Self {
        Self {
            name: call.label().to_owned(),
            call,
        }
    }

    fn baseline(call: Call) -> Self {
        Self {
            name: format!("{} (baseline)", call.label()),
            call,
        }
    }
}

#[derive(serde::Serialize)]
struct Row {
    call: String,
    concurrency: usize,
    requests: usize,
    seconds: f64,
    throughput_rps: f64,
    p50_us: f64,
    p99_us: f64,
    response_bytes: usize,
    throughput_vs_echo: f64,
    /// FindByPain only: throughput beside an echo of a payload as large as
    /// its response (the share of the gap that is just bytes on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    throughput_vs_same_size_echo: Option<f64>,
    /// With `--baseline-url`: this call's p50 over the baseline catalog's
    /// p50 of the same call in the same rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    vs_baseline_p50: Option<f64>,
}

/// Latencies (ns) and wall time of one round of `concurrency` callers
/// looping for `secs`.
async fn round(call: &Call, concurrency: usize, secs: f64) -> (Vec<u64>, f64, usize) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut c = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(10_000);
            let mut bytes = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                bytes = c.once().await;
                lat.push(t.elapsed().as_nanos() as u64);
            }
            (lat, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut bytes = 0;
    for t in tasks {
        let (lat, b) = t.await.unwrap();
        all.extend(lat);
        bytes = b;
    }
    (all, start.elapsed().as_secs_f64(), bytes)
}

/// Measures every call at one concurrency. The calls take turns in short
/// rounds, so background load on a shared machine falls on all of them alike
/// instead of on whichever happened to run during a spike.
async fn measure_all(cases: &[Case], concurrency: usize, secs: f64) -> Vec<Row> {
    const ROUNDS: usize = 6;
    let calls: Vec<Call> = cases.iter().map(|c| c.call.clone()).collect();
    for c in &calls {
        // Warm up: connections, allocator, caches.
        round(c, concurrency, 0.2).await;
    }
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); calls.len()];
    let mut time = vec![0.0; calls.len()];
    let mut bytes = vec![0; calls.len()];
    for _ in 0..ROUNDS {
        for (i, c) in calls.iter().enumerate() {
            let (l, t, b) = round(c, concurrency, secs / ROUNDS as f64).await;
            lat[i].extend(l);
            time[i] += t;
            bytes[i] = b;
        }
    }
    cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let all = &mut lat[i];
            all.sort_unstable();
            let pct = |p: f64| -> f64 {
                if all.is_empty() {
                    return 0.0;
                }
                let k = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
                all[k] as f64 / 1000.0
            };
            Row {
                call: c.name.clone(),
                concurrency,
                requests: all.len(),
                seconds: time[i],
                throughput_rps: all.len() as f64 / time[i],
                p50_us: pct(0.50),
                p99_us: pct(0.99),
                response_bytes: bytes[i],
                throughput_vs_echo: 0.0,
                throughput_vs_same_size_echo: None,
                vs_baseline_p50: None,
            }
        })
        .collect()
}

/// Accepted connections with Nagle off, exactly as the catalog's `run` does,
/// so both servers are measured the same way.
fn nodelay(
    listener: tokio::net::TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|c| {
        let c = c?;
        c.set_nodelay(true)?;
        Ok(c)
    })
}

struct Args {
    secs: f64,
    out: PathBuf,
    url: Option<String>,
    baseline_url: Option<String>,
}

fn args() -> Args {
    let mut secs = 3.0;
    let mut url = None;
    let mut baseline_url = None;
    let mut out = PathBuf::from(
        std::env::var("CARGO_TARGET_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_owned()),
    )
    .join("bench-results/catalog.json");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => secs = it.next().and_then(|s| s.parse().ok()).unwrap_or(secs),
            "--out" => out = it.next().map(PathBuf::from).unwrap_or(out),
            "--url" => url = it.next(),
            "--baseline-url" => baseline_url = it.next(),
            _ => {} // `cargo bench` passes `--bench`; ignore it and filters.
        }
    }
    Args {
        secs,
        out,
        url,
        baseline_url,
    }
}

async fn connect(url: &str) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("connect {url}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Waits until the catalog answers, then picks a real trigger point.
async fn ready(catalog: &mut CatalogServiceClient<Channel>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match catalog
            .list_trigger_points(pb::ListTriggerPointsRequest {
                muscle: "muscles/quadratus_lumborum".into(),
                ..Default::default()
            })
            .await
        {
            Ok(r) => break r.into_inner().trigger_points[0].name.clone(),
            Err(e) if Instant::now() > deadline => panic!("catalog not ready: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn main() {
    let Args {
        secs,
        out,
        url,
        baseline_url,
    } = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // The echo baseline.
        let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo_listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(EchoServiceServer::new(Echo))
                .serve_with_incoming(nodelay(echo_listener)),
        );
        // The catalog: the one at `--url`, or one with its embedded data,
        // started here through its own `run`.
        let dir = tempfile::tempdir().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (catalog_url, server) = match url {
            Some(u) => (u, None),
            None => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let config = knotwork_catalog::Config::local(dir.path().join("data"));
                let server = tokio::spawn(knotwork_catalog::run(config, listener, async {
                    let _ = stopped.await;
                }));
                (format!("http://{addr}"), Some(server))
            }
        };

        let echo_client = EchoServiceClient::new(connect(&format!("http://{echo_addr}")).await);
        let mut catalog = CatalogServiceClient::new(connect(&catalog_url).await);
        let point = ready(&mut catalog).await;
        let mut baseline = match &baseline_url {
            Some(u) => Some(CatalogServiceClient::new(connect(u).await)),
            None => None,
        };
        if let Some(b) = &mut baseline {
            ready(b).await;
        }

        // The size of a FindByPain response, for the same-size echo.
        let pain_bytes = Call::FindByPain(catalog.clone()).once().await;
        let mut rows = Vec::new();
        for concurrency in [1usize, 64] {
            let mut cases = vec![
                Case::new(Call::Echo(echo_client.clone(), 32)),
                Case::new(Call::Echo(echo_client.clone(), pain_bytes)),
                Case::new(Call::GetTriggerPoint(catalog.clone(), point.clone())),
                Case::new(Call::FindByPain(catalog.clone())),
                Case::new(Call::Search(catalog.clone())),
                Case::new(Call::GetBodyMap(catalog.clone())),
                Case::new(Call::GetTriggerPointPicture(catalog.clone(), point.clone())),
                // Diagnostic: the catalog server's fixed cost, tiny response.
                Case::new(Call::GetCatalogVersion(catalog.clone())),
            ];
            if let Some(b) = &baseline {
                cases.push(Case::baseline(Call::GetTriggerPoint(
                    b.clone(),
                    point.clone(),
                )));
                cases.push(Case::baseline(Call::FindByPain(b.clone())));
                cases.push(Case::baseline(Call::Search(b.clone())));
            }
            let mut got = measure_all(&cases, concurrency, secs).await;
            let base = got[0].throughput_rps;
            let same_size = got[1].throughput_rps;
            for r in &mut got {
                r.throughput_vs_echo = r.throughput_rps / base;
            }
            got[3].throughput_vs_same_size_echo = Some(got[3].throughput_rps / same_size);
            let p50: std::collections::HashMap<String, f64> =
                got.iter().map(|r| (r.call.clone(), r.p50_us)).collect();
            for r in &mut got {
                if let Some(b) = p50.get(&format!("{} (baseline)", r.call)) {
                    r.vs_baseline_p50 = Some(r.p50_us / b);
                }
            }
            rows.extend(got);
        }

        println!();
        println!(
            "{:<36} {:>5} {:>10} {:>12} {:>10} {:>10} {:>10} {:>9} {:>9}",
            "call",
            "conc",
            "requests",
            "req/s",
            "p50 us",
            "p99 us",
            "resp B",
            "vs echo",
            "p50/base"
        );
        for r in &rows {
            println!(
                "{:<36} {:>5} {:>10} {:>12.0} {:>10.1} {:>10.1} {:>10} {:>8.0}% {:>9}",
                r.call,
                r.concurrency,
                r.requests,
                r.throughput_rps,
                r.p50_us,
                r.p99_us,
                r.response_bytes,
                r.throughput_vs_echo * 100.0,
                r.vs_baseline_p50
                    .map(|x| format!("{x:.2}x"))
                    .unwrap_or_default()
            );
        }
        let json = serde_json::json!({
            "benchmark": "knotwork-catalog",
            "goal": "catalog calls reach at least 90% of the echo baseline's throughput",
            "seconds_per_case": secs,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "catalog": catalog_url,
            "baseline": baseline_url,
            "results": rows,
        });
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        println!("\nwrote {}", out.display());
        let _ = stop.send(());
        if let Some(server) = server {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    });
}
