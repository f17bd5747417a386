//! Close frames (RFC 6455, 5.5.1 and 7.4): status codes, and the payload's
//! parsing and encoding.

use crate::utf8::is_utf8;

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown).
pub const GOING_AWAY: u16 = 1001;
/// A protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Data inconsistent with the message type (text that is not UTF-8).
pub const INVALID_PAYLOAD: u16 = 1007;
/// A message too big to process.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// Try again later: the endpoint is out of a resource (memory) for now.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// Whether a peer may put `code` on the wire in a Close frame.
///
/// 1004-1006 and 1015 are reserved for local use; 1012-1014 were registered
/// after RFC 6455 and the Autobahn suite (the reference for strictness)
/// treats them as invalid, so they are refused too.
pub fn is_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Why a Close frame's payload is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseError {
    /// A one-byte payload: half a status code (1002).
    OneByte,
    /// A status code not allowed on the wire (1002).
    InvalidCode(u16),
    /// A reason that is not UTF-8 (1007).
    InvalidReason,
}

impl CloseError {
    /// The close code to fail the connection with.
    pub fn close_code(self) -> u16 {
        match self {
            CloseError::OneByte | CloseError::InvalidCode(_) => PROTOCOL_ERROR,
            CloseError::InvalidReason => INVALID_PAYLOAD,
        }
    }

    /// A short reason, for a Close frame and the logs.
    pub fn reason(self) -> &'static str {
        match self {
            CloseError::OneByte => "close frame with a one-byte payload",
            CloseError::InvalidCode(_) => "invalid close code",
            CloseError::InvalidReason => "close reason is not UTF-8",
        }
    }
}

/// Parses a Close frame's payload: `None` for an empty one, else the code
/// and the reason.
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, CloseError> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseError::OneByte),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_on_wire(code) {
                return Err(CloseError::InvalidCode(code));
            }
            std::str::from_utf8(reason).map(|r| Some((code, r))).map_err(|_| CloseError::InvalidReason)
        }
    }
}

/// Appends a Close payload, `code` then `reason`, to `out`. The reason is
/// cut at a character boundary to fit a control frame's 125 bytes.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(crate::MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

/// Whether `reason` bytes are a valid Close reason (UTF-8).
pub fn is_valid_reason(reason: &[u8]) -> bool {
    is_utf8(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes() {
        for ok in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999] {
            assert!(is_valid_on_wire(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_on_wire(bad), "{bad}");
        }
    }

    #[test]
    fn parse_and_encode() {
        assert_eq!(parse_close(&[]), Ok(None));
        assert_eq!(parse_close(&[3]), Err(CloseError::OneByte));
        assert_eq!(parse_close(&[3, 0xed]), Err(CloseError::InvalidCode(1005)));
        assert_eq!(parse_close(&[3, 0xe8, 0xff]), Err(CloseError::InvalidReason));
        let mut out = Vec::new();
        encode_close(&mut out, NORMAL, "bye");
        assert_eq!(parse_close(&out), Ok(Some((NORMAL, "bye"))));
        assert_eq!(CloseError::InvalidReason.close_code(), INVALID_PAYLOAD);
        assert_eq!(CloseError::OneByte.close_code(), PROTOCOL_ERROR);
        let mut long = Vec::new();
        encode_close(&mut long, NORMAL, &"é".repeat(100));
        assert!(long.len() <= crate::MAX_CONTROL_PAYLOAD);
        assert!(parse_close(&long).is_ok());
    }
}
