//! The results: a terminal table with ratios against the baselines, the JSON
//! file, the `h2load` cross-check and the soak.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::load::{self, Mix, RunResult, World};
use crate::procs::Service;

/// Everything one benchmark run measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The machine it ran on.
    pub machine: BTreeMap<String, String>,
    /// Spawn to health SERVING, per service, milliseconds.
    pub startup_ms: BTreeMap<String, f64>,
    /// Resident memory at idle (after start), MiB.
    pub idle_rss_mib: BTreeMap<String, f64>,
    /// Resident memory during the 256-caller run, MiB.
    pub rss_at_256_mib: BTreeMap<String, f64>,
    /// Peak resident memory over the whole benchmark, MiB.
    pub peak_rss_mib: BTreeMap<String, f64>,
    /// CPU time used over the whole benchmark, seconds.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// Every measured run.
    pub runs: Vec<RunResult>,
    /// The independent load generator's figures (req/s per round), when
    /// installed.
    pub h2load: Option<BTreeMap<String, Vec<f64>>>,
    /// Why a peer baseline was skipped, when it was.
    pub skipped: Vec<String>,
    /// The one-process `knotwork up`: spawn to SERVING (ms), idle and peak
    /// resident memory (MiB), CPU seconds.
    pub up: BTreeMap<String, f64>,
    /// `knotwork up`'s mix throughput over the separate processes', one
    /// ratio per alternating pair.
    pub up_over_separate: Vec<f64>,
    /// Memory over a long run, when asked for.
    pub soak: Option<Soak>,
}

/// Memory samples of a soak.
#[derive(Debug, Serialize)]
pub struct Soak {
    /// Seconds the soak ran.
    pub seconds: u64,
    /// RSS samples per service, MiB, every 5 s.
    pub samples_mib: BTreeMap<String, Vec<f64>>,
    /// Growth from the end of warm-up (the first fifth of the samples) to
    /// the highest sample after it, percent, per service.
    pub growth_percent: BTreeMap<String, f64>,
    /// The soak's own traffic figures.
    pub run: RunResult,
}

/// The h2load labels the goals compare.
pub const H2_DIRECT: &str = "catalog direct GetTriggerPoint";
/// Through the gateway.
pub const H2_GATEWAY: &str = "gateway GetTriggerPoint";
/// Through nginx's grpc_pass (the peer baseline).
pub const H2_NGINX: &str = "nginx grpc_pass GetTriggerPoint";
/// The bare echo server.
pub const H2_ECHO: &str = "bare tonic echo";
/// The one-process mix run's name.
pub const UP_MIX: &str = "app mix via knotwork up (one process)";
/// The separate processes' mix in the pairs alternating with [`UP_MIX`].
pub const SEPARATE_BESIDE_UP: &str = "app mix via gateway, paired with up";

impl Report {
    fn find(&self, name: &str, callers: usize) -> Option<&RunResult> {
        self.runs
            .iter()
            .find(|r| r.name == name && r.callers == callers)
    }

    /// Prints the results table and the goal ratios.
    pub fn print(&self, c: usize) {
        println!(
            "\n{:<40} {:>7} {:>10} {:>8} {:>8} {:>11}  errors",
            "run", "callers", "calls/s", "p50 ms", "p99 ms", "load us/call"
        );
        for r in &self.runs {
            let errors: u64 = r.errors.values().sum();
            println!(
                "{:<40} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>11.1}  {}",
                r.name,
                r.callers,
                r.throughput,
                r.p50_ms,
                r.p99_ms,
                r.client_cpu_us_per_call,
                errors
            );
        }
        println!("\nserver CPU per call, us (steadier than calls/s between runs):");
        for r in self
            .runs
            .iter()
            .filter(|r| !r.server_cpu_us_per_call.is_empty())
        {
            let each: Vec<String> = r
                .server_cpu_us_per_call
                .iter()
                .map(|(p, us)| format!("{p} {us:.1}"))
                .collect();
            let total: f64 = r.server_cpu_us_per_call.values().sum();
            println!(
                "{:<40} {:>7}  total {:>7.1}  ({})",
                r.name,
                r.callers,
                total,
                each.join(", ")
            );
        }
        let per_call = |mix: &RunResult, what: &str| {
            println!("\nper call type, {what} at {c} callers:");
            println!(
                "{:<18} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8}",
                "call", "ok", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
            );
            for (op, s) in &mix.ops {
                println!(
                    "{:<18} {:>8} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                    format!("{op:?}"),
                    s.ok,
                    s.errors,
                    s.p50_ms,
                    s.p90_ms,
                    s.p99_ms,
                    s.max_ms
                );
            }
            if !mix.errors.is_empty() {
                println!("errors by code: {:?}", mix.errors);
            }
        };
        if let Some(mix) = self.find("app mix via gateway", c) {
            per_call(mix, "app mix");
        }
        if let Some(mix) = self.find(UP_MIX, c) {
            per_call(mix, "app mix via knotwork up (its first pair)");
        }
        let ratio = |a: &str, b: &str, n: usize| -> Option<f64> {
            Some(self.find(a, n)?.throughput / self.find(b, n)?.throughput)
        };
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        println!("\ngoals (issue 21), ratios from this run:");
        for (n, goal) in [(1, 0.60), (c, 0.50)] {
            if let Some(r) = ratio("catalog reads via gateway", "echo (bare tonic)", n) {
                println!(
                    "  catalog via gateway / bare echo @{n}: {r:.2} (goal >= {goal:.2}): {}",
                    verdict(r >= goal)
                );
            }
            if let Some(r) = ratio("catalog reads via gateway", "catalog reads direct", n) {
                println!("  catalog via gateway / direct     @{n}: {r:.2}");
            }
            if let Some(r) = ratio("session writes via gateway", "session writes direct", n) {
                println!("  session via gateway / direct     @{n}: {r:.2}");
            }
        }
        if let Some(h) = &self.h2load {
            let mean = |label: &str| -> Option<f64> {
                let v = h.get(label)?;
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            if let (Some(g), Some(d)) = (mean(H2_GATEWAY), mean(H2_DIRECT)) {
                println!(
                    "  h2load GetTriggerPoint gateway / catalog direct: {:.2} (goal >= 0.50): {}",
                    g / d,
                    verdict(g / d >= 0.5)
                );
                if let Some(n) = mean(H2_NGINX) {
                    println!(
                        "  h2load GetTriggerPoint nginx grpc_pass / catalog direct: {:.2}",
                        n / d
                    );
                }
            }
        }
        if let Some(mix) = self.find("app mix via gateway", c) {
            println!(
                "  app mix @{c} p99: {:.2} ms (goal < 20): {}",
                mix.p99_ms,
                verdict(mix.p99_ms < 20.0)
            );
            let (op, p99) = slowest(mix);
            println!(
                "  app mix @{c} slowest call type p99: {op} {p99:.2} ms (goal < 25): {}",
                verdict(p99 < 25.0)
            );
            if let Some(fewer) = fewer_callers(&self.runs, "app mix via gateway", c) {
                let (op, p99) = slowest(fewer);
                println!(
                    "  app mix @{} -> @{c}: {:.2}x the calls/s, {:.2}x the p99; at {} callers \
                     the p99 is {:.2} ms and the slowest call type's {op} {p99:.2} ms",
                    fewer.callers,
                    mix.throughput / fewer.throughput,
                    mix.p99_ms / fewer.p99_ms,
                    fewer.callers,
                    fewer.p99_ms
                );
            }
            if let Some(r) = ratio("app mix via gateway", "echo (bare tonic)", c) {
                println!(
                    "  app mix / bare echo throughput @{c}: {r:.3} (goal >= 0.12): {}",
                    verdict(r >= 0.12)
                );
            }
        }
        if let Some((r, lo, hi)) = crate::compare::median_and_range(self.up_over_separate.clone()) {
            println!(
                "  knotwork up (one process) / separate processes, app mix @{c}, median of {} alternating pairs: {r:.2} ({lo:.2} to {hi:.2}) (goal >= 1.5): {}",
                self.up_over_separate.len(),
                verdict(r >= 1.5)
            );
        }
        let idle_max = self
            .idle_rss_mib
            .values()
            .chain(self.up.get("idle_rss_mib"))
            .copied()
            .fold(0.0_f64, f64::max);
        println!(
            "  largest idle resident memory: {idle_max:.1} MiB (goal < 50): {}",
            verdict(idle_max < 50.0)
        );
        for why in &self.skipped {
            println!("  skipped: {why}");
        }
        println!("\nper service:");
        println!(
            "{:<10} {:>10} {:>10} {:>12} {:>10} {:>8}",
            "service", "start ms", "idle MiB", "@256 MiB", "peak MiB", "CPU s"
        );
        for s in self.startup_ms.keys() {
            let get = |m: &BTreeMap<String, f64>| m.get(s).copied().unwrap_or(f64::NAN);
            println!(
                "{:<10} {:>10.1} {:>10.1} {:>12.1} {:>10.1} {:>8.1}",
                s,
                get(&self.startup_ms),
                get(&self.idle_rss_mib),
                get(&self.rss_at_256_mib),
                get(&self.peak_rss_mib),
                get(&self.cpu_seconds)
            );
        }
        match &self.h2load {
            Some(h) => {
                println!("\nh2load, 4 connections x 16 streams, req/s per round:");
                for (label, v) in h {
                    let shown: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
                    println!("  {label:<52} {}", shown.join(", "));
                }
            }
            None => println!(
                "\nh2load not installed: cross-check skipped (apt-get install nghttp2-client)"
            ),
        }
        if !self.up.is_empty() {
            println!("\nknotwork up (one process): {:?}", self.up);
        }
        if let Some(soak) = &self.soak {
            println!(
                "\nsoak {} s, RSS growth after warm-up: {:?}",
                soak.seconds, soak.growth_percent
            );
        }
    }
}

/// The machine the benchmark ran on.
pub fn machine() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpu.lines().find(|l| l.starts_with("model name")) {
        m.insert(
            "cpu".into(),
            model.split(':').nth(1).unwrap_or("").trim().to_owned(),
        );
    }
    m.insert(
        "cores".into(),
        std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_default(),
    );
    // Others' work on a shared machine moves every figure: say how busy
    // it was (1, 5 and 15 minute load averages at the end of the run).
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let avg: Vec<&str> = load.split_whitespace().take(3).collect();
        m.insert("load_average".into(), avg.join(" "));
    }
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(total) = mem.lines().find(|l| l.starts_with("MemTotal")) {
        m.insert(
            "memory".into(),
            total.split(':').nth(1).unwrap_or("").trim().to_owned(),
        );
    }
    m
}

fn grpc_frame(msg: &impl prost::Message) -> Vec<u8> {
    let body = msg.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// One `h2load` target: a label, the full URL of the method, the recorded
/// request (a gRPC frame).
pub struct H2Target {
    /// What is measured.
    pub label: String,
    /// `http://host:port/package.Service/Method`.
    pub url: String,
    /// The request body: one gRPC frame.
    pub body: Vec<u8>,
}

impl H2Target {
    /// A target calling `path` at `base` with `msg`.
    pub fn new(label: &str, base: &str, path: &str, msg: &impl prost::Message) -> Self {
        Self {
            label: label.to_owned(),
            url: format!("{base}{path}"),
            body: grpc_frame(msg),
        }
    }
}

/// Whether `h2load` is installed.
pub async fn h2load_installed() -> bool {
    tokio::process::Command::new("h2load")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

/// Runs `h2load` (an independent HTTP/2 load generator, 4 connections x 16
/// streams) against each target in turn, `rounds` times alternating, so
/// the targets share the machine's moods alike. Returns req/s per round
/// per label (a run whose answers were not all HTTP 200 counts as 0).
pub async fn h2load(
    targets: &[H2Target],
    seconds: u64,
    rounds: usize,
) -> BTreeMap<String, Vec<f64>> {
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let Ok(dir) = tempfile::tempdir() else {
        return out;
    };
    for _ in 0..rounds {
        for (i, t) in targets.iter().enumerate() {
            let body = dir.path().join(format!("req{i}.bin"));
            if std::fs::write(&body, &t.body).is_err() {
                continue;
            }
            let run = tokio::process::Command::new("h2load")
                .args(["-c", "4", "-m", "16", "-D"])
                .arg(seconds.to_string())
                .args([
                    "-H",
                    "content-type: application/grpc",
                    "-H",
                    "te: trailers",
                    "-d",
                ])
                .arg(&body)
                .arg(&t.url)
                .output()
                .await;
            let Ok(run) = run else { continue };
            let text = String::from_utf8_lossy(&run.stdout);
            let rps = parse_h2load(&text).unwrap_or(0.0);
            out.entry(t.label.clone()).or_default().push(rps);
        }
    }
    out
}

/// The req/s of an h2load report, when every request succeeded.
fn parse_h2load(text: &str) -> Option<f64> {
    let failed = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .and_then(|l| l.split(", ").find(|p| p.ends_with(" failed")))
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())?;
    if failed > 0 {
        return None;
    }
    text.lines()
        .find(|l| l.contains("req/s") && l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
}

/// Percent growth of resident memory after warm-up: from the sample that
/// ends the first fifth to the highest sample after it (the peak, not the
/// last sample, so a dip at the end cannot hide growth).
fn growth_after_warm_up(samples: &[f64]) -> f64 {
    let start = samples.len() / 5;
    let Some(&base) = samples.get(start) else {
        return 0.0;
    };
    let peak = samples[start..].iter().copied().fold(base, f64::max);
    if base > 0.0 {
        (peak - base) / base * 100.0
    } else {
        0.0
    }
}

/// Runs the app mix for `duration` while sampling each service's memory.
pub async fn soak(
    world: Arc<World>,
    services: &[&Service],
    duration: Duration,
    callers: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Soak> {
    let runner = {
        let bar = bar.clone();
        tokio::spawn(async move {
            load::run(
                "soak: app mix via gateway",
                world,
                &Mix::app(),
                callers,
                duration,
                &bar,
            )
            .await
        })
    };
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let started = std::time::Instant::now();
    while started.elapsed() < duration {
        for s in services {
            let (rss, _) = s.memory()?;
            samples
                .entry(s.label.clone())
                .or_default()
                .push(rss as f64 / 1048576.0);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let run = runner.await?;
    let growth_percent = samples
        .iter()
        .map(|(k, v)| (k.clone(), growth_after_warm_up(v)))
        .collect();
    Ok(Soak {
        seconds: duration.as_secs(),
        samples_mib: samples,
        growth_percent,
        run,
    })
}

/// The call type with the highest p99 in `run`, and that p99.
fn slowest(run: &RunResult) -> (String, f64) {
    run.ops
        .iter()
        .map(|(op, s)| (format!("{op:?}"), s.p99_ms))
        .fold(
            (String::new(), 0.0_f64),
            |a, b| if b.1 > a.1 { b } else { a },
        )
}

/// The run named `name` with the most callers below `callers`: beside the
/// goals' run it shows what the added callers bought (past saturation,
/// few more calls/s and a longer queue).
fn fewer_callers<'a>(runs: &'a [RunResult], name: &str, callers: usize) -> Option<&'a RunResult> {
    runs.iter()
        .filter(|r| r.name == name && r.callers < callers)
        .max_by_key(|r| r.callers)
}

#[cfg(test)]
mod tests {
    use super::{fewer_callers, growth_after_warm_up, parse_h2load};
    use crate::load::RunResult;

    fn run(name: &str, callers: usize, throughput: f64) -> RunResult {
        RunResult {
            name: name.into(),
            callers,
            seconds: 4.0,
            throughput,
            p50_ms: 1.0,
            p99_ms: 2.0,
            ops: Default::default(),
            errors: Default::default(),
            client_cpu_us_per_call: 0.0,
            server_cpu_us_per_call: Default::default(),
        }
    }

    #[test]
    fn the_goals_run_is_set_beside_the_next_fewer_callers() {
        let mix = "app mix via gateway";
        let runs = [
            run(mix, 1, 1_900.0),
            run(mix, 16, 6_200.0),
            run("echo (bare tonic)", 32, 70_000.0),
            run(mix, 64, 6_900.0),
            run(mix, 256, 6_400.0),
        ];
        assert_eq!(fewer_callers(&runs, mix, 64).map(|r| r.callers), Some(16));
        assert_eq!(fewer_callers(&runs, mix, 16).map(|r| r.callers), Some(1));
        assert!(fewer_callers(&runs, mix, 1).is_none());
    }

    #[test]
    fn reads_h2load_reports() {
        let ok = "finished in 4.00s, 20123.50 req/s, 40.00MB/s\n\
                  requests: 80494 total, 80494 started, 80494 done, 80494 succeeded, 0 failed, 0 errored, 0 timeout\n";
        assert_eq!(parse_h2load(ok), Some(20123.5));
        let failed = ok.replace("0 failed", "3 failed");
        assert_eq!(parse_h2load(&failed), None);
        assert_eq!(parse_h2load("nothing"), None);
    }

    #[test]
    fn growth_counts_the_peak_after_warm_up() {
        // Warm-up (first fifth) is ignored; a late dip does not hide growth.
        let v = [10.0, 50.0, 20.0, 20.0, 20.0, 30.0, 20.0, 20.0, 20.0, 20.0];
        assert!((growth_after_warm_up(&v) - 50.0).abs() < 1e-9);
        assert_eq!(growth_after_warm_up(&[20.0; 10]), 0.0);
        assert_eq!(growth_after_warm_up(&[]), 0.0);
    }
}
