//! The figures `compare` holds side by side, one value per run, and what
//! the table says of each: the noise-aware judgement, or the plain
//! threshold when the noise is unknown.

use crate::results::format::{count, micros};
use crate::results::noise::Better;
use crate::results::noise::{judge, median, worse_factor, Bootstrap, Judgement, Verdict as NoiseVerdict};
use crate::results::schema::RunResult;

/// The figures compared, one value per run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The figure, as the table names it.
    pub name: &'static str,
    /// BASE's value in each of its runs.
    pub base: Vec<f64>,
    /// NEW's value in each of its runs.
    pub new: Vec<f64>,
    /// Which way is better.
    pub better: Better,
    /// Whether `--fail-if-worse` applies to this figure.
    pub gated: bool,
}

/// What the table says of one figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Call {
    /// The noise-aware judgement.
    pub judgement: Judgement,
    /// With the noise unknown: whether the plain threshold calls it worse.
    pub plain_worse: bool,
}

impl Call {
    /// Worse: outside the noise, or by the plain threshold when the noise is unknown.
    pub fn worse(&self) -> bool {
        self.judgement.verdict == NoiseVerdict::Worse || self.plain_worse
    }
}

impl Row {
    /// BASE's median over its runs.
    pub fn base_median(&self) -> f64 {
        median(&self.base).unwrap_or(0.0)
    }

    /// NEW's median over its runs.
    pub fn new_median(&self) -> f64 {
        median(&self.new).unwrap_or(0.0)
    }

    /// NEW's median relative to BASE's, in percent; `None` when BASE's is 0.
    pub fn delta_pct(&self) -> Option<f64> {
        let (b, n) = (self.base_median(), self.new_median());
        (b != 0.0).then(|| (n - b) / b * 100.0)
    }

    /// The medians' change is worse by more than `pct` percent (the plain
    /// threshold), as a factor both ways ([`worse_factor`]: 100 is "2x
    /// worse", a throughput halved). From a BASE of 0, any latency or
    /// throughput change is not a percentage: not judged.
    pub fn worse_by_more_than(&self, pct: f64) -> bool {
        let Some(d) = self.delta_pct() else { return false };
        worse_factor(d / 100.0, self.better) > 1.0 + pct.max(0.0) / 100.0
    }

    /// The judgement at threshold `pct` (0 without a gate: any change
    /// outside the noise is called), with the plain threshold's call when
    /// the noise is unknown.
    pub fn call(&self, pct: f64) -> Call {
        let judgement = judge(&self.base, &self.new, self.better, pct, &Bootstrap::default());
        let plain_worse = judgement.verdict == NoiseVerdict::NoiseUnknown && self.worse_by_more_than(pct);
        Call { judgement, plain_worse }
    }

    /// A value of this figure as the table shows it.
    pub fn show(&self, v: f64) -> String {
        match self.name {
            "throughput msg/s" => count(v),
            "error rate" => format!("{:.4}%", v * 100.0),
            _ => micros(v as u64),
        }
    }
}

/// The figures compared: throughput (replies received per second in the
/// window), the RTT's p50/p99/p99.9/max (from each message's intended send
/// time: coordinated omission corrected in an open loop, equal to the plain
/// RTT in a closed one), and the error rate, each per run. Throughput, p50
/// and p99 are gated (in an open loop the throughput is pinned to the rate,
/// and p50 is where a slower server shows most steadily). Not gated: the
/// tail beyond p99 and the max, which hang on a handful of messages, and the
/// error rate, since a NEW run with errors past its limit fails the gate on
/// its own.
pub fn rows(base: &RunResult, new: &RunResult) -> Vec<Row> {
    let (b, n) = (base.runs(), new.runs());
    let values = |runs: &[RunResult], f: &dyn Fn(&RunResult) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let pct = |p: f64| move |r: &RunResult| r.latency().percentile(p).unwrap_or(0) as f64;
    let row = |name, f: &dyn Fn(&RunResult) -> f64, better, gated| Row {
        name,
        base: values(&b, f),
        new: values(&n, f),
        better,
        gated,
    };
    vec![
        row("throughput msg/s", &|r| r.throughput.received_msgs_per_s, Better::Higher, true),
        row("p50", &pct(50.0), Better::Lower, true),
        row("p99", &pct(99.0), Better::Lower, true),
        row("p99.9", &pct(99.9), Better::Lower, false),
        row("max", &|r| r.latency().max as f64, Better::Lower, false),
        row("error rate", &|r| r.outcome.error_rate, Better::Lower, false),
    ]
}
