//! Opcodes (RFC 6455, 5.2) and the two data message types.

/// A frame opcode that RFC 6455 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// A later fragment of a fragmented message.
    Continuation = 0x0,
    /// A text message (or its first fragment).
    Text = 0x1,
    /// A binary message (or its first fragment).
    Binary = 0x2,
    /// Close (5.5.1).
    Close = 0x8,
    /// Ping (5.5.2).
    Ping = 0x9,
    /// Pong (5.5.3).
    Pong = 0xA,
}

impl OpCode {
    /// Every opcode, in wire order.
    pub const ALL: [OpCode; 6] =
        [OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong];

    /// The opcode of the low nibble `b`, or `None` for a reserved one.
    #[inline]
    pub fn from_u8(b: u8) -> Option<OpCode> {
        Some(match b {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The opcode's value on the wire.
    #[inline]
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Close, Ping and Pong: frames that may not be fragmented (5.5).
    #[inline]
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// The two data message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    /// The opcode of the message's first frame.
    #[inline]
    pub fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }

    /// `"text"` or `"binary"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Binary => "binary",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip_and_reserved_ones_are_refused() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_u8(op.as_u8()), Some(op));
        }
        for b in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(OpCode::from_u8(b), None);
        }
    }
}
