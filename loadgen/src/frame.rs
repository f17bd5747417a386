//! The client side of RFC 6455 framing, kept small and allocation-free.
//!
//! Client frames are masked. The loadgen prepares each connection's frames
//! once, masked with one key per connection, and rewrites only the stamp
//! bytes before each send (see [`crate::client`]); so masking costs a
//! few XORs per message and no copy of the payload.
//!
//! Server frames arrive unmasked; [`parse_header`] reads one header from
//! the read buffer and the payload is used where it lies.

/// Frame opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
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

    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// Longest client header: 2 + 8 (64-bit length) + 4 (mask key).
pub const MAX_CLIENT_HEADER: usize = 14;

/// Length of a client frame header for a payload of `len` bytes.
pub fn client_header_len(len: usize) -> usize {
    match len {
        0..=125 => 6,
        126..=65535 => 8,
        _ => 14,
    }
}

/// Writes a masked client frame header into `out`; returns its length.
/// The payload that follows must be masked with `mask` (see [`apply_mask`]).
pub fn encode_client_header(out: &mut [u8], fin: bool, opcode: OpCode, len: usize, mask: [u8; 4]) -> usize {
    out[0] = (if fin { 0x80 } else { 0 }) | opcode.as_u8();
    let n = match len {
        0..=125 => {
            out[1] = 0x80 | len as u8;
            2
        }
        126..=65535 => {
            out[1] = 0x80 | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            out[1] = 0x80 | 127;
            out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    out[n..n + 4].copy_from_slice(&mask);
    n + 4
}

/// XORs `buf` with `mask`, as if `buf` started `offset` bytes into a payload.
/// Masking and unmasking are the same XOR: the server's kernel (fastwebsockets'
/// unmask, with the key rotated for the offset) serves both ends.
pub use wsbench_proto::unmask_at as apply_mask;

/// A whole client frame (header, masked payload) appended to `out`: for
/// control frames and tests; data frames are prepared in place.
pub fn write_client_frame(out: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8], mask: [u8; 4]) {
    let mut head = [0u8; MAX_CLIENT_HEADER];
    let n = encode_client_header(&mut head, fin, opcode, payload.len(), mask);
    out.extend_from_slice(&head[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
}

/// A parsed server frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: OpCode,
    pub header_len: usize,
    pub payload_len: u64,
}

/// Why a server frame breaks the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    ReservedBits,
    UnknownOpcode(u8),
    Masked,
    BadControl,
    TooLarge,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str("reserved bits set (no extension was negotiated)"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            FrameError::Masked => f.write_str("a masked frame from the server"),
            FrameError::BadControl => f.write_str("a fragmented or oversized control frame"),
            FrameError::TooLarge => f.write_str("a frame larger than 1 GiB"),
        }
    }
}

/// Largest server frame accepted (the read buffer grows to hold it).
pub const MAX_FRAME: u64 = 1 << 30;

/// Parses the header at the start of `buf`; `Ok(None)` when incomplete.
#[inline]
pub fn parse_header(buf: &[u8]) -> Result<Option<Header>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(FrameError::UnknownOpcode(b0 & 0x0F))?;
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let fin = b0 & 0x80 != 0;
    let (header_len, payload_len) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (4, u64::from(u16::from_be_bytes([buf[2], buf[3]])))
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            (10, u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")))
        }
        n => (2, u64::from(n)),
    };
    if opcode.is_control() && (!fin || payload_len > 125) {
        return Err(FrameError::BadControl);
    }
    if payload_len > MAX_FRAME {
        return Err(FrameError::TooLarge);
    }
    Ok(Some(Header { fin, opcode, header_len, payload_len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trips_at_any_offset() {
        let mask = [1, 2, 3, 4];
        let data: Vec<u8> = (0..=100).collect();
        for offset in 0..8 {
            let mut m = data.clone();
            apply_mask(&mut m, mask, offset);
            for (i, (a, b)) in m.iter().zip(&data).enumerate() {
                assert_eq!(*a, b ^ mask[(i + offset) % 4]);
            }
            apply_mask(&mut m, mask, offset);
            assert_eq!(m, data);
        }
    }

    #[test]
    fn headers_by_length() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let mut out = [0u8; MAX_CLIENT_HEADER];
            let n = encode_client_header(&mut out, true, OpCode::Binary, len, [9, 9, 9, 9]);
            assert_eq!(n, client_header_len(len));
            // The same header unmasked, as a server would send it, parses back.
            let mut server = out[..n - 4].to_vec();
            server[1] &= 0x7F;
            let h = parse_header(&server).unwrap().unwrap();
            assert_eq!((h.fin, h.opcode, h.header_len, h.payload_len), (true, OpCode::Binary, n - 4, len as u64));
        }
    }

    #[test]
    fn server_frame_errors() {
        assert_eq!(parse_header(&[0x81]), Ok(None));
        assert_eq!(parse_header(&[0xC1, 0]), Err(FrameError::ReservedBits));
        assert_eq!(parse_header(&[0x83, 0]), Err(FrameError::UnknownOpcode(3)));
        assert_eq!(parse_header(&[0x81, 0x80]), Err(FrameError::Masked));
        assert_eq!(parse_header(&[0x09, 0]), Err(FrameError::BadControl));
        assert_eq!(parse_header(&[0x82, 126, 0]), Ok(None));
    }
}
