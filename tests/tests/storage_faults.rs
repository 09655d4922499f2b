//! Storage faults under the session service (real binaries): a database
//! file with a destroyed header or cut in half, a data folder on a full
//! disk and on a read-only filesystem (small tmpfs mounts made by the test;
//! skipped with a printed reason where mounting is not allowed). The
//! service must refuse to start or refuse writes with a clear error, never
//! report SERVING on storage it cannot use, never serve wrong data, and
//! never lose what was already stored.

// Helpers here are test code too: a panic is a failed assertion (as
// clippy.toml allows inside #[test] functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use knotwork_proto::session::v1 as ses;
use knotwork_proto::session::v1::session_service_client::SessionServiceClient;
use knotwork_tests::procs::{self, Proc};

const SESSION: &str = "knotwork.session.v1.SessionService";

/// How a start on damaged storage ended.
#[derive(Debug, PartialEq)]
enum Start {
    /// The process exited (non-zero) without serving.
    Refused(i32),
    /// It reports SERVING.
    Serving,
}

async fn start_outcome(p: &mut Proc, limit: Duration) -> Start {
    let started = Instant::now();
    loop {
        if !p.running() {
            // Reap and read the code.
            let status = p.wait_exit(Duration::from_secs(1));
            return Start::Refused(status.and_then(|s| s.code()).unwrap_or(-1));
        }
        if procs::serving(&p.url(), SESSION).await {
            return Start::Serving;
        }
        assert!(
            started.elapsed() < limit,
            "{}: neither serving nor exited",
            p.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `n` sessions for `user`; returns their (notes, name).
async fn write(url: &str, tool: &str, user: &str, n: usize) -> Vec<(String, String)> {
    let mut c = SessionServiceClient::new(procs::channel(url, Duration::from_secs(10)));
    let mut out = Vec::new();
    for i in 0..n {
        let marker = format!("{user}-{i}");
        let r = c
            .log_session(procs::internal(
                user,
                ses::LogSessionRequest {
                    request_id: marker.clone(),
                    session: Some(procs::record(tool, i as u64, &marker)),
                },
            ))
            .await
            .expect("write")
            .into_inner();
        out.push((marker, r.session.unwrap().name));
    }
    out
}

async fn stored(url: &str, user: &str) -> Result<Vec<(String, String)>, tonic::Status> {
    let mut c = SessionServiceClient::new(procs::channel(url, Duration::from_secs(10)));
    let x = c
        .export_user_data(procs::internal(user, ses::ExportUserDataRequest {}))
        .await?
        .into_inner()
        .export
        .unwrap();
    let mut v: Vec<(String, String)> = x.sessions.into_iter().map(|s| (s.notes, s.name)).collect();
    v.sort();
    Ok(v)
}

fn session_proc(root: &Path, data: &Path, catalog_url: &str, log: &str) -> Proc {
    let mut env = procs::base_env(&[]);
    let addr = procs::free_addr();
    env.insert("KNOTWORK_SESSION_LISTEN".into(), addr.clone());
    env.insert("KNOTWORK_CATALOG_URL".into(), catalog_url.to_owned());
    env.insert(
        "KNOTWORK_SESSION_DATA_DIR".into(),
        data.display().to_string(),
    );
    Proc::spawn("session", "knotwork-session", env, addr, root.join(log))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_database_files_are_refused_not_served() {
    let root = tempfile::tempdir().unwrap();
    let catalog = procs::catalog(root.path(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let good = root.path().join("good");
    let mut s = session_proc(root.path(), &good, &catalog.url(), "good.log");
    procs::wait_serving(&s.url(), SESSION, Duration::from_secs(30)).await;
    let mut written = write(&s.url(), &tool, "disk-user", 40).await;
    written.sort();
    s.terminate(Duration::from_secs(15)).expect("clean stop");
    let file = good.join("session.redb");
    let bytes = std::fs::read(&file).unwrap();

    let mut report = Vec::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("header overwritten with garbage", {
            let mut b = bytes.clone();
            for x in b.iter_mut().take(4096) {
                *x = 0xA5;
            }
            b
        }),
        ("file cut in half", bytes[..bytes.len() / 2].to_vec()),
        ("file of zero bytes... plus one", vec![0u8]),
        ("every 4th KiB page flipped", {
            let mut b = bytes.clone();
            let mut i = 4096;
            while i < b.len() {
                b[i] ^= 0xFF;
                i += 4 * 4096;
            }
            b
        }),
    ];
    for (name, damaged) in cases {
        let dir: PathBuf = root.path().join(name.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("session.redb"), &damaged).unwrap();
        let mut p = session_proc(root.path(), &dir, &catalog.url(), "damaged.log");
        match start_outcome(&mut p, Duration::from_secs(20)).await {
            Start::Refused(code) => {
                assert_ne!(code, 0, "{name}: exited 0 on a damaged file");
                report.push(format!("{name}: refused to start (exit {code})"));
            }
            Start::Serving => {
                // Serving after a repair is acceptable only with right data:
                // whatever it serves must be what was written.
                let got = stored(&p.url(), "disk-user").await;
                match got {
                    Ok(got) => {
                        for g in &got {
                            assert!(
                                written.contains(g),
                                "{name}: served a record never written: {g:?}"
                            );
                        }
                        report.push(format!(
                            "{name}: started and serves {} of {} records, none wrong",
                            got.len(),
                            written.len()
                        ));
                    }
                    Err(e) => report.push(format!(
                        "{name}: started; reads refused with {:?}",
                        e.code()
                    )),
                }
                p.kill();
            }
        }
    }
    // The undamaged file still holds everything.
    let mut p = session_proc(root.path(), &good, &catalog.url(), "good.log");
    procs::wait_serving(&p.url(), SESSION, Duration::from_secs(30)).await;
    assert_eq!(stored(&p.url(), "disk-user").await.unwrap(), written);
    p.kill();
    println!("damaged database files:\n  {}", report.join("\n  "));
}

fn mount_tmpfs(at: &Path, size: &str) -> Result<(), String> {
    std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn full_disk_refuses_writes_then_recovers() {
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("mnt");
    if let Err(e) = mount_tmpfs(&mnt, "8m") {
        println!("SKIPPED full-disk and read-only storage faults: cannot mount a tmpfs here ({e})");
        return;
    }
    let _mount = Mount(mnt.clone());
    let catalog = procs::catalog(root.path(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let data = mnt.join("session");
    let mut s = session_proc(root.path(), &data, &catalog.url(), "full.log");
    procs::wait_serving(&s.url(), SESSION, Duration::from_secs(30)).await;
    let mut before = write(&s.url(), &tool, "full-user", 10).await;
    before.sort();

    // Fill the disk.
    let filler = mnt.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let mut c = SessionServiceClient::new(procs::channel(&s.url(), Duration::from_secs(10)));
    let mut refused = 0;
    let mut codes = Vec::new();
    for i in 0..20 {
        let r = c
            .log_session(procs::internal(
                "full-user",
                ses::LogSessionRequest {
                    request_id: format!("full-{i}"),
                    session: Some(procs::record(
                        &tool,
                        1,
                        &format!("full-{i}-{}", "n".repeat(1500)),
                    )),
                },
            ))
            .await;
        if let Err(e) = r {
            codes.push(e.code());
            assert!(
                !e.message().contains("/"),
                "error leaks a path: {}",
                e.message()
            );
            refused += 1;
        }
    }
    let health_while_full = procs::serving(&s.url(), SESSION).await;
    assert!(s.running(), "the service crashed on a full disk");
    // Reads either answer with the old data intact or are refused while the
    // store reopens (redb needs a reopen after an I/O error, and the reopen
    // may itself need space): never wrong data.
    if let Ok(now) = stored(&s.url(), "full-user").await {
        for b in &before {
            assert!(now.contains(b), "lost {b:?} on a full disk");
        }
    }
    // Space comes back: writes work again, nothing lost.
    std::fs::remove_file(&filler).unwrap();
    let mut recovered = false;
    for i in 0..50 {
        if c.log_session(procs::internal(
            "full-user",
            ses::LogSessionRequest {
                request_id: format!("after-full-{i}"),
                session: Some(procs::record(&tool, 1, &format!("after-full-{i}"))),
            },
        ))
        .await
        .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Once space is back, everything stored before the disk filled is there.
    let after = stored(&s.url(), "full-user")
        .await
        .expect("reads after recovery");
    for b in &before {
        assert!(after.contains(b), "lost {b:?} across the full disk");
    }
    let log = s.log_text();
    s.terminate(Duration::from_secs(15));
    println!(
        "full disk: {refused}/20 writes refused ({codes:?}), health while full: {}, recovered after space freed: {recovered}, \
         error logged: {}",
        if health_while_full {
            "SERVING"
        } else {
            "NOT_SERVING"
        },
        log.contains("write batch failed")
    );
    let mut errors: Vec<String> = log
        .lines()
        .filter(|l| l.contains("write batch failed"))
        .filter_map(|l| l.split("\"error\":\"").nth(1))
        .map(|e| e.split('"').next().unwrap_or_default().to_owned())
        .collect();
    errors.dedup();
    println!("storage errors logged: {errors:?}");
    assert!(recovered, "writes did not recover once space was freed");
    // A refused write is retryable (its request id makes the retry exact):
    // UNAVAILABLE, never INTERNAL.
    assert!(
        codes.iter().all(|c| *c == tonic::Code::Unavailable),
        "a full disk answered {codes:?}"
    );
    assert!(
        !health_while_full,
        "health reported SERVING while writes failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_storage_is_refused_or_read_only() {
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("mnt");
    if let Err(e) = mount_tmpfs(&mnt, "8m") {
        println!("SKIPPED read-only storage fault: cannot mount a tmpfs here ({e})");
        return;
    }
    let _mount = Mount(mnt.clone());
    let catalog = procs::catalog(root.path(), &[]);
    procs::wait_serving(&catalog.url(), "", Duration::from_secs(30)).await;
    let tool = procs::point_tool(&catalog.url()).await;
    let data = mnt.join("session");
    let mut s = session_proc(root.path(), &data, &catalog.url(), "rw.log");
    procs::wait_serving(&s.url(), SESSION, Duration::from_secs(30)).await;
    let before = write(&s.url(), &tool, "full-user", 10).await;
    s.terminate(Duration::from_secs(15)).expect("clean stop");
    // Read-only filesystem: remount and start.
    let ro = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ro {
        println!("SKIPPED read-only storage: cannot remount read-only");
        return;
    }
    let mut p = session_proc(root.path(), &data, &catalog.url(), "ro.log");
    let outcome = start_outcome(&mut p, Duration::from_secs(20)).await;
    match &outcome {
        Start::Refused(code) => assert_ne!(*code, 0),
        Start::Serving => {
            // Serving read-only is acceptable if reads are right and writes
            // are refused.
            let got = stored(&p.url(), "full-user").await.expect("reads");
            for b in &before {
                assert!(got.contains(b));
            }
            let w = SessionServiceClient::new(procs::channel(&p.url(), Duration::from_secs(5)))
                .log_session(procs::internal(
                    "full-user",
                    ses::LogSessionRequest {
                        request_id: "ro-1".into(),
                        session: Some(procs::record(&tool, 1, "ro")),
                    },
                ))
                .await;
            assert!(w.is_err(), "a write on a read-only disk was acknowledged");
        }
    }
    println!("read-only data folder: {outcome:?}");
    p.kill();
}
