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
//!
//! The same sums make one result of the runs of a repeated scenario
//! (`suite --repeat N`), which ran one after the other ([`merge_repeats`]):
//! histograms and counters added exactly as above, but time adds up instead
//! of overlapping: the measured time is the sum of the windows, and each
//! rate the repeats' rates weighted by their windows (the summed counts over
//! the summed time), exactly. Workers' results that each hold repeats are
//! merged repeat by repeat (repeat *k* of every worker ran at the same time),
//! and the merged repeats then added up as a repeated result.

use std::path::{Path, PathBuf};

use super::schema::{self, MergedFrom, RunResult, Throughput, Timing};
use super::setup::LoadModel;
use crate::error::Error;

mod repeats;
mod sum;
pub use repeats::merge_repeats;

use super::churn::merge::Together;
use sum::{add_up, Head};

/// Below this fraction of the shortest window in common, `merge` warns that
/// the throughput leans on steady rates.
pub const MIN_OVERLAP: f64 = 0.9;

/// Samples of bad replies kept in a merged result.
pub const MAX_MERGED_SAMPLES: usize = 20;

/// What must be the same in every input for their sum to mean something,
/// as `(field, value)`: the scenario, and the setup but for connections and
/// rate when `shares` (workers each carry their share of the load). Runs of
/// a repeated scenario (not `shares`) against the embedded server each had
/// a server of their own, at a port of its own: their target URLs differ.
/// Schema versions are checked apart ([`schema::comparable`]).
fn identity(r: &RunResult, shares: bool) -> Vec<(&'static str, String)> {
    let mut fields = vec![("scenario", r.scenario.clone())];
    let own_server = !shares && r.target.embedded;
    fields.extend(r.setup().into_iter().filter(|(f, _)| match *f {
        "connections" | "rate" => !shares,
        "target" => !own_server,
        _ => true,
    }));
    fields
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// Refuses inputs that differ in what [`identity`] lists, or whose schema
/// versions are not [`schema::comparable`]. `label` names an input.
fn check_same(inputs: &[(String, &RunResult)], shares: bool, what: &str) -> Result<(), Error> {
    let Some((first_label, first)) = inputs.first() else {
        return Err(Error::usage(format!("{what} needs at least one result")));
    };
    let reference = identity(first, shares);
    for (label, r) in &inputs[1..] {
        if !schema::comparable(first.schema_version, r.schema_version) {
            return Err(Error::usage(format!(
                "{label}: schema version {} does not add up with {first_label}'s {}",
                r.schema_version, first.schema_version
            )));
        }
        let other = identity(r, shares);
        // By name: a field one side leaves out (an embedded server's URL)
        // is not compared, and "embedded server" itself then differs.
        for (field, want) in &reference {
            let Some((_, got)) = other.iter().find(|(f, _)| f == field) else { continue };
            if want != got {
                return Err(Error::usage(format!(
                    "{label}: {field} is {got:?}, but {first_label} has {want:?}: {what} adds up runs of one scenario against one target",
                )));
            }
        }
    }
    Ok(())
}

fn merged_from(file: String, r: &RunResult, (start, end): (f64, f64)) -> MergedFrom {
    MergedFrom {
        file,
        host: r.host.clone(),
        started_at: r.started_at.clone(),
        window_start_unix: start,
        window_end_unix: end,
        connections: r.config.connections,
        messages_received: r.counters.messages_received,
        passed: r.outcome.passed,
    }
}

/// One loadgen's run, as a merged result records it ([`MergedFrom`]): its
/// host, start, window and counts. Two inputs holding the same one are the
/// same run given twice, and their sum would count it twice.
fn runs_held(r: &RunResult) -> Vec<(Option<String>, String, u64, u64, u32, u64)> {
    let leaf = |m: &MergedFrom| {
        let window = (m.window_start_unix.to_bits(), m.window_end_unix.to_bits());
        (m.host.hostname.clone(), m.started_at.clone(), window.0, window.1, m.connections, m.messages_received)
    };
    match &r.merged_from {
        Some(inner) => inner.iter().map(leaf).collect(),
        None => vec![leaf(&merged_from(String::new(), r, r.window()))],
    }
}

/// Refuses a run given twice, directly or inside a merged result.
fn refuse_twice(inputs: &[(PathBuf, RunResult)]) -> Result<(), Error> {
    let mut seen = Vec::new();
    for (path, r) in inputs {
        for run in runs_held(r) {
            if let Some((_, first)) = seen.iter().find(|(held, _)| *held == run) {
                return Err(Error::usage(format!(
                    "{}: the run started at {} is in {first} already: merge adds up different loadgens' results, and would count it twice",
                    name(path),
                    run.1
                )));
            }
            seen.push((run, name(path)));
        }
    }
    Ok(())
}

/// Merges results of one scenario run at the same time. Refuses inputs that
/// differ in what [`identity`] lists, a run given twice, windows that do
/// not overlap, and inputs with different numbers of repeats; inputs with
/// repeats are merged repeat by repeat.
pub fn merge(inputs: &[(PathBuf, RunResult)]) -> Result<RunResult, Error> {
    let labelled: Vec<(String, &RunResult)> = inputs.iter().map(|(p, r)| (name(p), r)).collect();
    check_same(&labelled, true, "merge")?;
    refuse_twice(inputs)?;
    let n = inputs[0].1.repeat_count();
    if let Some((path, r)) = inputs.iter().find(|(_, r)| r.repeat_count() != n) {
        return Err(Error::usage(format!(
            "{}: {} repeat(s), but {} has {n}: merge adds up workers that ran the same repeats together",
            name(path),
            r.repeat_count(),
            name(&inputs[0].0)
        )));
    }
    if n <= 1 {
        return merge_concurrent(inputs);
    }
    let runs: Vec<Vec<RunResult>> = inputs.iter().map(|(_, r)| r.runs()).collect();
    let mut merged_runs = Vec::with_capacity(n);
    for k in 0..n {
        let at: Vec<(PathBuf, RunResult)> =
            inputs.iter().zip(&runs).map(|((p, _), rs)| (p.clone(), rs[k].clone())).collect();
        let m = merge_concurrent(&at).map_err(|e| Error::usage(format!("repeat {}: {e}", k + 1)))?;
        merged_runs.push(m);
    }
    let mut m = merge_repeats(&merged_runs)?;
    m.samples = inputs.iter().flat_map(|(p, r)| r.samples.iter().map(move |s| format!("{}: {s}", name(p)))).collect();
    m.samples.truncate(MAX_MERGED_SAMPLES);
    m.merged_from = Some(inputs.iter().map(|(p, r)| merged_from(name(p), r, r.window())).collect());
    Ok(m)
}

/// [`merge`] of single runs.
fn merge_concurrent(inputs: &[(PathBuf, RunResult)]) -> Result<RunResult, Error> {
    let first = &inputs[0].1;
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
    let labelled: Vec<(String, &RunResult)> = inputs.iter().map(|(p, r)| (name(p), r)).collect();
    let sum = add_up(&labelled, Together::AtOnce)?;

    let mut throughput = Throughput {
        sent_msgs_per_s: 0.0,
        received_msgs_per_s: 0.0,
        sent_bytes_per_s: 0.0,
        received_bytes_per_s: 0.0,
        target_msgs_per_s: None,
        unsolicited_msgs_per_s: None,
    };
    let mut config = first.config.clone();
    config.connections = 0;
    config.threads = 0;
    config.hlog = None;
    let mut rate_sum = 0.0;
    let mut merged = Vec::new();
    let mut ramp_s: f64 = 0.0;
    let mut warmup_s: f64 = 0.0;
    let mut elapsed_s: f64 = 0.0;
    for ((path, r), &window) in inputs.iter().zip(&windows) {
        // Each worker's rate over its own window: its count prorated to the common one.
        let t = &r.throughput;
        throughput.sent_msgs_per_s += t.sent_msgs_per_s;
        throughput.received_msgs_per_s += t.received_msgs_per_s;
        throughput.sent_bytes_per_s += t.sent_bytes_per_s;
        throughput.received_bytes_per_s += t.received_bytes_per_s;
        if let Some(target) = t.target_msgs_per_s {
            throughput.target_msgs_per_s = Some(throughput.target_msgs_per_s.unwrap_or(0.0) + target);
        }
        throughput.unsolicited_msgs_per_s = t.unsolicited_msgs_per_s.map(|u| u + throughput.unsolicited());
        config.connections = config.connections.saturating_add(r.config.connections);
        config.threads += r.config.threads;
        if let LoadModel::Open { rate, .. } = r.config.load {
            rate_sum += rate;
        }
        ramp_s = ramp_s.max(r.timing.ramp_s);
        warmup_s = warmup_s.max(r.timing.warmup_s);
        elapsed_s = elapsed_s.max(r.timing.elapsed_s);
        match &r.merged_from {
            // A merged result merged again: keep its workers.
            Some(inner) => merged.extend(inner.iter().cloned()),
            None => merged.push(merged_from(name(path), r, window)),
        }
    }
    if let LoadModel::Open { max_in_flight, .. } = first.config.load {
        config.load = LoadModel::Open { rate: rate_sum, max_in_flight };
    }
    // The earliest worker speaks for the run's start and host.
    let earliest = inputs
        .iter()
        .map(|(_, r)| r)
        .min_by(|a, b| a.started_at_unix.total_cmp(&b.started_at_unix))
        .expect("at least one input");
    let timing = Timing {
        ramp_s,
        warmup_s,
        measured_s: common,
        elapsed_s,
        window_start_unix: Some(start),
        window_end_unix: Some(end),
    };
    let head = Head { first, earliest };
    Ok(sum.into_result(head, config, timing, throughput, Some(merged), None))
}
