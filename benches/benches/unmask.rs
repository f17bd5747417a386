//! Unmasking alone, against a plain memcpy of the same size: the physical
//! limit, since both read and write every byte once.
//!
//! Each buffer starts at the offset its payload has in the server's read
//! buffer (after a 6-, 8- or 14-byte client header), so the kernels see the
//! alignment they see in the server.
//!
//! - `memcpy`: `copy_from_slice` into another buffer of the same alignment.
//! - `fastwebsockets`: `fastwebsockets::unmask` (u32 words after an
//!   aligning prefix), the kernel the server used before wsbench-proto.
//! - `wsbench_proto`: `wsbench_proto::unmask_at`, the same kernel ported
//!   into the protocol crate: the server's and the loadgen's now.
//! - `prototype_u64x4`: `wsbench_benches::unmask_prototype`, 32-byte blocks
//!   of u64 words.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsbench_benches::{criterion_config, masked_text, unmask_prototype, MASK, SIZES};
use wsbench_proto::{parse_header, unmask_at, Role};

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("unmask");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut wire = masked_text(size);
        let offset = parse_header(&wire, Role::Server).unwrap().unwrap().header_len;
        let src = wire.clone();
        let mut dst = vec![0u8; wire.len()];

        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| dst[offset..].copy_from_slice(black_box(&src[offset..])))
        });
        group.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut wire[offset..]), MASK))
        });
        group.bench_function(BenchmarkId::new("wsbench_proto", size), |b| {
            b.iter(|| unmask_at(black_box(&mut wire[offset..]), MASK, 0))
        });
        group.bench_function(BenchmarkId::new("prototype_u64x4", size), |b| {
            b.iter(|| unmask_prototype(black_box(&mut wire[offset..]), MASK))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = unmask
}
criterion_main!(benches);
