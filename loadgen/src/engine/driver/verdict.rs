//! The run judged: the workers' results merged, throughput over the
//! measured window, who held the load back ([`causes`](super::causes)),
//! and the verdict with its reasons, as the result document: FAIL for
//! what the server did wrong, LOADGEN LIMIT when the loadgen could not
//! drive the load (never both: a run is judged on the server's errors
//! first), PASS otherwise.

use std::time::{Instant, SystemTime};

use super::causes::{causes, Facts};
use super::collect::Collected;
use crate::engine::connect::{nanos, Target};
use crate::results::churn::ChurnTally;
use crate::results::counters::Counters;
use crate::results::schema::{
    ErrorRatios, HostInfo, LoadgenHealth, Outcome, RunResult, Status, TargetInfo, Throughput, Timing, SCHEMA,
    SCHEMA_VERSION,
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
    churn: &ChurnTally,
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
    if let Some(deflate) = &mut counters.deflate {
        deflate.loadgen_cpu_ns = results.iter().map(|r| nanos(r.cpu)).sum();
    }
    let measure_start_ns = nanos(config.ramp() + config.warmup);
    let measure_end_ns = measure_start_ns + nanos(config.duration);
    let window_end_ns =
        measure_end_ns.min(collected.stopped_ns.unwrap_or(u64::MAX)).min(collected.last_end_ns.max(measure_start_ns));
    let measured_s = window_end_ns.saturating_sub(measure_start_ns) as f64 / 1e9;
    let per_s = |v: u64| if measured_s > 0.0 { v as f64 / measured_s } else { 0.0 };
    let target_rate = match config.load {
        LoadModel::Open { rate, .. } => Some(rate),
        LoadModel::Closed { .. } => None,
    };
    let throughput = Throughput {
        sent_msgs_per_s: per_s(counters.messages_sent),
        received_msgs_per_s: per_s(counters.replies_in_window),
        sent_bytes_per_s: per_s(counters.bytes_sent),
        received_bytes_per_s: per_s(counters.bytes_received),
        target_msgs_per_s: target_rate,
        unsolicited_msgs_per_s: config.api.as_ref().map(|_| per_s(counters.unsolicited)),
    };

    let elapsed_s = collected.last_end_ns.max(epoch.elapsed().as_nanos() as u64) as f64 / 1e9;
    let lag = histograms.get(Series::SendLag);
    let causes = causes(&Facts {
        load: config.load,
        connections: config.connections,
        counters: &counters,
        achieved: throughput.sent_msgs_per_s,
        measured_s,
        elapsed_s,
        busy: &busy,
        send_lag_p99_us: (!lag.is_empty()).then(|| lag.value_at_quantile(0.99)),
        max_send_lag_us: config.max_send_lag.as_micros() as u64,
        // Each drop takes a slot down, each re-connection brings one back.
        down_at_end: churn.drops.total().saturating_sub(churn.reconnects),
    });
    let limited = !causes.findings.is_empty();

    // The verdict.
    let errors = counters.errors();
    let ratios = ErrorRatios::of(&counters, config);
    let mut stopped_early = collected.interrupted_ns.map(|_| "interrupted".to_string()).or(collected.silent);
    // Every connection ended before the window did: lost, or (with churn)
    // their replacements refused. The window was cut there.
    if stopped_early.is_none() && collected.last_end_ns < measure_end_ns && counters.connections_failed() > 0 {
        stopped_early = Some(format!(
            "every connection had ended after {:.1} s of {:.1} s ({} lost, {} failed to connect; server gone?)",
            window_end_ns.saturating_sub(measure_start_ns) as f64 / 1e9,
            config.duration.as_secs_f64(),
            counters.connection_errors.total(),
            counters.connect_errors.total()
        ));
    }
    // A loadgen that could not drive an open loop's load causes some
    // errors itself: replies it let wait past the drain timeout (its
    // socket's window full, unread), messages it never sent, closing
    // handshakes it could not finish in time. Those alone are
    // not held against the server; anything else is. (A send lag over its
    // bound alone excuses nothing: the loadgen kept up, only late.)
    let server_errors = counters.reply_errors.corrupt
        + counters.reply_errors.out_of_order
        + counters.connect_errors.total()
        + counters.connection_errors.total()
        - counters.connection_errors.close_timeout;
    let lateness_not_judged = causes.overloaded && server_errors == 0 && stopped_early.is_none();
    let mut reasons = Vec::new();
    if !lateness_not_judged {
        if ratios.connections_over() {
            reasons.push(ratios.connections_in_words());
        }
        if ratios.messages_over() {
            reasons.push(ratios.messages_in_words());
        }
        if counters.messages_received == 0 {
            reasons.push(no_reply(&counters));
        }
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
    let mut findings = causes.findings;
    if lateness_not_judged && (ratios.connections_over() || ratios.messages_over() || counters.messages_received == 0) {
        findings.push(format!(
            "not held against the server, as a loadgen over its limit causes them itself (replies read late, messages never sent): {}; {}",
            ratios.connections_in_words(),
            ratios.messages_in_words()
        ));
    }
    let status = if !reasons.is_empty() {
        Status::Fail
    } else if limited && !config.allow_loadgen_limit {
        reasons.push(
            "the loadgen, not the server, was the limit: the figures are bounds of the server's, throughput a lower one, latency an upper one (--allow-loadgen-limit accepts this)"
                .to_string(),
        );
        Status::LoadgenLimit
    } else {
        Status::Pass
    };
    let unix = start_time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    RunResult {
        schema: SCHEMA.to_string(),
        schema_version: SCHEMA_VERSION,
        scenario: config.scenario.clone(),
        loadgen_version: crate::VERSION.to_string(),
        started_at: humantime::format_rfc3339_millis(start_time).to_string(),
        started_at_unix: unix.as_secs_f64(),
        target: TargetInfo {
            url: target.url.clone(),
            embedded,
            // With --message, replies are the API's, not a reply mode's.
            mode: if config.api.is_some() { "api".to_string() } else { target.mode.to_string() },
        },
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
        loadgen: LoadgenHealth {
            limited,
            findings,
            worker_cpu_busy: busy,
            held_back: causes.held_back,
            send_blocked_share: causes.blocked_share,
        },
        outcome: Outcome {
            passed: status == Status::Pass,
            stopped_early,
            errors,
            error_rate: ratios.message_error_rate,
            reasons,
            status: Some(status),
            ratios: Some(ratios),
        },
        samples,
        histograms: RunResult::histograms_from(&histograms),
        merged_from: None,
        repeats: None,
        churn: None,
        broadcast: None,
    }
}

/// Why no reply counts: none came, none passed its check, or (with
/// `--message`) messages came but none answered a request: the likely
/// cause is a `--match` that does not find the ids, and the user must see
/// it rather than a bare "no reply".
fn no_reply(counters: &Counters) -> String {
    match counters.unsolicited_total {
        0 if counters.reply_errors.corrupt > 0 => format!(
            "no reply in the measured window passed its check ({} corrupt replies)",
            counters.reply_errors.corrupt
        ),
        0 => "no reply was received in the measured window".to_string(),
        n => format!(
            "no reply matched a request in the measured window, but {n} messages arrived unmatched: does --match find the request's id in the replies?"
        ),
    }
}
