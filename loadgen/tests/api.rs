//! The API load (`--message`, `--match`, `--expect`, `--unsolicited`)
//! through the real binary against a JSON-RPC server of the tests'
//! ([`api_server`]): replies matched to their requests in any order, the
//! latency of a known delay, unsolicited messages, missing replies, and a
//! `--match` that finds nothing.

mod api_server;
mod common;

use std::process::{Command, Output};
use std::time::Duration;

use api_server::{Counts, Rpc, RpcServer};
use common::{serial, temp_dir};
use wsbench_loadgen::results::schema::{read_json, RunResult, Status};
use wsbench_loadgen::results::stats::Series;

const CALL: &str = r#"{"jsonrpc":"2.0","id":{{seq}},"method":"echo","params":{"c":{{conn}},"pad":"{{rand:8}}"}}"#;

/// Runs the binary with `args` and `--json`; its output and its result.
fn run(name: &str, args: &[&str]) -> (Output, RunResult) {
    let _turn = serial();
    let json = temp_dir(name).join("run.json");
    let o = Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen"))
        .args(["run", "-q", "--json", json.to_str().unwrap()])
        .args(args)
        .output()
        .expect("the binary runs");
    let r = read_json(&json).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o, r)
}

/// Spawns an RPC server that answers as `rpc` says, and runs the binary
/// against it with `--message CALL`, `--match json:/id` and `args`; the
/// server (for its counts), the binary's output and its result.
fn run_rpc(name: &str, rpc: Rpc, args: &[&str]) -> (RpcServer, Output, RunResult) {
    let server = api_server::spawn(rpc);
    let url = server.url();
    let mut all = vec![url.as_str(), "--message", CALL, "--match", "json:/id"];
    all.extend_from_slice(args);
    let (o, r) = run(name, &all);
    (server, o, r)
}

/// Values of series `s` between `lo` and `hi` µs.
fn between(r: &RunResult, s: Series, lo: u64, hi: u64) -> u64 {
    let h = r.histogram(s).decode().unwrap();
    h.iter_recorded().filter(|v| (lo..=hi).contains(&v.value_iterated_to())).map(|v| v.count_at_value()).sum()
}

/// The delay held against the measured p50. 50 ms, not 20: on the shared
/// 2-vCPU VM these tests run on, a debug loadgen and a debug server add a
/// fixed 0.2-0.8 ms (vCPU wake-ups after each idle wait, debug code) that
/// the tolerance must cover: 2 % of 20 ms (0.4 ms) does not, 2 % of 50 ms
/// does. Measured there: p50 20.43-20.8 ms for 20 ms.
const DELAY_MS: u64 = 50;

#[test]
fn a_known_delay_is_measured_within_2_percent() {
    let rpc = Rpc { delay: Duration::from_millis(DELAY_MS), ..Rpc::default() };
    let args = ["-c", "2", "-d", "3s", "-w", "0.5s", "--expect", "json:/result/echo"];
    let (_server, o, r) = run_rpc("api-latency", rpc, &args);
    let c = &r.counters;
    assert!(o.status.success(), "{:?} {:?} {:?}", o.status, r.outcome, r.samples);
    assert_eq!(c.errors(), 0, "{c:?}");
    assert_eq!(r.target.mode, "api");
    assert!(c.messages_received >= 100, "{c:?}");
    let p50 = r.histogram(Series::RttUncorrected).percentile(50.0).unwrap();
    let delay_us = DELAY_MS * 1000;
    let tolerance = (delay_us * 2 / 100).max(50);
    assert!(p50.abs_diff(delay_us) <= tolerance, "p50 {p50} µs for a {delay_us} µs delay (± {tolerance})");
}

#[test]
fn replies_in_any_order_match_their_requests() {
    // Odd ids wait 10 ms more: with 4 in flight, even replies overtake odd ones.
    let rpc = Rpc { delay: Duration::from_millis(20), odd_extra: Duration::from_millis(10), ..Rpc::default() };
    let (server, o, r) = run_rpc("api-order", rpc, &["-c", "2", "-p", "4", "-d", "2s", "-w", "0.5s"]);
    let c = &r.counters;
    assert!(o.status.success(), "{:?} {:?}", r.outcome, r.samples);
    assert_eq!(c.errors(), 0, "out of order is no error: {c:?}");
    let s = &server.counts;
    assert!(Counts::get(&s.overtaking) > 50, "the server reordered: {s:?}");
    assert_eq!(c.replies_received_total, Counts::get(&s.replies), "each reply settled a request");
    assert_eq!(c.messages_sent_total, Counts::get(&s.requests));
    // Each reply is timed against its own request: two bands, 20 and 30 ms
    // (plus this machine's 0.2-0.8 ms, see DELAY_MS, and up to a few ms
    // more when other work shares its two cores), half each. Matched to
    // another request in flight, a reply would land between or outside them.
    let n = c.messages_received;
    let fast = between(&r, Series::RttUncorrected, 20_000, 25_500);
    let slow = between(&r, Series::RttUncorrected, 30_000, 35_500);
    assert!(fast + slow >= n * 90 / 100, "{fast} + {slow} of {n} in the two bands");
    assert!(fast.abs_diff(slow) <= n / 10, "{fast} vs {slow}: half each");
}

#[test]
fn unknown_ids_and_notifications_are_unsolicited() {
    let rpc = Rpc { notify_every: 5, unknown_every: 7, ..Rpc::default() };
    let args = ["-c", "2", "-p", "2", "-d", "1s", "-w", "0s"];
    let (server, o, r) = run_rpc("api-unsolicited", rpc.clone(), &args);
    let s = &server.counts;
    let pushed = Counts::get(&s.notifications) + Counts::get(&s.unknown);
    assert!(pushed > 20, "{s:?}");
    assert_eq!(r.counters.unsolicited_total, pushed);
    assert!(r.counters.unsolicited > 0 && r.throughput.unsolicited_msgs_per_s.unwrap() > 0.0);
    assert_eq!(r.counters.errors(), 0, "unsolicited is no error by default");
    assert!(o.status.success(), "{:?}", r.outcome);

    let (server, o, r) = run_rpc("api-unsolicited-error", rpc, &[&args[..], &["--unsolicited", "error"]].concat());
    let s = &server.counts;
    let pushed = Counts::get(&s.notifications) + Counts::get(&s.unknown);
    assert_eq!(r.counters.reply_errors.unsolicited, pushed);
    assert_eq!(r.outcome.status(), Status::Fail);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_request_never_answered_is_missing() {
    let rpc = Rpc { drop_every: 10, ..Rpc::default() };
    let args = ["-c", "2", "-p", "4", "-d", "1s", "-w", "0s", "--drain-timeout", "300ms"];
    let (server, o, r) = run_rpc("api-missing", rpc, &args);
    let dropped = Counts::get(&server.counts.dropped);
    assert!(dropped > 5, "{:?}", server.counts);
    assert_eq!(r.counters.reply_errors.missing, dropped);
    assert_eq!(r.counters.reply_errors.total(), dropped, "{:?}", r.counters.reply_errors);
    assert_eq!(r.counters.unsolicited_total, 0);
    assert_eq!(o.status.code(), Some(1), "{:?}", r.outcome);
}

#[test]
fn a_match_that_finds_nothing_fails_and_says_so() {
    let server = api_server::spawn(Rpc::default());
    let url = server.url();
    let (o, r) = run(
        "api-wrong-match",
        &[
            &url,
            "-c",
            "2",
            "-d",
            "1s",
            "-w",
            "0s",
            "--drain-timeout",
            "300ms",
            "--message",
            CALL,
            "--match",
            "json:/ID",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r.outcome.status(), Status::Fail);
    assert_eq!(r.counters.messages_received, 0);
    assert!(r.counters.reply_errors.missing > 0, "the requests went unanswered: {:?}", r.counters);
    let why = r.outcome.reasons.join("; ");
    assert!(why.contains("arrived unmatched") && why.contains("--match"), "{why}");
}

#[test]
fn ids_unique_in_the_run_correlate_too() {
    let server = api_server::spawn(Rpc::default());
    let url = server.url();
    let call = r#"{"jsonrpc":"2.0","id":{{id}},"method":"x"}"#;
    let (o, r) =
        run("api-run-id", &[&url, "-c", "3", "-d", "1s", "-w", "0s", "--message", call, "--match", "json:/id"]);
    assert!(o.status.success(), "{:?}", r.outcome);
    assert_eq!(r.counters.errors(), 0);
    assert_eq!(r.counters.unsolicited_total, 0);
}

/// Connections replaced every 30 messages each start their `{{seq}}` at 1
/// again; `{{id}}` numbers the slot's messages, so it stays unique in the
/// run (199 requests carried 60 distinct ids before), and replies still
/// match their requests by it.
#[test]
fn ids_stay_unique_when_connections_are_replaced() {
    let server = api_server::spawn(Rpc::default());
    let url = server.url();
    let call = r#"{"jsonrpc":"2.0","id":{{id}},"method":"x"}"#;
    let args = [&url, "-c", "2", "-r", "200", "-d", "1s", "-w", "0s", "--message", call, "--match", "json:/id"];
    let (o, r) = run("api-run-id-churn", &[&args[..], &["--messages-per-conn", "30"]].concat());
    assert!(o.status.success(), "{:?}", r.outcome);
    let requests = Counts::get(&server.counts.requests);
    assert!(requests > 150, "{requests} requests");
    assert_eq!(Counts::get(&server.counts.repeated_ids), 0, "an id carried twice among {requests} requests");
    assert_eq!(r.counters.errors(), 0, "every reply matched its request: {:?}", r.counters);
    assert!(r.churn.as_ref().is_some_and(|c| c.tally.closed_at_limit >= 4), "{:?}", r.churn);
}

#[test]
fn failed_expectations_are_corrupt_and_shown() {
    let args = ["-c", "1", "-d", "1s", "-w", "0s", "--expect", "json:/result=pong"];
    let (_server, o, r) = run_rpc("api-expect", Rpc::default(), &args);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r.counters.reply_errors.corrupt, r.counters.replies_received_total);
    let shown: Vec<_> = r.samples.iter().filter(|s| s.contains("fails --expect")).collect();
    assert_eq!(shown.len(), 3, "the first three: {:?}", r.samples);
    assert!(shown[0].contains("/result is {"), "{shown:?}");
}
