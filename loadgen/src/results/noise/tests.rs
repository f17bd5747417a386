use oorandom::Rand64;
use proptest::prelude::*;

use super::*;

const DEFAULT: Bootstrap = Bootstrap { resamples: 10_000, confidence: 0.95, seed: 7 };

fn verdict(base: &[f64], new: &[f64], better: Better, pct: f64) -> Verdict {
    judge(base, new, better, pct, &DEFAULT).verdict
}

#[test]
fn median_of_odd_even_and_unusable_inputs() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[f64::NAN, f64::INFINITY]), None);
    assert_eq!(median(&[f64::NAN, 5.0, f64::NEG_INFINITY]), Some(5.0));
    assert_eq!(median(&[f64::MAX, f64::MAX]), Some(f64::MAX));
}

#[test]
fn relative_change_handles_zeros() {
    assert!((relative_change(100.0, 123.0) - 0.23).abs() < 1e-15);
    assert_eq!(relative_change(100.0, 50.0), -0.5);
    assert_eq!(relative_change(0.0, 0.0), 0.0);
    assert_eq!(relative_change(0.0, 0.01), f64::INFINITY);
    assert_eq!(relative_change(0.0, -1.0), f64::NEG_INFINITY);
    assert_eq!(relative_change(-2.0, -1.0), 0.5);
}

#[test]
fn identical_distributions_are_within_noise() {
    let runs = [100.0, 140.0, 90.0, 120.0, 105.0];
    for better in [Better::Lower, Better::Higher] {
        assert_eq!(verdict(&runs, &runs, better, 10.0), Verdict::WithinNoise);
    }
    let shuffled = [105.0, 90.0, 120.0, 100.0, 140.0];
    let j = judge(&runs, &shuffled, Better::Lower, 10.0, &DEFAULT);
    assert_eq!(j.change, Some(0.0));
    assert!(j.interval.unwrap().low < 0.0 && j.interval.unwrap().high > 0.0);
}

#[test]
fn a_clear_2x_shift_is_called_each_way() {
    let base = [10.0, 11.0, 9.5, 10.4, 10.1];
    let slow = base.map(|v| v * 2.0);
    // Latency doubled: worse; halved: improved.
    assert_eq!(verdict(&base, &slow, Better::Lower, 10.0), Verdict::Worse);
    assert_eq!(verdict(&slow, &base, Better::Lower, 10.0), Verdict::Improved);
    // Throughput doubled: improved; halved: worse.
    assert_eq!(verdict(&base, &slow, Better::Higher, 10.0), Verdict::Improved);
    assert_eq!(verdict(&slow, &base, Better::Higher, 10.0), Verdict::Worse);
}

#[test]
fn a_big_point_change_inside_the_noise_is_within_noise() {
    let base = [100.0, 60.0, 180.0, 90.0, 150.0];
    let new = [130.0, 70.0, 200.0, 85.0, 160.0];
    let j = judge(&base, &new, Better::Lower, 10.0, &DEFAULT);
    assert!(j.change.unwrap() > 0.10, "{j}");
    assert!(j.interval.unwrap().low < 0.0, "{j}");
    assert_eq!(j.verdict, Verdict::WithinNoise);
    assert!(j.to_string().starts_with("within noise +"), "{j}");
}

#[test]
fn a_real_shift_smaller_than_the_threshold_is_not_worse() {
    let base = [100.0, 100.5, 99.8, 100.2, 100.1];
    let new = base.map(|v| v * 1.05);
    let j = judge(&base, &new, Better::Lower, 10.0, &DEFAULT);
    assert!(j.interval.unwrap().low > 0.0, "the shift is real: {j}");
    assert_eq!(j.verdict, Verdict::WithinNoise);
    assert!(j.to_string().starts_with("below threshold +5.0%"), "{j}");
    // The same shift fails a 3 % threshold.
    assert_eq!(verdict(&base, &new, Better::Lower, 3.0), Verdict::Worse);
}

#[test]
fn the_threshold_is_a_factor_both_ways() {
    let base = [100.0, 101.0, 99.0, 100.5, 99.5];
    let half = base.map(|v| v / 2.0);
    let double = base.map(|v| v * 2.0);
    // A throughput halved is 2x worse: past 90 %, not past 110 %.
    assert_eq!(verdict(&base, &half, Better::Higher, 90.0), Verdict::Worse);
    assert_eq!(verdict(&base, &half, Better::Higher, 110.0), Verdict::WithinNoise);
    // A latency doubled likewise; a latency halved is improved by the same factor.
    assert_eq!(verdict(&base, &double, Better::Lower, 90.0), Verdict::Worse);
    assert_eq!(verdict(&base, &half, Better::Lower, 90.0), Verdict::Improved);
    assert_eq!(verdict(&base, &half, Better::Lower, 110.0), Verdict::WithinNoise);
    assert_eq!(worse_factor(-0.5, Better::Higher), 2.0);
    assert_eq!(worse_factor(-1.0, Better::Higher), f64::INFINITY);
    assert_eq!(worse_factor(f64::INFINITY, Better::Higher), 0.0);
    assert_eq!(worse_factor(0.25, Better::Lower), 1.25);
}

#[test]
fn a_single_repeat_leaves_the_noise_unknown() {
    let j = judge(&[100.0], &[130.0, 131.0], Better::Lower, 10.0, &DEFAULT);
    assert_eq!(j.verdict, Verdict::NoiseUnknown);
    assert_eq!(j.interval, None);
    assert!((j.change.unwrap() - 0.305).abs() < 1e-12);
    assert_eq!(j.to_string(), "noise unknown +30.5%");
    let j = judge(&[], &[1.0, 2.0], Better::Lower, 10.0, &DEFAULT);
    assert_eq!((j.verdict, j.change), (Verdict::NoiseUnknown, None));
    assert_eq!(j.to_string(), "noise unknown (no values)");
    // NaN repeats do not count.
    let j = judge(&[1.0, f64::NAN], &[1.0, 2.0], Better::Lower, 10.0, &DEFAULT);
    assert_eq!(j.verdict, Verdict::NoiseUnknown);
}

#[test]
fn error_rates_at_zero() {
    let zero = [0.0; 5];
    let j = judge(&zero, &zero, Better::Lower, 10.0, &DEFAULT);
    assert_eq!(j.verdict, Verdict::WithinNoise);
    assert_eq!(j.to_string(), "within noise +0.0% [+0.0%, +0.0%]");
    let j = judge(&zero, &[0.01; 5], Better::Lower, 10.0, &DEFAULT);
    assert_eq!(j.verdict, Verdict::Worse);
    assert_eq!(j.to_string(), "worse +inf% [+inf%, +inf%]");
    // Errors in one repeat of five are not a median change.
    let j = judge(&zero, &[0.0, 0.0, 0.3, 0.0, 0.0], Better::Lower, 10.0, &DEFAULT);
    assert_eq!(j.verdict, Verdict::WithinNoise);
}

#[test]
fn display_formats() {
    let j =
        Judgement { verdict: Verdict::Worse, change: Some(0.231), interval: Some(Interval { low: 0.12, high: 0.354 }) };
    assert_eq!(j.to_string(), "worse +23.1% [+12.0%, +35.4%]");
    let j = Judgement {
        verdict: Verdict::WithinNoise,
        change: Some(0.032),
        interval: Some(Interval { low: -0.081, high: 0.14 }),
    };
    assert_eq!(j.to_string(), "within noise +3.2% [-8.1%, +14.0%]");
    let j = Judgement {
        verdict: Verdict::Improved,
        change: Some(-0.5),
        interval: Some(Interval { low: -0.6, high: -0.4 }),
    };
    assert_eq!(j.to_string(), "improved -50.0% [-60.0%, -40.0%]");
}

#[test]
fn bad_bootstrap_settings_give_no_interval() {
    let (a, b) = ([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]);
    for bad in [
        Bootstrap { resamples: 0, ..DEFAULT },
        Bootstrap { confidence: 1.0, ..DEFAULT },
        Bootstrap { confidence: f64::NAN, ..DEFAULT },
    ] {
        assert_eq!(bootstrap_interval(&a, &b, &bad), None);
    }
}

#[test]
fn the_same_inputs_give_the_same_output() {
    let base = [100.0, 60.0, 180.0, 90.0, 150.0];
    let new = [130.0, 70.0, 200.0, 85.0, 160.0];
    let first = judge(&base, &new, Better::Lower, 10.0, &Bootstrap::default());
    for _ in 0..3 {
        assert_eq!(judge(&base, &new, Better::Lower, 10.0, &Bootstrap::default()), first);
    }
    // Few resamples of many distinct values: the seed shows in the ends.
    let many: Vec<f64> = (0..12).map(|i| 100.0 + f64::from(i * i)).collect();
    let few = |seed| bootstrap_interval(&many, &many[1..], &Bootstrap { resamples: 20, seed, ..DEFAULT });
    assert_eq!(few(1), few(1));
    assert_ne!(few(1), few(2), "the seed is used");
}

/// A log-normal draw with median `median` and log-space spread `sigma`
/// (Box-Muller).
fn log_normal(rng: &mut Rand64, median: f64, sigma: f64) -> f64 {
    let u1 = 1.0 - rng.rand_float(); // (0, 1]: ln is finite
    let u2 = rng.rand_float();
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * normal).exp()
}

/// Share of 200 trials (`repeats` each side, log-normal with log-space
/// spread `sigma`, PCT 10) judged Worse, NEW's median `slowdown` times BASE's.
fn worse_rate(repeats: usize, sigma: f64, slowdown: f64, seed: u128) -> f64 {
    let mut rng = Rand64::new(seed);
    // Fewer resamples than the default keep this under a second in debug builds.
    let bootstrap = Bootstrap { resamples: 1_000, ..Bootstrap::default() };
    let trials = 200;
    let worse = (0..trials)
        .filter(|_| {
            let base: Vec<f64> = (0..repeats).map(|_| log_normal(&mut rng, 10.0, sigma)).collect();
            let new: Vec<f64> = (0..repeats).map(|_| log_normal(&mut rng, 10.0 * slowdown, sigma)).collect();
            judge(&base, &new, Better::Lower, 10.0, &bootstrap).verdict == Verdict::Worse
        })
        .count();
    worse as f64 / f64::from(trials)
}

#[test]
fn simulation_an_unchanged_build_rarely_fails() {
    for (repeats, sigma) in [(5, 0.3), (10, 0.3), (5, 0.5)] {
        let rate = worse_rate(repeats, sigma, 1.0, 42);
        assert!(rate <= 0.05, "{repeats} repeats, spread {sigma}: judged worse in {:.1}%", rate * 100.0);
    }
}

/// A 2x slowdown is caught in 95 % of trials with 5 repeats at 20 % spread
/// or 10 repeats at 30 %. With 5 repeats at 30 % it is caught in ~80 %
/// (measured): no 95 % test can do much better there (a t-test on the
/// logarithms, optimal for this distribution, has ~90 % power), so that
/// case is held to what the median bootstrap gives, to catch a regression.
#[test]
fn simulation_a_2x_slowdown_is_caught() {
    for (repeats, sigma, at_least) in [(5, 0.2, 0.95), (10, 0.3, 0.95), (5, 0.3, 0.75)] {
        let rate = worse_rate(repeats, sigma, 2.0, 43);
        assert!(rate >= at_least, "{repeats} repeats, spread {sigma}: caught in {:.1}%", rate * 100.0);
    }
}

proptest! {
    #[test]
    fn never_panics_on_finite_inputs(
        base in prop::collection::vec(prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL, 0..8),
        new in prop::collection::vec(prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL, 0..8),
        pct in -50.0f64..200.0,
        higher in any::<bool>(),
    ) {
        let better = if higher { Better::Higher } else { Better::Lower };
        let bootstrap = Bootstrap { resamples: 200, ..Bootstrap::default() };
        let j = judge(&base, &new, better, pct, &bootstrap);
        let _ = j.to_string();
        prop_assert_eq!(j.interval.is_none(), j.verdict == Verdict::NoiseUnknown);
        if let Some(change) = j.change {
            prop_assert!(!change.is_nan());
        }
        if let Some(iv) = j.interval {
            prop_assert!(!iv.low.is_nan() && !iv.high.is_nan() && iv.low <= iv.high);
        }
        prop_assert_eq!(judge(&base, &new, better, pct, &bootstrap), j);
    }
}
