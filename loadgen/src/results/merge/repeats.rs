//! [`merge_repeats`]: the runs of one repeated scenario as one result.

use super::{add_up, check_same};
use crate::error::Error;
use crate::results::broadcast::BroadcastResult;
use crate::results::schema::{self, Repeat, RunResult, Throughput, Timing, SCHEMA_VERSION};

/// The runs of one repeated scenario, which ran one after the other, as one
/// result that keeps each of them in `repeats`: histograms and counters
/// added exactly, rates over the summed measured time, the verdict a pass
/// only if every run passed. Refuses runs of different set-ups.
pub fn merge_repeats(runs: &[RunResult]) -> Result<RunResult, Error> {
    let labelled: Vec<(String, &RunResult)> =
        runs.iter().enumerate().map(|(k, r)| (format!("repeat {}", k + 1), r)).collect();
    check_same(&labelled, false, "a repeated result")?;
    let first = &runs[0];
    let last = &runs[runs.len() - 1];
    let mut sum = add_up(&labelled)?;
    let measured_s: f64 = runs.iter().map(|r| r.timing.measured_s).sum();
    // Rates weighted by their windows: the summed counts over the summed time.
    let weighted = |f: fn(&Throughput) -> f64| {
        let total: f64 = runs.iter().map(|r| f(&r.throughput) * r.timing.measured_s).sum();
        if measured_s > 0.0 {
            total / measured_s
        } else {
            0.0
        }
    };
    let throughput = Throughput {
        sent_msgs_per_s: weighted(|t| t.sent_msgs_per_s),
        received_msgs_per_s: weighted(|t| t.received_msgs_per_s),
        sent_bytes_per_s: weighted(|t| t.sent_bytes_per_s),
        received_bytes_per_s: weighted(|t| t.received_bytes_per_s),
        target_msgs_per_s: first.throughput.target_msgs_per_s,
        unsolicited_msgs_per_s: first.throughput.unsolicited_msgs_per_s.and(Some(weighted(Throughput::unsolicited))),
    };
    let mean = |f: fn(&Timing) -> f64| runs.iter().map(|r| f(&r.timing)).sum::<f64>() / runs.len() as f64;
    let timing = Timing {
        ramp_s: mean(|t| t.ramp_s),
        warmup_s: mean(|t| t.warmup_s),
        measured_s,
        elapsed_s: runs.iter().map(|r| r.timing.elapsed_s).sum(),
        window_start_unix: Some(first.window().0),
        window_end_unix: Some(last.window().1),
    };
    let (outcome, loadgen, samples) = sum.outcome(&first.config);
    let parts: Vec<_> = runs.iter().map(|r| r.broadcast.as_ref()).collect();
    let delivered: u64 = parts.iter().flatten().map(|b| b.counts.delivered).sum();
    let per_s = if measured_s > 0.0 { delivered as f64 / measured_s } else { 0.0 };
    let broadcast = BroadcastResult::sum(&parts, per_s).map_err(|e| Error::usage(format!("broadcast: {e}")))?;
    Ok(RunResult {
        schema: schema::SCHEMA.to_string(),
        schema_version: SCHEMA_VERSION,
        scenario: first.scenario.clone(),
        loadgen_version: first.loadgen_version.clone(),
        started_at: first.started_at.clone(),
        started_at_unix: first.started_at_unix,
        target: first.target.clone(),
        host: first.host.clone(),
        config: first.config.clone(),
        timing,
        counters: sum.counters,
        throughput,
        loadgen,
        outcome,
        samples,
        histograms: sum.histograms,
        merged_from: None,
        repeats: Some(runs.iter().map(Repeat::of).collect()),
        broadcast,
    })
}
