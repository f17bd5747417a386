//! Frame headers of RFC 6455, section 5.2: strict parsing of what a client
//! sends, and encoding of what the server sends.
//!
//! fastwebsockets' own reader accepts unmasked client frames and cannot tell
//! the connection loop whether more input is already buffered, so the server
//! parses headers itself and keeps fastwebsockets for the handshake, the
//! opcode type and the unmasking kernel.

use std::ops::Range;

pub use fastwebsockets::OpCode;

/// The largest header a server frame needs: 2 bytes, plus 8 of extended length.
pub const MAX_SERVER_HEADER: usize = 10;

/// Close, Ping and Pong: frames that may not be fragmented (RFC 6455, 5.5).
#[inline]
pub fn is_control(opcode: OpCode) -> bool {
    matches!(opcode, OpCode::Close | OpCode::Ping | OpCode::Pong)
}

/// Longest payload a control frame may carry (RFC 6455, 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Close codes the server sends or checks.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const MESSAGE_TOO_BIG: u16 = 1009;

    /// Whether a peer may put `code` on the wire in a Close frame.
    ///
    /// 1004-1006 and 1015 are reserved for local use; 1012-1014 were
    /// registered after RFC 6455 and the Autobahn suite (the reference for
    /// strictness) treats them as invalid, so they are refused too.
    pub fn is_valid_on_wire(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

/// Why a client frame header breaks the protocol (close 1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// RSV1-3 set, but no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 leaves reserved.
    UnknownOpcode(u8),
    /// A client frame without a masking key (RFC 6455, 5.1).
    Unmasked,
    /// A control frame with FIN unset or a payload over 125 bytes.
    BadControlFrame,
    /// A 64-bit length with its most significant bit set.
    BadLength,
}

impl HeaderError {
    /// A short reason, sent in the Close frame and logged.
    pub fn reason(self) -> &'static str {
        match self {
            HeaderError::ReservedBits => "reserved bits set",
            HeaderError::UnknownOpcode(_) => "unknown opcode",
            HeaderError::Unmasked => "client frame not masked",
            HeaderError::BadControlFrame => "fragmented or oversized control frame",
            HeaderError::BadLength => "invalid payload length",
        }
    }
}

/// A parsed client frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHeader {
    pub fin: bool,
    pub opcode: OpCode,
    /// Header length on the wire, masking key included.
    pub header_len: usize,
    pub payload_len: u64,
    pub mask: [u8; 4],
}

impl ClientHeader {
    /// Header length without the masking key: the length of the same
    /// header sent by a server.
    pub fn unmasked_header_len(&self) -> usize {
        self.header_len - 4
    }

    /// Whole frame length on the wire.
    pub fn frame_len(&self) -> u64 {
        self.header_len as u64 + self.payload_len
    }
}

/// Parses a client frame header from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed. Errors are reported as
/// early as the bytes allow (the first two bytes decide most of them), so a
/// bad frame fails the connection before its payload arrives.
/// The size limit of messages is the caller's: it knows what came before.
pub fn parse_client_header(buf: &[u8]) -> Result<Option<ClientHeader>, HeaderError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(HeaderError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::try_from(b0 & 0x0f).map_err(|_| HeaderError::UnknownOpcode(b0 & 0x0f))?;
    if b1 & 0x80 == 0 {
        return Err(HeaderError::Unmasked);
    }
    let len7 = b1 & 0x7f;
    let is_control = is_control(opcode);
    if is_control && (!fin || len7 as usize > MAX_CONTROL_PAYLOAD) {
        return Err(HeaderError::BadControlFrame);
    }
    let (payload_len, len_size) = match len7 {
        126 => match buf.get(2..4) {
            Some(b) => (u16::from_be_bytes([b[0], b[1]]) as u64, 2),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(HeaderError::BadLength);
                }
                (len, 8)
            }
            None => return Ok(None),
        },
        n => (n as u64, 0),
    };
    let header_len = 2 + len_size + 4;
    let Some(mask) = buf.get(header_len - 4..header_len) else {
        return Ok(None);
    };
    Ok(Some(ClientHeader { fin, opcode, header_len, payload_len, mask: mask.try_into().expect("4 bytes") }))
}

/// Encodes an unmasked (server) frame header into `out`; returns its length.
#[inline]
pub fn encode_server_header(out: &mut [u8; MAX_SERVER_HEADER], fin: bool, opcode: OpCode, payload_len: usize) -> usize {
    out[0] = (fin as u8) << 7 | opcode as u8;
    if payload_len < 126 {
        out[1] = payload_len as u8;
        2
    } else if payload_len <= u16::MAX as usize {
        out[1] = 126;
        out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    }
}

/// Turns a whole, unmasked client data frame, `buf[frame_start..payload.end]`,
/// into the server frame that echoes it, in place: the header moves four
/// bytes up, over the masking key, without its MASK bit. Returns where the
/// server frame lies, or `None` when the client did not encode the length
/// minimally (RFC 6455 requires the server's to be).
pub fn echo_in_place(buf: &mut [u8], frame_start: usize, payload: Range<usize>) -> Option<Range<usize>> {
    let header_len = payload.start.checked_sub(frame_start + 4)?;
    let minimal = match header_len {
        2 => true,
        4 => payload.len() >= 126,
        _ => payload.len() > u16::MAX as usize,
    };
    if !minimal {
        return None;
    }
    let start = frame_start + 4;
    buf.copy_within(frame_start..frame_start + header_len, start);
    buf[start + 1] &= 0x7f;
    Some(start..payload.end)
}

/// Unmasks `payload`, whose first byte sits `offset` bytes into its frame's
/// payload: the key is rotated so that a payload can be unmasked piecewise
/// as it arrives.
#[inline]
pub fn unmask_at(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    let r = offset % 4;
    let key = [mask[r], mask[(r + 1) % 4], mask[(r + 2) % 4], mask[(r + 3) % 4]];
    fastwebsockets::unmask(payload, key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(b0: u8, len: usize) -> Vec<u8> {
        let mut f = vec![b0];
        let mut head = [0u8; MAX_SERVER_HEADER];
        let n = encode_server_header(&mut head, true, OpCode::Text, len);
        f.extend_from_slice(&head[1..n]);
        f[1] |= 0x80;
        f.extend_from_slice(&[1, 2, 3, 4]);
        f
    }

    #[test]
    fn parses_each_length_form() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let buf = masked(0x81, len);
            let h = parse_client_header(&buf).unwrap().unwrap();
            assert_eq!(h.payload_len, len as u64);
            assert_eq!(h.header_len, buf.len());
            assert_eq!(h.mask, [1, 2, 3, 4]);
            // Every strict prefix asks for more bytes.
            for cut in 0..buf.len() {
                assert_eq!(parse_client_header(&buf[..cut]), Ok(None));
            }
        }
    }

    #[test]
    fn rejects_protocol_errors_early() {
        assert_eq!(parse_client_header(&[0xc1, 0x80]), Err(HeaderError::ReservedBits));
        assert_eq!(parse_client_header(&[0x83, 0x80]), Err(HeaderError::UnknownOpcode(3)));
        assert_eq!(parse_client_header(&[0x81, 0x05]), Err(HeaderError::Unmasked));
        assert_eq!(parse_client_header(&[0x09, 0x80]), Err(HeaderError::BadControlFrame));
        assert_eq!(parse_client_header(&[0x89, 0xfe]), Err(HeaderError::BadControlFrame));
        let huge = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_client_header(&huge), Err(HeaderError::BadLength));
    }

    #[test]
    fn echo_in_place_makes_the_server_frame() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = masked(0x82, len);
            let header_len = buf.len();
            buf.extend_from_slice(&payload);
            let frame = echo_in_place(&mut buf, 0, header_len..header_len + len).unwrap();
            let mut expected = vec![0u8; MAX_SERVER_HEADER];
            let n = encode_server_header((&mut expected[..]).try_into().unwrap(), true, OpCode::Binary, len);
            expected.truncate(n);
            expected.extend_from_slice(&payload);
            assert_eq!(&buf[frame], &expected[..], "len {len}");
        }
        // A 5-byte payload announced in the 16-bit form is not echoed as is.
        let mut buf = vec![0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o'];
        assert_eq!(echo_in_place(&mut buf, 0, 8..13), None);
    }

    #[test]
    fn piecewise_unmask_equals_whole() {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut whole = data.clone();
        unmask_at(&mut whole, mask, 0);
        let mut pieces = data.clone();
        let mut at = 0;
        for step in [1, 3, 7, 100, 889] {
            unmask_at(&mut pieces[at..at + step], mask, at);
            at += step;
        }
        assert_eq!(at, 1000);
        assert_eq!(whole, pieces);
    }
}
