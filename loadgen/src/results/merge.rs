//! `merge`: the results of several loadgens that ran one scenario at the same
//! time, against one target (a distributed run: one result per worker), as
//! one result that `compare` and `plot` read like any other.
//!
//! What is exact: each histogram is the sum of the workers' histograms,
//! bucket by bucket (`Histogram::add`), so every percentile of the merged
//! result is the percentile of all messages together, not an average of
//! percentiles; every counter is the sum of the workers' counters.
//!
//! What is not: throughput. Each worker counts messages over its own
//! measured window, and the workers did not start at exactly the same
//! instant. The merged window is the one common to all of them, from the
//! latest start to the earliest end; each worker's count is prorated to it
//! (its count over its own window, times the common window's length), which
//! assumes each worker's rate was steady in its window. The merged
//! throughput is thus the sum of the workers' rates. When the windows
//! coincide, this is exactly the summed counts over the window; the further
//! apart they are, the more it leans on that assumption, and `merge` warns
//! when they overlap for less than [`MIN_OVERLAP`] of the shortest window.

use std::path::{Path, PathBuf};

use super::counters::Counters;
use super::schema::{
    self, ErrorRatios, HistogramData, LoadgenHealth, MergedFrom, Outcome, RunResult, Status, Throughput, Timing,
};
use super::setup::LoadModel;
use super::stats::{new_histogram, Series};
use crate::error::Error;

/// Below this fraction of the shortest window in common, `merge` warns that
/// the throughput leans on steady rates.
pub const MIN_OVERLAP: f64 = 0.9;

/// Samples of bad replies kept in a merged result.
pub const MAX_MERGED_SAMPLES: usize = 20;

/// What must be the same in every input for their sum to mean something,
/// as `(field, value)`: the schema version, the scenario, and the setup
/// but for connections and rate, which may differ: a worker carries its
/// share of the load.
fn identity(r: &RunResult) -> Vec<(&'static str, String)> {
    let mut fields = vec![("schema version", r.schema_version.to_string()), ("scenario", r.scenario.clone())];
    fields.extend(r.setup().into_iter().filter(|(f, _)| !matches!(*f, "connections" | "rate")));
    fields
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// Merges results of one scenario run at the same time. Refuses inputs that
/// differ in what [`identity`] lists, and windows that do not overlap.
pub fn merge(inputs: &[(PathBuf, RunResult)]) -> Result<RunResult, Error> {
    let Some((first_path, first)) = inputs.first() else {
        return Err(Error::usage("merge needs at least one result"));
    };
    let reference = identity(first);
    for (path, r) in &inputs[1..] {
        for ((field, want), (_, got)) in reference.iter().zip(identity(r)) {
            if *want != got {
                return Err(Error::usage(format!(
                    "{}: {field} is {got:?}, but {} has {want:?}: merge adds up workers of one scenario against one target",
                    name(path),
                    name(first_path)
                )));
            }
        }
    }

    // The common window.
    let windows: Vec<(f64, f64)> = inputs.iter().map(|(_, r)| r.window()).collect();
    let start = windows.iter().map(|w| w.0).fold(f64::NEG_INFINITY, f64::max);
    let end = windows.iter().map(|w| w.1).fold(f64::INFINITY, f64::min);
    if end <= start {
        return Err(Error::usage(format!(
            "the measured windows do not overlap (latest start {start:.3}, earliest end {end:.3}, Unix seconds): these loadgens did not run at the same time"
        )));
    }
    let common = end - start;

    // Histograms, exactly.
    let mut histograms = std::collections::BTreeMap::new();
    for s in Series::ALL {
        let mut sum = new_histogram();
        for (path, r) in inputs {
            let h = match r.histograms.get(&s) {
                Some(data) => data.decode().map_err(|e| Error::usage(format!("{}: {}: {e}", name(path), s.name())))?,
                None => return Err(Error::usage(format!("{}: no {} histogram", name(path), s.name()))),
            };
            sum.add(&h).map_err(|e| Error::usage(format!("{}: {}: cannot add: {e:?}", name(path), s.name())))?;
        }
        histograms.insert(s, HistogramData::from_histogram(&sum));
    }

    let mut counters = Counters::default();
    let mut throughput = Throughput {
        sent_msgs_per_s: 0.0,
        received_msgs_per_s: 0.0,
        sent_bytes_per_s: 0.0,
        received_bytes_per_s: 0.0,
        target_msgs_per_s: None,
    };
    let mut config = first.config.clone();
    config.connections = 0;
    config.threads = 0;
    config.hlog = None;
    let mut rate_sum = 0.0;
    let mut findings = Vec::new();
    let mut held_back = Vec::new();
    let mut busy = Vec::new();
    let mut samples = Vec::new();
    let mut reasons = Vec::new();
    let mut stopped_early = None;
    let mut merged_from = Vec::new();
    let mut ramp_s: f64 = 0.0;
    let mut warmup_s: f64 = 0.0;
    let mut elapsed_s: f64 = 0.0;
    for ((path, r), &(w_start, w_end)) in inputs.iter().zip(&windows) {
        let file = name(path);
        counters.add(&r.counters);
        // Each worker's rate over its own window: its count prorated to the common one.
        let t = &r.throughput;
        throughput.sent_msgs_per_s += t.sent_msgs_per_s;
        throughput.received_msgs_per_s += t.received_msgs_per_s;
        throughput.sent_bytes_per_s += t.sent_bytes_per_s;
        throughput.received_bytes_per_s += t.received_bytes_per_s;
        if let Some(target) = t.target_msgs_per_s {
            throughput.target_msgs_per_s = Some(throughput.target_msgs_per_s.unwrap_or(0.0) + target);
        }
        config.connections = config.connections.saturating_add(r.config.connections);
        config.threads += r.config.threads;
        if let LoadModel::Open { rate, .. } = r.config.load {
            rate_sum += rate;
        }
        findings.extend(r.loadgen.findings.iter().map(|f| format!("{file}: {f}")));
        held_back.extend(r.loadgen.held_back.iter().map(|f| format!("{file}: {f}")));
        busy.extend_from_slice(&r.loadgen.worker_cpu_busy);
        samples.extend(r.samples.iter().map(|s| format!("{file}: {s}")));
        reasons.extend(r.outcome.reasons.iter().map(|s| format!("{file}: {s}")));
        if stopped_early.is_none() {
            stopped_early = r.outcome.stopped_early.as_ref().map(|s| format!("{file}: {s}"));
        }
        ramp_s = ramp_s.max(r.timing.ramp_s);
        warmup_s = warmup_s.max(r.timing.warmup_s);
        elapsed_s = elapsed_s.max(r.timing.elapsed_s);
        match &r.merged_from {
            // A merged result merged again: keep its workers.
            Some(inner) => merged_from.extend(inner.iter().cloned()),
            None => merged_from.push(MergedFrom {
                file,
                host: r.host.clone(),
                started_at: r.started_at.clone(),
                window_start_unix: w_start,
                window_end_unix: w_end,
                connections: r.config.connections,
                messages_received: r.counters.messages_received,
                passed: r.outcome.passed,
            }),
        }
    }
    if let LoadModel::Open { max_in_flight, .. } = first.config.load {
        config.load = LoadModel::Open { rate: rate_sum, max_in_flight };
    }
    samples.truncate(MAX_MERGED_SAMPLES);

    let errors = counters.errors();
    let error_rate = counters.error_rate();
    let ratios = ErrorRatios::of(&counters, &config);
    if ratios.connections_over() {
        reasons.push(format!("merged: {}", ratios.connections_in_words()));
    }
    if ratios.messages_over() {
        reasons.push(format!("merged: {}", ratios.messages_in_words()));
    }
    // The earliest worker speaks for the run's start and host.
    let earliest = inputs
        .iter()
        .map(|(_, r)| r)
        .min_by(|a, b| a.started_at_unix.total_cmp(&b.started_at_unix))
        .expect("at least one input");
    let statuses: Vec<Status> = inputs.iter().map(|(_, r)| r.outcome.status()).collect();
    let status = if !reasons.is_empty() || statuses.contains(&Status::Fail) {
        Status::Fail
    } else if statuses.contains(&Status::LoadgenLimit) {
        Status::LoadgenLimit
    } else {
        Status::Pass
    };
    let passed = status == Status::Pass;
    Ok(RunResult {
        schema: schema::SCHEMA.to_string(),
        schema_version: first.schema_version,
        scenario: first.scenario.clone(),
        loadgen_version: first.loadgen_version.clone(),
        started_at: earliest.started_at.clone(),
        started_at_unix: earliest.started_at_unix,
        target: first.target.clone(),
        host: earliest.host.clone(),
        timing: Timing {
            ramp_s,
            warmup_s,
            measured_s: common,
            elapsed_s,
            window_start_unix: Some(start),
            window_end_unix: Some(end),
        },
        config,
        counters,
        throughput,
        loadgen: LoadgenHealth {
            limited: !findings.is_empty(),
            findings,
            worker_cpu_busy: busy,
            held_back,
            send_blocked_share: None,
        },
        outcome: Outcome {
            passed,
            stopped_early,
            errors,
            error_rate,
            reasons,
            status: Some(status),
            ratios: Some(ratios),
        },
        samples,
        histograms,
        merged_from: Some(merged_from),
    })
}
