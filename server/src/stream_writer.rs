//! A message written in parts as a fragmented message: the seed's
//! `NextWriter(type)`, `Write`, `Close()`.

use std::ops::Range;

use crate::outbox::Outbox;
use wsbench_proto::OpCode;

/// Writes one data message as fragments of at most `chunk` bytes.
///
/// The first frame carries the message type, later ones are continuations,
/// and only the last has FIN set. While the writer lives it holds the
/// connection's outbox, so nothing but the control frames it lets through
/// ([`StreamWriter::control`]) can come between the fragments.
pub(crate) struct StreamWriter<'a> {
    out: &'a mut Outbox,
    opcode: OpCode,
    chunk: usize,
    /// Owned offset of the last data frame's header, whose FIN is decided
    /// by whether another part follows.
    last_header: Option<usize>,
}

impl<'a> StreamWriter<'a> {
    /// Starts a message of type `opcode` (text or binary).
    pub(crate) fn new(out: &'a mut Outbox, opcode: OpCode, chunk: usize) -> Self {
        debug_assert!(matches!(opcode, OpCode::Text | OpCode::Binary));
        StreamWriter { out, opcode, chunk: chunk.max(1), last_header: None }
    }

    /// Appends `part` to the message, as one or more fragments.
    pub(crate) fn write(&mut self, part: &[u8]) {
        self.write_with(part.len(), |out, range| out.extend(&part[range]));
    }

    /// Appends `len` bytes as fragments of at most `chunk`; `queue` queues
    /// each fragment's payload (`range` of the `len` bytes), so a payload
    /// can be referenced where it lies rather than copied.
    pub(crate) fn write_with(&mut self, len: usize, mut queue: impl FnMut(&mut Outbox, Range<usize>)) {
        let mut at = 0;
        while at < len {
            let end = (at + self.chunk).min(len);
            let opcode = if self.last_header.is_some() { OpCode::Continuation } else { self.opcode };
            self.last_header = Some(self.out.owned_len());
            self.out.header(false, opcode, end - at);
            queue(self.out, at..end);
            at = end;
        }
    }

    /// Sends a control frame between two fragments, as RFC 6455 allows.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn control(&mut self, opcode: OpCode, payload: &[u8]) {
        debug_assert!(opcode.is_control());
        self.out.frame(opcode, payload);
    }

    /// Ends the message: the last fragment gets FIN (an empty message is
    /// one empty final frame).
    pub(crate) fn finish(self) {
        match self.last_header {
            Some(at) => self.out.set_fin(at),
            None => self.out.frame(self.opcode, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits server frames: (fin, opcode, payload).
    fn frames(mut wire: &[u8]) -> Vec<(bool, u8, Vec<u8>)> {
        let mut v = Vec::new();
        while !wire.is_empty() {
            let (fin, op) = (wire[0] & 0x80 != 0, wire[0] & 0x0f);
            let (len, at) = match wire[1] {
                126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
                127 => (u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize, 10),
                n => (n as usize, 2),
            };
            v.push((fin, op, wire[at..at + len].to_vec()));
            wire = &wire[at + len..];
        }
        v
    }

    #[test]
    fn hello_world_is_one_message_in_fragments() {
        let mut out = Outbox::new();
        let mut w = StreamWriter::new(&mut out, OpCode::Text, 4);
        w.write(b"hello ");
        w.control(OpCode::Pong, b"p");
        w.write(b"world");
        w.finish();
        let f = frames(&out.to_vec(&[]));
        assert_eq!(
            f,
            vec![
                (false, 1, b"hell".to_vec()),
                (false, 0, b"o ".to_vec()),
                (true, 10, b"p".to_vec()),
                (false, 0, b"worl".to_vec()),
                (true, 0, b"d".to_vec()),
            ]
        );
    }

    #[test]
    fn an_empty_message_is_one_final_frame() {
        let mut out = Outbox::new();
        StreamWriter::new(&mut out, OpCode::Binary, 10).finish();
        assert_eq!(frames(&out.to_vec(&[])), vec![(true, 2, vec![])]);
    }
}
