//! A run stopped by a signal, or a suite by its server's end, still reports
//! what it measured. The signals: Ctrl-C (SIGINT), and SIGTERM, which
//! `kill`, `timeout`, `docker stop` and a CI job's time limit send. The
//! real binaries, as processes.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server_process::{free_addr, Server};
use common::{serial, temp_dir};
use wsbench_loadgen::results::schema::read_json;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

/// Waits until `ready` holds (at most 30 s).
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to `child`, and its exit code and stderr once it is gone
/// (at most 30 s: a loadgen that ignores the signal fails the test).
fn signal_and_wait(mut child: Child, signal: &str) -> (Option<i32>, String) {
    let sent = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the loadgen did not end within 30 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn a_signalled_run_reports(signal: &str, name: &str) {
    let _turn = serial();
    let server = Server::start(free_addr());
    let dir = temp_dir(name);
    let (json, hlog) = (dir.join("run.json"), dir.join("run.hlog"));
    // 30 s asked for: only the signal ends it within the test's time.
    let child = Command::new(BIN)
        .args(["run", &server.url(), "-m", "echo", "-c", "4", "-r", "400", "-w", "0s", "-d", "30s", "-q"])
        .arg("--json")
        .arg(&json)
        .arg("--hlog")
        .arg(&hlog)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Connected, and a second of load measured.
    wait_for("the loadgen's connections", || server.connections_total() >= 4);
    std::thread::sleep(Duration::from_millis(1200));
    let (code, stderr) = signal_and_wait(child, signal);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let r = read_json(&json).unwrap_or_else(|e| panic!("{signal}: no result: {e}\n{stderr}"));
    assert_eq!(r.outcome.stopped_early.as_deref(), Some("interrupted"));
    assert!(r.counters.messages_received >= 200, "{:?}", r.counters);
    assert_eq!(r.counters.connections_opened, 4);
    let log = std::fs::read_to_string(&hlog).unwrap();
    assert!(log.lines().any(|l| !l.starts_with('#') && l.contains(',')), "{log}");
}

#[test]
fn sigterm_stops_a_run_which_reports_what_it_measured() {
    a_signalled_run_reports("-TERM", "interrupt-term");
}

#[test]
fn ctrl_c_stops_a_run_which_reports_what_it_measured() {
    a_signalled_run_reports("-INT", "interrupt-int");
}

/// A suite of one scenario "a" (1 s, 3 repeats, `extra` arguments after),
/// started in a fresh directory and waited for until its second repeat has
/// begun (its interval log open); the child, and its --out directory.
fn suite_in_its_second_repeat(name: &str, extra: &[&str]) -> (Child, std::path::PathBuf) {
    let dir = temp_dir(name);
    let file = dir.join("scenarios.toml");
    std::fs::write(
        &file,
        "[[scenario]]\nname = \"a\"\nconnections = 2\nrate = 200\nmode = \"echo\"\nduration = \"1s\"\n\
         warmup = 0\nallow_loadgen_limit = true\n",
    )
    .unwrap();
    let out = dir.join("out");
    let child = Command::new(BIN)
        .arg("suite")
        .arg("--scenarios")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(["--repeat", "3", "-q"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the second repeat", || Path::new(&out.join("a.r2.hlog")).exists());
    (child, out)
}

#[test]
fn sigterm_during_a_suite_keeps_the_repeats_completed() {
    let _turn = serial();
    let (child, out) = suite_in_its_second_repeat("interrupt-suite", &[]);
    let (code, stderr) = signal_and_wait(child, "-TERM");
    assert_eq!(code, Some(130), "{stderr}");
    let r = read_json(&out.join("a.json")).unwrap_or_else(|e| panic!("no a.json: {e}\n{stderr}"));
    assert!(r.counters.messages_received > 0, "{:?}", r.counters);
    assert!(!out.join("a.r2.json.part").exists(), "the cut-short repeat's part is left");
}

/// A suite whose target goes away for good: the repeats completed until
/// then are written, and the error is told (exit 1), rather than every
/// result lost.
#[test]
fn a_suite_whose_server_dies_keeps_what_it_measured() {
    let _turn = serial();
    let server = Server::start(free_addr());
    let (child, out) = suite_in_its_second_repeat("suite-server-gone", &[&server.url()]);
    server.kill();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    let r = read_json(&out.join("a.json")).unwrap_or_else(|e| panic!("no a.json: {e}\n{stderr}"));
    assert!(r.counters.messages_received > 0, "{:?}", r.counters);
}
