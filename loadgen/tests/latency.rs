//! Latency truthfulness against servers with known timing: a fixed reply
//! delay shows up as the RTT; a stall shows up in the corrected RTT and not
//! in the uncorrected one (coordinated omission); a saturated server's
//! throughput is what it answered, not what was asked of it.

mod common;

use std::time::Duration;

use common::{assert_clean, run, spawn_server, Behavior};
use wsbench_loadgen::results::stats::Series;

#[test]
fn rtt_matches_a_known_delay() {
    let server = spawn_server(Behavior::Echo { delay: Duration::from_millis(40) });
    let url = server.url();
    let r = run(&[&url, "--mode", "echo", "-c", "20", "-d", "1.5", "-w", "0.3", "-q"]);
    assert_clean(&r, 20);
    let rtt = r.histogram(Series::RttUncorrected);
    let (p50, p99) = (rtt.percentile(50.0).unwrap(), rtt.percentile(99.0).unwrap());
    assert!((40_000..=45_000).contains(&p50), "p50 {p50} µs for a 40 ms delay");
    assert!((40_000..=60_000).contains(&p99), "p99 {p99} µs for a 40 ms delay");
    assert!(rtt.min >= 40_000, "no reply before the delay: min {}", rtt.min);
    // Closed loop, K=1: 20 connections at ~25 round trips/s each.
    let rate = r.throughput.received_msgs_per_s;
    assert!((400.0..=510.0).contains(&rate), "{rate} msg/s");

    // Open loop below the delay's capacity: the same RTT, corrected or not.
    let r = run(&[&url, "--mode", "echo", "-c", "20", "--rate", "200", "-d", "1.5", "-w", "0.3", "-q"]);
    assert_clean(&r, 20);
    for s in [Series::RttCorrected, Series::RttUncorrected] {
        let p50 = r.histogram(s).percentile(50.0).unwrap();
        assert!((40_000..=45_000).contains(&p50), "{s:?} p50 {p50} µs for a 40 ms delay");
    }
}

#[test]
fn a_stall_shows_in_the_corrected_rtt_only() {
    // Replies are held for 800 ms, starting 1 s after the first message.
    let server =
        spawn_server(Behavior::Stall { after: Duration::from_millis(1000), stall: Duration::from_millis(800) });
    let url = server.url();
    // wrk2's model: a schedule of 100 msg/s per connection, one in flight.
    let r = run(&[&url, "--mode", "echo", "-c", "10", "--rate", "1000", "--pipeline", "1", "-d", "3", "-w", "0", "-q"]);
    assert_clean(&r, 10);
    let corrected = r.histogram(Series::RttCorrected);
    let uncorrected = r.histogram(Series::RttUncorrected);
    // ~80 of every ~300 messages per connection were due during the stall.
    let (c90, c99) = (corrected.percentile(90.0).unwrap(), corrected.percentile(99.0).unwrap());
    let u99 = uncorrected.percentile(99.0).unwrap();
    assert!(c99 >= 600_000, "corrected p99 {c99} µs should show the 800 ms stall");
    assert!(c90 >= 200_000, "corrected p90 {c90} µs should show the stall");
    assert!(u99 < 50_000, "uncorrected p99 {u99} µs should hide the stall");
    assert!(uncorrected.max >= 700_000, "the one message per connection in flight saw it: max {}", uncorrected.max);
    // The schedule was kept: the messages held back were sent late, not dropped.
    let sent = r.counters.messages_sent;
    assert!((2700..=3300).contains(&sent), "{sent} sent in 3 s at 1000/s");
    assert!(r.histogram(Series::SendLag).max >= 600_000);
}

#[test]
fn a_saturated_servers_throughput_is_what_it_answered_in_the_window() {
    // Each connection answers one message per 50 ms: 40 msg/s over two.
    let server = spawn_server(Behavior::Echo { delay: Duration::from_millis(50) });
    let url = server.url();
    // 100 msg/s for 1 s: the server answers 40 of them in the window, the
    // rest in the drain (1.5 s more at 40/s).
    let r =
        run(&[&url, "--mode", "echo", "-c", "2", "--rate", "100", "-d", "1", "-w", "0", "--drain-timeout", "5s", "-q"]);
    let c = &r.counters;
    assert_eq!((c.errors(), c.messages_received), (0, c.messages_sent), "every message answered, late: {c:?}");
    let rate = r.throughput.received_msgs_per_s;
    assert!((25.0..=50.0).contains(&rate), "{rate} msg/s received, from a server answering 40 msg/s");
    assert!(r.throughput.sent_msgs_per_s >= 90.0, "{:?}", r.throughput);
}

#[test]
fn a_pipeline_cap_waiting_on_a_stalled_server_is_not_the_loadgens_limit() {
    // Replies held for 600 ms from 400 ms on: with one message in flight
    // per connection, the schedule's next messages wait behind the cap.
    let server = spawn_server(Behavior::Stall { after: Duration::from_millis(400), stall: Duration::from_millis(600) });
    let url = server.url();
    let r = run(&[&url, "--mode", "echo", "-c", "4", "--rate", "400", "-p", "1", "-d", "2", "-w", "0", "-q"]);
    assert!(r.histogram(Series::SendLag).percentile(99.0).unwrap() >= 300_000, "the sends waited on the stall");
    assert!(!r.loadgen.limited && r.loadgen.findings.is_empty(), "{:?}", r.loadgen);
    assert!(r.loadgen.held_back.iter().any(|h| h.contains("--pipeline 1 held messages back")), "{:?}", r.loadgen);
}
