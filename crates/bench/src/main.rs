//! `knotwork-bench`: measures Knotwork the way an app uses it.
//!
//! It launches the real service binaries as separate processes (one catalog,
//! one session shard, one gateway) plus a bare tonic echo server, seeds users
//! and sessions, then drives the gateway with an app's traffic mix from many
//! concurrent callers. Every figure is reported beside baselines measured in
//! the same run (the echo server; direct calls to the backends; `h2load`
//! when installed), so ratios hold on a noisy machine. Results go to the
//! terminal and to a JSON file.

#![forbid(unsafe_code)]

mod compare;
mod load;
mod peers;
mod procs;
mod report;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use knotwork_proto::bench::v1 as echo;
use knotwork_proto::catalog::v1 as cat;
use knotwork_proto::catalog::v1::catalog_service_client::CatalogServiceClient;
use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use load::{Mix, Op, Route, World};
use procs::Service;
use tonic::transport::{Channel, Endpoint};

/// Whole-system benchmark of Knotwork.
#[derive(Debug, Parser)]
#[command(name = "knotwork-bench", version, about)]
struct Args {
    /// Folder with the service binaries (default: beside this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent callers of the main runs.
    #[arg(long, default_value_t = 64)]
    callers: usize,
    /// Simulated users, each with a token.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Sessions seeded per user before measuring.
    #[arg(long, default_value_t = 5)]
    sessions_per_user: usize,
    /// Caller counts for the scaling table.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    scaling: Vec<usize>,
    /// Also measure with this many times more users and sessions stored (0
    /// skips).
    #[arg(long, default_value_t = 10)]
    storage_factor: usize,
    /// Soak: run the mix this many seconds sampling memory (0 skips).
    #[arg(long, default_value_t = 0)]
    soak_seconds: u64,
    /// The app mix's weights as `Op=weight` pairs (default: the app's real
    /// mix, see `Mix::app`); for profiling one part of it.
    #[arg(long, value_parser = Mix::parse)]
    mix: Option<Mix>,
    /// Run only the app-mix scaling runs (no baselines, no h2load, no
    /// larger storage, no `knotwork up`): a quick profile target.
    #[arg(long)]
    only_mix: bool,
    /// With `--only-mix`, also run the mix at `--callers` against `knotwork
    /// up`, seeded with the same history: the `up` / separate ratio alone.
    #[arg(long, requires = "only_mix")]
    with_up: bool,
    /// Alternating pairs of the app mix at `--callers` (the separate
    /// processes, then `knotwork up`) whose median ratio is the `up` /
    /// separate figure: one run of each, minutes apart, spread more than
    /// the difference sought.
    #[arg(long, default_value_t = 3)]
    up_rounds: usize,
    /// What the load generator does with each answer: `checked` walks its
    /// wire format without building it; `decoded` builds the message, as
    /// an app would (and as runs before 2026-12-03 did).
    #[arg(long, value_enum, default_value_t = load::Answers::Checked)]
    answers: load::Answers,
    /// Extra environment of the session service, `KEY=VALUE` (repeatable),
    /// e.g. `KNOTWORK_SESSION_REPLICATION=none`.
    #[arg(long, value_parser = key_value)]
    session_env: Vec<(String, String)>,
    /// Compare this folder's build (B) with `--bin-dir`'s (A): the app mix
    /// at `--callers`, as `--only-mix` runs it, alternately on A and on B
    /// for `--rounds` rounds, each run in a fresh process with fresh
    /// services; reports B / A per round and the median (`compare.rs`).
    #[arg(long, value_name = "DIR")]
    compare: Option<PathBuf>,
    /// Rounds of `--compare` (each one run of A and one of B).
    #[arg(long, default_value_t = 3, requires = "compare")]
    rounds: usize,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results/system.json")]
    out: PathBuf,
    /// Serve the echo baseline on this address and do nothing else
    /// (used by the benchmark itself).
    #[arg(long, hide = true)]
    serve_echo: Option<SocketAddr>,
}

/// The arguments of each run `--compare` starts: this run's own (the load,
/// the users, the session's environment...), less the comparison's and
/// those it sets itself: the app mix alone at `callers`, nothing larger
/// stored.
fn compare_run_args(mut given: impl Iterator<Item = String>, callers: usize) -> Vec<String> {
    // Flags taking a value, and flags alone, that each run gets from here.
    const WITH_VALUE: [&str; 6] = [
        "--compare",
        "--rounds",
        "--bin-dir",
        "--out",
        "--scaling",
        "--storage-factor",
    ];
    const ALONE: [&str; 2] = ["--only-mix", "--with-up"];
    let mut out = Vec::new();
    while let Some(arg) = given.next() {
        let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
        if WITH_VALUE.contains(&name) {
            if !arg.contains('=') {
                given.next();
            }
        } else if !ALONE.contains(&name) {
            out.push(arg);
        }
    }
    out.extend([
        "--only-mix".to_owned(),
        "--storage-factor".to_owned(),
        "0".to_owned(),
        "--scaling".to_owned(),
        callers.to_string(),
    ]);
    out
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))
}

const INTERNAL: &str = "bench-internal-token";
const SECRET: &str = "bench-jwt-secret";

#[derive(Default)]
struct Echo;

#[tonic::async_trait]
impl echo::echo_service_server::EchoService for Echo {
    async fn echo(
        &self,
        req: tonic::Request<echo::EchoRequest>,
    ) -> Result<tonic::Response<echo::EchoResponse>, tonic::Status> {
        Ok(tonic::Response::new(echo::EchoResponse {
            payload: req.into_inner().payload,
        }))
    }
}

async fn serve_echo(addr: SocketAddr) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<echo::echo_service_server::EchoServiceServer<Echo>>()
        .await;
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(echo::echo_service_server::EchoServiceServer::new(Echo))
        .serve(addr)
        .await?;
    Ok(())
}

/// How long a measured call may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one seeding call may take: a user's 500 sessions in one call,
/// with every user's calls in flight at once, takes longer than a measured
/// call on two cores (400 users x 500 sessions passed 10 s).
const SEED_CALL_TIMEOUT: Duration = Duration::from_secs(120);

async fn channels(url: &str, n: usize, timeout: Duration) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::new();
    for _ in 0..n.max(1) {
        out.push(
            Endpoint::from_shared(url.to_owned())?
                .timeout(timeout)
                .connect()
                .await
                .with_context(|| format!("connect {url}"))?,
        );
    }
    Ok(out)
}

fn token(user: &str) -> anyhow::Result<String> {
    Ok(knotwork_gateway::mint_dev_token(
        SECRET,
        "knotwork-dev",
        "knotwork",
        user,
        Duration::from_secs(24 * 3600),
    )?)
}

fn direct<T>(user: &str, msg: T) -> anyhow::Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert(knotwork_proto::metadata::INTERNAL_TOKEN, INTERNAL.parse()?);
    req.metadata_mut()
        .insert(knotwork_proto::metadata::USER_ID, user.parse()?);
    Ok(req)
}

/// Screens and seeds `users` users straight into the session service:
/// `per_user` sessions each, 20 hours apart, then `recent` more each at
/// random times in the last six days, as the load's LogSession logs them.
async fn seed(
    session_url: &str,
    users: &[(String, String)],
    points: &[(String, String)],
    (per_user, recent): (usize, usize),
    conditions: &[String],
) -> anyhow::Result<()> {
    let chans = channels(session_url, 4, SEED_CALL_TIMEOUT).await?;
    let mut tasks = Vec::new();
    for (i, (user, _)) in users.iter().enumerate() {
        let mut client = SessionServiceClient::new(chans[i % chans.len()].clone());
        let user = user.clone();
        let points = points.to_vec();
        let conditions = conditions.to_vec();
        tasks.push(tokio::spawn(async move {
            let answers = conditions
                .iter()
                .map(|c| ses::ScreeningAnswer {
                    contraindication: c.clone(),
                    present: false,
                    ..Default::default()
                })
                .collect();
            client
                .submit_screening(direct(&user, ses::SubmitScreeningRequest { answers })?)
                .await?;
            let mut rng = fastrand::Rng::with_seed(i as u64);
            let requests: Vec<_> = (0..per_user + recent)
                .map(|j| {
                    let (p, t) = points[rng.usize(0..points.len())].clone();
                    let ago = if j < per_user {
                        3600 * (1 + j as u64 * 20)
                    } else {
                        rng.u64(60..86_400 * 6)
                    };
                    let when = std::time::SystemTime::now() - Duration::from_secs(ago);
                    ses::LogSessionRequest {
                        request_id: format!("seed-{user}-{j}"),
                        session: Some(ses::SessionRecord {
                            trigger_point: p,
                            tool: t,
                            side: cat::Side::Right as i32,
                            pressure: 5,
                            duration_seconds: 240,
                            tenderness_before: Some(6),
                            tenderness_after: Some(4),
                            perform_time: Some(prost_types::Timestamp::from(when)),
                            ..Default::default()
                        }),
                    }
                })
                .collect();
            // The service takes at most 500 a call.
            for chunk in requests.chunks(500) {
                client
                    .batch_log_sessions(direct(
                        &user,
                        ses::BatchLogSessionsRequest {
                            requests: chunk.to_vec(),
                        },
                    )?)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// `run`, with the CPU each of `procs` spent over it per successful call
/// ([`load::RunResult::server_cpu_us_per_call`]).
async fn with_server_cpu(
    procs: &[&Service],
    run: impl std::future::Future<Output = load::RunResult>,
) -> load::RunResult {
    let before: Vec<Option<Duration>> = procs.iter().map(|p| p.cpu_time().ok()).collect();
    let mut r = run.await;
    let calls: u64 = r.ops.values().map(|o| o.ok).sum();
    for (p, before) in procs.iter().zip(before) {
        if let (Some(before), Ok(after)) = (before, p.cpu_time()) {
            let spent = after.saturating_sub(before).as_secs_f64() * 1e6;
            r.server_cpu_us_per_call
                .insert(p.label.clone(), spent / calls.max(1) as f64);
        }
    }
    r
}

/// One second of `mix` at 8 callers, unmeasured, so every path of `world`
/// is connected and warm before a measured run.
async fn warm_up(world: Arc<World>, mix: &Mix, bar: &indicatif::ProgressBar) {
    load::run("warm-up", world, mix, 8, Duration::from_secs(1), bar).await;
}

/// The sessions the runs in `runs` logged.
fn logged(runs: &[load::RunResult]) -> usize {
    runs.iter()
        .filter_map(|r| r.ops.get(&Op::LogSession))
        .map(|o| usize::try_from(o.ok).unwrap_or(usize::MAX))
        .sum()
}

/// `env` with the gateway's rate limits lifted: the benchmark's callers
/// are few addresses and many users, and it measures the system, not the
/// limiter.
fn unlimited(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for key in [
        "KNOTWORK_ADDR_RATE",
        "KNOTWORK_ADDR_BURST",
        "KNOTWORK_USER_RATE",
        "KNOTWORK_USER_BURST",
    ] {
        env.insert(key.into(), "1000000".into());
    }
    env
}

/// Waits up to 30 s until the gateway at `url` serves the session service.
async fn wait_for_session(url: &str) -> anyhow::Result<Duration> {
    procs::wait_serving(
        url,
        knotwork_proto::names::SESSION_SERVICE,
        std::time::Instant::now(),
        Duration::from_secs(30),
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(addr) = args.serve_echo {
        return serve_echo(addr).await;
    }
    if let Some(b) = &args.compare {
        let a = match &args.bin_dir {
            Some(a) => a.clone(),
            None => procs::binary(None, "knotwork-bench")?
                .parent()
                .context("executable has no folder")?
                .to_path_buf(),
        };
        let run_args = compare_run_args(std::env::args().skip(1), args.callers);
        return compare::run(&a, b, args.rounds, run_args, &args.out).await;
    }
    let data = tempfile::tempdir()?;
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let dir = args.bin_dir.as_deref();
    let env = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        m.insert("KNOTWORK_INTERNAL_TOKEN".into(), INTERNAL.into());
        m
    };

    println!("Starting services (release binaries, separate processes)...");
    let echo_port = procs::free_port()?;
    // The echo baseline is this binary in serve mode, in its own process.
    let echo_svc = {
        let started = std::time::Instant::now();
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        cmd.arg("--serve-echo")
            .arg(format!("127.0.0.1:{echo_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = procs::Owned(cmd.spawn()?);
        let url = format!("http://127.0.0.1:{echo_port}");
        procs::wait_serving(&url, "", started, Duration::from_secs(20)).await?;
        (child, url)
    };

    let catalog_port = procs::free_port()?;
    let catalog_url = format!("http://127.0.0.1:{catalog_port}");
    let catalog = Service::start(
        "catalog",
        &procs::binary(dir, "knotwork-catalog")?,
        &env(&[
            (
                "KNOTWORK_CATALOG_LISTEN",
                format!("127.0.0.1:{catalog_port}"),
            ),
            (
                "KNOTWORK_CATALOG_DATA_DIR",
                data.path().join("catalog").display().to_string(),
            ),
        ]),
        catalog_url.clone(),
    )
    .await?;
    let session_port = procs::free_port()?;
    let session_url = format!("http://127.0.0.1:{session_port}");
    let session = Service::start(
        "session",
        &procs::binary(dir, "knotwork-session")?,
        &env(&[
            (
                "KNOTWORK_SESSION_LISTEN",
                format!("127.0.0.1:{session_port}"),
            ),
            (
                "KNOTWORK_SESSION_DATA_DIR",
                data.path().join("session").display().to_string(),
            ),
            ("KNOTWORK_CATALOG_URL", catalog_url.clone()),
        ])
        .into_iter()
        .chain(args.session_env.iter().cloned())
        .collect(),
        session_url.clone(),
    )
    .await?;
    let gateway_port = procs::free_port()?;
    let gateway_url = format!("http://127.0.0.1:{gateway_port}");
    let gateway = Service::start(
        "gateway",
        &procs::binary(dir, "knotwork-gateway")?,
        &unlimited(env(&[
            (
                "KNOTWORK_GATEWAY_LISTEN",
                format!("127.0.0.1:{gateway_port}"),
            ),
            (
                "KNOTWORK_GATEWAY_ADMIN_LISTEN",
                format!("127.0.0.1:{}", procs::free_port()?),
            ),
            ("KNOTWORK_CATALOG_URLS", catalog_url.clone()),
            ("KNOTWORK_SESSION_SHARDS", session_url.clone()),
            ("KNOTWORK_JWT_SECRET", SECRET.into()),
        ])),
        gateway_url.clone(),
    )
    .await?;
    wait_for_session(&gateway_url).await?;
    let services = [&catalog, &session, &gateway];
    let mut report = report::Report::default();
    for s in services {
        let (rss, _) = s.memory()?;
        report
            .startup_ms
            .insert(s.label.clone(), s.startup.as_secs_f64() * 1000.0);
        report
            .idle_rss_mib
            .insert(s.label.clone(), rss as f64 / 1048576.0);
    }

    // What the app knows: the catalog's points, tools, regions.
    let snapshot =
        CatalogServiceClient::new(channels(&gateway_url, 1, CALL_TIMEOUT).await?.remove(0))
            .get_catalog_snapshot(cat::GetCatalogSnapshotRequest::default())
            .await?
            .into_inner()
            .snapshot
            .context("no snapshot")?;
    let points: Vec<(String, String)> = snapshot
        .trigger_points
        .iter()
        .filter_map(|tp| {
            tp.techniques
                .first()
                .map(|t| (tp.name.clone(), t.tool.clone()))
        })
        .collect();
    let conditions: Vec<String> = snapshot
        .contraindications
        .iter()
        .filter(|c| c.kind() == cat::ContraindicationKind::Condition)
        .map(|c| c.name.clone())
        .collect();
    let regions = [
        "low back",
        "neck",
        "temple",
        "shoulder",
        "knee",
        "heel",
        "between shoulder blades",
        "jaw",
        "buttock",
        "outer elbow",
    ]
    .map(str::to_owned)
    .to_vec();
    let terms = [
        "trapezius",
        "lacrosse",
        "shin pain",
        "QL",
        "headache",
        "glute",
        "psoas",
    ]
    .map(str::to_owned)
    .to_vec();
    let users: Vec<(String, String)> = (0..args.users)
        .map(|i| {
            let u = format!("bench-user-{i}");
            token(&u).map(|t| (u, t))
        })
        .collect::<anyhow::Result<_>>()?;
    println!(
        "Seeding {} users x {} sessions...",
        users.len(),
        args.sessions_per_user
    );
    seed(
        &session_url,
        &users,
        &points,
        (args.sessions_per_user, 0),
        &conditions,
    )
    .await?;

    let conns = (args.callers / 8).clamp(1, 8);
    let world = |url: &str, route: Route, users: &[(String, String)]| {
        let url = url.to_owned();
        let users = users.to_vec();
        let points = points.clone();
        let regions = regions.clone();
        let terms = terms.clone();
        async move {
            anyhow::Ok(Arc::new(World {
                answers: args.answers,
                channels: channels(&url, conns, CALL_TIMEOUT).await?,
                route,
                users,
                internal_token: INTERNAL.into(),
                points,
                regions,
                terms,
            }))
        }
    };
    let via_gateway = world(&gateway_url, Route::Gateway, &users).await?;
    let to_catalog = world(&catalog_url, Route::Direct, &users).await?;
    let to_session = world(&session_url, Route::Direct, &users).await?;
    let to_echo = world(&echo_svc.1, Route::Direct, &users).await?;
    let secs = Duration::from_secs(args.seconds);
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg:<34} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );

    // Warm up every path.
    let app = args.mix.clone().unwrap_or_else(Mix::app);
    warm_up(via_gateway.clone(), &app, &bar).await;

    let c = args.callers;
    // Baselines and the gateway hop, each at 1 and `c` callers.
    let paired = [
        ("echo (bare tonic)", &to_echo, Mix::only(Op::Echo)),
        ("catalog reads direct", &to_catalog, Mix::catalog()),
        ("catalog reads via gateway", &via_gateway, Mix::catalog()),
        (
            "session writes direct",
            &to_session,
            Mix::only(Op::LogSession),
        ),
        (
            "session writes via gateway",
            &via_gateway,
            Mix::only(Op::LogSession),
        ),
    ];
    let paired_callers: &[usize] = if args.only_mix { &[] } else { &[1, c] };
    for &callers in paired_callers {
        for (name, world, mix) in &paired {
            report.runs.push(
                with_server_cpu(
                    &services,
                    load::run(name, (*world).clone(), mix, callers, secs, &bar),
                )
                .await,
            );
        }
    }
    for &callers in &args.scaling {
        let r = with_server_cpu(
            &services,
            load::run(
                "app mix via gateway",
                via_gateway.clone(),
                &app,
                callers,
                secs,
                &bar,
            ),
        )
        .await;
        report.runs.push(r);
        if callers >= 256 {
            for s in services {
                let (rss, _) = s.memory()?;
                report
                    .rss_at_256_mib
                    .insert(s.label.clone(), rss as f64 / 1048576.0);
            }
        }
    }
    // The same mix against `knotwork up`: the three services in one
    // process, the gateway and the session service calling their backends
    // in memory, in pairs alternating with the separate processes. Before
    // the larger storage below, so both hold the same users.
    match procs::binary(dir, "knotwork") {
        Ok(_) if args.only_mix && !args.with_up => {}
        Ok(bin) => {
            bar.set_message("knotwork up (one process)");
            let gateway_port = procs::free_port()?;
            let session_port = procs::free_port()?;
            let up_url = format!("http://127.0.0.1:{gateway_port}");
            let up = Service::start_with_args(
                "up",
                &bin,
                &["up"],
                &unlimited(env(&[
                    (
                        "KNOTWORK_DATA_DIR",
                        data.path().join("up").display().to_string(),
                    ),
                    (
                        "KNOTWORK_GATEWAY_LISTEN",
                        format!("127.0.0.1:{gateway_port}"),
                    ),
                    (
                        "KNOTWORK_GATEWAY_ADMIN_LISTEN",
                        format!("127.0.0.1:{}", procs::free_port()?),
                    ),
                    (
                        "KNOTWORK_CATALOG_LISTEN",
                        format!("127.0.0.1:{}", procs::free_port()?),
                    ),
                    (
                        "KNOTWORK_SESSION_LISTEN",
                        format!("127.0.0.1:{session_port}"),
                    ),
                    ("KNOTWORK_JWT_SECRET", SECRET.into()),
                ])),
                up_url.clone(),
            )
            .await?;
            wait_for_session(&up_url).await?;
            let (idle, _) = up.memory()?;
            // The sessions each user has now: the seed and what every run
            // so far logged. `knotwork up` is seeded with as many, so both
            // sides of a pair read histories of the same length (and both
            // grow alike over the pairs).
            let history_at_mix = args.sessions_per_user + logged(&report.runs) / users.len().max(1);
            println!(
                "Seeding knotwork up: {} users x {history_at_mix} sessions (the separate processes' history)...",
                users.len()
            );
            seed(
                &format!("http://127.0.0.1:{session_port}"),
                &users,
                &points,
                (
                    args.sessions_per_user,
                    history_at_mix - args.sessions_per_user,
                ),
                &conditions,
            )
            .await?;
            let one = world(&up_url, Route::Gateway, &users).await?;
            warm_up(one.clone(), &app, &bar).await;
            // Alternating, so both see the same machine and histories
            // that grow alike.
            for _ in 0..args.up_rounds.max(1) {
                let apart = with_server_cpu(
                    &services,
                    load::run(
                        report::SEPARATE_BESIDE_UP,
                        via_gateway.clone(),
                        &app,
                        c,
                        secs,
                        &bar,
                    ),
                )
                .await;
                let together = with_server_cpu(
                    &[&up],
                    load::run(report::UP_MIX, one.clone(), &app, c, secs, &bar),
                )
                .await;
                report
                    .up_over_separate
                    .push(together.throughput / apart.throughput.max(f64::MIN_POSITIVE));
                report.runs.extend([apart, together]);
            }
            let (_, peak) = up.memory()?;
            report.up = BTreeMap::from([
                ("startup_ms".to_owned(), up.startup.as_secs_f64() * 1000.0),
                ("idle_rss_mib".to_owned(), idle as f64 / 1048576.0),
                ("peak_rss_mib".to_owned(), peak as f64 / 1048576.0),
                ("cpu_seconds".to_owned(), up.cpu_time()?.as_secs_f64()),
                ("sessions_per_user".to_owned(), history_at_mix as f64),
            ]);
        }
        Err(e) => report
            .skipped
            .push(format!("knotwork up (one process): {e:#}")),
    }
    if args.storage_factor > 1 && !args.only_mix {
        let more: Vec<(String, String)> = (args.users..args.users * args.storage_factor)
            .map(|i| {
                let u = format!("bench-user-{i}");
                token(&u).map(|t| (u, t))
            })
            .collect::<anyhow::Result<_>>()?;
        println!(
            "Seeding {} more users ({}x storage)...",
            more.len(),
            args.storage_factor
        );
        seed(
            &session_url,
            &more,
            &points,
            (args.sessions_per_user, 0),
            &conditions,
        )
        .await?;
        let mut all = users.clone();
        all.extend(more);
        let big = world(&gateway_url, Route::Gateway, &all).await?;
        let name = format!("app mix via gateway, {}x storage", args.storage_factor);
        report
            .runs
            .push(with_server_cpu(&services, load::run(&name, big, &app, c, secs, &bar)).await);
    }
    // h2load: the same recorded GetTriggerPoint straight to the catalog,
    // through the gateway and through nginx, and the bare echo; rate
    // limits are off on the gateway (see its environment above).
    if !args.only_mix && report::h2load_installed().await {
        let point = cat::GetTriggerPointRequest {
            name: "triggerPoints/quadratus_lumborum_superficial".into(),
        };
        let path = "/knotwork.catalog.v1.CatalogService/GetTriggerPoint";
        let mut targets = vec![
            report::H2Target::new(
                report::H2_ECHO,
                &echo_svc.1,
                "/knotwork.bench.v1.EchoService/Echo",
                &echo::EchoRequest {
                    payload: vec![7u8; 64],
                },
            ),
            report::H2Target::new(report::H2_DIRECT, &catalog_url, path, &point),
            report::H2Target::new(report::H2_GATEWAY, &gateway_url, path, &point),
        ];
        let nginx = match peers::nginx_binary() {
            Some(bin) => {
                match peers::Nginx::start(&bin, &format!("127.0.0.1:{catalog_port}")).await {
                    Ok(n) => Some(n),
                    Err(e) => {
                        report.skipped.push(format!("nginx baseline: {e:#}"));
                        None
                    }
                }
            }
            None => {
                report
                    .skipped
                    .push("nginx baseline: nginx is not installed (apt-get install nginx)".into());
                None
            }
        };
        if let Some(n) = &nginx {
            targets.push(report::H2Target::new(
                report::H2_NGINX,
                &n.url,
                path,
                &point,
            ));
        }
        bar.set_message("h2load");
        report.h2load = Some(report::h2load(&targets, args.seconds, 2).await);
        drop(nginx);
    }
    if args.soak_seconds > 0 {
        report.soak = Some(
            report::soak(
                via_gateway.clone(),
                &services,
                Duration::from_secs(args.soak_seconds),
                c,
                &bar,
            )
            .await?,
        );
    }
    for s in services {
        let (_, peak) = s.memory()?;
        report
            .peak_rss_mib
            .insert(s.label.clone(), peak as f64 / 1048576.0);
        report
            .cpu_seconds
            .insert(s.label.clone(), s.cpu_time()?.as_secs_f64());
    }
    bar.finish_and_clear();
    report.machine = report::machine();
    report.machine.insert(
        "load_average_at_start".into(),
        load_at_start
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    report.print(c);
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
    println!("\nresults written to {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compared_runs_keep_the_load_and_set_the_rest() {
        let given = [
            "--compare",
            "/b",
            "--rounds=5",
            "--bin-dir",
            "/a",
            "--out",
            "x.json",
            "--seconds",
            "8",
            "--session-env",
            "K=V",
            "--scaling=1,16",
            "--with-up",
            "--only-mix",
            "--storage-factor",
            "3",
            "--users",
            "100",
        ]
        .map(String::from);
        assert_eq!(
            compare_run_args(given.into_iter(), 64),
            [
                "--seconds",
                "8",
                "--session-env",
                "K=V",
                "--users",
                "100",
                "--only-mix",
                "--storage-factor",
                "0",
                "--scaling",
                "64",
            ]
        );
        // Every run parses as this benchmark's arguments.
        let parsed = Args::try_parse_from(
            std::iter::once("knotwork-bench".to_owned())
                .chain(compare_run_args(std::iter::empty(), 16)),
        )
        .unwrap();
        assert!(parsed.only_mix && parsed.compare.is_none());
        assert_eq!((parsed.scaling, parsed.storage_factor), (vec![16], 0));
    }
}
