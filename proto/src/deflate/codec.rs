//! The per-message codec of permessage-deflate (RFC 7692 §7.2), one for
//! both ends: raw DEFLATE (no zlib header) ended by a sync flush whose
//! 4-byte tail `00 00 ff ff` is stripped when sending and put back when
//! receiving.
//!
//! The backend is flate2 on zlib-rs (benches/benches/deflate.rs compares it
//! with miniz_oxide; zlib-rs is also the one of the two that takes a window
//! size, which `server_max_window_bits` and `client_max_window_bits`
//! need).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::negotiate::MIN_WINDOW_BITS;

/// The tail a sync flush ends with, stripped from every message (§7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output grows by at least this much per step.
const MIN_STEP: usize = 256;

/// Compresses the messages one end sends.
pub struct Compressor {
    /// `None` when the window agreed is 8 bits: zlib has no raw deflate
    /// with a 256-byte window, so every message goes uncompressed (§6
    /// lets a sender choose per message).
    inner: Option<Compress>,
    no_context_takeover: bool,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("compresses", &self.inner.is_some())
            .field("no_context_takeover", &self.no_context_takeover)
            .finish()
    }
}

impl Compressor {
    /// A compressor with a `window_bits` window (8..=15; 8 compresses
    /// nothing, see above) at zlib's default level (6), that forgets its
    /// window after each message with `no_context_takeover`.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Self {
        let inner = (window_bits > MIN_WINDOW_BITS)
            .then(|| Compress::new_with_window_bits(Compression::default(), false, window_bits.min(15)));
        Compressor { inner, no_context_takeover }
    }

    /// Whether messages are compressed at all (false with an 8-bit window).
    pub fn compresses(&self) -> bool {
        self.inner.is_some()
    }

    /// Appends the compressed form of `part` of a message to `out`; `fin`
    /// ends the message (the tail is stripped, and the context reset
    /// without takeover). Parts of one message may be compressed one by
    /// one, each its own frame. Returns false, appending nothing, if this
    /// compressor does not compress (send the message uncompressed).
    pub fn compress(&mut self, part: &[u8], fin: bool, out: &mut Vec<u8>) -> bool {
        let Some(inner) = &mut self.inner else { return false };
        let start = out.len();
        let mut input = part;
        loop {
            if out.capacity() - out.len() < MIN_STEP {
                out.reserve(input.len() / 2 + MIN_STEP);
            }
            let before = inner.total_in();
            // Only a stream error fails, and our parameters are valid.
            inner.compress_vec(input, out, FlushCompress::Sync).expect("deflate with valid parameters");
            input = &input[(inner.total_in() - before) as usize..];
            // A flush is complete when the output was not filled.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if fin {
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else if out.len() == start {
                // Nothing to flush (an empty message, or an empty last
                // part): one 0x00 byte, which with the tail the receiver
                // appends makes an empty stored block (§7.2.3.6).
                out.push(0x00);
            }
            if self.no_context_takeover {
                inner.reset();
            }
        }
        true
    }
}

/// Why a compressed message cannot be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates past the message size limit (close 1009).
    TooBig,
    /// It is not valid DEFLATE data (close 1007).
    Corrupt,
    /// The output could not be allocated (close 1013): the process is out
    /// of memory, not the peer out of bounds.
    OutOfMemory,
}

impl InflateError {
    /// The close code to fail the connection with.
    pub fn close_code(self) -> u16 {
        match self {
            InflateError::TooBig => crate::close::MESSAGE_TOO_BIG,
            InflateError::Corrupt => crate::close::INVALID_PAYLOAD,
            InflateError::OutOfMemory => crate::close::TRY_AGAIN_LATER,
        }
    }

    /// A short reason, for the Close frame and the logs.
    pub fn reason(self) -> &'static str {
        match self {
            InflateError::TooBig => "message too big once inflated",
            InflateError::Corrupt => "invalid deflate data",
            InflateError::OutOfMemory => "out of memory inflating the message",
        }
    }
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (close {})", self.reason(), self.close_code())
    }
}

impl std::error::Error for InflateError {}

/// Inflates the compressed messages one end receives. Its window is
/// always 32 KiB, which reads any window the peer uses.
pub struct Decompressor {
    inner: Decompress,
    no_context_takeover: bool,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor").field("no_context_takeover", &self.no_context_takeover).finish()
    }
}

impl Decompressor {
    /// A decompressor that forgets its window after each message with
    /// `no_context_takeover` (the peer promised not to refer to it).
    pub fn new(no_context_takeover: bool) -> Self {
        Decompressor { inner: Decompress::new(false), no_context_takeover }
    }

    /// Appends the inflated `part` of a compressed message to `out`; `fin`
    /// ends the message (the tail is put back first). `out` never grows
    /// past `limit` bytes in all (a zip bomb stops at the limit with
    /// [`InflateError::TooBig`]): memory follows what the data inflates
    /// to, never a length the peer announces. After an error the
    /// decompressor is reset: its connection is failed, but a decompressor
    /// shared by a thread's connections (no context takeover) goes on
    /// serving the others, which a stream left in zlib's error state or in
    /// the middle of a bomb would fail in turn.
    pub fn decompress(&mut self, part: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let result = self.message(part, fin, out, limit);
        if result.is_err() {
            self.inner.reset(false);
        }
        result
    }

    fn message(&mut self, part: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let ended = self.feed(part, out, limit)?;
        if fin {
            // A message whose data ends with a final block (BFINAL, as a
            // sender flushing with Z_FINISH writes, RFC 7692 7.2.3.5) has
            // ended its stream: the tail put back would start a new one and
            // wait for more, and the next message would not inflate.
            if !ended {
                self.feed(&TAIL, out, limit)?;
            }
            if self.no_context_takeover {
                self.inner.reset(false);
            }
        }
        Ok(())
    }

    /// Inflates `input` into `out`; true if the data ended exactly with
    /// the end of a stream (a final block).
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<bool, InflateError> {
        loop {
            let mut probe = [0u8; 1];
            let at_limit = out.len() >= limit;
            if !at_limit && out.len() == out.capacity() {
                // Grow with what the data gives, never past the limit.
                let step = (input.len() * 2).max(MIN_STEP).max(out.capacity() / 2);
                // The peer's data drives this growth: a failed allocation
                // ends the message, not the process.
                out.try_reserve_exact(step.min(limit - out.len())).map_err(|_| InflateError::OutOfMemory)?;
            }
            let (in_before, out_before) = (self.inner.total_in(), self.inner.total_out());
            // At the limit, one byte of room tells "nothing more" apart
            // from "more than the limit".
            let status = if at_limit {
                self.inner.decompress(input, &mut probe, FlushDecompress::Sync)
            } else {
                self.inner.decompress_vec(input, out, FlushDecompress::Sync)
            }
            .map_err(|_| InflateError::Corrupt)?;
            let wrote = self.inner.total_out() > out_before;
            if at_limit && wrote {
                return Err(InflateError::TooBig);
            }
            let consumed = (self.inner.total_in() - in_before) as usize;
            input = &input[consumed..];
            if status == Status::StreamEnd {
                // A final block (BFINAL) ends the stream; whatever follows
                // in the message starts a new one.
                self.inner.reset(false);
                if input.is_empty() {
                    return Ok(true);
                }
                continue;
            }
            let room_left = at_limit || out.len() < out.capacity();
            if input.is_empty() && room_left {
                return Ok(false);
            }
            if consumed == 0 && !wrote && room_left {
                // Input left, room left, and no progress: not deflate data.
                return Err(InflateError::Corrupt);
            }
        }
    }
}
