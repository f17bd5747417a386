//! What adds up the same way however the inputs ran, at once (workers) or
//! in turn (repeats): histograms (exactly), counters, the lists, the
//! verdict, and the optional sections (churn, broadcast); and the one
//! place a merged [`RunResult`] is built from it.

use std::collections::BTreeMap;

use super::MAX_MERGED_SAMPLES;
use crate::error::Error;
use crate::results::broadcast::BroadcastResult;
use crate::results::churn::merge::{merge as add_churn, Together};
use crate::results::churn::ChurnResult;
use crate::results::counters::Counters;
use crate::results::schema::{
    self, ErrorRatios, HistogramData, LoadgenHealth, MergedFrom, Outcome, Repeat, RunResult, Status, Throughput,
    Timing, SCHEMA_VERSION,
};
use crate::results::setup::RunConfig;
use crate::results::stats::Series;

/// The inputs' churn sections added up (refused when their settings differ).
fn merge_churn<'a>(
    inputs: impl Iterator<Item = &'a RunResult> + Clone,
    together: Together,
) -> Result<Option<ChurnResult>, Error> {
    let mut settings = inputs.clone().map(|r| r.config.churn.as_ref().map(|c| c.describe()));
    let first = settings.next().flatten();
    if settings.any(|s| s != first) {
        return Err(Error::usage(
            "the results were run with different churn settings (--conn-lifetime, --messages-per-conn, --reconnect)",
        ));
    }
    let parts: Vec<_> = inputs.map(|r| (r.churn.as_ref(), r.timing.measured_s)).collect();
    add_churn(&parts, together).map_err(Error::usage)
}

/// The inputs' broadcast sections added up: the delivery rate of workers
/// that ran at once is the sum of theirs; of runs in turn, their summed
/// deliveries over their summed measured time.
fn merge_broadcast<'a>(
    inputs: impl Iterator<Item = &'a RunResult> + Clone,
    together: Together,
) -> Result<Option<BroadcastResult>, Error> {
    let parts: Vec<_> = inputs.clone().map(|r| r.broadcast.as_ref()).collect();
    let per_s = match together {
        Together::AtOnce => parts.iter().flatten().map(|b| b.deliveries_per_s).sum(),
        Together::InTurn => {
            let delivered: u64 = parts.iter().flatten().map(|b| b.counts.delivered).sum();
            let measured_s: f64 = inputs.map(|r| r.timing.measured_s).sum();
            if measured_s > 0.0 {
                delivered as f64 / measured_s
            } else {
                0.0
            }
        }
    };
    let mut sum = BroadcastResult::sum(&parts, per_s).map_err(|e| Error::usage(format!("broadcast: {e}")))?;
    if let (Together::InTurn, Some(sum)) = (together, &mut sum) {
        // Runs in turn had the same topics each time, not their sum.
        let topics: Vec<u32> = parts.iter().flatten().map(|b| b.topics).collect();
        if topics.iter().any(|&t| t != topics[0]) {
            return Err(Error::usage(format!("broadcast: the runs had different numbers of topics: {topics:?}")));
        }
        sum.topics = topics[0];
    }
    Ok(sum)
}

/// What adds up the same way however the inputs were run: histograms
/// (exactly), counters, and the lists, each item prefixed with its input's label.
pub(super) struct Sum {
    histograms: BTreeMap<Series, HistogramData>,
    counters: Counters,
    limited: bool,
    findings: Vec<String>,
    held_back: Vec<String>,
    busy: Vec<f64>,
    samples: Vec<String>,
    reasons: Vec<String>,
    stopped_early: Option<String>,
    statuses: Vec<Status>,
    churn: Option<ChurnResult>,
    broadcast: Option<BroadcastResult>,
}

/// Adds up `inputs`, which ran as `together` says (at once: workers; in
/// turn: repeats).
pub(super) fn add_up(inputs: &[(String, &RunResult)], together: Together) -> Result<Sum, Error> {
    let mut histograms = BTreeMap::new();
    for s in Series::ALL {
        let mut all = Vec::with_capacity(inputs.len());
        for (label, r) in inputs {
            let data =
                r.histograms.get(&s).ok_or_else(|| Error::usage(format!("{label}: no {} histogram", s.name())))?;
            all.push(data);
        }
        let sum =
            HistogramData::sum(all).map_err(|e| Error::usage(format!("{}: {}: {e}", inputs[e.index].0, s.name())))?;
        histograms.insert(s, sum);
    }
    let mut sum = Sum {
        histograms,
        counters: Counters::default(),
        limited: false,
        findings: Vec::new(),
        held_back: Vec::new(),
        busy: Vec::new(),
        samples: Vec::new(),
        reasons: Vec::new(),
        stopped_early: None,
        statuses: Vec::new(),
        churn: merge_churn(inputs.iter().map(|(_, r)| *r), together)?,
        broadcast: merge_broadcast(inputs.iter().map(|(_, r)| *r), together)?,
    };
    for (label, r) in inputs {
        sum.counters.add(&r.counters);
        sum.limited |= r.loadgen.limited;
        sum.findings.extend(r.loadgen.findings.iter().map(|f| format!("{label}: {f}")));
        sum.held_back.extend(r.loadgen.held_back.iter().map(|f| format!("{label}: {f}")));
        sum.busy.extend_from_slice(&r.loadgen.worker_cpu_busy);
        sum.samples.extend(r.samples.iter().map(|s| format!("{label}: {s}")));
        sum.reasons.extend(r.outcome.reasons.iter().map(|s| format!("{label}: {s}")));
        if sum.stopped_early.is_none() {
            sum.stopped_early = r.outcome.stopped_early.as_ref().map(|s| format!("{label}: {s}"));
        }
        sum.statuses.push(r.outcome.status());
    }
    sum.samples.truncate(MAX_MERGED_SAMPLES);
    Ok(sum)
}

impl Sum {
    /// The verdict of the sum: each input's reasons, and the summed
    /// connection failures and message errors against `config`'s
    /// allowances (inputs each within them can add up past them); a loadgen
    /// limit in any input makes the sum one, unless something failed.
    /// Takes the lists out: call once, then use `histograms` and `counters`.
    fn outcome(&mut self, config: &RunConfig) -> (Outcome, LoadgenHealth, Vec<String>) {
        let errors = self.counters.errors();
        let error_rate = self.counters.error_rate();
        let ratios = ErrorRatios::of(&self.counters, config);
        if ratios.connections_over() {
            self.reasons.push(format!("merged: {}", ratios.connections_in_words()));
        }
        if ratios.messages_over() {
            self.reasons.push(format!("merged: {}", ratios.messages_in_words()));
        }
        let status = if !self.reasons.is_empty() || self.statuses.contains(&Status::Fail) {
            Status::Fail
        } else if self.statuses.contains(&Status::LoadgenLimit) {
            Status::LoadgenLimit
        } else {
            Status::Pass
        };
        let outcome = Outcome {
            passed: status == Status::Pass,
            stopped_early: self.stopped_early.take(),
            errors,
            error_rate,
            reasons: std::mem::take(&mut self.reasons),
            status: Some(status),
            ratios: Some(ratios),
        };
        let health = LoadgenHealth {
            limited: self.limited || !self.findings.is_empty(),
            findings: std::mem::take(&mut self.findings),
            worker_cpu_busy: std::mem::take(&mut self.busy),
            held_back: std::mem::take(&mut self.held_back),
            send_blocked_share: None,
        };
        (outcome, health, std::mem::take(&mut self.samples))
    }

    /// The merged result: the sum's histograms, counters and verdict (its
    /// [`Sum::outcome`] against `config`), with what the caller worked out
    /// for time, rates and provenance. The one place a merged [`RunResult`]
    /// is built, for concurrent workers and for repeats alike.
    pub(super) fn into_result(
        mut self,
        head: Head<'_>,
        config: RunConfig,
        timing: Timing,
        throughput: Throughput,
        merged_from: Option<Vec<MergedFrom>>,
        repeats: Option<Vec<Repeat>>,
    ) -> RunResult {
        let (outcome, loadgen, samples) = self.outcome(&config);
        let Head { first, earliest } = head;
        RunResult {
            schema: schema::SCHEMA.to_string(),
            schema_version: SCHEMA_VERSION,
            scenario: first.scenario.clone(),
            loadgen_version: first.loadgen_version.clone(),
            started_at: earliest.started_at.clone(),
            started_at_unix: earliest.started_at_unix,
            target: first.target.clone(),
            host: earliest.host.clone(),
            timing,
            config,
            counters: self.counters,
            throughput,
            loadgen,
            outcome,
            samples,
            histograms: self.histograms,
            merged_from,
            repeats,
            churn: self.churn,
            broadcast: self.broadcast,
        }
    }
}

/// The inputs that speak for a merged result: `first` for what they all
/// share (scenario, version, target), `earliest` for when and where the run
/// started.
pub(super) struct Head<'a> {
    pub first: &'a RunResult,
    pub earliest: &'a RunResult,
}
