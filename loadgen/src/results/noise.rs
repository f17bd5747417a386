//! A verdict for `compare` that knows how noisy the figures are.
//!
//! Why: on a shared machine the same build moves by up to 2× between runs,
//! so a plain "NEW is 10 % worse than BASE" fails unchanged builds. With
//! several repeats of each side (`suite --repeat N`), the change is judged
//! as criterion judges its benchmarks: the point change is the relative
//! change of the medians, and a bootstrap (resampling each side's repeats
//! with replacement) gives a confidence interval of that change. A change is
//! called only when it is both larger than the threshold and outside the
//! noise.
//!
//! Rules, for a threshold of PCT %, taken as a factor `f = 1 + PCT/100`
//! ([`worse_factor`]): a figure is worse by more than PCT when it is more
//! than `f` times as bad: a latency above `f` times BASE's, a throughput
//! below BASE's divided by `f`. So 100 means "2x worse" both ways (a
//! throughput halved), and any PCT can be passed, where "throughput lower by
//! more than 100 %" could never happen.
//! - **Worse**: the point change is worse than PCT *and* the whole interval
//!   lies on the worse side of 0.
//! - **Improved**: symmetric, with the same factor: a gain is claimed only
//!   when it is as large as a loss would have to be to fail, so that the
//!   two verdicts mean the same strength of evidence.
//! - **WithinNoise** otherwise: either the interval spans 0, or the change is
//!   real but smaller than PCT (displayed then as "below threshold").
//! - **NoiseUnknown**: a side has fewer than two usable repeats, so there is
//!   no interval; the caller falls back to the plain threshold.
//!
//! Zeros and non-numbers: values that are not finite (NaN, ±inf) are not
//! measurements and are dropped before anything else. The relative change
//! from `b` to `n` is `(n − b) / |b|` (`n / b − 1` for the positive figures
//! compared here); two equal values, zeros included, are a change of 0 (an
//! error rate that stays at 0 has not changed), and a change from 0 to
//! anything else is ±infinity ("from nothing"), never a division by zero
//! or a NaN.
//!
//! Limits: with 5 repeats a median takes few distinct values, so the
//! percentile bootstrap is coarse; the interval is an estimate of the
//! noise, not a guarantee. Repeats are taken as independent; a drift
//! shared by both sides (the machine slowing down for everyone) is what
//! interleaving the repeats is for, not something this can detect.

use std::fmt;

use oorandom::Rand64;

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput.
    Higher,
    /// Latency, error rate.
    Lower,
}

/// How the confidence interval is estimated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Resamples drawn; more make the interval's ends steadier.
    pub resamples: usize,
    /// Confidence level of the interval, between 0 and 1 (exclusive).
    pub confidence: f64,
    /// The generator's seed: a fixed seed makes the output reproducible.
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 10,000 resamples at 95 %, as criterion's defaults (100,000 there),
    /// with a fixed seed.
    fn default() -> Self {
        Bootstrap { resamples: 10_000, confidence: 0.95, seed: 0x5eed_0fc0_a9a4_e500 }
    }
}

/// A confidence interval of a relative change (0.1 is +10 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The lower bound.
    pub low: f64,
    /// The upper bound.
    pub high: f64,
}

/// What a change between two sets of repeats amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The interval spans no change, or the change is below the threshold.
    WithinNoise,
    /// Better by more than the threshold, and outside the noise.
    Improved,
    /// Worse by more than the threshold, and outside the noise.
    Worse,
    /// A side has fewer than two usable values: no interval.
    NoiseUnknown,
}

/// The verdict with what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The verdict.
    pub verdict: Verdict,
    /// NEW median relative to BASE median; `None` when a side has no
    /// usable value at all.
    pub change: Option<f64>,
    /// `None` exactly when the verdict is `NoiseUnknown`.
    pub interval: Option<Interval>,
}

/// The median of the finite values; `None` if there are none. The mean of
/// the two middle values for an even count.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut finite = finite_values(values);
    median_in_place(&mut finite)
}

/// Relative change from `base` to `new`: `(new − base) / |base|`, 0 when
/// they are equal (zeros included), ±infinity from a base of 0. Never NaN
/// for non-NaN inputs.
pub fn relative_change(base: f64, new: f64) -> f64 {
    if new == base {
        0.0
    } else if base == 0.0 {
        if new > 0.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }
    } else {
        (new - base) / base.abs()
    }
}

/// A percentile bootstrap interval of the relative change of the medians:
/// each resample draws each side's values with replacement. `None` if a
/// side has fewer than two finite values, or `bootstrap` asks for no
/// resamples or a confidence level outside (0, 1).
pub fn bootstrap_interval(base: &[f64], new: &[f64], bootstrap: &Bootstrap) -> Option<Interval> {
    let (base, new) = (finite_values(base), finite_values(new));
    if base.len() < 2 || new.len() < 2 || bootstrap.resamples == 0 {
        return None;
    }
    if !(bootstrap.confidence > 0.0 && bootstrap.confidence < 1.0) {
        return None;
    }
    let mut rng = Rand64::new(u128::from(bootstrap.seed));
    let (mut base_draw, mut new_draw) = (Vec::with_capacity(base.len()), Vec::with_capacity(new.len()));
    let mut changes: Vec<f64> = (0..bootstrap.resamples)
        .map(|_| {
            resample(&mut rng, &base, &mut base_draw);
            resample(&mut rng, &new, &mut new_draw);
            let b = median_in_place(&mut base_draw).expect("a resample of two or more values");
            let n = median_in_place(&mut new_draw).expect("a resample of two or more values");
            relative_change(b, n)
        })
        .collect();
    changes.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - bootstrap.confidence) / 2.0;
    Some(Interval { low: nearest_rank(&changes, tail), high: nearest_rank(&changes, 1.0 - tail) })
}

/// How many times worse a relative `change` (0.1 is +10 %) makes a figure
/// that improves towards `better`: `1 + change` for a latency, its inverse
/// for a throughput (half the throughput is 2 times worse). Below 1 is
/// better. A throughput that falls to 0 is infinitely worse; never NaN for
/// a change that is not NaN.
pub fn worse_factor(change: f64, better: Better) -> f64 {
    let ratio = 1.0 + change;
    match better {
        Better::Lower => ratio,
        Better::Higher if ratio <= 0.0 => f64::INFINITY,
        Better::Higher => 1.0 / ratio,
    }
}

/// Judges NEW against BASE for a figure that improves towards `better`,
/// with a threshold of `threshold_pct` % (a negative or NaN threshold is 0).
pub fn judge(base: &[f64], new: &[f64], better: Better, threshold_pct: f64, bootstrap: &Bootstrap) -> Judgement {
    let change = match (median(base), median(new)) {
        (Some(b), Some(n)) => Some(relative_change(b, n)),
        _ => None,
    };
    let interval = bootstrap_interval(base, new, bootstrap);
    let (Some(point), Some(iv)) = (change, interval) else {
        return Judgement { verdict: Verdict::NoiseUnknown, change, interval: None };
    };
    let factor = 1.0 + threshold_pct.max(0.0) / 100.0;
    let (worse_side, better_side) = match better {
        Better::Lower => (iv.low > 0.0, iv.high < 0.0),
        Better::Higher => (iv.high < 0.0, iv.low > 0.0),
    };
    let badness = worse_factor(point, better);
    let verdict = if badness > factor && worse_side {
        Verdict::Worse
    } else if badness < 1.0 / factor && better_side {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    };
    Judgement { verdict, change, interval }
}

impl fmt::Display for Judgement {
    /// `worse +23.1% [+12.0%, +35.4%]`, `within noise +3.2% [-8.1%, +14.0%]`,
    /// `below threshold +3.0% [+1.0%, +5.0%]` (real but smaller than the
    /// threshold), `noise unknown +23.1%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match (self.verdict, self.interval) {
            (Verdict::Worse, _) => "worse",
            (Verdict::Improved, _) => "improved",
            (Verdict::WithinNoise, Some(iv)) if iv.low > 0.0 || iv.high < 0.0 => "below threshold",
            (Verdict::WithinNoise, _) => "within noise",
            (Verdict::NoiseUnknown, _) => "noise unknown",
        };
        f.write_str(word)?;
        match self.change {
            Some(change) => write!(f, " {}", Percent(change))?,
            None => f.write_str(" (no values)")?,
        }
        if let Some(iv) = self.interval {
            write!(f, " [{}, {}]", Percent(iv.low), Percent(iv.high))?;
        }
        Ok(())
    }
}

/// A relative change as a signed percentage with one decimal.
struct Percent(f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_infinite() {
            f.write_str(if self.0 > 0.0 { "+inf%" } else { "-inf%" })
        } else {
            write!(f, "{:+.1}%", self.0 * 100.0)
        }
    }
}

fn finite_values(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Sorts `values` (all finite) and returns their median.
fn median_in_place(values: &mut [f64]) -> Option<f64> {
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        // Halves first: the sum of two large values could overflow.
        _ => Some(values[mid - 1] / 2.0 + values[mid] / 2.0),
    }
}

fn resample(rng: &mut Rand64, from: &[f64], into: &mut Vec<f64>) {
    into.clear();
    into.extend((0..from.len()).map(|_| from[rng.rand_range(0..from.len() as u64) as usize]));
}

/// The `p` quantile of sorted, non-empty `sorted`, by nearest rank (no
/// interpolation, which could mix an infinity into a NaN).
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let at = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests;
