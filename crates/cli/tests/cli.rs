//! The `knotwork` binary end to end: `knotwork up` on ephemeral loopback
//! ports, the client subcommands against it (including error paths), and a
//! clean stop on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test panics to fail.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_knotwork");

struct Up {
    child: Child,
    gateway: String,
    _data: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Up {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["up", "--data-dir"])
        .arg(data.path())
        .args([
            "--gateway-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--catalog-listen",
            "127.0.0.1:0",
            "--session-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .env_remove("KNOTWORK_CATALOG_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let gateway = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("knotwork up prints where the gateway listens");
        if let Some(rest) = line.trim_start().strip_prefix("gateway") {
            let addr = rest.split_whitespace().next().unwrap();
            break addr.replace("grpc://", "http://");
        }
    };
    let up = Up {
        child,
        gateway,
        _data: data,
        lines,
    };
    // Poll health until all three serve.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = knotwork(&up, &["health"]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stack never became healthy: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    up
}

fn knotwork(up: &Up, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("KNOTWORK_GATEWAY_URL", &up.gateway)
        .env_remove("KNOTWORK_TOKEN")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn up_then_client_calls_then_clean_stop() {
    let mut up = start();

    let out = knotwork(&up, &["health"]);
    let (stdout, _) = text(&out);
    assert_eq!(stdout.matches("Serving").count(), 3, "{stdout}");

    let out = knotwork(&up, &["pain", "low back"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.to_lowercase().contains("quadratus lumborum"),
        "{stdout}"
    );

    let out = knotwork(&up, &["search", "trapezious"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.to_lowercase().contains("trapezius"), "{stdout}");

    let out = knotwork(&up, &["token", "--user", "carol"]);
    let (token, _) = text(&out);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT has three parts");

    let log = |extra: &[&str]| {
        let mut args = vec![
            "log",
            "--token",
            token.trim(),
            "--point",
            "quadratus_lumborum_superficial",
            "--tool",
            "lacrosse_ball",
            "--request-id",
            "cli-test-1",
        ];
        args.extend_from_slice(extra);
        knotwork(&up, &args)
    };
    let out = log(&["--pressure", "5", "--duration", "240"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("logged sessions/"), "{stdout}");

    // The same request id again: stored once, reported as a replay.
    let out = log(&["--pressure", "5", "--duration", "240"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("replayed"), "{stdout}");

    // An error path: the status and the field violation are shown.
    let mut args = vec![
        "log",
        "--user",
        "carol",
        "--point",
        "quadratus_lumborum_superficial",
        "--tool",
        "lacrosse_ball",
        "--pressure",
        "11",
    ];
    let out = knotwork(&up, &args);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("InvalidArgument"), "{stderr}");
    assert!(stderr.contains("pressure"), "{stderr}");

    // No token: refused.
    args = vec!["sessions"];
    let out = knotwork(&up, &args);
    assert!(!out.status.success());

    let out = knotwork(&up, &["sessions", "--token", token.trim()]);
    let (stdout, _) = text(&out);
    assert_eq!(stdout.lines().count(), 1, "one session stored: {stdout}");

    // SIGTERM: a clean stop.
    let pid = up.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "knotwork up did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = up.lines.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("stopped cleanly")),
        "{rest:?}"
    );
}
