//! Against the embedded wsbench server: 1,000 connections whose replies all
//! check, in each reply mode and both load models; the handshake's Host.

mod common;

use common::{assert_clean, run};
use wsbench_loadgen::results::stats::Series;

const CONNS: &str = "1000";

#[test]
fn closed_loop_every_mode() {
    for (mode, kind) in [("reply", "text"), ("echo", "binary"), ("json", "binary"), ("stream", "text")] {
        let r = run(&[
            "-c", CONNS, "--mode", mode, "--type", kind, "-p", "2", "-d", "1", "-w", "0.2", "--size", "64", "-q",
        ]);
        assert_clean(&r, 1000);
        assert_eq!(r.target.mode, mode);
        let rtt = r.histogram(Series::RttCorrected);
        assert_eq!(rtt.count, r.counters.messages_received, "{mode}");
        assert_eq!(rtt, r.histogram(Series::RttUncorrected), "closed loop: corrected = uncorrected");
        assert_eq!(r.histogram(Series::Connect).count, 1000);
        assert_eq!(r.histogram(Series::Handshake).count, 1000);
        assert_eq!(r.counters.close_codes.get(&1000), Some(&1000), "{mode}: every connection closed cleanly");
    }
}

#[test]
fn open_loop_every_mode() {
    for (mode, kind) in [("reply", "binary"), ("echo", "text"), ("json", "text"), ("stream", "binary")] {
        // 4,000 msg/s over 1,000 connections: 4 a second each, for 1.5 s.
        // The ramp is gentle: a debug-built server accepts slowly, and a
        // connection opened late would send less in the window.
        let r = run(&[
            "-c",
            CONNS,
            "--connect-rate",
            "2000",
            "--mode",
            mode,
            "--type",
            kind,
            "--rate",
            "4000",
            "-d",
            "1.5",
            "-w",
            "1",
            "-q",
        ]);
        assert_clean(&r, 1000);
        let sent = r.counters.messages_sent as f64;
        assert!((5400.0..=6600.0).contains(&sent), "{mode}: {sent} sent in 1.5 s at 4000/s");
        assert!(r.histogram(Series::SendLag).count > 0);
    }
}

#[test]
fn stream_mode_reassembles_large_fragmented_replies() {
    // 10 kB messages with 1 kB fragments: each reply is ~11 frames.
    let r = run(&["-c", "20", "--mode", "stream", "--chunk", "1000", "--size", "10000", "-d", "0.5", "-w", "0", "-q"]);
    assert_clean(&r, 20);
}

/// `-H Host` replaces the URL's Host (a server behind an ingress, reached
/// by address); two Host headers would be a bad request (400).
#[test]
fn a_host_header_replaces_the_urls() {
    let r = run(&["-c", "2", "-H", "Host: staging.example", "--mode", "echo", "-d", "0.3", "-w", "0", "-q"]);
    assert_clean(&r, 2);
}
