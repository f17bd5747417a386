//! The server's frame path, in memory, with tungstenite side by side.
//!
//! Benchmark ids are `group/implementation/message size in bytes`; every
//! group reports throughput, in message bytes or in messages.
//!
//! - `parse_unmask`: parse a masked client frame header and unmask its payload.
//! - `reply_build`: queue the reply of each reply mode into an outbox.
//! - `write_frames`: write a queued echo frame into a buffer.
//! - `echo`: read, unmask, validate, echo and write one text message, in
//!   memory and synchronously (wsbench's parts; tungstenite's `WebSocket`).
//! - `full_path`: the same through the real connection loops (wsbench's
//!   `Connection::run`; tokio-tungstenite's `WebSocketStream`) over an
//!   in-memory duplex stream, one message and its echo at a time.
//! - `pipelined_batch`: 64 small messages written at once, all echoes read.

use std::hint::black_box;
use std::io::{Cursor, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;
use tungstenite::protocol::frame::coding::{Data, OpCode as TOpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::{Role, WebSocket};
use wsbench_benches::{
    criterion_config, masked_text, server_text, text_payload, tungstenite_apply_mask, MemStream, ServerPath, BATCH,
    SIZES, SMALL_SIZES,
};
use wsbench_proto::{parse_header, seed_reply, unmask_at, MessageKind, OpCode};
use wsbench_server::connection::{Connection, ConnectionLimits, ShutdownSignal};
use wsbench_server::metrics::Metrics;
use wsbench_server::mode::{ConnectionParams, ReplyMode, DEFAULT_CHUNK};
use wsbench_server::outbox::Outbox;
use wsbench_server::reply::{Payload, Responder};

/// Buffer of the in-memory duplex stream, each way: about what a loopback
/// TCP socket buffers.
const DUPLEX_BUFFER: usize = 128 << 10;

/// Largest message either server accepts in these benchmarks.
const MAX_MESSAGE: usize = 16 << 20;

fn parse_unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_unmask");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let wire = masked_text(size);

        // In place, in the read buffer: each iteration toggles the payload
        // between masked and clear, which costs the same either way.
        let mut buf = wire.clone();
        group.bench_function(BenchmarkId::new("wsbench", size), |b| {
            b.iter(|| {
                let buf = black_box(&mut buf[..]);
                let header = parse_header(buf, wsbench_proto::Role::Server).unwrap().unwrap();
                let payload = &mut buf[header.header_len..header.frame_len() as usize];
                unmask_at(payload, header.mask.unwrap(), 0);
                payload.len()
            })
        });

        // tungstenite's FrameCodec::read_frame, from its read buffer: parse
        // the header, copy the payload out into the frame's own Vec; then
        // WebSocketContext unmasks it (Frame::apply_mask, crate-private:
        // its kernel is copied into wsbench_benches).
        group.bench_function(BenchmarkId::new("tungstenite", size), |b| {
            b.iter(|| {
                let mut cursor = Cursor::new(black_box(&wire[..]));
                let (mut header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
                let mut payload = Vec::with_capacity(len as usize);
                Read::take(&mut cursor, len).read_to_end(&mut payload).unwrap();
                let mask = header.mask.take().unwrap();
                tungstenite_apply_mask(&mut payload, mask);
                Frame::from_payload(header, payload)
            })
        });
    }
    group.finish();
}

fn reply_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply_build");
    let modes = [
        ("echo", ReplyMode::Echo),
        ("reply", ReplyMode::Reply),
        ("json", ReplyMode::Json),
        ("stream_chunk4096", ReplyMode::Stream),
    ];
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let input = text_payload(size);
        for (name, mode) in modes {
            let mut out = Outbox::new();
            let mut responder = Responder::new(ConnectionParams { mode, chunk: DEFAULT_CHUNK });
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| {
                    let bytes = black_box(&input[..]);
                    responder.respond(&mut out, MessageKind::Text, Payload::Input { bytes, range: 0..size });
                    let queued = out.len();
                    // As after a flush: a buffer grown past 64 KiB is released.
                    out.clear();
                    queued
                })
            });
        }
    }
    group.finish();
}

fn write_frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("write_frames");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let input = text_payload(size);
        let expected = server_text(&input);

        // Queue a header and a reference to the payload in the read buffer,
        // then write both into a buffer with one vectored write.
        let mut out = Outbox::new();
        let mut sink = Vec::with_capacity(expected.len());
        out.header(true, OpCode::Text, size);
        out.input(0..size, &input);
        wsbench_benches::now(out.flush(&mut sink, &input)).unwrap();
        assert_eq!(sink, expected);
        group.bench_function(BenchmarkId::new("wsbench", size), |b| {
            b.iter(|| {
                out.header(true, OpCode::Text, size);
                out.input(0..size, &input);
                sink.clear();
                wsbench_benches::now(out.flush(&mut sink, black_box(&input))).unwrap();
                sink.len()
            })
        });

        // tungstenite formats a frame that owns its payload (an echo moves
        // the message it read into it); making that frame is not timed.
        let mut sink = Vec::with_capacity(expected.len());
        let frame = || Frame::message(input.clone(), TOpCode::Data(Data::Text), true);
        frame().format(&mut sink).unwrap();
        assert_eq!(sink, expected);
        let batch = if size >= 64 << 10 { BatchSize::LargeInput } else { BatchSize::SmallInput };
        group.bench_function(BenchmarkId::new("tungstenite", size), |b| {
            b.iter_batched(
                frame,
                |frame| {
                    sink.clear();
                    frame.format(&mut sink).unwrap();
                    sink.len()
                },
                batch,
            )
        });
    }
    group.finish();
}

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let wire = masked_text(size);
        let expected = server_text(&text_payload(size));

        let mut server = ServerPath::new(ReplyMode::Echo);
        server.serve(&wire);
        assert_eq!(server.sink, expected);
        group.bench_function(BenchmarkId::new("wsbench", size), |b| b.iter(|| server.serve(black_box(&wire))));

        let mut ws = WebSocket::from_raw_socket(MemStream::new(wire.clone()), Role::Server, None);
        let round = |ws: &mut WebSocket<MemStream>| {
            ws.get_mut().rewind();
            let message = ws.read().unwrap();
            ws.send(message).unwrap();
            ws.get_ref().output.len()
        };
        round(&mut ws);
        assert_eq!(ws.get_ref().output, expected);
        group.bench_function(BenchmarkId::new("tungstenite", size), |b| b.iter(|| round(&mut ws)));
    }
    group.finish();
}

/// A server on one end of an in-memory duplex stream; the benchmark is the
/// client on the other end.
struct Duplex {
    rt: Runtime,
    client: DuplexStream,
}

impl Duplex {
    fn wsbench(mode: ReplyMode) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (client, server) = tokio::io::duplex(DUPLEX_BUFFER);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let params = ConnectionParams { mode, chunk: DEFAULT_CHUNK };
        let limits = ConnectionLimits { max_message_size: MAX_MESSAGE, ..ConnectionLimits::default() };
        let connection = Connection::new(server, peer, &[], params, limits, Arc::new(Metrics::default()));
        rt.spawn(connection.run(ShutdownSignal::never()));
        Duplex { rt, client }
    }

    /// tokio-tungstenite's usual echo loop: each message is sent (written
    /// and flushed) before the next is read.
    fn tokio_tungstenite() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (client, server) = tokio::io::duplex(DUPLEX_BUFFER);
        let config = tungstenite::protocol::WebSocketConfig {
            max_message_size: Some(MAX_MESSAGE),
            max_frame_size: Some(MAX_MESSAGE),
            ..Default::default()
        };
        rt.spawn(async move {
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(server, Role::Server, Some(config)).await;
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() || message.is_binary() {
                    ws.send(message).await.unwrap();
                }
            }
        });
        Duplex { rt, client }
    }

    /// Writes `request` and reads `reply.len()` bytes into `reply`.
    fn round_trip(&mut self, request: &[u8], reply: &mut [u8]) {
        let client = &mut self.client;
        self.rt.block_on(async {
            client.write_all(request).await.unwrap();
            client.read_exact(reply).await.unwrap();
        })
    }

    /// `iters` round trips, timed inside one `block_on`.
    fn time(&mut self, iters: u64, request: &[u8], reply: &mut [u8]) -> Duration {
        let client = &mut self.client;
        self.rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                client.write_all(black_box(request)).await.unwrap();
                client.read_exact(reply).await.unwrap();
            }
            start.elapsed()
        })
    }
}

/// Runs `request` through both servers in `group`, checking the replies once.
fn duplex_pair(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
    request: &[u8],
    expected: &[u8],
) {
    for name in ["wsbench", "tokio-tungstenite"] {
        let mut duplex = match name {
            "wsbench" => Duplex::wsbench(ReplyMode::Echo),
            _ => Duplex::tokio_tungstenite(),
        };
        let mut reply = vec![0u8; expected.len()];
        duplex.round_trip(request, &mut reply);
        assert!(reply == expected, "{name} echoes {size}-byte messages");
        group.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter_custom(|iters| duplex.time(iters, request, &mut reply))
        });
    }
}

fn full_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("full_path");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let request = masked_text(size);
        let expected = server_text(&text_payload(size));
        duplex_pair(&mut group, size, &request, &expected);
    }
    // wsbench's default mode, for reference: the seed's reply text.
    for size in SMALL_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut duplex = Duplex::wsbench(ReplyMode::Reply);
        let request = masked_text(size);
        let expected = server_text(&seed_reply(&text_payload(size)));
        let mut reply = vec![0u8; expected.len()];
        duplex.round_trip(&request, &mut reply);
        assert_eq!(reply, expected);
        group.bench_function(BenchmarkId::new("wsbench_reply_mode", size), |b| {
            b.iter_custom(|iters| duplex.time(iters, &request, &mut reply))
        });
    }
    group.finish();
}

fn pipelined_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipelined_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in SMALL_SIZES {
        let request = masked_text(size).repeat(BATCH);
        let expected = server_text(&text_payload(size)).repeat(BATCH);
        duplex_pair(&mut group, size, &request, &expected);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = parse_unmask, reply_build, write_frames, echo, full_path, pipelined_batch
}
criterion_main!(benches);
