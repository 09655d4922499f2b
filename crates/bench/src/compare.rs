//! `--compare`: two builds, the app mix alternating between them.
//!
//! One run of the mix on this 2-core machine moves more than most changes
//! do (one build read 7,376 to 9,132 calls/s within an hour), so a change is
//! judged over alternating runs: build A (`--bin-dir`), then build B, then A
//! again, each run a whole `--only-mix` benchmark in its own process (fresh
//! services, fresh data, the same seeding), so both builds see the
//! machine's drift alike. Each round's B / A ratios are reported, and their
//! median and spread over the rounds.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::Value;

/// What one run of one build measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// Successful calls per second.
    pub calls_per_sec: f64,
    /// The mix's p99, milliseconds.
    pub p99_ms: f64,
    /// LogSession's p99, milliseconds (the writes: the slowest call type);
    /// none when `--mix` leaves the writes out.
    pub log_session_p99_ms: Option<f64>,
    /// CPU every server process spent per call, microseconds.
    pub server_cpu_us_per_call: f64,
}

impl Measured {
    /// Reads the app-mix run out of a `--only-mix` report.
    fn from_report(report: &Value) -> anyhow::Result<Self> {
        let run = report["runs"]
            .as_array()
            .and_then(|runs| {
                runs.iter()
                    .find(|r| r["name"].as_str() == Some("app mix via gateway"))
            })
            .context("no app-mix run in the report")?;
        let number = |v: &Value, what: &str| v.as_f64().with_context(|| format!("no {what}"));
        let cpu = run["server_cpu_us_per_call"]
            .as_object()
            .context("no server CPU per call")?
            .values()
            .filter_map(Value::as_f64)
            .sum();
        Ok(Self {
            calls_per_sec: number(&run["throughput"], "throughput")?,
            p99_ms: number(&run["p99_ms"], "p99")?,
            log_session_p99_ms: match &run["ops"]["LogSession"] {
                Value::Null => None,
                writes => Some(number(&writes["p99_ms"], "LogSession p99")?),
            },
            server_cpu_us_per_call: cpu,
        })
    }
}

/// One round: A, then B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// Build A's run.
    pub a: Measured,
    /// Build B's run.
    pub b: Measured,
}

impl Round {
    /// B / A of each figure (none for LogSession's when a run has no
    /// writes).
    fn ratios(&self) -> [Option<f64>; 4] {
        let (a, b) = (&self.a, &self.b);
        [
            Some(b.calls_per_sec / a.calls_per_sec),
            Some(b.server_cpu_us_per_call / a.server_cpu_us_per_call),
            Some(b.p99_ms / a.p99_ms),
            b.log_session_p99_ms
                .zip(a.log_session_p99_ms)
                .map(|(b, a)| b / a),
        ]
    }
}

/// The figures compared, in [`Round::ratios`]' order.
const FIGURES: [&str; 4] = [
    "calls/s",
    "server CPU per call",
    "mix p99",
    "LogSession p99",
];

/// One figure's B / A over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    /// What it is.
    pub figure: &'static str,
    /// The median ratio.
    pub median: f64,
    /// The lowest ratio.
    pub min: f64,
    /// The highest ratio.
    pub max: f64,
}

/// The median, lowest and highest B / A of each figure that every round
/// has.
pub fn spreads(rounds: &[Round]) -> Vec<Spread> {
    FIGURES
        .iter()
        .enumerate()
        .filter_map(|(i, figure)| {
            let r: Vec<f64> = rounds
                .iter()
                .map(|x| x.ratios()[i])
                .collect::<Option<_>>()?;
            let (median, min, max) = median_and_range(r)?;
            Some(Spread {
                figure,
                median,
                min,
                max,
            })
        })
        .collect()
}

/// The median, lowest and highest of `values` (none when empty).
pub fn median_and_range(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    Some((median, values[0], values[n - 1]))
}

/// The whole comparison, as written to `--out`.
#[derive(Debug, Serialize)]
struct Comparison {
    a: PathBuf,
    b: PathBuf,
    /// The arguments every run got (besides `--bin-dir` and `--out`).
    args: Vec<String>,
    rounds: Vec<Round>,
    spreads: Vec<Spread>,
}

/// Runs the comparison: `rounds` rounds of this benchmark with `args` (an
/// `--only-mix` run at one caller count), on the services of `a`, then of
/// `b`; prints each round and the spreads, and writes them to `out`.
pub async fn run(
    a: &Path,
    b: &Path,
    rounds: usize,
    args: Vec<String>,
    out: &Path,
) -> anyhow::Result<()> {
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let exe = std::env::current_exe()?;
    let scratch = tempfile::tempdir()?;
    println!(
        "Comparing B = {} against A = {}, {rounds} rounds",
        b.display(),
        a.display()
    );
    println!(
        "{:>5}  {:>9} {:>9} {:>6}  {:>8} {:>8} {:>6}  {:>9} {:>9}",
        "round", "A calls/s", "B calls/s", "B/A", "A us", "B us", "B/A", "A p99 ms", "B p99 ms"
    );
    // One run of this benchmark on the services in `dir`.
    let measure = |dir: &Path, report: PathBuf| {
        let mut run = tokio::process::Command::new(&exe);
        run.args(&args)
            .arg("--bin-dir")
            .arg(dir)
            .arg("--out")
            .arg(&report)
            .stdout(std::process::Stdio::null());
        let dir = dir.display().to_string();
        async move {
            let status = run.status().await?;
            if !status.success() {
                bail!("build {dir}: the run failed ({status})");
            }
            let value: Value = serde_json::from_slice(&std::fs::read(&report)?)?;
            Measured::from_report(&value).with_context(|| format!("build {dir}"))
        }
    };
    let mut done = Vec::new();
    for round in 1..=rounds {
        let in_round = |label: &str| scratch.path().join(format!("{label}-{round}.json"));
        let r = Round {
            a: measure(a, in_round("a"))
                .await
                .with_context(|| format!("round {round}"))?,
            b: measure(b, in_round("b"))
                .await
                .with_context(|| format!("round {round}"))?,
        };
        let ratios = r.ratios();
        println!(
            "{round:>5}  {:>9.0} {:>9.0} {:>6.3}  {:>8.1} {:>8.1} {:>6.3}  {:>9.1} {:>9.1}",
            r.a.calls_per_sec,
            r.b.calls_per_sec,
            ratios[0].unwrap_or(f64::NAN),
            r.a.server_cpu_us_per_call,
            r.b.server_cpu_us_per_call,
            ratios[1].unwrap_or(f64::NAN),
            r.a.p99_ms,
            r.b.p99_ms,
        );
        done.push(r);
    }
    let spreads = spreads(&done);
    println!("B / A over {rounds} rounds (median, lowest to highest):");
    for s in &spreads {
        println!(
            "  {:<20} {:.3}  ({:.3} to {:.3})",
            s.figure, s.median, s.min, s.max
        );
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let comparison = Comparison {
        a: a.to_path_buf(),
        b: b.to_path_buf(),
        args,
        rounds: done,
        spreads,
    };
    std::fs::write(out, serde_json::to_vec_pretty(&comparison)?)?;
    println!("Results written to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(calls: f64, cpu: f64, p99: f64, writes: f64) -> Measured {
        Measured {
            calls_per_sec: calls,
            p99_ms: p99,
            log_session_p99_ms: Some(writes),
            server_cpu_us_per_call: cpu,
        }
    }

    #[test]
    fn a_report_gives_the_mix_run_and_the_cpu_of_every_server() {
        let report = serde_json::json!({
            "runs": [
                {"name": "bare tonic echo", "throughput": 1.0, "p99_ms": 1.0, "ops": {}},
                {
                    "name": "app mix via gateway",
                    "throughput": 8000.0,
                    "p99_ms": 40.0,
                    "ops": {"LogSession": {"p50_ms": 20.0, "p99_ms": 50.0}},
                    "server_cpu_us_per_call": {"catalog": 0.5, "gateway": 80.0, "session": 100.0}
                }
            ]
        });
        assert_eq!(
            Measured::from_report(&report).unwrap(),
            measured(8000.0, 180.5, 40.0, 50.0)
        );
        // A mix without writes (`--mix GetTriggerPoint=1`) has no
        // LogSession figure; a LogSession without its p99 is an error.
        let mut reads = report.clone();
        reads["runs"][1]["ops"] = serde_json::json!({"GetTriggerPoint": {"p99_ms": 9.0}});
        assert_eq!(
            Measured::from_report(&reads).unwrap().log_session_p99_ms,
            None
        );
        let mut broken = report.clone();
        broken["runs"][1]["ops"]["LogSession"] = serde_json::json!({"p50_ms": 20.0});
        assert!(Measured::from_report(&broken).is_err());
        // A report without the mix (or its CPU) is an error, not a zero.
        let mut broken = report.clone();
        broken["runs"][1]["name"] = "something else".into();
        assert!(Measured::from_report(&broken).is_err());
        let mut broken = report;
        broken["runs"][1]
            .as_object_mut()
            .unwrap()
            .remove("server_cpu_us_per_call");
        assert!(Measured::from_report(&broken).is_err());
    }

    #[test]
    fn spreads_are_the_median_and_range_of_each_rounds_ratio() {
        let a = measured(8000.0, 200.0, 40.0, 50.0);
        let rounds = [
            Round {
                a: a.clone(),
                b: measured(8800.0, 180.0, 36.0, 45.0),
            },
            Round {
                a: a.clone(),
                b: measured(7600.0, 210.0, 44.0, 60.0),
            },
            Round {
                a: a.clone(),
                b: measured(8400.0, 190.0, 40.0, 50.0),
            },
        ];
        let s = spreads(&rounds);
        let figure = |name: &str| s.iter().find(|x| x.figure == name).unwrap().clone();
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        let calls = figure("calls/s");
        assert!(close(calls.median, 1.05) && close(calls.min, 0.95) && close(calls.max, 1.1));
        let cpu = figure("server CPU per call");
        assert!(close(cpu.median, 0.95) && close(cpu.min, 0.9) && close(cpu.max, 1.05));
        assert!(close(figure("LogSession p99").max, 1.2));
        // An even count takes the mean of the middle two; none gives nothing.
        let two = spreads(&rounds[..2]);
        assert!(close(two[0].median, 1.025));
        assert!(spreads(&[]).is_empty());
        // Without writes in a round, LogSession's figure is left out, the
        // others kept.
        let mut reads = rounds.clone();
        reads[1].b.log_session_p99_ms = None;
        let s = spreads(&reads);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|x| x.figure != "LogSession p99"));
    }
}
