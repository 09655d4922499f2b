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
    /// The independent load generator's figures, when installed.
    pub h2load: Option<BTreeMap<String, f64>>,
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

impl Report {
    fn find(&self, name: &str, callers: usize) -> Option<&RunResult> {
        self.runs
            .iter()
            .find(|r| r.name == name && r.callers == callers)
    }

    /// Prints the results table and the goal ratios.
    pub fn print(&self, c: usize) {
        println!(
            "\n{:<40} {:>7} {:>10} {:>8} {:>8}  errors",
            "run", "callers", "calls/s", "p50 ms", "p99 ms"
        );
        for r in &self.runs {
            let p50 = r.ops.values().map(|o| o.p50_ms).fold(0.0_f64, f64::max);
            let errors: u64 = r.errors.values().sum();
            println!(
                "{:<40} {:>7} {:>10.0} {:>8.2} {:>8.2}  {}",
                r.name, r.callers, r.throughput, p50, r.p99_ms, errors
            );
        }
        if let Some(mix) = self.find("app mix via gateway", c) {
            println!("\nper call type, app mix at {c} callers:");
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
        }
        let ratio = |a: &str, b: &str, n: usize| -> Option<f64> {
            Some(self.find(a, n)?.throughput / self.find(b, n)?.throughput)
        };
        println!("\nratios (same run):");
        for n in [1, c] {
            if let Some(r) = ratio("catalog reads via gateway", "echo (bare tonic)", n) {
                println!("  catalog via gateway / bare echo @{n}: {r:.2} (goal >= 0.50)");
            }
            if let Some(r) = ratio("catalog reads via gateway", "catalog reads direct", n) {
                println!("  catalog via gateway / direct     @{n}: {r:.2}");
            }
            if let Some(r) = ratio("session writes via gateway", "session writes direct", n) {
                println!("  session via gateway / direct     @{n}: {r:.2}");
            }
        }
        if let (Some(mix), Some(cat)) = (
            self.find("app mix via gateway", c),
            self.find("catalog reads via gateway", c),
        ) {
            println!(
                "  app mix / catalog-only throughput @{c}: {:.2} (goal >= 0.50); mix p99 {:.2} ms (goal < 20); catalog p99 {:.2} ms (goal < 5)",
                mix.throughput / cat.throughput,
                mix.p99_ms,
                cat.p99_ms
            );
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
            Some(h) => println!("\nh2load cross-check (req/s): {h:?}"),
            None => println!(
                "\nh2load not installed: cross-check skipped (apt-get install nghttp2-client)"
            ),
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

/// Runs `h2load` (an independent HTTP/2 load generator) with a recorded gRPC
/// request against the gateway and the echo server, when it is installed.
pub async fn h2load(gateway: &str, seconds: u64) -> Option<BTreeMap<String, f64>> {
    let which = tokio::process::Command::new("h2load")
        .arg("--version")
        .output()
        .await
        .ok()?;
    if !which.status.success() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let body = dir.path().join("get_trigger_point.bin");
    std::fs::write(
        &body,
        grpc_frame(&knotwork_proto::catalog::v1::GetTriggerPointRequest {
            name: "triggerPoints/quadratus_lumborum_superficial".into(),
        }),
    )
    .ok()?;
    let url = format!("{gateway}/knotwork.catalog.v1.CatalogService/GetTriggerPoint");
    let out = tokio::process::Command::new("h2load")
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
        .arg(&url)
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.contains("req/s") && l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())?;
    Some(BTreeMap::from([(
        "gateway GetTriggerPoint (4 conns x 16 streams)".to_owned(),
        rps,
    )]))
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

#[cfg(test)]
mod tests {
    use super::growth_after_warm_up;

    #[test]
    fn growth_counts_the_peak_after_warm_up() {
        // Warm-up (first fifth) is ignored; a late dip does not hide growth.
        let v = [10.0, 50.0, 20.0, 20.0, 20.0, 30.0, 20.0, 20.0, 20.0, 20.0];
        assert!((growth_after_warm_up(&v) - 50.0).abs() < 1e-9);
        assert_eq!(growth_after_warm_up(&[20.0; 10]), 0.0);
        assert_eq!(growth_after_warm_up(&[]), 0.0);
    }
}
