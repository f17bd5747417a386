//! The run judged: the workers' results merged, throughput over the
//! measured window, whether the loadgen was the limit, and the verdict
//! with its reasons, as the result document.

use std::time::{Instant, SystemTime};

use super::collect::Collected;
use super::BUSY_CPU;
use crate::engine::connect::{nanos, Target};
use crate::results::counters::Counters;
use crate::results::format::micros;
use crate::results::schema::{
    HostInfo, LoadgenHealth, Outcome, RunResult, TargetInfo, Throughput, Timing, SCHEMA, SCHEMA_VERSION,
};
use crate::results::setup::{LoadModel, RunConfig};
use crate::results::stats::{Histograms, Series};

/// Merges the workers' results and judges the run.
pub(super) fn evaluate(
    config: &RunConfig,
    target: &Target,
    embedded: bool,
    start_time: SystemTime,
    epoch: Instant,
    collected: Collected,
) -> RunResult {
    let mut histograms = Histograms::default();
    let mut counters = Counters::default();
    let mut samples = Vec::new();
    let mut busy = Vec::new();
    let mut results = collected.results;
    results.sort_by_key(|r| r.worker);
    for r in &results {
        histograms.add(&r.histograms);
        counters.add(&r.counters);
        samples.extend(r.samples.iter().cloned());
        busy.push(if r.wall.is_zero() { 0.0 } else { r.cpu.as_secs_f64() / r.wall.as_secs_f64() });
    }
    let measure_start_ns = nanos(config.ramp() + config.warmup);
    let measure_end_ns = measure_start_ns + nanos(config.duration);
    let window_end_ns = measure_end_ns
        .min(collected.interrupted_ns.unwrap_or(u64::MAX))
        .min(collected.last_end_ns.max(measure_start_ns));
    let measured_s = window_end_ns.saturating_sub(measure_start_ns) as f64 / 1e9;
    let per_s = |v: u64| if measured_s > 0.0 { v as f64 / measured_s } else { 0.0 };
    let target_rate = match config.load {
        LoadModel::Open { rate, .. } => Some(rate),
        LoadModel::Closed { .. } => None,
    };
    let throughput = Throughput {
        sent_msgs_per_s: per_s(counters.messages_sent),
        received_msgs_per_s: per_s(counters.messages_received),
        sent_bytes_per_s: per_s(counters.bytes_sent),
        received_bytes_per_s: per_s(counters.bytes_received),
        target_msgs_per_s: target_rate,
    };

    // Was the loadgen the limit?
    let mut findings = Vec::new();
    if let LoadModel::Open { rate, max_in_flight } = config.load {
        let achieved = throughput.sent_msgs_per_s;
        if measured_s > 0.0 && achieved < rate * 0.99 {
            let short = 100.0 * (1.0 - achieved / rate);
            let why = match max_in_flight {
                Some(k) => format!(
                    " (with --pipeline {k} capping messages in flight, a slow server also holds sends back: see RTT)"
                ),
                None => String::new(),
            };
            findings.push(format!(
                "the loadgen sent {achieved:.0} msg/s of the {rate:.0} asked for, {short:.1}% short: the loadgen, not the server, was the limit{why}"
            ));
        }
        let lag = histograms.get(Series::SendLag);
        let bound = config.max_send_lag.as_micros() as u64;
        if !lag.is_empty() && lag.value_at_quantile(0.99) > bound {
            let p99 = lag.value_at_quantile(0.99);
            findings.push(format!(
                "send lag p99 is {} (bound {}): the loadgen could not send on schedule; the corrected RTTs include up to that much of its own delay",
                micros(p99),
                micros(bound)
            ));
        }
    }
    for (w, b) in busy.iter().enumerate() {
        if *b >= BUSY_CPU {
            findings.push(format!(
                "worker thread {w} was {:.0}% busy on its core: the loadgen may have been the limit; figures are a lower bound of what the server can do",
                b * 100.0
            ));
        }
    }
    let limited = !findings.is_empty();

    // The verdict.
    let errors = counters.errors();
    let error_rate = counters.error_rate();
    let mut reasons = Vec::new();
    let mut stopped_early = collected.interrupted_ns.map(|_| "interrupted".to_string());
    if stopped_early.is_none() && collected.last_end_ns < measure_end_ns && counters.connection_errors.total() > 0 {
        stopped_early = Some(format!(
            "connections lost after {:.1} s of {:.1} s (server gone?)",
            window_end_ns.saturating_sub(measure_start_ns) as f64 / 1e9,
            config.duration.as_secs_f64()
        ));
    }
    if error_rate > config.max_error_rate {
        reasons.push(format!(
            "error rate {:.4}% ({errors} errors) is above --max-error-rate {}%",
            error_rate * 100.0,
            config.max_error_rate * 100.0
        ));
    }
    if counters.messages_received == 0 {
        reasons.push("no reply was received in the measured window".to_string());
    }
    if let Some(why) = &stopped_early {
        reasons.push(format!("the run stopped early: {why}"));
    }
    if results.len() < collected.workers {
        reasons.push(format!(
            "{} of {} worker threads ended without their results (a panic): their connections' numbers are missing",
            collected.workers - results.len(),
            collected.workers
        ));
    }
    let elapsed_s = collected.last_end_ns.max(epoch.elapsed().as_nanos() as u64) as f64 / 1e9;
    let unix = start_time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    RunResult {
        schema: SCHEMA.to_string(),
        schema_version: SCHEMA_VERSION,
        scenario: config.scenario.clone(),
        loadgen_version: crate::VERSION.to_string(),
        started_at: humantime::format_rfc3339_millis(start_time).to_string(),
        started_at_unix: unix.as_secs_f64(),
        target: TargetInfo { url: target.url.clone(), embedded, mode: target.mode.to_string() },
        host: HostInfo::current(),
        config: config.clone(),
        timing: Timing {
            ramp_s: config.ramp().as_secs_f64(),
            warmup_s: config.warmup.as_secs_f64(),
            measured_s,
            elapsed_s,
            window_start_unix: Some(unix.as_secs_f64() + measure_start_ns as f64 / 1e9),
            window_end_unix: Some(unix.as_secs_f64() + window_end_ns.max(measure_start_ns) as f64 / 1e9),
        },
        counters,
        throughput,
        loadgen: LoadgenHealth { limited, findings, worker_cpu_busy: busy },
        outcome: Outcome { passed: reasons.is_empty(), stopped_early, errors, error_rate, reasons },
        samples,
        histograms: RunResult::histograms_from(&histograms),
        merged_from: None,
        repeats: None,
    }
}
