//! Connection churn and reconnect storms, end to end: the loadgen binary
//! against the real wsbench-server binary, each a process of its own.
//! `--messages-per-conn` and `--conn-lifetime` against the server's own
//! count of connections; `--reconnect` across a server killed and started
//! again on the same port (and the same scenario failing without it), and
//! a server killed for good; the churn flags refused in one line.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wsbench_loadgen::results::schema::{read_json, RunResult, Status};

mod common;

use common::server_process::{free_addr, Server};

const LOADGEN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

/// Runs the loadgen binary with `args` and `--json`; returns its output
/// and the result.
fn loadgen(args: &[&str], name: &str) -> (Output, RunResult) {
    let json = common::temp_dir(name).join("r.json");
    let started = Instant::now();
    let out = Command::new(LOADGEN)
        .args(["run", "-q", "--json", json.to_str().unwrap()])
        .args(args)
        .output()
        .expect("the loadgen runs");
    eprintln!("{name}: {:.1?}\n{}", started.elapsed(), String::from_utf8_lossy(&out.stdout));
    let result = read_json(&json).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out, result)
}

/// Every connection accounted for: opened = the slots' first + those
/// opened in place of one closed at its limit; each connection ended at
/// its limit or at the run's end (one per slot at most); every message
/// answered, no error of any kind.
fn assert_clean_churn(r: &RunResult, connections: u64) {
    let c = &r.counters;
    let churn = r.churn.as_ref().expect("a churn section");
    assert_ne!(r.outcome.status(), Status::Fail, "{:?}", r.outcome);
    assert_eq!(c.errors(), 0, "{c:?}");
    assert_eq!(c.connections_opened, connections + churn.tally.reopened, "{c:?} {churn:?}");
    assert!(churn.tally.closed_at_limit <= c.connections_opened);
    assert!(c.connections_opened - churn.tally.closed_at_limit <= connections, "{c:?} {churn:?}");
    assert_eq!(c.messages_sent_total, c.replies_received_total, "every message answered");
    assert!(churn.tally.handshakes_in_window > 0 && churn.handshakes_per_s > 0.0, "{churn:?}");
    assert!(churn.reconnect_handshake.count > 0 && churn.reconnect_connect.count > 0, "{churn:?}");
    assert_eq!(churn.tally.drops.total(), 0);
    // Each close at the limit got the server's close 1000 back.
    assert!(c.close_codes.get(&1000).copied().unwrap_or(0) >= churn.tally.closed_at_limit, "{c:?}");
}

#[test]
fn messages_per_conn_replaces_each_connection_after_n_messages() {
    let _turn = common::serial();
    let server = Server::start(free_addr());
    let before = server.connections_total();
    let n = 40u64;
    let (out, r) = loadgen(
        &[
            &server.url(),
            "--mode",
            "echo",
            "-c",
            "8",
            "-p",
            "2",
            "-d",
            "1.5",
            "-w",
            "0",
            "--messages-per-conn",
            "40",
            "--allow-loadgen-limit",
        ],
        "per-conn",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean_churn(&r, 8);
    let c = &r.counters;
    let churn = r.churn.as_ref().unwrap();
    // Exactly N per connection closed at its limit; at most N on each
    // connection the run's end closed (opened - closed_at_limit of them).
    let at_end = c.connections_opened - churn.tally.closed_at_limit;
    assert!(churn.tally.closed_at_limit >= 8, "each slot went through a few connections: {churn:?}");
    assert!(c.messages_sent_total >= n * churn.tally.closed_at_limit, "{c:?} {churn:?}");
    assert!(c.messages_sent_total <= n * churn.tally.closed_at_limit + n * at_end, "{c:?} {churn:?}");
    // The server saw every connection the loadgen opened, and the probe.
    assert_eq!(server.connections_total() - before, c.connections_opened + 1, "{c:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("closed cleanly at their limit") && stdout.contains("handshakes in the window"),
        "{stdout}"
    );
}

#[test]
fn conn_lifetime_replaces_connections_on_an_open_loop() {
    let _turn = common::serial();
    let server = Server::start(free_addr());
    let before = server.connections_total();
    let (out, r) = loadgen(
        &[
            &server.url(),
            "--mode",
            "echo",
            "-c",
            "8",
            "--rate",
            "800",
            "-d",
            "1.5",
            "-w",
            "0",
            "--conn-lifetime",
            "200ms",
            "--allow-loadgen-limit",
        ],
        "lifetime",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean_churn(&r, 8);
    let c = &r.counters;
    let churn = r.churn.as_ref().unwrap();
    // 1.5 s in lives of 200 ms: 7 per slot at most, a few at least.
    assert!(churn.tally.closed_at_limit >= 3 * 8 && churn.tally.closed_at_limit <= 8 * 8, "{churn:?}");
    assert_eq!(c.reply_errors.unsent, 0, "messages due while replacing were sent late, not dropped");
    assert_eq!(server.connections_total() - before, c.connections_opened + 1, "{c:?}");
}

#[test]
fn reconnect_rides_out_a_server_restart() {
    let _turn = common::serial();
    let addr = free_addr();
    let server = Server::start(addr);
    let restarter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        let killed = Instant::now();
        server.kill();
        std::thread::sleep(Duration::from_millis(500));
        let server = Server::start(addr);
        (server, killed.elapsed())
    });
    let url = format!("ws://{addr}/upgradews");
    let (out, r) = loadgen(
        &[
            &url,
            "--mode",
            "echo",
            "-c",
            "12",
            "-d",
            "3",
            "-w",
            "0",
            "--reconnect",
            "--reconnect-max-delay",
            "200ms",
            "--allow-loadgen-limit",
        ],
        "reconnect",
    );
    let (_server, outage) = restarter.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(r.outcome.stopped_early.is_none(), "{:?}", r.outcome);
    let c = &r.counters;
    let churn = r.churn.as_ref().expect("a churn section");
    assert_eq!(c.connections_failed(), 0, "drops are not failed connections: {c:?}");
    assert_eq!(c.reply_errors.missing, 0, "{c:?}");
    assert_eq!(churn.tally.drops.total(), 12, "every connection dropped once: {churn:?}");
    assert_eq!(churn.tally.reconnects, 12, "and back: {churn:?}");
    assert!(churn.tally.reconnect_attempts > churn.tally.reconnects, "refused while the server was down: {churn:?}");
    assert_eq!(churn.tally.reconnect_attempts, churn.tally.reconnects + churn.tally.reconnect_errors.total());
    // Closed loop, one in flight: every message answered or lost to the drop.
    assert_eq!(c.messages_sent_total, c.replies_received_total + churn.tally.lost_to_drop, "{c:?} {churn:?}");
    assert!(churn.tally.lost_to_drop <= 12);
    assert_eq!(churn.outages.len(), 1, "{churn:?}");
    let recovery = churn.outages[0].recovery_s.expect("recovered");
    assert!(!churn.not_recovered);
    assert!(recovery >= outage.as_secs_f64() - 0.05, "recovery {recovery} s, server down for {outage:?}");
    assert!(recovery < 5.0, "{recovery}");
    assert!(c.messages_received > 0);
    assert!(stdout.contains("result: PASS, with 12 connections dropped by the server"), "{stdout}");
}

#[test]
fn a_server_gone_for_good_fails_the_run_and_is_not_blamed_on_the_loadgen() {
    let _turn = common::serial();
    let addr = free_addr();
    let server = Server::start(addr);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        server.kill();
    });
    let url = format!("ws://{addr}/upgradews");
    let args = [&url, "--mode", "echo", "-c", "10", "-r", "500", "-d", "3", "-w", "0", "--reconnect"];
    let (out, r) = loadgen(&args, "gone");
    killer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r.outcome.status(), Status::Fail);
    // The schedule went unsent because the server was gone: not the
    // loadgen's limit, and its unsent messages are held against the server.
    assert!(!r.loadgen.limited && r.loadgen.findings.is_empty(), "{:?}", r.loadgen);
    assert!(r.loadgen.held_back.iter().any(|h| h.contains("10 of 10 connections failed")), "{:?}", r.loadgen);
    let reasons = r.outcome.reasons.join("; ");
    assert!(reasons.contains("not recovered") && reasons.contains("messages failed"), "{reasons}");
    assert!(r.counters.reply_errors.unsent > 0, "{:?}", r.counters);
}

#[test]
fn without_reconnect_a_restart_fails_the_run() {
    let _turn = common::serial();
    let addr = free_addr();
    let server = Server::start(addr);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        server.kill();
        std::thread::sleep(Duration::from_millis(500));
        Server::start(addr)
    });
    let url = format!("ws://{addr}/upgradews");
    let (out, r) =
        loadgen(&[&url, "--mode", "echo", "-c", "12", "-d", "3", "-w", "0", "--allow-loadgen-limit"], "no-reconnect");
    let _server = killer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r.outcome.status(), Status::Fail);
    assert_eq!(r.counters.connection_errors.total(), 12, "{:?}", r.counters);
    assert!(r.churn.is_none(), "no churn flag, no churn section");
}

#[test]
fn churn_flags_are_refused_in_one_line() {
    for (args, says) in [
        (&["--conn-lifetime", "0"][..], "--conn-lifetime must be more than 0"),
        (&["--messages-per-conn", "0"], "--messages-per-conn must be at least 1"),
        (&["--conn-lifetime", "1s", "--messages-per-conn", "5"], "cannot be used together"),
        (&["--reconnect", "--reconnect-max-delay", "0"], "--reconnect-max-delay must be more than 0"),
        (&["--reconnect-max-delay", "1s"], "--reconnect-max-delay needs --reconnect"),
    ] {
        let out = Command::new(LOADGEN).args(["run", "ws://127.0.0.1:9/x", "-q"]).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let help = Command::new(LOADGEN).args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--conn-lifetime", "--messages-per-conn", "--reconnect", "--reconnect-max-delay"] {
        assert!(help.contains(flag), "{flag} in --help");
    }
}
