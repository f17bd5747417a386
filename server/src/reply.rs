//! The reply modes: what the server sends back for each message. The
//! seed's reply format ([`wsbench_proto::reply`]) and [`ReplyMode`] itself
//! are shared with the loadgen through wsbench-proto.

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use wsbench_proto::{MessageKind, ReplyMode, REPLY_PREFIX, REPLY_SUFFIX};

use crate::json_pieces::JsonPieces;

use crate::mode::ConnectionParams;
use crate::outbox::Outbox;
use crate::stream_writer::StreamWriter;

/// The reply of `json` mode, one text message per message received.
///
/// ```json
/// {"type":"text","length":5,"seq":1,"message":"hello"}
/// {"type":"binary","length":3,"seq":2,"message":"AQID"}
/// ```
/// `length` is the message's length in bytes, `seq` counts the
/// connection's messages from 1, and a binary message is standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonReply<'a> {
    /// `"text"` or `"binary"`.
    #[serde(rename = "type")]
    pub kind: Cow<'a, str>,
    /// The message's length in bytes.
    pub length: u64,
    /// The connection's message count, from 1.
    pub seq: u64,
    /// The text, or the binary message in standard base64.
    #[serde(borrow)]
    pub message: Cow<'a, str>,
}

/// Where a message's payload lies, so a reply can reference it instead of
/// copying it.
#[derive(Debug, Clone)]
pub enum Payload<'a> {
    /// In the connection's read buffer, at `range`; `bytes` is that range.
    Input {
        /// The payload.
        bytes: &'a [u8],
        /// Where it lies in the read buffer.
        range: Range<usize>,
    },
    /// Elsewhere: copied when referenced.
    Detached(&'a [u8]),
    /// The reassembled message, in the buffer given to
    /// [`Outbox::flush_with`] as `aside`: referenced, not copied.
    Aside(&'a [u8]),
}

impl<'a> Payload<'a> {
    /// The payload's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Payload::Input { bytes, .. } | Payload::Detached(bytes) | Payload::Aside(bytes) => bytes,
        }
    }

    fn queue(&self, out: &mut Outbox) {
        match self {
            Payload::Input { bytes, range } => out.input(range.clone(), bytes),
            Payload::Detached(bytes) => out.extend(bytes),
            Payload::Aside(bytes) => out.aside(0..bytes.len(), bytes),
        }
    }

    /// Queues `payload[range]`, as [`queue`](Self::queue) does the whole.
    pub(crate) fn queue_part(&self, out: &mut Outbox, part: Range<usize>) {
        match self {
            Payload::Input { bytes, range } => {
                out.input(range.start + part.start..range.start + part.end, &bytes[part])
            }
            Payload::Detached(bytes) => out.extend(&bytes[part]),
            Payload::Aside(bytes) => out.aside(part.clone(), &bytes[part]),
        }
    }
}

/// Builds the replies of one connection; holds its per-connection state
/// (the sequence number). It keeps no buffers: replies are encoded
/// straight into the outbox.
#[derive(Debug)]
pub struct Responder {
    params: ConnectionParams,
    seq: u64,
}

impl Responder {
    /// A responder for a connection with `params`.
    pub fn new(params: ConnectionParams) -> Self {
        Responder { params, seq: 0 }
    }

    /// At most how many bytes the reply to a `len`-byte message (queued
    /// whole, by [`respond`](Self::respond)) adds to the outbox, so that the
    /// connection can charge it to the memory budget before building it.
    /// Payloads are referenced, not copied (but [`Payload::Detached`]).
    pub fn reply_bound(&self, len: usize) -> usize {
        const OVERHEAD: usize = 256;
        match self.params.mode {
            ReplyMode::Echo | ReplyMode::Reply | ReplyMode::Broadcast => OVERHEAD,
            // Each fragment gets a header of at most 10 bytes.
            ReplyMode::Stream => (len / self.params.chunk + 1) * 10 + 2 * OVERHEAD,
            // A control character becomes \u00XX: 6 bytes.
            ReplyMode::Json => 6 * len + OVERHEAD,
        }
    }

    /// Starts the `json` reply to a large message, to be written in pieces
    /// (see [`JsonPieces`]) instead of whole by [`respond`](Self::respond).
    pub(crate) fn json_begin(&mut self, out: &mut Outbox, kind: MessageKind, message: &[u8]) -> JsonPieces {
        self.seq += 1;
        JsonPieces::begin(out, kind, message, self.seq)
    }

    /// The connection's reply mode.
    pub fn mode(&self) -> ReplyMode {
        self.params.mode
    }

    /// Queues the reply to one whole message.
    pub fn respond(&mut self, out: &mut Outbox, kind: MessageKind, payload: Payload<'_>) {
        self.seq += 1;
        let bytes = payload.bytes();
        match self.params.mode {
            // A `broadcast` connection publishes instead of answering; one
            // without a topic (a benchmark's) echoes.
            ReplyMode::Echo | ReplyMode::Broadcast => {
                out.header(true, kind.opcode(), bytes.len());
                payload.queue(out);
            }
            ReplyMode::Reply => {
                let len = REPLY_PREFIX.len() + bytes.len() + REPLY_SUFFIX.len();
                out.header(true, kind.opcode(), len);
                out.extend(REPLY_PREFIX.as_bytes());
                payload.queue(out);
                out.extend(REPLY_SUFFIX.as_bytes());
            }
            ReplyMode::Stream => {
                let mut writer = StreamWriter::new(out, kind.opcode(), self.params.chunk);
                writer.write(REPLY_PREFIX.as_bytes());
                writer.write_with(bytes.len(), |out, range| payload.queue_part(out, range));
                writer.write(REPLY_SUFFIX.as_bytes());
                writer.finish();
            }
            ReplyMode::Json => {
                let mut json = JsonPieces::begin(out, kind, bytes, self.seq);
                json.write(out, bytes, usize::MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::DEFAULT_CHUNK;
    use wsbench_proto::seed_reply;

    fn reply_to(mode: ReplyMode, kind: MessageKind, msg: &[u8]) -> Vec<u8> {
        let mut out = Outbox::new();
        let mut r = Responder::new(ConnectionParams { mode, chunk: DEFAULT_CHUNK });
        r.respond(&mut out, kind, Payload::Input { bytes: msg, range: 0..msg.len() });
        out.to_vec(msg)
    }

    #[test]
    fn seed_reply_keeps_the_message_type() {
        let text = reply_to(ReplyMode::Reply, MessageKind::Text, b"hello");
        let expected = "接收到消息：hello，我做出回复".as_bytes();
        assert_eq!(text[0], 0x81);
        assert_eq!(&text[2..], expected);
        let bin = reply_to(ReplyMode::Reply, MessageKind::Binary, &[0, 255]);
        assert_eq!(bin[0], 0x82);
        assert_eq!(&bin[2..], seed_reply(&[0, 255]));
    }

    #[test]
    fn json_reply_describes_the_message() {
        let mut out = Outbox::new();
        let mut r = Responder::new(ConnectionParams { mode: ReplyMode::Json, chunk: DEFAULT_CHUNK });
        r.respond(&mut out, MessageKind::Text, Payload::Detached(b"hi \"you\""));
        r.respond(&mut out, MessageKind::Binary, Payload::Detached(&[1, 2, 3]));
        let wire = out.to_vec(&[]);
        let first_len = wire[1] as usize;
        let first: JsonReply = serde_json::from_slice(&wire[2..2 + first_len]).unwrap();
        assert_eq!(first.kind, "text");
        assert_eq!((first.length, first.seq, first.message.as_ref()), (8, 1, "hi \"you\""));
        let rest = &wire[2 + first_len..];
        let second: JsonReply = serde_json::from_slice(&rest[2..]).unwrap();
        assert_eq!((second.kind.as_ref(), second.length, second.seq), ("binary", 3, 2));
        assert_eq!(second.message, "AQID");
    }
}
