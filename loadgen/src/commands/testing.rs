//! Results made up for unit tests of the readers (merge, compare, the
//! schema): a result of any `run` flags, with chosen latencies and window.
//! Here, not in `results`, because flags become a config through clap.

use clap::Parser;

use super::run::FromRunArgs;
use super::{Cli, Command};
use crate::results::counters::Counters;
use crate::results::schema::{
    HostInfo, LoadgenHealth, Outcome, RunResult, TargetInfo, Throughput, Timing, SCHEMA, SCHEMA_VERSION,
};
use crate::results::setup::RunConfig;
use crate::results::stats::{Histograms, Series};

/// A result of `scenario` that measured `window` (Unix seconds), with
/// `latencies_us` as its RTTs and one received message per latency.
pub fn synthetic(scenario: &str, run_args: &[&str], window: (f64, f64), latencies_us: &[u64]) -> RunResult {
    let cli = Cli::try_parse_from(["wsbench-loadgen", "run"].iter().chain(run_args)).unwrap();
    let Command::Run(args) = cli.command else { panic!("not run") };
    let config = RunConfig::from_args(&args).unwrap();
    let mut h = Histograms::default();
    for &us in latencies_us {
        h.record_ns(Series::RttCorrected, us * 1000);
        h.record_ns(Series::RttUncorrected, us * 1000);
    }
    h.record_ns(Series::Connect, 100_000);
    let n = latencies_us.len() as u64;
    let counters = Counters {
        connections_attempted: u64::from(config.connections),
        connections_opened: u64::from(config.connections),
        messages_sent: n,
        messages_received: n,
        messages_sent_total: n,
        replies_received_total: n,
        bytes_sent: n * config.size as u64,
        bytes_received: n * config.size as u64,
        ..Default::default()
    };
    let measured_s = window.1 - window.0;
    let per_s = |v: u64| v as f64 / measured_s;
    RunResult {
        schema: SCHEMA.into(),
        schema_version: SCHEMA_VERSION,
        scenario: scenario.into(),
        loadgen_version: crate::VERSION.into(),
        // Each a run of its own, as `merge` tells runs apart (a run given
        // twice is refused): the start differs by a millisecond per call.
        started_at: {
            static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let ms = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 60_000;
            format!("2026-01-01T00:00:{:02}.{:03}Z", ms / 1000, ms % 1000)
        },
        started_at_unix: window.0 - 1.0,
        target: TargetInfo { url: "ws://127.0.0.1:9/ws".into(), embedded: false, mode: "reply".into() },
        host: HostInfo::current(),
        timing: Timing {
            ramp_s: 0.0,
            warmup_s: 1.0,
            measured_s,
            elapsed_s: measured_s + 1.0,
            window_start_unix: Some(window.0),
            window_end_unix: Some(window.1),
        },
        throughput: Throughput {
            sent_msgs_per_s: per_s(n),
            received_msgs_per_s: per_s(n),
            sent_bytes_per_s: per_s(counters.bytes_sent),
            received_bytes_per_s: per_s(counters.bytes_received),
            target_msgs_per_s: None,
            unsolicited_msgs_per_s: None,
        },
        config,
        counters,
        loadgen: LoadgenHealth {
            limited: false,
            findings: vec![],
            worker_cpu_busy: vec![0.5],
            held_back: vec![],
            send_blocked_share: None,
        },
        outcome: Outcome {
            passed: true,
            stopped_early: None,
            errors: 0,
            error_rate: 0.0,
            reasons: vec![],
            status: Some(crate::results::schema::Status::Pass),
            ratios: None,
        },
        samples: vec![],
        histograms: RunResult::histograms_from(&h),
        merged_from: None,
        repeats: None,
        churn: None,
        broadcast: None,
    }
}

/// Tests of the result schema's reader that need results made from flags.
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::results::schema::{from_value, DEFAULT_SCENARIO};

    #[test]
    fn older_v1_results_read_with_defaults() {
        // A v1 result written before `scenario` and the window's absolute times.
        let r = synthetic("x", &["-d", "10"], (1000.0, 1010.0), &[5, 6]);
        let mut v = serde_json::to_value(&r).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("scenario");
        let t = o["timing"].as_object_mut().unwrap();
        t.remove("window_start_unix");
        t.remove("window_end_unix");
        let old = from_value(Path::new("old.json"), v).unwrap();
        assert_eq!(old.scenario, DEFAULT_SCENARIO);
        // started 999, no ramp, 1 s warmup, 10 s measured.
        assert_eq!(old.window(), (1000.0, 1010.0));
    }

    #[test]
    fn newer_versions_and_other_documents_are_refused() {
        let r = synthetic("x", &[], (0.0, 1.0), &[5]);
        let mut v = serde_json::to_value(&r).unwrap();
        v["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
        let e = from_value(Path::new("new.json"), v).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("reads up to"), "{e}");
        let e = from_value(Path::new("b.json"), serde_json::json!({"schema": 1})).unwrap_err();
        assert!(e.to_string().contains("not a wsbench-loadgen/run document"), "{e}");
    }
}
