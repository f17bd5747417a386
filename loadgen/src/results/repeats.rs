//! The runs of a repeated scenario (`suite --repeat N`, schema v2) inside
//! one result: each run's own figures ([`Repeat`]), and each run back as a
//! result of its own ([`RunResult::runs`]), which is how `compare` takes
//! figures per run and `merge` adds workers up run by run. The sum of the
//! runs, the result's top-level figures, is made by
//! [`crate::results::merge::merge_repeats`]: histograms added, counters
//! summed, throughput over the summed measured time, `measured_s` the sum of
//! the windows (which are then not one stretch of time: the window's Unix
//! times are the first run's start and the last one's end).
//!
//! Why schema version 2: a v1 reader would take those summed figures for one
//! run's. Migration: none. A v1 result is one run, `repeats` absent, exactly
//! as a v2 result of a single run (`run --json`, `suite` without
//! `--repeat`) is written, and this reader reads both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::counters::Counters;
use super::schema::{HistogramData, LoadgenHealth, Outcome, RunResult, Throughput, Timing};
use super::stats::Series;

/// One run of a repeated scenario (`suite --repeat N`), as it measured:
/// the figures that differ from run to run. What was run (config, target,
/// host) is the enclosing result's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeat {
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `started_at`, Unix seconds.
    pub started_at_unix: f64,
    /// How long each phase took, and the measured window.
    pub timing: Timing,
    /// Everything counted.
    pub counters: Counters,
    /// Rates over the window.
    pub throughput: Throughput,
    /// Whether the loadgen kept up.
    pub loadgen: LoadgenHealth,
    /// This run's verdict.
    pub outcome: Outcome,
    /// One histogram per series, exactly.
    pub histograms: BTreeMap<Series, HistogramData>,
    /// This run's churn section, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<super::churn::ChurnResult>,
}

impl Repeat {
    /// The figures of run `r` as a repeat.
    pub fn of(r: &RunResult) -> Self {
        Repeat {
            started_at: r.started_at.clone(),
            started_at_unix: r.started_at_unix,
            timing: r.timing.clone(),
            counters: r.counters.clone(),
            throughput: r.throughput.clone(),
            loadgen: r.loadgen.clone(),
            outcome: r.outcome.clone(),
            histograms: r.histograms.clone(),
            churn: r.churn.clone(),
        }
    }
}

impl RunResult {
    /// How many runs the figures add up: the repeats, or 1.
    pub fn repeat_count(&self) -> usize {
        self.repeats.as_ref().map_or(1, |r| r.len().max(1))
    }

    /// Each run as a result of its own, in order: the repeats (with the
    /// enclosing result's config, target and host; no samples), or this
    /// result alone when it is one run. What `compare` takes per-run
    /// figures from, and `merge` adds up repeat by repeat.
    pub fn runs(&self) -> Vec<RunResult> {
        match &self.repeats {
            Some(repeats) if !repeats.is_empty() => repeats
                .iter()
                .map(|rep| RunResult {
                    started_at: rep.started_at.clone(),
                    started_at_unix: rep.started_at_unix,
                    timing: rep.timing.clone(),
                    counters: rep.counters.clone(),
                    throughput: rep.throughput.clone(),
                    loadgen: rep.loadgen.clone(),
                    outcome: rep.outcome.clone(),
                    histograms: rep.histograms.clone(),
                    samples: Vec::new(),
                    merged_from: None,
                    repeats: None,
                    churn: rep.churn.clone(),
                    // Per run, only the total is kept (`suite --repeat`).
                    broadcast: None,
                    target: self.target.clone(),
                    host: self.host.clone(),
                    config: self.config.clone(),
                    schema: self.schema.clone(),
                    schema_version: self.schema_version,
                    scenario: self.scenario.clone(),
                    loadgen_version: self.loadgen_version.clone(),
                })
                .collect(),
            _ => vec![self.clone()],
        }
    }
}
