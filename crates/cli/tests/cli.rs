//! The `knotwork` binary end to end: `knotwork up` on ephemeral loopback
//! ports (guided sessions sped up), the client subcommands against it the
//! way people use them (tables, `--json`, `login`, `guide` with scripted
//! answers, their own data) including the error paths, and a clean stop on
//! SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test panics to fail.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_knotwork");

struct Up {
    child: Child,
    gateway: String,
    /// The session service's own address (for operator commands).
    session: String,
    data: Option<tempfile::TempDir>,
    /// `XDG_CONFIG_HOME` of every client call: where `login` stores the token.
    config: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Up {
    start_in(tempfile::tempdir().unwrap())
}

/// `knotwork up` on the data folder `data`.
fn start_in(data: tempfile::TempDir) -> Up {
    start_with(data, &[])
}

/// `knotwork up` on `data` with extra `KNOTWORK_*` variables.
fn start_with(data: tempfile::TempDir, env: &[(&str, &str)]) -> Up {
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
            // A 180 s session per side takes under half a second.
            "--guide-speedup",
            "400",
        ])
        .env("RUST_LOG", "warn")
        .env_remove("KNOTWORK_CATALOG_FILE")
        .envs(env.iter().copied())
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
    let (mut gateway, mut session) = (None, None);
    while gateway.is_none() || session.is_none() {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("knotwork up prints where the gateway and the session service listen");
        for (name, slot) in [("gateway", &mut gateway), ("session", &mut session)] {
            if let Some(rest) = line.trim_start().strip_prefix(name) {
                let addr = rest.split_whitespace().next().unwrap();
                *slot = Some(addr.replace("grpc://", "http://"));
            }
        }
    }
    let up = Up {
        child,
        gateway: gateway.unwrap(),
        session: session.unwrap(),
        data: Some(data),
        config: tempfile::tempdir().unwrap(),
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

fn client(up: &Up, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("KNOTWORK_GATEWAY_URL", &up.gateway)
        .env("XDG_CONFIG_HOME", up.config.path())
        .env_remove("KNOTWORK_TOKEN")
        .env_remove("KNOTWORK_USER")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null());
    cmd
}

fn knotwork(up: &Up, args: &[&str]) -> std::process::Output {
    client(up, args).output().unwrap()
}

/// Runs a command expected to succeed and returns its stdout.
#[track_caller]
fn ok(up: &Up, args: &[&str]) -> String {
    let out = knotwork(up, args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    stdout
}

/// Runs a command expected to fail and returns its stderr.
#[track_caller]
fn fails(up: &Up, args: &[&str]) -> String {
    let out = knotwork(up, args);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {stdout}");
    stderr
}

/// Runs with `--json` and parses stdout.
#[track_caller]
fn json(up: &Up, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let stdout = ok(up, &all);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `knotwork up` reads the gateway's limits from the same variables as the
/// gateway binary (it ignored them before): with a burst of 2 calls per
/// address, an anonymous caller is refused within a few calls.
#[test]
fn up_takes_the_gateway_settings() {
    let up = start_with(
        tempfile::tempdir().unwrap(),
        &[("KNOTWORK_ADDR_RATE", "1"), ("KNOTWORK_ADDR_BURST", "2")],
    );
    let refused = (0..6).find_map(|_| {
        let out = knotwork(&up, &["pain", "low back"]);
        (!out.status.success()).then(|| text(&out).1)
    });
    let stderr = refused.expect("the address limit of 1/s with a burst of 2 refused a call");
    assert!(
        stderr.to_lowercase().contains("too many") || stderr.contains("RESOURCE_EXHAUSTED"),
        "{stderr}"
    );
}

#[test]
fn up_then_client_calls_then_clean_stop() {
    let mut up = start();

    let out = knotwork(&up, &["health"]);
    let (stdout, _) = text(&out);
    assert_eq!(stdout.matches("SERVING").count(), 3, "{stdout}");

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

    // One fixed time for both calls: a retry repeats its request exactly
    // (the same id with another body is REQUEST_ID_REUSED).
    let at = prost_types::Timestamp::from(
        std::time::SystemTime::now() - std::time::Duration::from_secs(600),
    )
    .to_string();
    let log = |extra: &[&str]| {
        let mut args = vec![
            "log",
            "--at",
            at.as_str(),
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
    assert!(stderr.contains("INVALID_ARGUMENT"), "{stderr}");
    assert!(stderr.contains("field session.pressure"), "{stderr}");

    // No token: refused by the gateway, and the status says so.
    args = vec!["sessions"];
    let stderr = fails(&up, &args);
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");

    let out = knotwork(&up, &["sessions", "--token", token.trim()]);
    let (stdout, _) = text(&out);
    assert_eq!(
        stdout.lines().count(),
        2,
        "a header and one session: {stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no colour into a pipe: {stdout:?}"
    );

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

#[test]
fn json_login_guide_and_my_data() {
    let up = start();

    // --json is the proto3 JSON mapping of the response.
    let v = json(&up, &["pain", "low back"]);
    let first = &v["matches"][0];
    assert!(first["muscle"]["displayName"].is_string(), "{v}");
    assert!(
        first["triggerPoints"][0]["triggerPoint"]["name"]
            .as_str()
            .unwrap()
            .starts_with("triggerPoints/")
    );
    assert_eq!(v["catalogVersion"].as_str().unwrap().len(), 64, "{v}");
    let version = json(&up, &["version"]);
    assert_eq!(version["catalogVersion"], v["catalogVersion"]);
    let tools = json(&up, &["tools", "--limit", "100"]);
    assert!(tools["tools"].as_array().unwrap().len() > 3, "{tools}");
    assert!(
        ok(
            &up,
            &["recommended-tools", "quadratus_lumborum_superficial"]
        )
        .contains("Lacrosse ball")
    );
    // People read names, not ids: every technique and exclusion line of a
    // point names its tool.
    let point = ok(&up, &["point", "gastrocnemius_medial"]);
    let lines: Vec<&str> = point
        .lines()
        .filter(|l| l.starts_with("With ") || l.contains("Never with "))
        .collect();
    assert!(!lines.is_empty(), "{point}");
    for l in lines {
        let head = l.split(':').next().unwrap_or(l);
        assert!(!head.contains('_') && !head.contains('/'), "{l}");
    }
    let m = json(&up, &["muscle", "quadratus_lumborum"]);
    assert_eq!(m["muscle"]["name"], "muscles/quadratus_lumborum");

    // Colour only when asked for or on a terminal.
    let forced = client(&up, &["health"])
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(text(&forced).0.contains('\u{1b}'), "CLICOLOR_FORCE colours");

    // Not signed in: the gateway refuses.
    let stderr = fails(&up, &["profile"]);
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    assert!(stderr.contains("knotwork login"), "with a hint: {stderr}");

    // login stores a token, readable by the user only; later calls use it.
    let stdout = ok(&up, &["login", "--user", "dave"]);
    assert!(stdout.contains("signed in as dave"), "{stdout}");
    let file = up.config.path().join("knotwork").join("token");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert_eq!(stored.trim().split('.').count(), 3, "a JWT: {stored}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let p = json(
        &up,
        &[
            "profile",
            "set",
            "--time-zone",
            "Europe/Berlin",
            "--tools",
            "lacrosse_ball",
        ],
    );
    assert_eq!(p["profile"]["timeZone"], "Europe/Berlin");
    assert_eq!(p["profile"]["tools"][0], "tools/lacrosse_ball");
    // People read the tool's name, with the id `--tools` takes.
    let human = ok(&up, &["profile"]);
    assert!(human.contains("Lacrosse ball (lacrosse_ball)"), "{human}");

    // A guided session before the screening: refused, and the reason shown.
    let guide = [
        "guide",
        "quadratus_lumborum_superficial",
        "--tool",
        "lacrosse_ball",
        "--side",
        "right",
    ];
    let stderr = fails(&up, &guide);
    assert!(stderr.contains("FAILED_PRECONDITION"), "{stderr}");
    assert!(stderr.contains("SCREENING_REQUIRED"), "{stderr}");

    let s = json(&up, &["screening", "--none-apply"]);
    assert_eq!(s["screening"]["status"], "SCREENING_STATUS_CLEARED", "{s}");

    // The guided session runs to the stop cue, then asks on stdin.
    let mut child = client(&up, &guide)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"6\n11\n3\ndull\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for cue in ["START", "PRESS AND HOLD", "HALFWAY", "STOP"] {
        assert!(stdout.contains(cue), "cue {cue}: {stdout}");
    }
    assert!(
        stdout.contains("left  ·  right side"),
        "countdown lines: {stdout}"
    );
    assert!(
        stderr.contains("from 0 (none) to 10"),
        "11 is asked again: {stderr}"
    );
    let logged = stdout
        .lines()
        .find_map(|l| l.strip_prefix("logged "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let name = logged.split_whitespace().next().unwrap();
    assert!(logged.contains("guided"), "{logged}");

    let sessions = json(&up, &["sessions"]);
    let list = sessions["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{sessions}");
    assert_eq!(list[0]["name"], name);
    assert_eq!(list[0]["origin"], "SESSION_ORIGIN_GUIDED");
    assert_eq!(list[0]["tendernessBefore"], 6);
    assert_eq!(list[0]["tendernessAfter"], 3);
    assert_eq!(list[0]["painQuality"], "PAIN_QUALITY_DULL");
    assert!(ok(&up, &["sessions"]).contains(name));
    assert_eq!(json(&up, &["session", name])["session"]["name"], name);

    // Scripts pass the answers as flags; with --json every line is a JSON
    // document (the start, each cue, the logged session). A sharp pain comes
    // back as a warning.
    let mut scripted = vec!["--json"];
    scripted.extend_from_slice(&guide);
    scripted.extend(["--tenderness", "4", "--quality", "sharp"]);
    let stdout = ok(&up, &scripted);
    let docs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(docs[0]["guidedSession"]["name"].is_string(), "{stdout}");
    assert!(
        docs.iter().any(|d| d["cue"] == "GUIDE_CUE_STOP"),
        "{stdout}"
    );
    let last = &docs.last().unwrap()["session"];
    assert_eq!(last["tendernessAfter"], 4, "{stdout}");
    assert!(
        !last["warnings"].as_array().unwrap().is_empty(),
        "the sharp pain warning: {stdout}"
    );

    // The screens.
    let today = json(&up, &["today"]);
    assert_eq!(
        today["day"]["sessions"].as_array().unwrap().len(),
        2,
        "{today}"
    );
    assert_eq!(today["screening"]["status"], "SCREENING_STATUS_CLEARED");
    // The plan: the point with the sharp pain is on hold, so it is set
    // aside and nothing is scheduled; the streak counts today.
    assert_eq!(
        today["plan"]["setAside"][0], "triggerPoints/quadratus_lumborum_superficial",
        "{today}"
    );
    assert_eq!(today["plan"]["slots"].as_array().unwrap().len(), 0);
    assert_eq!(today["adherence"]["streakDays"], 1, "{today}");
    assert_eq!(today["adherence"]["streakIncludesToday"], true);
    let human = ok(&up, &["today"]);
    assert!(human.contains("1 day in a row, today included"), "{human}");
    assert!(human.contains("set aside: QL superficial point"), "{human}");
    let calendar = ok(&up, &["calendar", "--days", "2"]);
    assert!(calendar.starts_with("BEGIN:VCALENDAR\r\n"), "{calendar}");
    assert!(calendar.ends_with("END:VCALENDAR\r\n"), "{calendar}");
    let reminders = json(&up, &["reminders"]);
    assert_eq!(
        reminders["reminders"].as_array().unwrap().len(),
        0,
        "{reminders}"
    );
    let waking = json(
        &up,
        &["profile", "set", "--wake", "06:00", "--sleep", "22:30"],
    );
    assert_eq!(waking["profile"]["wakeTime"], "06:00", "{waking}");
    assert_eq!(
        waking["profile"]["timeZone"], "Europe/Berlin",
        "only what is passed changes"
    );
    let stderr = fails(&up, &["profile", "set", "--wake", "6am"]);
    assert!(stderr.contains("profile.wake_time"), "{stderr}");
    let plan = json(&up, &["plan", "low back"]);
    assert!(!plan["candidates"].as_array().unwrap().is_empty(), "{plan}");
    assert!(ok(&up, &["plan", "low back"]).contains("quadratus_lumborum_superficial"));
    let day = json(&up, &["day"]);
    assert_eq!(day["timeZone"], "Europe/Berlin", "{day}");
    assert!(
        ok(
            &up,
            &["progress", "--point", "quadratus_lumborum_superficial"]
        )
        .contains("6.0")
    );

    // A bad argument: the status and the field.
    let stderr = fails(&up, &["day", "2026-13-01"]);
    assert!(stderr.contains("INVALID_ARGUMENT"), "{stderr}");
    assert!(stderr.contains("field local_date"), "{stderr}");

    // A batch: one stored, one refused with its field; the exit code says so.
    let batch = r#"{"requests":[
        {"requestId":"b1","session":{"triggerPoint":"triggerPoints/quadratus_lumborum_superficial",
         "tool":"tools/lacrosse_ball","side":"SIDE_LEFT","pressure":5,"durationSeconds":200,
         "performTime":"2026-11-01T09:00:00Z"}},
        {"requestId":"b2","session":{"triggerPoint":"triggerPoints/quadratus_lumborum_superficial",
         "tool":"tools/lacrosse_ball","side":"SIDE_LEFT","pressure":12,"durationSeconds":200,
         "performTime":"2026-11-01T09:00:00Z"}}]}"#;
    let file = up.config.path().join("batch.json");
    std::fs::write(&file, batch).unwrap();
    let out = knotwork(&up, &["log-batch", file.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert!(!out.status.success());
    assert!(stdout.contains("#0 logged"), "{stdout}");
    assert!(stdout.contains("requests[1].session.pressure"), "{stdout}");

    // Export, then delete my data.
    let export = json(&up, &["export"]);
    assert_eq!(export["export"]["userId"], "dave");
    assert_eq!(export["export"]["sessions"].as_array().unwrap().len(), 3);
    let stderr = fails(&up, &["delete-my-data"]);
    assert!(stderr.contains("--yes"), "{stderr}");
    let deleted = json(&up, &["delete-my-data", "--yes"]);
    assert_eq!(
        deleted["sessionsDeleted"], "3",
        "int64 is a string in proto3 JSON"
    );
    assert!(ok(&up, &["sessions"]).contains("no sessions yet"));

    // logout forgets the token.
    assert!(ok(&up, &["logout"]).contains("signed out"));
    assert!(!file.with_file_name("token").exists());
    let stderr = fails(&up, &["sessions"]);
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
}

/// Stops `knotwork up` with SIGTERM and hands back its data folder.
fn stop(mut up: Up) -> tempfile::TempDir {
    let pid = up.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while up.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "knotwork up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    up.data.take().unwrap()
}

#[test]
fn backup_of_a_running_shard_then_restore_into_the_stopped_one() {
    let up = start();
    for i in 0..3 {
        ok(
            &up,
            &[
                "log",
                "--user",
                "erin",
                "--point",
                "quadratus_lumborum_superficial",
                "--tool",
                "lacrosse_ball",
                "--request-id",
                &format!("b{i}"),
            ],
        );
    }
    let backups = tempfile::tempdir().unwrap();
    let out = ok(
        &up,
        &[
            "backup",
            "--shard",
            &up.session,
            "--out",
            backups.path().to_str().unwrap(),
            "--keep",
            "2",
        ],
    );
    assert!(out.contains("rows in"), "{out}");
    let files: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].to_str().unwrap().to_owned();
    // Written after the backup: gone after the restore.
    ok(
        &up,
        &[
            "log",
            "--user",
            "erin",
            "--point",
            "quadratus_lumborum_superficial",
            "--tool",
            "lacrosse_ball",
            "--request-id",
            "late",
        ],
    );
    let session_dir = up.data.as_ref().unwrap().path().join("session");
    let dir = session_dir.to_str().unwrap().to_owned();
    // Refused while the shard runs.
    let stderr = fails(&up, &["restore", "--from", &file, "--data-dir", &dir]);
    assert!(stderr.contains("stop the shard"), "{stderr}");
    // A wrong credential is refused by the shard.
    let out = knotwork(
        &up,
        &[
            "backup",
            "--shard",
            &up.session,
            "--out",
            backups.path().to_str().unwrap(),
            "--internal-token",
            "wrong",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).1.contains("UNAUTHENTICATED"), "{out:?}");

    let data = stop(up);
    let out = Command::new(BIN)
        .args(["restore", "--from", &file, "--data-dir", &dir])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("restored 1 users and 3 sessions"),
        "{stdout}"
    );
    let up = start_in(data);
    let sessions = json(&up, &["sessions", "--user", "erin"]);
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        3,
        "{sessions}"
    );
}
