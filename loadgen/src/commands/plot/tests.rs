//! The plot's pure parts: axis ranges and labels, spectra, titles.

use super::*;

#[test]
fn the_latency_axis_spans_whole_decades() {
    let line = |points: Vec<(f64, f64)>| Line { label: String::new(), points };
    assert_eq!(decades(&[line(vec![(1.0, 0.25), (1e3, 2300.0)])]), (0.1, 1e4));
    assert_eq!(decades(&[line(vec![(1.0, 1.0), (2.0, 1.0)])]), (1.0, 10.0));
    assert_eq!(decades(&[line(vec![(1.0, 0.0)])]), (0.001, 1.0), "nothing positive");
    let labels: Vec<String> = [0.001, 0.01, 0.1, 1.0, 10.0, 1000.0].into_iter().map(ms_label).collect();
    assert_eq!(labels, ["0.001", "0.01", "0.1", "1", "10", "1000"]);
}

#[test]
fn titles_name_each_scenario_once() {
    assert_eq!(scenarios(["a", "b", "a"].into_iter()), "a, b");
    assert!(
        scenarios(std::iter::repeat("long-scenario-name").take(1).chain(["x".repeat(80).as_str()])).ends_with("...")
    );
}

#[test]
fn rate_labels() {
    assert_eq!(
        [rate_label(5000.0), rate_label(20_000.0), rate_label(1.25e6), rate_label(50.0)],
        ["5.0k", "20.0k", "1.2M", "50"]
    );
}

#[test]
fn percentile_labels_count_nines() {
    let labels: Vec<String> = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6].into_iter().map(percentile_label).collect();
    assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]);
}

#[test]
fn spectrum_rises_to_the_max_at_the_right_edge() {
    let mut h = crate::results::stats::new_histogram();
    for v in 1..=1000u64 {
        h.record(v * 10).unwrap();
    }
    let x_max = x_max(std::iter::once(h.len()));
    assert_eq!(x_max, 1e3);
    let points = spectrum(&h, x_max);
    assert_eq!(points.first().unwrap().0, 1.0);
    assert_eq!(*points.last().unwrap(), (1e3, h.max() as f64 / 1000.0));
    assert!(points.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "monotone: {points:?}");
    // p50 sits at x = 2.
    let p50 = points.iter().find(|p| (p.0 - 2.0).abs() < 1e-9).unwrap();
    assert!((p50.1 - 5.0).abs() < 0.01, "{p50:?}");
}
