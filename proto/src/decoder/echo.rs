//! The server's echo of a pipelined batch, in one pass over the read buffer.
//!
//! A peer that pipelines small messages sends a run of whole, masked,
//! single-frame messages. Decoding each with [`Decoder::decode`], echoing
//! it in place and queuing it costs a pass to unmask, a header moved 4 bytes
//! and, for the replies to stay one contiguous slice for `writev`, a copy
//! of each into the outbox (docs/performance.md, round 12).
//! [`Decoder::echo_whole`] instead walks the run once: each frame is
//! written, unmasked, right after the one before it, toward the start of
//! the buffer. The echoes of the whole run end up as one contiguous range
//! of the read buffer, ready to be written as they are: each payload byte
//! is read and written once, and nothing is copied out.
//!
//! The walk stops at the first frame that is anything else (a control
//! frame, a fragment, a frame not yet whole, a header [`Decoder::decode`]
//! would refuse, a length not in its shortest form, a message over the
//! size limit, one with an 8-byte length): [`Decoder::decode`] takes that
//! frame, with all its checks and errors.

use std::ops::Range;

use super::{check_text, Decoder, ProtocolError};
use crate::frame::header_len;
use crate::mask::unmask_move;

/// How much one [`Decoder::echo_whole`] may echo.
#[derive(Debug, Clone, Copy)]
pub struct EchoBudget {
    /// At most this many messages.
    pub messages: usize,
    /// It stops once it has written this many bytes of echoes.
    pub bytes: usize,
}

/// What one [`Decoder::echo_whole`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoRun {
    /// Messages echoed.
    pub messages: usize,
    /// Where the first frame not echoed starts (the input consumed ends).
    pub read_to: usize,
    /// Where the echoes end: `buf[to..written_to]` are the echoed frames.
    pub written_to: usize,
    /// Where the last echoed message's payload now lies.
    pub last_payload: Option<Range<usize>>,
    /// The frame after the echoed ones breaks the protocol: fail the
    /// connection once the echoes are sent (its bytes are not kept).
    pub error: Option<ProtocolError>,
}

impl Decoder {
    /// Echoes the run of whole single-frame data messages at `buf[at..]`:
    /// each is written, unmasked and as a server frame, at `buf[to..]`
    /// right after the one before (`to <= at`), and checked there as
    /// [`decode`](Self::decode) would check it (size limit, UTF-8).
    ///
    /// It echoes nothing unless this is a server's decoder without
    /// permessage-deflate, between messages, at a frame boundary. The input
    /// before `at` and the echoes before `to` are left alone. `buf[at..]` up
    /// to [`EchoRun::read_to`] is overwritten: past
    /// [`EchoRun::written_to`] it holds nothing of use, nor does the frame
    /// of an [`EchoRun::error`]. After an error the decoder must not be fed
    /// again, as after [`decode`](Self::decode)'s.
    pub fn echo_whole(&mut self, buf: &mut [u8], at: usize, to: usize, budget: EchoBudget) -> EchoRun {
        assert!(to <= at && at <= buf.len(), "echo_whole: to <= at <= buf.len()");
        let mut run = EchoRun { messages: 0, read_to: at, written_to: to, last_payload: None, error: None };
        if !self.role.reads_masked() || self.deflate || self.message.is_some() || self.done != 0 {
            return run;
        }
        while run.messages < budget.messages && run.written_to - to < budget.bytes {
            let (src, dst) = (run.read_to, run.written_to);
            let Some(frame) = whole_message(&buf[src..], self.max_message_size) else {
                break;
            };
            // The key is read before the echo's header may overwrite it. The
            // header is written from what was parsed, always 4 bytes (a
            // fixed-size store, where a 2-or-4-byte copy is a call to
            // memcpy): a 2-byte header's last 2 are the payload's to overwrite.
            let mask: [u8; 4] = buf[src + frame.header - 4..src + frame.header].try_into().expect("4 bytes");
            buf[dst..dst + 4].copy_from_slice(&frame.echo_header);
            let payload_start = dst + frame.header - 4;
            let payload = payload_start..payload_start + frame.payload;
            let ascii = unmask_move(buf, src + frame.header, payload.start, frame.payload, mask);
            if frame.text && self.check_utf8 && !ascii {
                if let Err(e) = check_text(&buf[payload.clone()]) {
                    run.error = Some(e);
                    break;
                }
            }
            run.messages += 1;
            run.read_to = src + frame.header + frame.payload;
            run.written_to = payload.end;
            run.last_payload = Some(payload);
        }
        if run.messages > 0 {
            self.pending = None;
            self.compressed = false;
        }
        run
    }
}

/// A whole masked single-frame message at the start of the input, as
/// [`Decoder::echo_whole`] echoes it.
struct WholeMessage {
    /// Header length, masking key included (6 or 8).
    header: usize,
    /// Payload length.
    payload: usize,
    /// A text message.
    text: bool,
    /// The echo's header: its first `header - 4` bytes.
    echo_header: [u8; 4],
}

/// The whole single-frame text or binary message at `input`'s start, masked,
/// its length in the shortest form and at most 65,535 and `max_message`
/// bytes; `None` for anything else.
#[inline]
fn whole_message(input: &[u8], max_message: usize) -> Option<WholeMessage> {
    let [first, second, ..] = *input else { return None };
    // FIN, no reserved bit, text or binary; masked.
    if !(first == 0x81 || first == 0x82) || second & 0x80 == 0 {
        return None;
    }
    let (header, payload, echo_header) = match second & 0x7f {
        126 => {
            let [_, _, high, low, ..] = *input else { return None };
            (8, u16::from_be_bytes([high, low]) as usize, [first, 126, high, low])
        }
        127 => return None,
        short => (6, short as usize, [first, short, 0, 0]),
    };
    (header == header_len(payload, true) && payload <= max_message && header + payload <= input.len())
        .then_some(WholeMessage { header, payload, text: first == 0x81, echo_header })
}
