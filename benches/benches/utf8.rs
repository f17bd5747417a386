//! The UTF-8 check of text payloads: the validator of wsbench-proto
//! (`Utf8Validator::feed` + `finish`, on `simdutf8::compat`) against the
//! standard library's `std::str::from_utf8`, which the server used before,
//! and `simdutf8::compat::from_utf8` alone.
//!
//! Payloads are the benchmarks' ASCII text and, as `_cjk`, the seed's
//! Chinese reply text repeated (3-byte code points).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsbench_benches::{criterion_config, text_payload, SIZES};
use wsbench_proto::{Utf8Validator, REPLY_PREFIX};

fn cjk_payload(len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = REPLY_PREFIX.bytes().cycle().take(len).collect();
    while std::str::from_utf8(&v).is_err() {
        v.pop();
    }
    v
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for size in SIZES {
        for (suffix, payload) in [("", text_payload(size)), ("_cjk", cjk_payload(size))] {
            group.throughput(Throughput::Bytes(payload.len() as u64));
            let mut v = Utf8Validator::new();
            group.bench_function(BenchmarkId::new(format!("proto_validator{suffix}"), size), |b| {
                b.iter(|| {
                    v.reset();
                    v.feed(black_box(&payload)).unwrap();
                    v.finish().unwrap()
                })
            });
            group.bench_function(BenchmarkId::new(format!("std{suffix}"), size), |b| {
                b.iter(|| std::str::from_utf8(black_box(&payload)).is_ok())
            });
            group.bench_function(BenchmarkId::new(format!("simdutf8_compat{suffix}"), size), |b| {
                b.iter(|| simdutf8::compat::from_utf8(black_box(&payload)).is_ok())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = utf8
}
criterion_main!(benches);
