//! permessage-deflate's backend: flate2 on zlib-rs (what wsbench-proto's
//! codec uses) against miniz_oxide (flate2's default backend), raw DEFLATE
//! with a sync flush, as RFC 7692 sends a message, compressed then
//! inflated, on 32 B, 1 KiB and 16 KiB JSON-like and random payloads, with
//! no context takeover (each message on its own, the server's default).
//! The figures chose the backend; they are in docs/deflate.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZFlush};
use wsbench_proto::deflate::{Compressor, Decompressor};

/// JSON-like text: records with repeated keys and varying values.
fn json_like(len: usize) -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < len {
        s += &format!(r#"{{"type":"text","seq":{i},"user":"user{}","message":"hello {}"}},"#, i % 97, i * 7919 % 10007);
        i += 1;
    }
    s.truncate(len);
    s.into_bytes()
}

/// Incompressible bytes (xorshift).
fn random(len: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn miniz_round_trip(
    c: &mut CompressorOxide,
    d: &mut InflateState,
    msg: &[u8],
    packed: &mut [u8],
    out: &mut [u8],
) -> usize {
    c.reset();
    let r = miniz_oxide::deflate::stream::deflate(c, msg, packed, MZFlush::Sync);
    let n = r.bytes_written - 4; // the 00 00 ff ff tail, stripped
    d.reset(DataFormat::Raw);
    let mut input = packed[..n].to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let r = miniz_oxide::inflate::stream::inflate(d, &input, out, MZFlush::Sync);
    assert_eq!(&out[..r.bytes_written], msg);
    n
}

fn backends(crit: &mut Criterion) {
    let mut g = crit.benchmark_group("deflate");
    for (name, make) in [("json", json_like as fn(usize) -> Vec<u8>), ("random", random)] {
        for size in [32usize, 1024, 16 << 10] {
            let msg = make(size);
            g.throughput(Throughput::Bytes(size as u64));
            let id = format!("{name}/{size}");
            let (mut c, mut d) = (Compressor::new(15, true), Decompressor::new(true));
            let (mut packed, mut out) = (Vec::new(), Vec::new());
            g.bench_with_input(BenchmarkId::new("zlib-rs", &id), &msg, |b, msg| {
                b.iter(|| {
                    packed.clear();
                    out.clear();
                    c.compress(msg, true, &mut packed);
                    d.decompress(&packed, true, &mut out, 1 << 20).unwrap();
                    assert_eq!(out.len(), msg.len());
                })
            });
            let mut mc = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
            let mut md = InflateState::new_boxed(DataFormat::Raw);
            let (mut mpacked, mut mout) = (vec![0u8; size * 2 + 64], vec![0u8; size]);
            g.bench_with_input(BenchmarkId::new("miniz_oxide", &id), &msg, |b, msg| {
                b.iter(|| miniz_round_trip(&mut mc, &mut md, msg, &mut mpacked, &mut mout))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, backends);
criterion_main!(benches);
