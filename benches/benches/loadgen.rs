//! The loadgen's per-message path.
//!
//! - `loadgen/record_histogram`: recording one latency into an HDR
//!   histogram of the loadgen's range (1 µs to 1 h, 3 significant digits),
//!   the values spread from 20 µs to 50 ms as a run's are.
//!
//! Stamping a message and checking a reply join this group once the
//! loadgen library exposes them.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;
use wsbench_benches::criterion_config;

/// Latencies recorded in turn, in microseconds: log-uniform from 20 µs to
/// 50 ms, so that recording walks many buckets as in a real run.
fn latencies_us(n: usize) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            (20.0 * (2500f64).powf(unit)) as u64
        })
        .collect()
}

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("loadgen");
    group.throughput(Throughput::Elements(1));
    let values = latencies_us(4096);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut i = 0;
    group.bench_function(BenchmarkId::new("record_histogram", "1us_1h_3sigfig"), |b| {
        b.iter(|| {
            i = (i + 1) % values.len();
            histogram.saturating_record(black_box(values[i]));
        })
    });
    assert!(!histogram.is_empty());
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = record
}
criterion_main!(benches);
