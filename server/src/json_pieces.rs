//! `json` replies written in pieces: the message is escaped (or base64
//! encoded) straight into the outbox, a bounded piece at a time, so a reply
//! that is six times its message (control characters become `\u00XX`) is
//! never held whole. The frame's length is counted first, exactly, so the
//! reply stays one unfragmented text frame, as [`serde_json`] wrote it.

use base64::Engine;

use wsbench_proto::{MessageKind, OpCode};

use crate::outbox::Outbox;

/// Input bytes encoded per step: a multiple of 3, so base64 pieces join
/// without padding.
const PIECE: usize = 3 << 12;

/// A `json` reply in progress: its header and prefix are queued, the
/// message's encoding follows piece by piece, then `"}`.
#[derive(Debug)]
pub(crate) struct JsonPieces {
    kind: MessageKind,
    /// Message bytes encoded so far.
    done: usize,
}

impl JsonPieces {
    /// Queues the frame header and `{"type":..,"length":..,"seq":..,"message":"`
    /// for `message`, the connection's `seq`th.
    pub(crate) fn begin(out: &mut Outbox, kind: MessageKind, message: &[u8], seq: u64) -> Self {
        let body = match kind {
            MessageKind::Text => message.iter().map(|&b| escaped_len(b)).sum::<usize>(),
            MessageKind::Binary => message.len().div_ceil(3) * 4,
        };
        let prefix =
            format!("{{\"type\":\"{}\",\"length\":{},\"seq\":{seq},\"message\":\"", kind.as_str(), message.len());
        out.header(true, OpCode::Text, prefix.len() + body + 2);
        out.extend(prefix.as_bytes());
        JsonPieces { kind, done: 0 }
    }

    /// Encodes more of `message` (the same bytes `begin` saw) until the
    /// outbox holds `budget` bytes or the reply is complete; true once it
    /// is complete (`"}` queued).
    pub(crate) fn write(&mut self, out: &mut Outbox, message: &[u8], budget: usize) -> bool {
        while self.done < message.len() {
            if out.len() >= budget {
                return false;
            }
            let end = (self.done + PIECE).min(message.len());
            let piece = &message[self.done..end];
            match self.kind {
                MessageKind::Text => escape_into(out, piece),
                MessageKind::Binary => {
                    let mut encoded = [0u8; PIECE / 3 * 4];
                    let n = base64::engine::general_purpose::STANDARD
                        .encode_slice(piece, &mut encoded)
                        .expect("a piece's base64 fits its buffer");
                    out.extend(&encoded[..n]);
                }
            }
            self.done = end;
        }
        out.extend(b"\"}");
        true
    }
}

/// Length of byte `b` in a JSON string, escaped as serde_json escapes it.
fn escaped_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 2,
        0..=0x1f => 6,
        _ => 1,
    }
}

/// Queues `text` escaped; runs of plain bytes are copied whole.
fn escape_into(out: &mut Outbox, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (i, &b) in text.iter().enumerate() {
        if escaped_len(b) == 1 {
            continue;
        }
        out.extend(&text[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend(b"\\\""),
            b'\\' => out.extend(b"\\\\"),
            0x08 => out.extend(b"\\b"),
            0x0c => out.extend(b"\\f"),
            b'\n' => out.extend(b"\\n"),
            b'\r' => out.extend(b"\\r"),
            b'\t' => out.extend(b"\\t"),
            _ => out.extend(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
        }
    }
    out.extend(&text[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::JsonReply;

    /// The reply as one string, checked against serde_json's own encoding.
    fn reply(kind: MessageKind, message: &[u8], budget: usize) -> Vec<u8> {
        let mut out = Outbox::new();
        let mut wire = Vec::new();
        let mut job = JsonPieces::begin(&mut out, kind, message, 7);
        loop {
            let done = job.write(&mut out, message, budget);
            wire.extend(out.to_vec(&[]));
            out.clear();
            if done {
                return wire;
            }
        }
    }

    #[test]
    fn pieces_join_into_what_serde_json_writes() {
        let every_byte: Vec<u8> = (0u8..0x80).chain("é€\"\\".bytes()).cycle().take(40_000).collect();
        let binary: Vec<u8> = (0..=255u8).cycle().take(60_001).collect();
        for (kind, message) in [(MessageKind::Text, &every_byte), (MessageKind::Binary, &binary)] {
            let text = std::str::from_utf8(message).map(Into::into);
            let expected = JsonReply {
                kind: kind.as_str().into(),
                length: message.len() as u64,
                seq: 7,
                message: match kind {
                    MessageKind::Text => text.unwrap(),
                    MessageKind::Binary => base64::engine::general_purpose::STANDARD.encode(message).into(),
                },
            };
            let expected = serde_json::to_vec(&expected).unwrap();
            for budget in [1, 5000, usize::MAX] {
                let wire = reply(kind, message, budget);
                let (len, at) = (u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize, 10);
                assert_eq!((wire[0], len), (0x81, wire.len() - at), "one text frame of its exact length");
                assert_eq!(&wire[at..], &expected[..], "{kind:?}, budget {budget}");
            }
        }
    }
}
