//! Frame headers (RFC 6455, 5.2): strict parsing and encoding for both
//! roles, and the in-place echo of a client frame.
//!
//! The [`Role`] decides the masking rules: a server requires masked frames
//! and writes unmasked ones; a client requires unmasked frames and writes
//! masked ones. Every other check is the same for both: reserved bits, reserved
//! opcodes, control frames (FIN set, at most 125 bytes) and the most
//! significant bit of a 64-bit length. Message size limits are the
//! [`Decoder`](crate::Decoder)'s: it knows what came before.

use std::ops::Range;

use crate::opcode::OpCode;

/// The largest header: 2 bytes, 8 of extended length, 4 of masking key.
pub const MAX_HEADER: usize = 14;
/// The largest unmasked (server) header: 2 bytes, 8 of extended length.
pub const MAX_SERVER_HEADER: usize = 10;
/// Longest payload a control frame may carry (5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads masked frames, writes unmasked ones.
    Server,
    /// Reads unmasked frames, writes masked ones.
    Client,
}

impl Role {
    /// Whether frames this end *receives* must be masked.
    #[inline]
    pub fn reads_masked(self) -> bool {
        self == Role::Server
    }
}

/// Why a frame header breaks the protocol (close 1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// RSV1-3 set, but no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 leaves reserved.
    UnknownOpcode(u8),
    /// A frame to a server without a masking key (5.1).
    Unmasked,
    /// A frame to a client with a masking key (5.1).
    Masked,
    /// A control frame with FIN unset or a payload over 125 bytes.
    BadControlFrame,
    /// A 64-bit length with its most significant bit set.
    BadLength,
}

impl HeaderError {
    /// A short reason, for a Close frame and the logs.
    pub fn reason(self) -> &'static str {
        match self {
            HeaderError::ReservedBits => "reserved bits set",
            HeaderError::UnknownOpcode(_) => "unknown opcode",
            HeaderError::Unmasked => "client frame not masked",
            HeaderError::Masked => "server frame masked",
            HeaderError::BadControlFrame => "fragmented or oversized control frame",
            HeaderError::BadLength => "invalid payload length",
        }
    }
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            other => f.write_str(other.reason()),
        }
    }
}

impl std::error::Error for HeaderError {}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The FIN bit: the last frame of its message.
    pub fin: bool,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// Header length on the wire, masking key included.
    pub header_len: usize,
    /// Payload length as announced.
    pub payload_len: u64,
    /// The masking key, for masked frames.
    pub mask: Option<[u8; 4]>,
    /// The RSV1 bit: a compressed message's first frame, when
    /// permessage-deflate was negotiated (RFC 7692 §6); always false from
    /// [`parse_header`], which refuses it.
    pub rsv1: bool,
}

impl FrameHeader {
    /// Whole frame length on the wire.
    #[inline]
    pub fn frame_len(&self) -> u64 {
        self.header_len as u64 + self.payload_len
    }
}

/// Parses the frame header at the start of `buf`, received by `role`.
///
/// Returns `Ok(None)` when more bytes are needed. Errors are reported as
/// early as the bytes allow (the first two bytes decide most of them), so a
/// bad frame fails the connection before its payload arrives.
#[inline]
pub fn parse_header(buf: &[u8], role: Role) -> Result<Option<FrameHeader>, HeaderError> {
    parse_header_with(buf, role, false)
}

/// [`parse_header`], but with `allow_rsv1` the RSV1 bit is accepted on
/// data frames and reported in [`FrameHeader::rsv1`] (permessage-deflate
/// negotiated). Which data frame may carry it is the
/// [`Decoder`](crate::Decoder)'s to check; on a control frame it is
/// always [`HeaderError::ReservedBits`] (RFC 7692 §6.1). RSV2 and RSV3 are
/// always refused.
#[inline]
pub fn parse_header_with(buf: &[u8], role: Role, allow_rsv1: bool) -> Result<Option<FrameHeader>, HeaderError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (rsv1 && (!allow_rsv1 || b0 & 0x08 != 0)) {
        return Err(HeaderError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(HeaderError::UnknownOpcode(b0 & 0x0f))?;
    let masked = b1 & 0x80 != 0;
    match (role.reads_masked(), masked) {
        (true, false) => return Err(HeaderError::Unmasked),
        (false, true) => return Err(HeaderError::Masked),
        _ => {}
    }
    let len7 = b1 & 0x7f;
    if opcode.is_control() && (!fin || len7 as usize > MAX_CONTROL_PAYLOAD) {
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
    let mut header_len = 2 + len_size;
    let mask = if masked {
        let Some(key) = buf.get(header_len..header_len + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some(key.try_into().expect("4 bytes"))
    } else {
        None
    };
    Ok(Some(FrameHeader { fin, opcode, header_len, payload_len, mask, rsv1 }))
}

/// Length of the header of a `payload_len`-byte frame, with or without a
/// masking key.
#[inline]
pub fn header_len(payload_len: usize, masked: bool) -> usize {
    let n = match payload_len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    if masked {
        n + 4
    } else {
        n
    }
}

/// Encodes a frame header into `out`, with the minimal length form;
/// returns its length. With `mask`, the MASK bit and the key are written,
/// and the payload that follows must be masked with it (see
/// [`unmask_at`](crate::unmask_at)).
#[inline]
pub fn encode_header(
    out: &mut [u8; MAX_HEADER],
    fin: bool,
    opcode: OpCode,
    payload_len: usize,
    mask: Option<[u8; 4]>,
) -> usize {
    out[0] = (fin as u8) << 7 | opcode as u8;
    encode_length(out, payload_len, mask)
}

/// [`encode_header`] for the first frame of a compressed message: RSV1
/// set (RFC 7692 §6). Continuation frames use [`encode_header`].
#[inline]
pub fn encode_header_rsv1(
    out: &mut [u8; MAX_HEADER],
    fin: bool,
    opcode: OpCode,
    payload_len: usize,
    mask: Option<[u8; 4]>,
) -> usize {
    out[0] = (fin as u8) << 7 | 0x40 | opcode as u8;
    encode_length(out, payload_len, mask)
}

/// Writes the length, the MASK bit and the key after byte 0.
#[inline]
fn encode_length(out: &mut [u8; MAX_HEADER], payload_len: usize, mask: Option<[u8; 4]>) -> usize {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let n = if payload_len < 126 {
        out[1] = mask_bit | payload_len as u8;
        2
    } else if payload_len <= u16::MAX as usize {
        out[1] = mask_bit | 126;
        out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
        4
    } else {
        out[1] = mask_bit | 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    };
    match mask {
        Some(key) => {
            out[n..n + 4].copy_from_slice(&key);
            n + 4
        }
        None => n,
    }
}

/// Appends a whole frame to `out`: header, then the payload, masked when
/// `mask` is given. For control frames, tests and anything not on a hot
/// path.
pub fn write_frame(out: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let mut head = [0u8; MAX_HEADER];
    let n = encode_header(&mut head, fin, opcode, payload.len(), mask);
    out.extend_from_slice(&head[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        crate::unmask_at(&mut out[start..], key, 0);
    }
}

/// Turns a whole, unmasked client data frame, `buf[frame_start..payload.end]`,
/// into the server frame that echoes it, in place: the header moves four
/// bytes up, over the masking key, without its MASK bit. Returns where the
/// server frame lies, or `None` when the client did not encode the length
/// minimally (RFC 6455 requires the server's to be).
pub fn echo_in_place(buf: &mut [u8], frame_start: usize, payload: Range<usize>) -> Option<Range<usize>> {
    let client_header = payload.start.checked_sub(frame_start + 4)?;
    if client_header != header_len(payload.len(), false) {
        return None;
    }
    let start = frame_start + 4;
    buf.copy_within(frame_start..frame_start + client_header, start);
    buf[start + 1] &= 0x7f;
    Some(start..payload.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [1, 2, 3, 4];

    fn header(fin: bool, opcode: OpCode, len: usize, mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut head = [0u8; MAX_HEADER];
        let n = encode_header(&mut head, fin, opcode, len, mask);
        assert_eq!(n, header_len(len, mask.is_some()));
        head[..n].to_vec()
    }

    #[test]
    fn parses_each_length_form_in_both_roles() {
        for len in [0usize, 125, 126, 65535, 65536] {
            for (role, mask) in [(Role::Server, Some(KEY)), (Role::Client, None)] {
                let buf = header(true, OpCode::Text, len, mask);
                let h = parse_header(&buf, role).unwrap().unwrap();
                assert_eq!((h.payload_len, h.header_len, h.mask), (len as u64, buf.len(), mask));
                for cut in 0..buf.len() {
                    assert_eq!(parse_header(&buf[..cut], role), Ok(None), "every strict prefix asks for more");
                }
            }
        }
    }

    #[test]
    fn rejects_protocol_errors_early() {
        let s = Role::Server;
        assert_eq!(parse_header(&[0xc1, 0x80], s), Err(HeaderError::ReservedBits));
        assert_eq!(parse_header(&[0x83, 0x80], s), Err(HeaderError::UnknownOpcode(3)));
        assert_eq!(parse_header(&[0x81, 0x05], s), Err(HeaderError::Unmasked));
        assert_eq!(parse_header(&[0x81, 0x85], Role::Client), Err(HeaderError::Masked));
        assert_eq!(parse_header(&[0x09, 0x80], s), Err(HeaderError::BadControlFrame));
        assert_eq!(parse_header(&[0x89, 0xfe], s), Err(HeaderError::BadControlFrame));
        assert_eq!(parse_header(&[0x8a, 126], Role::Client), Err(HeaderError::BadControlFrame));
        let huge = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_header(&huge, s), Err(HeaderError::BadLength));
    }

    #[test]
    fn write_frame_masks_the_payload() {
        let mut out = Vec::new();
        write_frame(&mut out, true, OpCode::Binary, b"abcdef", Some(KEY));
        let h = parse_header(&out, Role::Server).unwrap().unwrap();
        let mut payload = out[h.header_len..].to_vec();
        crate::unmask_at(&mut payload, KEY, 0);
        assert_eq!(payload, b"abcdef");
    }

    #[test]
    fn echo_in_place_makes_the_server_frame() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = header(true, OpCode::Binary, len, Some(KEY));
            let hl = buf.len();
            buf.extend_from_slice(&payload);
            let frame = echo_in_place(&mut buf, 0, hl..hl + len).unwrap();
            let mut expected = header(true, OpCode::Binary, len, None);
            expected.extend_from_slice(&payload);
            assert_eq!(&buf[frame], &expected[..], "len {len}");
        }
        // A 5-byte payload announced in the 16-bit form is not echoed as is.
        let mut buf = vec![0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4, b'h', b'e', b'l', b'l', b'o'];
        assert_eq!(echo_in_place(&mut buf, 0, 8..13), None);
    }
}
