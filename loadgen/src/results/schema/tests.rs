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
