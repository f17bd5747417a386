//! The message decoder: a state machine fed the bytes of a connection that
//! turns them into [`Frame`]s (data message parts, pings, pongs, closes) or
//! the [`ProtocolError`] that fails the connection, with its close code.
//!
//! It works **in place** on the caller's read buffer and owns no buffer of
//! its own, so it never reserves memory for what a header announces:
//!
//! - each call gets the buffered input that starts at the next frame;
//! - the payload bytes that have arrived are unmasked in place as they
//!   arrive and, in text messages, checked as UTF-8 at once, so bad text
//!   fails at the first bad byte even mid-frame (Autobahn 6.4.x);
//! - a whole frame comes back as ranges into that input: the caller reads
//!   its payload (or echoes the frame, see [`echo_in_place`](crate::echo_in_place))
//!   where it lies, and passes the input after it on the next call.
//!
//! Data frames come back as message parts with their `first` and `fin`
//! bits; single-frame messages (`first && fin`) need no copy. Joining the
//! parts of fragmented messages is the caller's, with [`Reassembler`] if it
//! wants one. The decoder checks the message's size limit across fragments
//! as soon as a header announces a size, the sequence of fragments, and
//! close frames.

mod echo;

use std::ops::Range;

pub use self::echo::{EchoBudget, EchoRun};
use crate::close::{self, parse_close, CloseError};
use crate::frame::{parse_header_with, HeaderError, Role};
use crate::mask::unmask_at;
use crate::opcode::{MessageKind, OpCode};
use crate::utf8::{check_whole, Utf8Validator, WholeError};

/// Why the peer broke the protocol; [`close_code`](Self::close_code) is
/// the code to fail the connection with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A bad frame header (1002).
    Header(HeaderError),
    /// A continuation frame outside a fragmented message (1002).
    UnexpectedContinuation,
    /// A new text or binary frame inside a fragmented message (1002).
    UnfinishedMessage,
    /// A message over the size limit, counted across fragments (1009).
    MessageTooBig,
    /// Text that is not UTF-8 (1007).
    InvalidUtf8,
    /// Text that ends inside a code point (1007).
    TruncatedUtf8,
    /// A bad Close frame payload (1002 or 1007).
    Close(CloseError),
    /// A compressed message (permessage-deflate) that does not inflate
    /// (1007). The decoder does not inflate: the end that does reports it.
    BadDeflate,
}

impl ProtocolError {
    /// The close code to fail the connection with: 1002, 1007 or 1009.
    pub fn close_code(self) -> u16 {
        match self {
            ProtocolError::Header(_) | ProtocolError::UnexpectedContinuation | ProtocolError::UnfinishedMessage => {
                close::PROTOCOL_ERROR
            }
            ProtocolError::MessageTooBig => close::MESSAGE_TOO_BIG,
            ProtocolError::InvalidUtf8 | ProtocolError::TruncatedUtf8 | ProtocolError::BadDeflate => {
                close::INVALID_PAYLOAD
            }
            ProtocolError::Close(e) => e.close_code(),
        }
    }

    /// A short reason, for the Close frame and the logs.
    pub fn reason(self) -> &'static str {
        match self {
            ProtocolError::Header(e) => e.reason(),
            ProtocolError::UnexpectedContinuation => "continuation frame without a message",
            ProtocolError::UnfinishedMessage => "new message inside a fragmented message",
            ProtocolError::MessageTooBig => "message too big",
            ProtocolError::InvalidUtf8 => "invalid UTF-8 in text",
            ProtocolError::TruncatedUtf8 => "text ends inside a code point",
            ProtocolError::Close(e) => e.reason(),
            ProtocolError::BadDeflate => "compressed data that does not inflate",
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (close {})", self.reason(), self.close_code())
    }
}

impl std::error::Error for ProtocolError {}

/// What a whole frame means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A data message, or a part of one.
    Data {
        /// The message's type (a continuation frame gets its message's).
        kind: MessageKind,
        /// The message's first frame.
        first: bool,
        /// The message's last frame.
        fin: bool,
    },
    /// A Ping; answer with a Pong of the same payload.
    Ping,
    /// A Pong.
    Pong,
    /// A valid Close: its code, if any, and where its (UTF-8) reason lies.
    Close {
        /// The status code; `None` for an empty Close.
        code: Option<u16>,
        /// The reason, a range of the input (empty without a code).
        reason: Range<usize>,
    },
}

/// A whole frame, unmasked and checked, at the start of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame means.
    pub event: Event,
    /// Where its payload lies in the input.
    pub payload: Range<usize>,
    /// Its length in the input (header included): the next frame starts here.
    pub len: usize,
}

/// The decoder of one connection's incoming frames.
#[derive(Debug, Clone)]
pub struct Decoder {
    role: Role,
    max_message_size: usize,
    /// Payload bytes of the frame at the input's start already unmasked and
    /// checked.
    done: usize,
    /// Length of the incomplete frame at the input's start, once known.
    pending: Option<usize>,
    /// Type of the fragmented message in progress, if any.
    message: Option<MessageKind>,
    /// Payload bytes of its earlier fragments.
    so_far: usize,
    utf8: Utf8Validator,
    /// Text payloads are validated as UTF-8 (RFC 6455 §8.1).
    check_utf8: bool,
    /// permessage-deflate was negotiated: RSV1 may mark a message's first
    /// frame (RFC 7692 §6).
    deflate: bool,
    /// The message of the last data frame is compressed (its first frame
    /// had RSV1).
    compressed: bool,
}

impl Decoder {
    /// A decoder for the frames `role` receives, messages being at most
    /// `max_message_size` bytes (counted across fragments).
    pub fn new(role: Role, max_message_size: usize) -> Self {
        Decoder {
            role,
            max_message_size,
            done: 0,
            pending: None,
            message: None,
            so_far: 0,
            utf8: Utf8Validator::new(),
            check_utf8: true,
            deflate: false,
            compressed: false,
        }
    }

    /// This decoder, for a connection that negotiated permessage-deflate:
    /// RSV1 is accepted on a message's first frame, and marks it
    /// compressed (see [`compressed`](Self::compressed)); on a continuation
    /// or a control frame it is still a protocol error (1002, RFC 7692
    /// §6.1). A compressed text message is not checked as UTF-8 here (its
    /// payload is deflate data): the caller checks it once inflated. The
    /// size limit counts the compressed bytes; the inflater bounds the rest.
    pub fn with_deflate(mut self) -> Self {
        self.deflate = true;
        self
    }

    /// Whether the message of the data frame last returned is compressed
    /// (always false without [`with_deflate`](Self::with_deflate)).
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// This decoder, without the UTF-8 check of text payloads: for a
    /// reader that compares every text message byte for byte with one it
    /// knows to be UTF-8 (a load generator checking echoes), where the
    /// check can only repeat the comparison's verdict. Invalid UTF-8 then
    /// shows as a message that differs, not as [`ProtocolError::InvalidUtf8`].
    pub fn without_utf8_check(mut self) -> Self {
        self.check_utf8 = false;
        self
    }

    /// The role this decoder reads for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Length of the incomplete frame at the input's start, once its header
    /// has arrived: how much input the next frame needs in all.
    pub fn pending_frame_len(&self) -> Option<usize> {
        self.pending
    }

    /// Whether a fragmented message is in progress.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Decodes the frame at the start of `input`.
    ///
    /// `input` must start at a frame boundary: after `Ok(Some(frame))` the
    /// next call gets the input from `frame.len` on; after `Ok(None)` (more
    /// bytes needed) it gets the same input with more bytes after it. The
    /// payload bytes that have arrived are unmasked in place. After an
    /// error, the connection is to be failed with its close code; the
    /// decoder must not be fed again.
    #[inline]
    pub fn decode(&mut self, input: &mut [u8]) -> Result<Option<Frame>, ProtocolError> {
        let header = match parse_header_with(input, self.role, self.deflate) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(None),
            Err(e) => return Err(ProtocolError::Header(e)),
        };
        let opcode = header.opcode;
        let kind = match (opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => return Err(ProtocolError::UnfinishedMessage),
            (OpCode::Continuation, Some(kind)) => Some(kind),
            (OpCode::Text, None) => Some(MessageKind::Text),
            (OpCode::Binary, None) => Some(MessageKind::Binary),
            _ => None,
        };
        match opcode {
            OpCode::Text | OpCode::Binary => self.compressed = header.rsv1,
            _ if header.rsv1 => return Err(ProtocolError::Header(HeaderError::ReservedBits)),
            _ => {}
        }
        if kind.is_some() && header.payload_len > (self.max_message_size - self.so_far) as u64 {
            return Err(ProtocolError::MessageTooBig);
        }
        // Within the limit (or a control frame), so it fits in usize.
        let frame_len = usize::try_from(header.frame_len()).map_err(|_| ProtocolError::MessageTooBig)?;
        let payload_start = header.header_len;
        if header.fin && self.message.is_none() && self.done == 0 && frame_len <= input.len() {
            if let Some(kind) = kind {
                // The common case, a single-frame message that arrived whole:
                // no state to carry, the payload checked in one go.
                let payload = payload_start..frame_len;
                let bytes = &mut input[payload.clone()];
                if let Some(mask) = header.mask {
                    unmask_at(bytes, mask, 0);
                }
                if self.check_utf8 && kind == MessageKind::Text && !self.compressed {
                    check_text(bytes)?;
                }
                self.pending = None;
                return Ok(Some(Frame {
                    event: Event::Data { kind, first: true, fin: true },
                    payload,
                    len: frame_len,
                }));
            }
        }
        let arrived_end = frame_len.min(input.len());
        let text = self.check_utf8 && kind == Some(MessageKind::Text) && !self.compressed;

        if self.done == 0 && opcode == OpCode::Text {
            self.utf8.reset();
        }
        let from = payload_start + self.done;
        if arrived_end > from {
            let fresh = &mut input[from..arrived_end];
            if let Some(mask) = header.mask {
                unmask_at(fresh, mask, self.done);
            }
            if text && self.utf8.feed(fresh).is_err() {
                return Err(ProtocolError::InvalidUtf8);
            }
            self.done = arrived_end - payload_start;
        }
        if frame_len > input.len() {
            self.pending = Some(frame_len);
            return Ok(None);
        }
        self.done = 0;
        self.pending = None;
        let payload = payload_start..frame_len;
        let event = match (opcode, kind) {
            (OpCode::Ping, _) => Event::Ping,
            (OpCode::Pong, _) => Event::Pong,
            (OpCode::Close, _) => match parse_close(&input[payload.clone()]) {
                Ok(None) => Event::Close { code: None, reason: payload.end..payload.end },
                Ok(Some((code, _))) => Event::Close { code: Some(code), reason: payload.start + 2..payload.end },
                Err(e) => return Err(ProtocolError::Close(e)),
            },
            (_, kind) => {
                let kind = kind.expect("data frames have a kind");
                if header.fin {
                    if text && self.utf8.finish().is_err() {
                        return Err(ProtocolError::TruncatedUtf8);
                    }
                    self.message = None;
                    self.so_far = 0;
                } else {
                    self.message = Some(kind);
                    self.so_far += payload.len();
                }
                Event::Data { kind, first: opcode != OpCode::Continuation, fin: header.fin }
            }
        };
        Ok(Some(Frame { event, payload, len: frame_len }))
    }
}

/// Checks a whole text message's payload as UTF-8.
#[inline]
fn check_text(bytes: &[u8]) -> Result<(), ProtocolError> {
    check_whole(bytes).map_err(|e| match e {
        WholeError::Invalid => ProtocolError::InvalidUtf8,
        WholeError::Truncated => ProtocolError::TruncatedUtf8,
    })
}

/// Joins the parts of fragmented messages (the optional helper for the
/// decoder's callers): a copy of each part, in one buffer reused from
/// message to message.
#[derive(Debug, Default, Clone)]
pub struct Reassembler {
    buf: Vec<u8>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a message part; a `first` part starts a new message. Returns
    /// the whole message once the `fin` part is in.
    pub fn push(&mut self, first: bool, fin: bool, part: &[u8]) -> Option<&[u8]> {
        if first {
            self.buf.clear();
        }
        self.buf.extend_from_slice(part);
        fin.then_some(self.buf.as_slice())
    }

    /// The message (or the parts of it) pushed so far.
    pub fn message(&self) -> &[u8] {
        &self.buf
    }

    /// Releases the buffer if it grew past `retained` bytes of capacity
    /// (call between messages, so idle connections stay small).
    pub fn shrink(&mut self, retained: usize) {
        if self.buf.capacity() > retained {
            self.buf = Vec::new();
        }
    }
}
