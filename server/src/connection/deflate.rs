//! permessage-deflate on a connection that negotiated it (`--deflate`,
//! RFC 7692): every data message goes through here instead of the
//! zero-copy paths of `on_message` and `on_fragment`.
//!
//! A message's frames are gathered whole (compressed or not), inflated
//! when its first frame had RSV1 (at most `--max-message-size` bytes; a
//! bomb fails with 1009, bad data with 1007, bad UTF-8 in text with 1007),
//! and answered by the [`Responder`](crate::reply::Responder) in the
//! connection's mode into a scratch outbox; each frame of that reply is
//! then compressed on its own (one sync-flushed piece of one stream, RSV1
//! on the message's first frame) into the connection's outbox. So every
//! mode works, `stream` keeps its fragments, and echo is a copy, not the
//! zero-copy echo of an uncompressed connection.
//!
//! Every message is compressed, however small (a 1-byte message becomes
//! 3 bytes): a threshold would make the wire figures depend on it, and
//! with context takeover small messages are where the shared window pays.
//! The exception is a peer that asked for `server_max_window_bits=8`,
//! which zlib cannot compress with: those replies go uncompressed.
//!
//! Memory: with no context takeover (the default), neither end keeps a
//! window between messages, and the compressor (about 260 KiB at level 6
//! and a 32 KiB window) and the decompressor (about 40 KiB) are shared by
//! all the connections of a runtime thread: the work on one message is
//! synchronous, so one at a time per thread suffices. With
//! `--deflate-context-takeover` each connection owns both. The message
//! buffers are dropped after a message larger than [`RETAINED`].

use std::cell::RefCell;
use std::ops::Range;

use wsbench_proto::deflate::{Agreement, Compressor, Decompressor, InflateError};
use wsbench_proto::{parse_header, MessageKind, OpCode, Role};

use super::buffers::{GRAIN, OUT_OF_MEMORY};
use super::{Closing, Connection};
use crate::outbox::Outbox;
use crate::reply::Payload;

/// Capacity the message buffers keep between messages.
const RETAINED: usize = 16 << 10;

/// The deflate state of one connection.
#[derive(Debug)]
pub(crate) struct Deflate {
    agreement: Agreement,
    /// Owned with context takeover; `None`: the thread's shared one.
    compressor: Option<Compressor>,
    decompressor: Option<Decompressor>,
    /// The frames of the message in progress, as received.
    message: Vec<u8>,
    /// Whether that message is compressed.
    compressed: bool,
    /// It, inflated.
    inflated: Vec<u8>,
    /// The reply, uncompressed, before its frames are compressed.
    scratch: Outbox,
    /// One frame's compressed payload.
    packed: Vec<u8>,
}

thread_local! {
    /// The compressors shared by this thread's connections without context
    /// takeover, by window bits (index 9..=15).
    static COMPRESSORS: RefCell<[Option<Compressor>; 16]> = const { RefCell::new([const { None }; 16]) };
    /// The decompressor shared likewise.
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

impl Deflate {
    /// The state for what the handshake agreed.
    pub(crate) fn new(agreement: Agreement) -> Box<Self> {
        Box::new(Deflate {
            agreement,
            compressor: (!agreement.send_no_context_takeover)
                .then(|| Compressor::new(agreement.send_window_bits, false)),
            decompressor: (!agreement.receive_no_context_takeover).then(|| Decompressor::new(false)),
            message: Vec::new(),
            compressed: false,
            inflated: Vec::new(),
            scratch: Outbox::new(),
            packed: Vec::new(),
        })
    }

    /// Inflates `self.message` into `self.inflated`, at most `limit` bytes;
    /// on failure the partial output is freed at once (a refused bomb must
    /// not hold what it inflated while the connection closes).
    fn inflate(&mut self, limit: usize) -> Result<(), InflateError> {
        self.inflated.clear();
        let (message, inflated) = (&self.message, &mut self.inflated);
        let result = match &mut self.decompressor {
            Some(own) => own.decompress(message, true, inflated, limit),
            None => DECOMPRESSOR.with_borrow_mut(|shared| {
                shared.get_or_insert_with(|| Decompressor::new(true)).decompress(message, true, inflated, limit)
            }),
        };
        if result.is_err() {
            self.inflated = Vec::new();
        }
        result
    }

    /// Compresses the frames of the reply in `self.scratch` into `out`.
    fn compress_reply(&mut self, out: &mut Outbox) {
        let wire = self.scratch.to_vec(&[]);
        self.scratch.clear();
        let bits = self.agreement.send_window_bits;
        match &mut self.compressor {
            Some(own) => compress_frames(&wire, own, &mut self.packed, out),
            None => COMPRESSORS.with_borrow_mut(|shared| {
                let compressor = shared[bits as usize].get_or_insert_with(|| Compressor::new(bits, true));
                compress_frames(&wire, compressor, &mut self.packed, out)
            }),
        }
    }

    /// Bytes of its message buffers, for the memory budget (which counts
    /// messages and replies: the compression state, per thread or with
    /// context takeover per connection, is not counted).
    fn capacity(&self) -> usize {
        self.message.capacity() + self.inflated.capacity() + self.packed.capacity() + self.scratch.capacity()
    }

    fn release(&mut self) {
        for buf in [&mut self.message, &mut self.inflated, &mut self.packed] {
            if buf.capacity() > RETAINED {
                *buf = Vec::new();
            }
        }
        self.scratch.release();
    }
}

/// Queues each frame of `wire` (whole unmasked frames, as the responder
/// writes them) in `out`, data frames compressed, RSV1 on a message's
/// first frame. Without a compressor that compresses (an 8-bit window) the
/// frames go as they are.
fn compress_frames(mut wire: &[u8], compressor: &mut Compressor, packed: &mut Vec<u8>, out: &mut Outbox) {
    while let Ok(Some(header)) = parse_header(wire, Role::Client) {
        let payload = &wire[header.header_len..header.frame_len() as usize];
        let first = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        packed.clear();
        let data = !header.opcode.is_control();
        if data && compressor.compress(payload, header.fin, packed) {
            let at = out.owned_len();
            out.header(header.fin, header.opcode, packed.len());
            if first {
                out.set_rsv1(at);
            }
            out.extend(packed);
        } else {
            out.header(header.fin, header.opcode, payload.len());
            out.extend(payload);
        }
        wire = &wire[header.frame_len() as usize..];
    }
}

impl<S> Connection<S> {
    /// Bytes its deflate state holds, charged to the memory budget with
    /// the connection's other buffers (after each batch of messages).
    pub(super) fn deflate_held(&self) -> usize {
        self.deflate.as_ref().map_or(0, |d| d.capacity())
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Connection<S> {
    /// This connection, with the permessage-deflate its handshake agreed.
    pub fn with_deflate(mut self, agreement: Option<Agreement>) -> Self {
        if let Some(agreement) = agreement {
            self.decoder = self.decoder.clone().with_deflate();
            self.deflate = Some(Deflate::new(agreement));
        }
        self
    }

    /// Handles a data frame of a deflate connection; answers the message
    /// once its last frame is in.
    pub(super) fn on_deflate_data(
        &mut self,
        kind: MessageKind,
        first: bool,
        fin: bool,
        part: Range<usize>,
    ) -> Result<(), Closing> {
        let compressed = self.decoder.compressed();
        let state = self.deflate.as_mut().expect("a deflate connection");
        if first {
            state.message.clear();
            state.compressed = compressed;
        }
        // Bounded: the decoder refuses messages past --max-message-size.
        state.message.extend_from_slice(&self.buf[part]);
        if !fin {
            return Ok(());
        }
        if state.compressed {
            // The budget bounds the inflated size as the message size does:
            // a bomb of a few KB must not pin hundreds of MB past
            // --max-memory. Past what it can take now: 1013, as for any
            // buffer the budget refuses. The room is taken, at once, before
            // it inflates, and given back after: threads inflating at once
            // each read the same room, and together passed the budget (a
            // review: 503 MiB against 256). Less a grain, which the exact
            // charge after rounds up to.
            self.charge_to(self.held())?;
            let want = self.limits.max_message_size;
            let limit = self.budget.metrics.hold_up_to(want, self.limits.max_memory.saturating_sub(GRAIN));
            let state = self.deflate.as_mut().expect("a deflate connection");
            let inflated = state.inflate(limit);
            self.budget.metrics.release(limit);
            let state = self.deflate.as_mut().expect("a deflate connection");
            match inflated {
                Err(InflateError::TooBig) if limit < self.limits.max_message_size => {
                    self.budget.metrics.memory_refused();
                    return Err(OUT_OF_MEMORY);
                }
                result => result.map_err(|e| Closing::Fail { code: e.close_code(), reason: e.reason() })?,
            }
            if kind == MessageKind::Text && std::str::from_utf8(&state.inflated).is_err() {
                return Err(Closing::Fail {
                    code: wsbench_proto::close::INVALID_PAYLOAD,
                    reason: "invalid UTF-8 in text",
                });
            }
        }
        let state = self.deflate.as_ref().expect("a deflate connection");
        let len = if state.compressed { state.inflated.len() } else { state.message.len() };
        // Charged before they are made: the buffers as they are (the
        // message, inflated), the reply written out whole (not zero-copy
        // here), and its copy as wire frames to compress.
        self.charge_to(self.held() + 2 * (len + self.responder.reply_bound(len)))?;
        let state = self.deflate.as_mut().expect("a deflate connection");
        let plain = if state.compressed { &state.inflated } else { &state.message };
        self.responder.respond(&mut state.scratch, kind, Payload::Detached(plain));
        state.compress_reply(&mut self.out);
        state.release();
        self.batch_messages += 1;
        Ok(())
    }
}
