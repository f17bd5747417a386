//! The histogram encoding of results.

use super::*;

#[test]
fn histogram_data_round_trips() {
    let mut h = super::super::stats::new_histogram();
    for v in [1u64, 10, 100, 1000, 123_456] {
        h.record(v).unwrap();
    }
    let d = HistogramData::from_histogram(&h);
    assert_eq!(d.count, 5);
    assert_eq!(d.percentile(50.0), Some(100));
    assert_eq!(d.decode().unwrap(), h);
}

#[test]
fn histograms_sum_exactly_and_a_failure_names_its_input() {
    use hdrhistogram::Histogram;

    use crate::results::histogram_data::SumCause;

    let of = |values: &[u64]| {
        let mut h = super::super::stats::new_histogram();
        values.iter().for_each(|&v| h.record(v).unwrap());
        HistogramData::from_histogram(&h)
    };
    let (a, b) = (of(&[1, 10, 100]), of(&[1000, 123_456]));
    let mut want = a.decode().unwrap();
    want.add(b.decode().unwrap()).unwrap();
    assert_eq!(HistogramData::sum([&a, &b]).unwrap().decode().unwrap(), want);
    assert_eq!(HistogramData::sum([]).unwrap(), of(&[]), "nothing: empty");

    let mut bad = b.clone();
    bad.encoded = "not base64!".into();
    let e = HistogramData::sum([&a, &bad, &b]).unwrap_err();
    assert!(matches!(e.cause, SumCause::Decode(_)) && e.index == 1, "{e:?}");
    assert_eq!(e.to_string(), e.cause.to_string());

    let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX / 2, 3).unwrap();
    wide.record(u64::MAX / 4).unwrap();
    let e = HistogramData::sum([&HistogramData::from_histogram(&wide)]).unwrap_err();
    assert!(matches!(e.cause, SumCause::Add(_)) && e.index == 0, "{e:?}");
    assert!(e.to_string().starts_with("cannot add: "), "{e}");
}
