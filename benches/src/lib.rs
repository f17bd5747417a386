//! Shared helpers of the wsbench criterion benchmarks (`benches/benches/*.rs`).
//!
//! Wire bytes of masked client frames, an in-memory `Read + Write` stream for
//! tungstenite, the server's frame path composed in memory, a tiny executor
//! for futures that never wait, and a prototype unmask kernel to compare with
//! the one the server uses.

use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use criterion::Criterion;
use wsbench_proto::{encode_header, Decoder, Event, OpCode, Role, MAX_HEADER};
use wsbench_server::mode::{ConnectionParams, ReplyMode, DEFAULT_CHUNK};
use wsbench_server::outbox::Outbox;
use wsbench_server::reply::{Payload, Responder};

/// Message sizes of the frame-path benchmarks: the two small-frame length
/// forms (7-bit, at its 125-byte limit), a typical message, and the 16- and
/// 64-bit length forms at sizes where bandwidth dominates.
pub const SIZES: [usize; 5] = [16, 125, 1 << 10, 64 << 10, 1 << 20];

/// Sizes of the "small message" comparisons (per-message overhead).
pub const SMALL_SIZES: [usize; 2] = [16, 125];

/// Messages in one pipelined batch.
pub const BATCH: usize = 64;

/// The masking key of every client frame built here (any non-zero key costs
/// the same; zero would not catch a missing unmask in the checks).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The criterion settings of every group, sized so that all benchmarks
/// together run in well under 5 minutes on 2 cores.
///
/// 20 samples of 1.5 s after 0.5 s of warm-up give confidence intervals of a
/// few percent on a quiet machine; on the shared 2-core machines this runs
/// on, run-to-run noise is larger than that anyway, so the noise threshold is
/// raised to 5% to keep criterion from reporting noise as change.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20)
        .noise_threshold(0.05)
        .nresamples(10_000)
}

/// `len` bytes of printable ASCII: valid as text, and not all one byte.
pub fn text_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The wire bytes of one masked client frame.
pub fn masked_frame(opcode: OpCode, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut head = [0u8; MAX_HEADER];
    let n = encode_header(&mut head, fin, opcode, payload.len(), Some(mask));
    let mut wire = Vec::with_capacity(n + payload.len());
    wire.extend_from_slice(&head[..n]);
    let start = wire.len();
    wire.extend_from_slice(payload);
    for (i, b) in wire[start..].iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    wire
}

/// A masked text frame carrying `len` bytes of [`text_payload`].
pub fn masked_text(len: usize) -> Vec<u8> {
    masked_frame(OpCode::Text, true, &text_payload(len), MASK)
}

/// The wire bytes of an unmasked (server) text frame: what an echo sends.
pub fn server_text(payload: &[u8]) -> Vec<u8> {
    let mut head = [0u8; MAX_HEADER];
    let n = encode_header(&mut head, true, OpCode::Text, payload.len(), None);
    [&head[..n], payload].concat()
}

/// Runs a future that never waits (writes into a `Vec`, say) to completion
/// without a runtime. Panics if it returns `Pending`.
pub fn now<F: Future>(future: F) -> F::Output {
    fn noop_raw() -> RawWaker {
        fn clone(_: *const ()) -> RawWaker {
            noop_raw()
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    // SAFETY: every function of the vtable ignores its (null) data pointer.
    let waker = unsafe { Waker::from_raw(noop_raw()) };
    let mut cx = Context::from_waker(&waker);
    match pin!(future).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited: it was expected to complete at once"),
    }
}

/// An in-memory byte stream for synchronous WebSocket libraries: reads come
/// from `input` (rewound with [`MemStream::rewind`] to replay the same
/// bytes), writes go to `output`. An exhausted input reads as `WouldBlock`,
/// like a non-blocking socket with nothing to read, not as end of stream.
#[derive(Debug, Default)]
pub struct MemStream {
    input: Vec<u8>,
    pos: usize,
    pub output: Vec<u8>,
}

impl MemStream {
    pub fn new(input: Vec<u8>) -> Self {
        MemStream { input, pos: 0, output: Vec::new() }
    }

    /// Replays the input from its start and forgets what was written.
    pub fn rewind(&mut self) {
        self.pos = 0;
        self.output.clear();
    }
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The server's frame path for one single-frame data message, composed in
/// memory from its public parts the way its connection loop composes them:
/// copy the wire bytes into the read buffer (the socket read), decode the
/// frame with `wsbench_proto::Decoder` (parse the header, unmask the payload
/// in place, validate text as UTF-8), queue the reply, and write the queued
/// reply into `sink` (one vectored write).
#[derive(Debug)]
pub struct ServerPath {
    pub buf: Vec<u8>,
    pub out: Outbox,
    pub responder: Responder,
    pub decoder: Decoder,
    pub sink: Vec<u8>,
}

impl ServerPath {
    pub fn new(mode: ReplyMode) -> Self {
        ServerPath {
            buf: Vec::new(),
            out: Outbox::new(),
            responder: Responder::new(ConnectionParams { mode, chunk: DEFAULT_CHUNK }),
            decoder: Decoder::new(Role::Server, usize::MAX),
            sink: Vec::new(),
        }
    }

    /// Reads, answers and writes the one whole frame in `wire`; returns the
    /// bytes written (they are in `self.sink`).
    pub fn serve(&mut self, wire: &[u8]) -> usize {
        self.buf.clear();
        self.buf.extend_from_slice(wire);
        let frame = self.decoder.decode(&mut self.buf).expect("a valid frame").expect("a whole frame");
        assert_eq!(frame.len, self.buf.len(), "one whole frame");
        let Event::Data { kind, first: true, fin: true } = frame.event else {
            panic!("a single-frame data message, not {:?}", frame.event)
        };
        let payload = frame.payload;
        let bytes = &self.buf[payload.clone()];
        self.responder.respond(&mut self.out, kind, Payload::Input { bytes, range: payload });
        self.sink.clear();
        now(self.out.flush(&mut self.sink, &self.buf)).expect("writing into a Vec");
        self.sink.len()
    }
}

/// tungstenite 0.24's unmask kernel (`protocol::frame::mask::apply_mask`,
/// which is private to the crate), copied verbatim (MIT/Apache-2.0) so that
/// "parse and unmask" can be benchmarked on tungstenite's own code.
/// fastwebsockets 0.10 uses the same algorithm.
pub fn tungstenite_apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    fn fallback(buf: &mut [u8], mask: [u8; 4]) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
    }
    let mask_u32 = u32::from_ne_bytes(mask);
    // SAFETY: any bit pattern is a valid u32 (as in tungstenite).
    let (prefix, words, suffix) = unsafe { buf.align_to_mut::<u32>() };
    fallback(prefix, mask);
    let head = prefix.len() & 3;
    let mask_u32 = if head > 0 {
        if cfg!(target_endian = "big") {
            mask_u32.rotate_left(8 * head as u32)
        } else {
            mask_u32.rotate_right(8 * head as u32)
        }
    } else {
        mask_u32
    };
    for word in words.iter_mut() {
        *word ^= mask_u32;
    }
    fallback(suffix, mask_u32.to_ne_bytes());
}

/// A prototype unmask kernel, safe code only: whole 32-byte blocks XORed as
/// four `u64` words each (which LLVM turns into SIMD loads, XORs and stores
/// even for the baseline x86-64 target), then 8-byte words, then bytes.
/// Same contract as `fastwebsockets::unmask`: `payload[i] ^= mask[i % 4]`.
pub fn unmask_prototype(payload: &mut [u8], mask: [u8; 4]) {
    let key = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut blocks = payload.chunks_exact_mut(32);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            let v = u64::from_ne_bytes(word.try_into().expect("8 bytes")) ^ key;
            word.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        let v = u64::from_ne_bytes(word.try_into().expect("8 bytes")) ^ key;
        word.copy_from_slice(&v.to_ne_bytes());
    }
    // Whole 32- and 8-byte steps keep the key's phase, so the tail starts
    // at mask[0].
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsbench_proto::unmask_at;

    fn reference(data: &[u8], mask: [u8; 4]) -> Vec<u8> {
        data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect()
    }

    #[test]
    fn unmask_kernels_agree_on_every_length_and_alignment() {
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for start in 0..8 {
            for len in (0..100).chain([255, 256, 257, 292]) {
                let src = &data[start..start + len];
                let expected = reference(src, MASK);
                let mut a = src.to_vec();
                unmask_prototype(&mut a, MASK);
                assert_eq!(a, expected, "prototype, len {len}");
                let mut b = src.to_vec();
                tungstenite_apply_mask(&mut b, MASK);
                assert_eq!(b, expected, "tungstenite, len {len}");
                let mut c = src.to_vec();
                unmask_at(&mut c, MASK, 0);
                assert_eq!(c, expected, "server, len {len}");
            }
        }
    }

    #[test]
    fn server_path_echoes_and_replies() {
        for len in [0, 16, 125, 126, 70_000] {
            let payload = text_payload(len);
            let wire = masked_text(len);
            let mut echo = ServerPath::new(ReplyMode::Echo);
            for _ in 0..2 {
                let n = echo.serve(&wire);
                assert_eq!(echo.sink[..n], server_text(&payload));
            }
            let mut reply = ServerPath::new(ReplyMode::Reply);
            reply.serve(&wire);
            assert_eq!(reply.sink, server_text(&wsbench_proto::seed_reply(&payload)));
        }
    }

    #[test]
    fn mem_stream_replays_its_input() {
        let mut s = MemStream::new(b"abc".to_vec());
        let mut buf = [0u8; 2];
        assert_eq!(s.read(&mut buf).unwrap(), 2);
        assert_eq!(s.read(&mut buf).unwrap(), 1);
        assert_eq!(s.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        s.write_all(b"xyz").unwrap();
        s.rewind();
        assert!(s.output.is_empty());
        assert_eq!(s.read(&mut buf).unwrap(), 2);
    }
}
