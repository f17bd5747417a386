//! What a message carries, and how each reply is checked against it.
//!
//! Every message starts with a stamp, `CCCCCCCCSSSSSSSSSSSS`: the
//! connection id (8 hex digits) and the sequence number (12 hex digits),
//! as tcpkali's markers do, so every reply is matched to the message it
//! answers. The rest, up to `--size`, is a filler fixed per connection:
//! ASCII for text, all byte values for binary. The stamp is ASCII so that
//! text messages stay UTF-8 and pass through JSON without escapes.
//!
//! Send times are not in the message: the connection keeps them, by
//! sequence number, which keeps the stamp small enough for 32-byte messages.

use std::borrow::Cow;

use crate::results::setup::MessageType;
use base64::Engine;
use serde::Deserialize;
use wsbench_proto::{MessageKind, ReplyMode, REPLY_PREFIX, REPLY_SUFFIX};

mod stamp;
use stamp::parse_hex;
pub use stamp::{read_stamp, write_seq, write_seq_masked, write_stamp, SEQ_OFFSET, STAMP_LEN};

/// The filler of text messages.
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The message `seq` of connection `conn` would be this, with the stamp
/// for sequence number 0: the template that is prepared once.
pub fn message_template(conn: u32, kind: MessageType, size: usize) -> Vec<u8> {
    let mut m = vec![0u8; size];
    write_stamp(&mut m, conn, 0);
    for (i, b) in m.iter_mut().enumerate().skip(STAMP_LEN) {
        *b = filler_byte(kind, conn, i);
    }
    m
}

/// Byte `i` (past the stamp) of connection `conn`'s messages: ASCII for
/// text, every byte value for binary.
#[inline]
pub fn filler_byte(kind: MessageType, conn: u32, i: usize) -> u8 {
    match kind {
        MessageType::Text => ALNUM[(i + conn as usize) % ALNUM.len()],
        MessageType::Binary => (i.wrapping_mul(131).wrapping_add(conn as usize * 7)) as u8,
    }
}

/// Why a reply is not the one expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub Cow<'static, str>, pub Option<u64>);

impl Corrupt {
    fn new(s: &'static str) -> Self {
        Corrupt(Cow::Borrowed(s), None)
    }

    /// The message this corrupt reply answers, when its stamp still says:
    /// the caller then marks that message answered (badly) rather than
    /// missing too.
    pub fn seq(&self) -> Option<u64> {
        self.1
    }

    fn answering(mut self, seq: u64) -> Self {
        self.1 = Some(seq);
        self
    }
}

/// The `json` reply, borrowed from the read buffer where it can be.
#[derive(Deserialize)]
struct JsonRef<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    length: u64,
    seq: u64,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

/// Checks the replies of one connection.
#[derive(Debug)]
pub struct Checker {
    mode: ReplyMode,
    kind: MessageType,
    conn: u32,
    template: Vec<u8>,
    scratch: Vec<u8>,
}

impl Checker {
    /// A checker of connection `conn`'s replies in `mode` to messages of `kind` and `size`.
    pub fn new(mode: ReplyMode, kind: MessageType, conn: u32, size: usize) -> Self {
        Checker { mode, kind, conn, template: message_template(conn, kind, size), scratch: Vec::new() }
    }

    /// This checker, for messages built otherwise than by
    /// [`message_template`] (`--payload random`): `message` is the
    /// connection's message with the stamp of sequence number 0.
    pub fn with_message(mut self, message: Vec<u8>) -> Self {
        self.template = message;
        self
    }

    /// The mode replies are checked against.
    pub fn mode(&self) -> ReplyMode {
        self.mode
    }

    /// An upper bound of the length of any reply, in **any** mode, to these
    /// messages: replies longer than this are refused as soon as a header
    /// announces them (a header alone must not cost gigabytes). Any mode,
    /// not only the configured one, so that a reply in another mode's
    /// format is read whole and named as a wrong mode, not as an overlong
    /// frame.
    pub fn max_reply_len(&self) -> usize {
        ReplyMode::ALL.into_iter().map(|m| max_reply_len(m, self.template.len())).max().unwrap_or(0)
    }

    /// The message `seq` of this connection, as sent (to show what a
    /// reply should have answered).
    pub fn sent_message(&self, seq: u64) -> Vec<u8> {
        let mut m = self.template.clone();
        write_stamp(&mut m, self.conn, seq);
        m
    }

    fn kind(&self) -> MessageKind {
        match self.kind {
            MessageType::Text => MessageKind::Text,
            MessageType::Binary => MessageKind::Binary,
        }
    }

    /// Checks one whole reply message; returns the sequence number of the
    /// message it answers.
    pub fn check(&mut self, kind: MessageKind, reply: &[u8]) -> Result<u64, Corrupt> {
        match self.mode {
            ReplyMode::Echo | ReplyMode::Broadcast => {
                let seq = check_body(&self.template, self.conn, reply)?;
                self.check_type(kind).map_err(|e| e.answering(seq))?;
                Ok(seq)
            }
            ReplyMode::Reply | ReplyMode::Stream => {
                let body = reply
                    .strip_prefix(REPLY_PREFIX.as_bytes())
                    .and_then(|r| r.strip_suffix(REPLY_SUFFIX.as_bytes()))
                    .ok_or_else(|| Corrupt::new("not the seed's reply format (prefix/suffix)"))?;
                let seq = check_body(&self.template, self.conn, body)?;
                self.check_type(kind).map_err(|e| e.answering(seq))?;
                Ok(seq)
            }
            ReplyMode::Json => {
                if kind != MessageKind::Text {
                    return Err(Corrupt::new("json reply is not a text message"));
                }
                let json: JsonRef<'_> =
                    serde_json::from_slice(reply).map_err(|_| Corrupt::new("json reply does not parse"))?;
                let expected_kind = match self.kind {
                    MessageType::Text => "text",
                    MessageType::Binary => "binary",
                };
                if json.kind != expected_kind {
                    return Err(Corrupt::new("json reply has the wrong \"type\""));
                }
                if json.length != self.template.len() as u64 {
                    return Err(Corrupt::new("json reply has the wrong \"length\""));
                }
                let seq = match self.kind {
                    MessageType::Text => check_body(&self.template, self.conn, json.message.as_bytes())?,
                    MessageType::Binary => {
                        self.scratch.clear();
                        base64::engine::general_purpose::STANDARD
                            .decode_vec(json.message.as_bytes(), &mut self.scratch)
                            .map_err(|_| Corrupt::new("json reply's message is not base64"))?;
                        check_body(&self.template, self.conn, &self.scratch)?
                    }
                };
                if json.seq != seq {
                    let why = format!("json reply's \"seq\" is {} for message {seq}", json.seq);
                    return Err(Corrupt(Cow::Owned(why), Some(seq)));
                }
                Ok(seq)
            }
        }
    }

    fn check_type(&self, kind: MessageKind) -> Result<(), Corrupt> {
        if kind == self.kind() {
            Ok(())
        } else {
            Err(Corrupt::new("reply's message type differs from the message's"))
        }
    }
}

/// The first 60 bytes of a message, quoted, to show in a sample or a reason.
pub fn preview(payload: &[u8]) -> String {
    let s = String::from_utf8_lossy(&payload[..payload.len().min(60)]);
    format!("{s:?}{}", if payload.len() > 60 { "..." } else { "" })
}

/// The longest reply of `mode` to a message of `size` bytes.
fn max_reply_len(mode: ReplyMode, size: usize) -> usize {
    match mode {
        ReplyMode::Echo | ReplyMode::Broadcast => size,
        ReplyMode::Reply | ReplyMode::Stream => size + REPLY_PREFIX.len() + REPLY_SUFFIX.len(),
        // Base64 or, at worst, \u00XX escapes, plus the other fields.
        ReplyMode::Json => 6 * size + 256,
    }
}

/// The message inside a reply: the stamp of this connection, the filler.
#[inline]
fn check_body(template: &[u8], conn: u32, body: &[u8]) -> Result<u64, Corrupt> {
    // The common case in one pass: the template holds this connection's
    // stamp, so only the sequence number needs reading.
    if body.len() == template.len()
        && body.len() >= STAMP_LEN
        && body[..SEQ_OFFSET] == template[..SEQ_OFFSET]
        && body[STAMP_LEN..] == template[STAMP_LEN..]
    {
        if let Some(seq) = parse_hex(&body[SEQ_OFFSET..STAMP_LEN]) {
            return Ok(seq);
        }
    }
    // Something is wrong: say what.
    if body.len() != template.len() {
        let why = format!("message of {} bytes where {} were sent", body.len(), template.len());
        return Err(Corrupt(Cow::Owned(why), read_stamp(body).filter(|&(c, _)| c == conn).map(|(_, seq)| seq)));
    }
    let (c, seq) = read_stamp(body).ok_or_else(|| Corrupt::new("no stamp at the start of the message"))?;
    if c != conn {
        return Err(Corrupt(Cow::Owned(format!("stamp of connection {c} on connection {conn}")), None));
    }
    if body[STAMP_LEN..] != template[STAMP_LEN..] {
        return Err(Corrupt::new("message bytes differ from those sent").answering(seq));
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsbench_proto::seed_reply;

    fn message(conn: u32, kind: MessageType, seq: u64) -> Vec<u8> {
        let mut m = message_template(conn, kind, 40);
        write_seq(&mut m[SEQ_OFFSET..], seq);
        m
    }

    #[test]
    fn each_mode_checks() {
        for kind in [MessageType::Text, MessageType::Binary] {
            let op = if kind == MessageType::Text { MessageKind::Text } else { MessageKind::Binary };
            let m = message(3, kind, 42);
            let mut c = Checker::new(ReplyMode::Echo, kind, 3, 40);
            assert_eq!(c.check(op, &m), Ok(42));
            let mut c = Checker::new(ReplyMode::Reply, kind, 3, 40);
            assert_eq!(c.check(op, &seed_reply(&m)), Ok(42));
            assert!(c.check(op, &m).is_err());
            let mut c = Checker::new(ReplyMode::Json, kind, 3, 40);
            let text = match kind {
                MessageType::Text => String::from_utf8(m.clone()).unwrap(),
                MessageType::Binary => base64::engine::general_purpose::STANDARD.encode(&m),
            };
            let json = serde_json::json!({"type": format!("{kind:?}").to_lowercase(), "length": 40, "seq": 42, "message": text});
            assert_eq!(c.check(MessageKind::Text, json.to_string().as_bytes()), Ok(42));
        }
    }

    #[test]
    fn corruption_is_caught() {
        let m = message(3, MessageType::Binary, 1);
        let mut c = Checker::new(ReplyMode::Echo, MessageType::Binary, 3, 40);
        let mut bad = m.clone();
        bad[30] ^= 1;
        // Where the stamp still reads, the corrupt reply names its message.
        assert_eq!(c.check(MessageKind::Binary, &bad).unwrap_err().seq(), Some(1));
        assert_eq!(c.check(MessageKind::Text, &m).unwrap_err().seq(), Some(1), "type");
        assert_eq!(c.check(MessageKind::Binary, &m[..39]).unwrap_err().seq(), Some(1), "length");
        let other = message(4, MessageType::Binary, 1);
        assert_eq!(c.check(MessageKind::Binary, &other).unwrap_err().seq(), None, "other connection");
        assert_eq!(c.check(MessageKind::Binary, b"garbage").unwrap_err().seq(), None, "no stamp");
    }

    #[test]
    fn replies_of_any_mode_fit_the_bound() {
        // An echo checker reads a seed reply whole (to name a wrong mode),
        // and the message it answers can be rebuilt to compare with.
        let c = Checker::new(ReplyMode::Echo, MessageType::Text, 3, 40);
        assert_eq!(c.sent_message(1), message(3, MessageType::Text, 1));
        for reply in [seed_reply(&c.sent_message(1)), c.sent_message(1)] {
            assert!(reply.len() <= c.max_reply_len());
        }
        assert_eq!(c.max_reply_len(), 6 * 40 + 256, "json's bound is the largest");
    }
}
