//! The load generator: a fixed number of concurrent callers, each picking a
//! call by weight from a mix and a user at random, for a fixed duration.
//! Latencies are kept per call type; errors are counted by status code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knotwork_proto::bench::v1 as echo;
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::codec::ProstCodec;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::session::v1 as ses;
use serde::Serialize;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// One kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Op {
    /// The bare echo baseline.
    Echo,
    /// Catalog: find by pain.
    FindByPain,
    /// Catalog: free-text search.
    Search,
    /// Catalog: one trigger point.
    GetTriggerPoint,
    /// Session: log a session.
    LogSession,
    /// Session: progress.
    ListProgress,
    /// Gateway view: today.
    GetToday,
    /// Gateway view: relief plan.
    ReliefPlan,
}

impl Op {
    /// Every call type, for parsing a mix.
    pub const ALL: [Op; 8] = [
        Op::Echo,
        Op::FindByPain,
        Op::Search,
        Op::GetTriggerPoint,
        Op::LogSession,
        Op::ListProgress,
        Op::GetToday,
        Op::ReliefPlan,
    ];
}

/// How calls reach the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through the gateway with a bearer token, as apps do.
    Gateway,
    /// Straight to the backend with the internal credential (the cost of the
    /// gateway hop is the difference).
    Direct,
}

/// What the load generator does with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Answers {
    /// Checks its status and that it is well-formed protobuf (every field's
    /// tag and length), without building the message: a load generator that
    /// spends its share of the 2 cores on the servers, as h2load does.
    Checked,
    /// Decodes it into the generated message, as an app would.
    Decoded,
}

/// A message that keeps none of its fields: decoding it walks and checks
/// the wire format of an answer and skips every field.
#[derive(Clone, PartialEq, prost::Message)]
struct Unread {}

/// Everything a caller needs.
pub struct World {
    /// What is done with answers.
    pub answers: Answers,
    /// Channels to spread callers over.
    pub channels: Vec<Channel>,
    /// Route of the calls.
    pub route: Route,
    /// (user id, bearer token).
    pub users: Vec<(String, String)>,
    /// The internal credential for direct calls.
    pub internal_token: String,
    /// (trigger point name, a tool that suits it).
    pub points: Vec<(String, String)>,
    /// Regions people type.
    pub regions: Vec<String>,
    /// Search terms people type.
    pub terms: Vec<String>,
}

/// A weighted mix of calls.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Op, u32)>);

impl Mix {
    /// The app's real mix: 70% catalog reads, 15% session logs, 10% progress
    /// and today views, 5% relief plans.
    pub fn app() -> Self {
        Mix(vec![
            (Op::FindByPain, 25),
            (Op::Search, 15),
            (Op::GetTriggerPoint, 30),
            (Op::LogSession, 15),
            (Op::ListProgress, 5),
            (Op::GetToday, 5),
            (Op::ReliefPlan, 5),
        ])
    }

    /// Catalog reads only.
    pub fn catalog() -> Self {
        Mix(vec![
            (Op::FindByPain, 35),
            (Op::Search, 20),
            (Op::GetTriggerPoint, 45),
        ])
    }

    /// One call type only.
    pub fn only(op: Op) -> Self {
        Mix(vec![(op, 1)])
    }

    /// Parses `Op=weight` pairs separated by commas (`LogSession=15,Search=5`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected Op=weight"))?;
            let op = Op::ALL
                .iter()
                .copied()
                .find(|op| format!("{op:?}").eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| format!("{name:?}: not one of {:?}", Op::ALL))?;
            let weight = weight
                .trim()
                .parse::<u32>()
                .map_err(|e| format!("{part:?}: {e}"))?;
            out.push((op, weight));
        }
        if out.iter().all(|(_, w)| *w == 0) {
            return Err("a mix needs at least one call with a weight above 0".into());
        }
        Ok(Mix(out))
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> Op {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut n = rng.u32(0..total.max(1));
        for (op, w) in &self.0 {
            if n < *w {
                return *op;
            }
            n -= w;
        }
        self.0[0].0
    }
}

/// Latency summary of one call type.
#[derive(Debug, Clone, Serialize)]
pub struct OpStats {
    /// Calls that succeeded.
    pub ok: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// What was measured.
    pub name: String,
    /// Concurrent callers.
    pub callers: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Successful calls per second.
    pub throughput: f64,
    /// p50 over every call, milliseconds.
    pub p50_ms: f64,
    /// p99 over every call, milliseconds.
    pub p99_ms: f64,
    /// Per call type.
    pub ops: BTreeMap<Op, OpStats>,
    /// Errors by status code.
    pub errors: BTreeMap<String, u64>,
    /// CPU the load generator itself spent per successful call,
    /// microseconds: its share of the cores the servers did not get.
    pub client_cpu_us_per_call: f64,
    /// CPU each server process spent per successful call over the run,
    /// microseconds, by process: far steadier between runs than the
    /// throughput on a shared 2-core machine, so a change's cost shows in
    /// one or two runs (see `with_server_cpu` in main.rs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub server_cpu_us_per_call: BTreeMap<String, f64>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

fn auth<T>(world: &World, user: usize, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let (id, token) = &world.users[user];
    let md = req.metadata_mut();
    match world.route {
        Route::Gateway => {
            if let Ok(v) = format!("Bearer {token}").parse() {
                md.insert("authorization", v);
            }
        }
        Route::Direct => {
            if let Ok(v) = world.internal_token.parse() {
                md.insert(knotwork_proto::metadata::INTERNAL_TOKEN, v);
            }
            if let Ok(v) = id.parse() {
                md.insert(knotwork_proto::metadata::USER_ID, v);
            }
        }
    }
    req
}

/// One unary call of `path`, answered as `world.answers` says (`Full` is
/// the answer's message).
async fn unary<Req, Full>(
    world: &World,
    ch: &Channel,
    path: &'static str,
    req: tonic::Request<Req>,
) -> Result<(), tonic::Status>
where
    Req: prost::Message + Send + 'static,
    Full: prost::Message + Default + Send + 'static,
{
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("channel not ready: {e}")))?;
    let path = PathAndQuery::from_static(path);
    match world.answers {
        Answers::Checked => {
            grpc.unary(req, path, ProstCodec::<Req, Unread>::default())
                .await?;
        }
        Answers::Decoded => {
            grpc.unary(req, path, ProstCodec::<Req, Full>::default())
                .await?;
        }
    }
    Ok(())
}

async fn call(
    world: &World,
    ch: &Channel,
    op: Op,
    rng: &mut fastrand::Rng,
    seq: u64,
) -> Result<(), tonic::Status> {
    let user = rng.usize(0..world.users.len());
    match op {
        Op::Echo => {
            let req = echo::EchoRequest {
                payload: vec![7u8; 64],
            };
            unary::<_, echo::EchoResponse>(
                world,
                ch,
                "/knotwork.bench.v1.EchoService/Echo",
                tonic::Request::new(req),
            )
            .await
        }
        Op::FindByPain => {
            let region = world.regions[rng.usize(0..world.regions.len())].clone();
            let req = cat::FindByPainRequest {
                locations: vec![cat::PainLocation {
                    region,
                    side: cat::Side::Unspecified as i32,
                }],
                page_size: 10,
                ..Default::default()
            };
            unary::<_, cat::FindByPainResponse>(
                world,
                ch,
                "/knotwork.catalog.v1.CatalogService/FindByPain",
                tonic::Request::new(req),
            )
            .await
        }
        Op::Search => {
            let query = world.terms[rng.usize(0..world.terms.len())].clone();
            let req = cat::SearchRequest {
                query,
                page_size: 10,
                ..Default::default()
            };
            unary::<_, cat::SearchResponse>(
                world,
                ch,
                "/knotwork.catalog.v1.CatalogService/Search",
                tonic::Request::new(req),
            )
            .await
        }
        Op::GetTriggerPoint => {
            let name = world.points[rng.usize(0..world.points.len())].0.clone();
            unary::<_, cat::GetTriggerPointResponse>(
                world,
                ch,
                "/knotwork.catalog.v1.CatalogService/GetTriggerPoint",
                tonic::Request::new(cat::GetTriggerPointRequest { name }),
            )
            .await
        }
        Op::LogSession => {
            let (point, tool) = world.points[rng.usize(0..world.points.len())].clone();
            let when = std::time::SystemTime::now() - Duration::from_secs(rng.u64(60..86_400 * 6));
            let record = ses::SessionRecord {
                trigger_point: point,
                tool,
                side: cat::Side::Left as i32,
                pressure: rng.i32(3..7),
                duration_seconds: rng.i32(180..300),
                tenderness_before: Some(rng.i32(3..8)),
                tenderness_after: Some(rng.i32(2..6)),
                pain_quality: ses::PainQuality::Aching as i32,
                perform_time: Some(prost_types::Timestamp::from(when)),
                ..Default::default()
            };
            let req = ses::LogSessionRequest {
                request_id: format!("bench-{seq}-{}", rng.u64(..)),
                session: Some(record),
            };
            unary::<_, ses::LogSessionResponse>(
                world,
                ch,
                "/knotwork.session.v1.SessionService/LogSession",
                auth(world, user, req),
            )
            .await
        }
        Op::ListProgress => {
            unary::<_, ses::ListProgressResponse>(
                world,
                ch,
                "/knotwork.session.v1.SessionService/ListProgress",
                auth(world, user, ses::ListProgressRequest::default()),
            )
            .await
        }
        Op::GetToday => {
            unary::<_, gw::GetTodayResponse>(
                world,
                ch,
                "/knotwork.gateway.v1.ViewService/GetToday",
                auth(world, user, gw::GetTodayRequest::default()),
            )
            .await
        }
        Op::ReliefPlan => {
            let region = world.regions[rng.usize(0..world.regions.len())].clone();
            let req = gw::GetReliefPlanRequest {
                locations: vec![cat::PainLocation {
                    region,
                    side: cat::Side::Unspecified as i32,
                }],
                ..Default::default()
            };
            unary::<_, gw::GetReliefPlanResponse>(
                world,
                ch,
                "/knotwork.gateway.v1.ViewService/GetReliefPlan",
                auth(world, user, req),
            )
            .await
        }
    }
}

/// Runs started so far in this process (each numbers its request ids).
static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Runs `mix` with `callers` concurrent callers for `duration`.
pub async fn run(
    name: &str,
    world: Arc<World>,
    mix: &Mix,
    callers: usize,
    duration: Duration,
    progress: &indicatif::ProgressBar,
) -> RunResult {
    progress.set_message(format!("{name} @ {callers}"));
    progress.set_length(duration.as_millis() as u64);
    progress.set_position(0);
    let started = Instant::now();
    let client_cpu = crate::procs::cpu_time_of("self").unwrap_or_default();
    let deadline = started + duration;
    // Each run's request ids are its own: the callers' random streams repeat
    // from run to run (same seeds), and a request id used again with another
    // session is refused as a different request, not measured as a write.
    let run_id = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tasks = Vec::with_capacity(callers);
    for worker in 0..callers {
        let world = world.clone();
        let mix = mix.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(worker as u64 * 7919 + 1);
            let ch = world.channels[worker % world.channels.len()].clone();
            let mut lat: BTreeMap<Op, Vec<u32>> = BTreeMap::new();
            let mut errs: BTreeMap<(Op, String), u64> = BTreeMap::new();
            let mut seq = run_id * 1_000_000_000_000 + worker as u64 * 1_000_000_000;
            while Instant::now() < deadline {
                let op = mix.pick(&mut rng);
                seq += 1;
                let t = Instant::now();
                match call(&world, &ch, op, &mut rng, seq).await {
                    Ok(()) => lat
                        .entry(op)
                        .or_default()
                        .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
                    Err(status) => {
                        *errs
                            .entry((op, format!("{:?}", status.code())))
                            .or_default() += 1;
                    }
                }
            }
            (lat, errs)
        }));
    }
    let ticker = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                progress.set_position(started.elapsed().as_millis() as u64);
            }
        })
    };
    let mut lat: BTreeMap<Op, Vec<u32>> = BTreeMap::new();
    let mut errs: BTreeMap<(Op, String), u64> = BTreeMap::new();
    for t in tasks {
        if let Ok((l, e)) = t.await {
            for (op, mut v) in l {
                lat.entry(op).or_default().append(&mut v);
            }
            for (k, n) in e {
                *errs.entry(k).or_default() += n;
            }
        }
    }
    ticker.abort();
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu = crate::procs::cpu_time_of("self")
        .unwrap_or_default()
        .saturating_sub(client_cpu);
    let mut all: Vec<u32> = lat.values().flatten().copied().collect();
    all.sort_unstable();
    let mut ops = BTreeMap::new();
    let mut ops_seen: Vec<Op> = lat.keys().copied().collect();
    ops_seen.extend(errs.keys().map(|(op, _)| *op));
    ops_seen.sort();
    ops_seen.dedup();
    for op in ops_seen {
        let mut v = lat.remove(&op).unwrap_or_default();
        v.sort_unstable();
        let errors = errs
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, n)| n)
            .sum();
        ops.insert(
            op,
            OpStats {
                ok: v.len() as u64,
                errors,
                p50_ms: percentile(&v, 0.50),
                p90_ms: percentile(&v, 0.90),
                p99_ms: percentile(&v, 0.99),
                max_ms: percentile(&v, 1.0),
            },
        );
    }
    let mut errors = BTreeMap::new();
    for ((_, code), n) in errs {
        *errors.entry(code).or_default() += n;
    }
    RunResult {
        name: name.to_owned(),
        callers,
        seconds,
        throughput: all.len() as f64 / seconds,
        client_cpu_us_per_call: client_cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64,
        server_cpu_us_per_call: BTreeMap::new(),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        ops,
        errors,
    }
}
