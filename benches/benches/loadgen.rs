//! The loadgen's per-message path, with its own functions.
//!
//! - `loadgen/stamp/seq`: stamping an outgoing message, as `client.rs` does
//!   in place in its prepared frames: the 12 hex digits of the sequence
//!   number written (`payload::write_seq`), then masked
//!   (`wsbench_proto::unmask_at`).
//! - `loadgen/check_<mode>/<message bytes>`: checking one reply of each
//!   reply mode against the message it answers (`payload::Checker::check`).
//! - `loadgen/receive_echo/<message bytes>`: one reply frame as a session
//!   reads it: decoded in place by wsbench-proto's `Decoder` (client role,
//!   bounded by the longest reply of any mode), then checked.
//! - `loadgen/receive_batch/64`: what one pipelined read brings, 64 echo
//!   replies of 32 B in one buffer, through the whole reply path of a
//!   session: each frame decoded in place (no UTF-8 check in echo mode, as
//!   the session does), checked, settled in the connection's `InFlight`,
//!   and its RTT recorded (one series, a closed loop). Per element: one
//!   reply.
//! - `loadgen/api_render/jsonrpc`: with `--message`, one JSON-RPC request
//!   rendered from its parsed template into the write buffer as a masked
//!   frame (`engine::api::write_frame`), in place of the stamp above.
//! - `loadgen/api_match/json` and `.../regex`: with `--match json:/id` or
//!   `regex:`, the id of one JSON-RPC reply found (`Matcher::key`), in
//!   place of the reply check above.
//! - `loadgen/record/rtt`: recording one latency into the worker's
//!   histograms (`stats::Histograms::record_ns`), values spread from 20 µs
//!   to 50 ms so that recording walks many buckets, as in a run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsbench_benches::{criterion_config, server_text, MASK};
use wsbench_loadgen::engine::api::{write_frame, Matcher, Parsed, Template, Vars};
use wsbench_loadgen::engine::connect::Rng;
use wsbench_loadgen::engine::payload::{message_template, write_seq, write_stamp, Checker, SEQ_OFFSET, STAMP_LEN};
use wsbench_loadgen::engine::tracker::{InFlight, Matched};
use wsbench_loadgen::results::setup::MessageType;
use wsbench_loadgen::results::stats::{Histograms, Series};
use wsbench_proto::unmask_at as apply_mask;
use wsbench_proto::{seed_reply, Decoder, Event, MessageKind, OpCode, Role};
use wsbench_server::mode::{ConnectionParams, ReplyMode, DEFAULT_CHUNK};
use wsbench_server::outbox::Outbox;
use wsbench_server::reply::{Payload, Responder};

/// Message sizes of the reply checks (the stamp takes the first 20 bytes).
const CHECK_SIZES: [usize; 3] = [32, 1 << 10, 64 << 10];

/// Connection id stamped into the messages.
const CONN: u32 = 7;

/// Latencies recorded in turn, in nanoseconds: log-uniform from 20 µs to
/// 50 ms.
fn latencies_ns(n: usize) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            (20_000.0 * 2500f64.powf(unit)) as u64
        })
        .collect()
}

/// The payload of the server's `json` reply to `message`, its first.
fn json_reply(message: &[u8]) -> Vec<u8> {
    let mut out = Outbox::new();
    let mut responder = Responder::new(ConnectionParams { mode: ReplyMode::Json, chunk: DEFAULT_CHUNK });
    let range = 0..message.len();
    responder.respond(&mut out, MessageKind::Text, Payload::Input { bytes: message, range });
    let wire = out.to_vec(message);
    let header = match wire[1] {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    wire[header..].to_vec()
}

fn per_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("loadgen");

    group.throughput(Throughput::Elements(1));
    let mut message = message_template(CONN, MessageType::Text, 125);
    let mut seq = 0u64;
    group.bench_function(BenchmarkId::new("stamp", "seq"), |b| {
        b.iter(|| {
            seq += 1;
            let digits = &mut message[SEQ_OFFSET..STAMP_LEN];
            write_seq(digits, black_box(seq));
            apply_mask(digits, MASK, 0);
        })
    });

    for size in CHECK_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        // The server's `json` reply carries seq 1: the first message.
        let mut message = message_template(CONN, MessageType::Text, size);
        write_stamp(&mut message, CONN, 1);
        let replies = [
            ("check_echo", ReplyMode::Echo, message.clone()),
            ("check_reply", ReplyMode::Reply, seed_reply(&message)),
            ("check_json", ReplyMode::Json, json_reply(&message)),
        ];
        for (name, mode, reply) in replies {
            let mut checker = Checker::new(mode, MessageType::Text, CONN, size);
            assert_eq!(checker.check(MessageKind::Text, &reply), Ok(1), "{name} accepts the server's reply");
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| checker.check(MessageKind::Text, black_box(&reply)).unwrap())
            });
        }
    }

    for size in CHECK_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut message = message_template(CONN, MessageType::Text, size);
        write_stamp(&mut message, CONN, 1);
        let wire = server_text(&message);
        let mut checker = Checker::new(ReplyMode::Echo, MessageType::Text, CONN, size);
        let mut decoder = Decoder::new(Role::Client, checker.max_reply_len());
        let mut input = wire.clone();
        group.bench_function(BenchmarkId::new("receive_echo", size), |b| {
            b.iter(|| {
                // Server frames are not masked: decoding leaves the bytes as they are.
                let frame = decoder.decode(black_box(&mut input)).unwrap().unwrap();
                assert!(matches!(frame.event, Event::Data { first: true, fin: true, .. }));
                checker.check(MessageKind::Text, &input[frame.payload]).unwrap()
            })
        });
        assert_eq!(input, wire);
    }

    receive_batch(&mut group);

    group.throughput(Throughput::Elements(1));
    let template =
        Template::parse(r#"{"jsonrpc":"2.0","id":{{seq}},"method":"ping","params":{"c":{{conn}}}}"#).unwrap();
    let mut rng = Rng::new(1);
    let mut wbuf = Vec::with_capacity(4096);
    let mut seq = 1_000_000u64;
    group.bench_function(BenchmarkId::new("api_render", "jsonrpc"), |b| {
        b.iter(|| {
            seq += 1;
            wbuf.clear();
            let vars = Vars { conn: CONN, seq: black_box(seq), id: seq };
            write_frame(&mut wbuf, &template, &vars, 0, OpCode::Text, MASK, &mut rng)
        })
    });
    let reply = br#"{"jsonrpc":"2.0","id":1000001,"result":{"c":7}}"#;
    for (name, rule) in [("json", "json:/id"), ("regex", r#"regex:"id":(\d+)"#)] {
        let matcher = Matcher::parse(rule).unwrap();
        assert_eq!(matcher.key(&mut Parsed::new(reply)), Some(1_000_001));
        group.bench_function(BenchmarkId::new("api_match", name), |b| {
            b.iter(|| matcher.key(&mut Parsed::new(black_box(reply))).unwrap())
        });
    }

    let values = latencies_ns(4096);
    let mut histograms = Histograms::default();
    let mut i = 0;
    group.bench_function(BenchmarkId::new("record", "rtt"), |b| {
        b.iter(|| {
            i = (i + 1) % values.len();
            histograms.record_ns(Series::RttCorrected, black_box(values[i]));
        })
    });
    assert!(!histograms.get(Series::RttCorrected).is_empty());
    group.finish();
}

/// Replies in one pipelined read, as `-p 64` brings them.
const BATCH: usize = 64;

fn receive_batch(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.throughput(Throughput::Elements(BATCH as u64));
    let size = 32;
    let mut wire = Vec::new();
    for seq in 1..=BATCH as u64 {
        let mut message = message_template(CONN, MessageType::Text, size);
        write_stamp(&mut message, CONN, seq);
        wire.extend_from_slice(&server_text(&message));
    }
    let mut checker = Checker::new(ReplyMode::Echo, MessageType::Text, CONN, size);
    let mut decoder = Decoder::new(Role::Client, checker.max_reply_len()).without_utf8_check();
    let mut input = wire.clone();
    let mut histograms = Histograms::default();
    group.bench_function(BenchmarkId::new("receive_batch", BATCH), |b| {
        b.iter_batched_ref(
            || {
                // The batch's 64 messages in flight, as the session sent them.
                let mut inflight = InFlight::default();
                for i in 0..BATCH as u64 {
                    inflight.push(i, i);
                }
                inflight
            },
            |inflight| {
                let mut at = 0;
                while let Some(frame) = decoder.decode(black_box(&mut input[at..])).unwrap() {
                    let payload = at + frame.payload.start..at + frame.payload.end;
                    at += frame.len;
                    let seq = checker.check(MessageKind::Text, &input[payload]).unwrap();
                    let Matched::Answer { sent, .. } = inflight.answer(seq) else {
                        panic!("message {seq} answered once")
                    };
                    histograms.record_ns(Series::RttCorrected, 50_000 + sent.sent_ns);
                }
                assert_eq!(at, input.len());
                inflight.outstanding()
            },
            criterion::BatchSize::SmallInput,
        )
    });
    assert_eq!(input, wire);
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = per_message
}
criterion_main!(benches);
