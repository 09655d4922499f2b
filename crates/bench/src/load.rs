//! The load generator: a fixed number of concurrent callers, each picking a
//! call by weight from a mix and a user at random, for a fixed duration.
//! Latencies are kept per call type; errors are counted by status code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use knotwork_proto::bench::v1 as echo;
use knotwork_proto::bench::v1::echo_service_client::EchoServiceClient;
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::gateway::v1 as gw;
use knotwork_proto::gateway::v1::view_service_client::ViewServiceClient;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use serde::Serialize;
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

/// Everything a caller needs.
pub struct World {
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
    /// p99 over every call, milliseconds.
    pub p99_ms: f64,
    /// Per call type.
    pub ops: BTreeMap<Op, OpStats>,
    /// Errors by status code.
    pub errors: BTreeMap<String, u64>,
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
            EchoServiceClient::new(ch.clone())
                .echo(echo::EchoRequest {
                    payload: vec![7u8; 64],
                })
                .await?;
        }
        Op::FindByPain => {
            let region = world.regions[rng.usize(0..world.regions.len())].clone();
            CatalogServiceClient::new(ch.clone())
                .find_by_pain(cat::FindByPainRequest {
                    locations: vec![cat::PainLocation {
                        region,
                        side: cat::Side::Unspecified as i32,
                    }],
                    page_size: 10,
                    ..Default::default()
                })
                .await?;
        }
        Op::Search => {
            let query = world.terms[rng.usize(0..world.terms.len())].clone();
            CatalogServiceClient::new(ch.clone())
                .search(cat::SearchRequest {
                    query,
                    page_size: 10,
                    ..Default::default()
                })
                .await?;
        }
        Op::GetTriggerPoint => {
            let name = world.points[rng.usize(0..world.points.len())].0.clone();
            CatalogServiceClient::new(ch.clone())
                .get_trigger_point(cat::GetTriggerPointRequest { name })
                .await?;
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
            SessionServiceClient::new(ch.clone())
                .log_session(auth(
                    world,
                    user,
                    ses::LogSessionRequest {
                        request_id: format!("bench-{seq}-{}", rng.u64(..)),
                        session: Some(record),
                    },
                ))
                .await?;
        }
        Op::ListProgress => {
            SessionServiceClient::new(ch.clone())
                .list_progress(auth(world, user, ses::ListProgressRequest::default()))
                .await?;
        }
        Op::GetToday => {
            ViewServiceClient::new(ch.clone())
                .get_today(auth(world, user, gw::GetTodayRequest::default()))
                .await?;
        }
        Op::ReliefPlan => {
            let region = world.regions[rng.usize(0..world.regions.len())].clone();
            ViewServiceClient::new(ch.clone())
                .get_relief_plan(auth(
                    world,
                    user,
                    gw::GetReliefPlanRequest {
                        locations: vec![cat::PainLocation {
                            region,
                            side: cat::Side::Unspecified as i32,
                        }],
                        ..Default::default()
                    },
                ))
                .await?;
        }
    }
    Ok(())
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
        p99_ms: percentile(&all, 0.99),
        ops,
        errors,
    }
}
