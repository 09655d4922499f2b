//! A panic is logged in the service's log format, in the span it happened
//! in, and the standard library's text never reaches stderr: with
//! `--log-format json` every line a collector reads is JSON.
//!
//! The panic hook is process-wide, so this test (no libtest harness) runs
//! itself again as a child that installs the logging and panics, and reads
//! the child's output.

use std::process::Command;

use knotwork_runtime::telemetry::{LogArgs, LogFormat, start};

/// Set in the child's environment.
const CHILD: &str = "KNOTWORK_PANIC_LOG_CHILD";

fn main() {
    if std::env::var_os(CHILD).is_some() {
        child();
    } else {
        parent();
    }
}

/// Logs JSON, then panics twice: inside a call's span (caught, as the
/// services' panic layer does) and on a thread of its own.
fn child() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt = rt.enter();
    let args = LogArgs {
        log_format: LogFormat::Json,
        ..LogArgs::default()
    };
    let _telemetry = start(&args, "panic-log-test", None);
    let span = tracing::info_span!("call", method = "/knotwork.test.v1.Test/Boom");
    let caught =
        span.in_scope(|| std::panic::catch_unwind(|| panic!("the handler broke on item {}", 42)));
    assert!(caught.is_err());
    let thread = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| panic!("a thread's own bug"))
        .expect("thread");
    assert!(thread.join().is_err());
    tracing::info!("child done");
}

fn parent() {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD, "1")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked"),
        "the standard hook's text reached stderr:\n{stderr}"
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let panic_event = |payload: &str| {
        events
            .iter()
            .find(|e| e["panic.payload"] == payload)
            .unwrap_or_else(|| panic!("no event for {payload:?} in:\n{stdout}"))
    };

    let handler = panic_event("the handler broke on item 42");
    assert_eq!(handler["level"], "ERROR");
    let location = handler["panic.location"].as_str().expect("a location");
    assert!(location.contains("panic_log.rs"), "{location}");
    assert_eq!(handler["span"]["name"], "call", "{handler}");
    assert_eq!(handler["span"]["method"], "/knotwork.test.v1.Test/Boom");
    // Without RUST_BACKTRACE, the event says how to get one.
    assert!(
        handler["panic.note"]
            .as_str()
            .is_some_and(|n| n.contains("RUST_BACKTRACE")),
        "{handler}"
    );

    let thread = panic_event("a thread's own bug");
    assert_eq!(thread["level"], "ERROR");
    assert!(thread.get("span").is_none(), "outside any span: {thread}");
    assert!(events.iter().any(|e| e["message"] == "child done"));
    println!("panic_log: 2 panics logged as JSON events, stderr clean");
}
