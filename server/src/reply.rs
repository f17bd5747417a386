//! The reply modes: what the server sends back for each message. The
//! seed's reply format ([`wsbench_proto::reply`]) and [`ReplyMode`] itself
//! are shared with the loadgen through wsbench-proto.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine;
use serde::{Deserialize, Serialize};

use wsbench_proto::{MessageKind, OpCode, ReplyMode, REPLY_PREFIX, REPLY_SUFFIX};

use crate::mode::ConnectionParams;
use crate::outbox::Outbox;
use crate::stream_writer::StreamWriter;

/// Scratch capacity kept between messages.
const RETAINED_SCRATCH: usize = 64 << 10;

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
    /// Elsewhere (a reassembled message): copied when referenced.
    Detached(&'a [u8]),
}

impl<'a> Payload<'a> {
    /// The payload's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Payload::Input { bytes, .. } | Payload::Detached(bytes) => bytes,
        }
    }

    fn queue(&self, out: &mut Outbox) {
        match self {
            Payload::Input { range, .. } => out.input(range.clone()),
            Payload::Detached(bytes) => out.extend(bytes),
        }
    }
}

/// Builds the replies of one connection; holds its per-connection state
/// (the sequence number) and scratch buffers reused across messages.
#[derive(Debug)]
pub struct Responder {
    params: ConnectionParams,
    seq: u64,
    json: Vec<u8>,
    base64: String,
}

impl Responder {
    /// A responder for a connection with `params`.
    pub fn new(params: ConnectionParams) -> Self {
        Responder { params, seq: 0, json: Vec::new(), base64: String::new() }
    }

    /// Bytes of its scratch buffers.
    pub fn capacity(&self) -> usize {
        self.json.capacity() + self.base64.capacity()
    }

    /// Frees the scratch buffers (an idle connection, or after a large
    /// message: they never shrink otherwise).
    pub fn release(&mut self) {
        self.json = Vec::new();
        self.base64 = String::new();
    }

    /// At most how many bytes the reply to a `len`-byte message adds to
    /// the outbox and the scratch buffers, so that the connection can
    /// charge it to the memory budget before building it. `detached`: the
    /// payload is copied in (a reassembled message) rather than referenced.
    pub fn reply_bound(&self, len: usize, detached: bool) -> usize {
        const OVERHEAD: usize = 256;
        let copied = if detached { len } else { 0 };
        match self.params.mode {
            ReplyMode::Echo | ReplyMode::Reply => copied + OVERHEAD,
            // Each piece gets a header of at most 10 bytes.
            ReplyMode::Stream => len + (len / self.params.chunk + 1) * 10 + OVERHEAD,
            // A control character becomes \u00XX (6 bytes); base64 is 4/3,
            // kept in its own scratch buffer, then escaped into the JSON.
            ReplyMode::Json => 2 * (6 * len) + len / 3 * 4 + 4 + OVERHEAD,
        }
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
            ReplyMode::Echo => {
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
                writer.write(bytes);
                writer.write(REPLY_SUFFIX.as_bytes());
                writer.finish();
            }
            ReplyMode::Json => {
                let message = match kind {
                    // The connection loop has validated text as UTF-8.
                    MessageKind::Text => String::from_utf8_lossy(bytes),
                    MessageKind::Binary => {
                        self.base64.clear();
                        base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut self.base64);
                        Cow::Borrowed(self.base64.as_str())
                    }
                };
                let reply = JsonReply {
                    kind: Cow::Borrowed(kind.as_str()),
                    length: bytes.len() as u64,
                    seq: self.seq,
                    message,
                };
                self.json.clear();
                serde_json::to_writer(&mut self.json, &reply).expect("serializing to a Vec cannot fail");
                out.frame(OpCode::Text, &self.json);
                // A large message's scratch is not kept for the next one.
                if self.json.capacity() > RETAINED_SCRATCH {
                    self.release();
                }
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
