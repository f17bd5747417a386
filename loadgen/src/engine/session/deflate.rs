//! A session's permessage-deflate (`--deflate`, RFC 7692), when its
//! handshake agreed it: each message is rendered from the plain template
//! (its stamp rewritten), compressed and framed with RSV1 as it is sent,
//! so a send costs a compression instead of rewriting 12 digits in a
//! prepared frame; each reply is gathered whole and inflated (at most as
//! long as the longest reply of the mode) before the usual check.
//!
//! The counters (payload against wire bytes each way) are kept here, and
//! added to the worker's `counters.deflate` in the measured window.

use wsbench_proto::deflate::{Compressor, Decompressor, DeflateParams, InflateError};
use wsbench_proto::{encode_header_rsv1, unmask_at, OpCode, ProtocolError, MAX_HEADER};

use std::cell::RefCell;

use super::SessionIo;

use super::input::max_reply_len;
use super::{Ending, Session};
use crate::engine::connect::deflate::Agreed;
use crate::engine::payload::{write_seq, SEQ_OFFSET, STAMP_LEN};
use crate::engine::plan::RunPlan;
use crate::results::deflate::DeflateCounters;

/// Capacity the reply buffers keep between replies.
const RETAINED: usize = 64 << 10;

thread_local! {
    /// The compressors shared by a worker's sessions without context
    /// takeover, by window bits.
    static COMPRESSORS: RefCell<[Option<Compressor>; 16]> = const { RefCell::new([const { None }; 16]) };
    /// The decompressor shared likewise.
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// One session's compression state.
pub(super) struct SessionDeflate {
    /// Its own with context takeover; `None`: the worker thread's, shared
    /// by its sessions (a message is compressed or inflated in one go), so
    /// that a connection without context takeover holds no ~300 KB codec.
    compressor: Option<Compressor>,
    decompressor: Option<Decompressor>,
    window_bits: u8,
    /// The message, unmasked, with the stamp of sequence number 0.
    plain: Vec<u8>,
    opcode: OpCode,
    /// One message, compressed.
    packed: Vec<u8>,
    /// The frames of the reply being read, as received.
    parts: Vec<u8>,
    /// That reply is compressed.
    compressed: bool,
    /// It, inflated.
    inflated: Vec<u8>,
    /// Inflated replies are at most this long.
    limit: usize,
}

/// The key the result records an agreement by: the response's parameters.
pub(super) fn agreed_key(agreed: Option<&DeflateParams>) -> String {
    agreed.map_or_else(|| "declined".to_string(), |params| params.to_string())
}

impl SessionDeflate {
    /// The state for what connection `id`'s handshake agreed; replies
    /// inflate to at most `limit` bytes.
    pub(super) fn new(agreed: &Agreed, plan: &RunPlan, id: u32, opcode: OpCode, limit: usize) -> Box<Self> {
        let (_, agreement) = agreed;
        Box::new(SessionDeflate {
            compressor: (!agreement.send_no_context_takeover)
                .then(|| Compressor::new(agreement.send_window_bits, false)),
            decompressor: (!agreement.receive_no_context_takeover).then(|| Decompressor::new(false)),
            window_bits: agreement.send_window_bits,
            plain: plan.message(id),
            opcode,
            packed: Vec::new(),
            parts: Vec::new(),
            compressed: false,
            inflated: Vec::new(),
            limit,
        })
    }

    /// Appends message `seq` to `wbuf` as one masked frame, compressed
    /// (RSV1) unless the agreed window cannot be compressed with; counts
    /// its payload and wire bytes when `counted`.
    pub(super) fn write(
        &mut self,
        wbuf: &mut Vec<u8>,
        seq: u64,
        mask: [u8; 4],
        counts: &mut DeflateCounters,
        counted: bool,
    ) {
        write_seq(&mut self.plain[SEQ_OFFSET..STAMP_LEN], seq);
        self.packed.clear();
        let (plain, packed) = (&self.plain, &mut self.packed);
        let compressed = match &mut self.compressor {
            Some(own) => own.compress(plain, true, packed),
            None => COMPRESSORS.with_borrow_mut(|shared| {
                let bits = self.window_bits;
                shared[bits as usize].get_or_insert_with(|| Compressor::new(bits, true)).compress(plain, true, packed)
            }),
        };
        let payload: &[u8] = if compressed { &self.packed } else { &self.plain };
        let mut head = [0u8; MAX_HEADER];
        let n = if compressed {
            encode_header_rsv1(&mut head, true, self.opcode, payload.len(), Some(mask))
        } else {
            wsbench_proto::encode_header(&mut head, true, self.opcode, payload.len(), Some(mask))
        };
        wbuf.extend_from_slice(&head[..n]);
        let start = wbuf.len();
        wbuf.extend_from_slice(payload);
        unmask_at(&mut wbuf[start..], mask, 0);
        if counted {
            counts.sent_payload_bytes += self.plain.len() as u64;
            counts.sent_wire_bytes += payload.len() as u64;
        }
    }

    /// Takes one frame of a reply (`part` of `rbuf`); once the reply is
    /// whole, returns it inflated (or as received, if not compressed).
    /// Its bytes are counted when `counted`.
    pub(super) fn on_part<'s>(
        &'s mut self,
        first: bool,
        fin: bool,
        compressed: bool,
        part: &[u8],
        counts: &mut DeflateCounters,
        counted: bool,
    ) -> Result<Option<&'s [u8]>, Ending> {
        if first {
            self.parts.clear();
            self.compressed = compressed;
        }
        self.parts.extend_from_slice(part);
        if !fin {
            return Ok(None);
        }
        if self.parts.capacity() > RETAINED && self.parts.len() < RETAINED / 4 {
            self.parts.shrink_to(RETAINED);
        }
        let message = if self.compressed {
            if self.inflated.capacity() > RETAINED {
                self.inflated = Vec::new();
            }
            self.inflated.clear();
            let (parts, inflated, limit) = (&self.parts, &mut self.inflated, self.limit);
            match &mut self.decompressor {
                Some(own) => own.decompress(parts, true, inflated, limit),
                None => DECOMPRESSOR.with_borrow_mut(|shared| {
                    shared.get_or_insert_with(|| Decompressor::new(true)).decompress(parts, true, inflated, limit)
                }),
            }
            .map_err(inflate_error)?;
            &self.inflated
        } else {
            &self.parts
        };
        if counted {
            counts.received_payload_bytes += message.len() as u64;
            counts.received_wire_bytes += self.parts.len() as u64;
        }
        Ok(Some(message))
    }
}

/// A reply that inflates past the longest reply is too big (as a frame
/// over it would be); one that is not DEFLATE data is a protocol error
/// (1007), never a drop: with --reconnect an I/O ending is a drop, and a
/// server sending broken deflate would pass as one that restarted.
fn inflate_error(e: InflateError) -> Ending {
    match e {
        InflateError::TooBig => Ending::Protocol(ProtocolError::MessageTooBig),
        InflateError::Corrupt => Ending::Protocol(ProtocolError::BadDeflate),
        InflateError::OutOfMemory => Ending::Io(std::io::ErrorKind::OutOfMemory.into()),
    }
}

impl<S: SessionIo> Session<'_, S> {
    /// This session, with the permessage-deflate its handshake agreed
    /// (`None`: not offered, or declined by this connection's server, whose
    /// messages then go uncompressed). Each connection's answer is counted
    /// with `--deflate`.
    pub(super) fn with_deflate(mut self, agreed: Option<Agreed>) -> Self {
        if !self.plan.request.offers_deflate() {
            return self;
        }
        let key = agreed_key(agreed.as_ref().map(|(params, _)| params));
        let mut st = self.ctx.stats.borrow_mut();
        let counts = st.counters.deflate.get_or_insert_with(Default::default);
        *counts.agreed.entry(key).or_default() += 1;
        drop(st);
        if let Some(agreed) = agreed {
            let limit = max_reply_len(&self.api, &self.checker);
            let opcode = super::message_kind(self.plan.message_type).opcode();
            self.deflate = Some(SessionDeflate::new(&agreed, self.plan, self.id, opcode, limit));
            self.decoder = self.decoder.clone().with_deflate();
            // Compressed frames differ in length: their ends are kept.
            self.frame_ends.get_or_insert_with(Box::default);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_that_does_not_inflate_is_a_protocol_error_not_a_drop() {
        // With --reconnect an I/O ending counts as a drop (ending.rs): a
        // server sending broken deflate data must fail its connections.
        assert!(matches!(inflate_error(InflateError::Corrupt), Ending::Protocol(ProtocolError::BadDeflate)));
        assert!(matches!(inflate_error(InflateError::TooBig), Ending::Protocol(ProtocolError::MessageTooBig)));
    }
}
