//! The replies of one connection waiting to go out, written together.
//!
//! fastwebsockets writes each frame with its own syscall; under pipelined
//! load that is what holds it back. The connection loop instead queues every
//! reply to the frames it has read and flushes them with one vectored write
//! when it would otherwise wait for input.
//!
//! A queued reply is a list of segments: bytes the outbox owns (headers,
//! formatted text, control frames), ranges of the connection's read
//! buffer, so an echoed payload goes out from where it was read, uncopied,
//! and ranges of a second buffer set aside (a reassembled message), so a
//! fragmented message is not copied a second time into the outbox.
//!
//! The one copy it makes on purpose: a referenced range of at most
//! [`COPY_AT_MOST`] bytes is copied into the owned bytes instead, so that
//! a batch of small replies is one contiguous slice. The kernel's cost per
//! `iovec` is what held pipelined echo back (`_copy_from_iter` 15.8 % of
//! the server's cycles with two slices of 6 and 32 bytes per message:
//! docs/performance.md); copying 32 bytes costs a few nanoseconds.
//!
//! In mode `echo` there is nothing to copy: a run of echoes is written,
//! unmasked, one after another in the read buffer itself
//! (`Decoder::echo_whole`), and queued as one referenced range
//! ([`Outbox::input_frames`]), whatever its size.
//!
//! A broadcast frame (mode `broadcast`) is queued as a shared
//! [`Bytes`]: encoded once by its publisher, the same bytes are written to
//! every member of the topic, never copied per recipient.
//!
//! Writing is a poll function that keeps its progress in the outbox (a
//! segment and an offset in it), so the slices handed to `writev` live on
//! the stack of one poll, not in the connection's future: the future of
//! an idle connection stays small.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;

use wsbench_proto::{encode_header, OpCode, MAX_HEADER};

/// Capacity kept between flushes; a larger buffer left by a big reply is
/// released so that idle connections stay small.
const RETAINED_CAPACITY: usize = 64 << 10;

/// Slices handed to one `writev` (on the stack of a poll).
const SLICES_PER_WRITE: usize = 64;

/// Referenced ranges up to this size are copied into the owned bytes, so
/// that small replies coalesce into one slice (see the module doc).
pub const COPY_AT_MOST: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// `bytes[start..end]`.
    Owned { start: usize, end: usize },
    /// `input[start..end]`, the read buffer passed to [`Outbox::flush`].
    Input { start: usize, end: usize },
    /// `aside[start..end]`, the second buffer passed to
    /// [`Outbox::flush_with`].
    Aside { start: usize, end: usize },
    /// `shared[index]`, a whole broadcast frame.
    Shared { index: usize },
}

/// Which buffer a referenced segment is in.
#[derive(Debug, Clone, Copy)]
enum Referenced {
    Input,
    Aside,
}

/// Queued output of one connection.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    segments: Vec<Segment>,
    /// Broadcast frames queued, shared with the topic's other members.
    shared: Vec<Bytes>,
    frames: u64,
    /// Bytes queued, kept as segments are added: the connection checks it
    /// against `--max-backpressure` after every frame.
    queued: usize,
    /// How far a write in progress got: the segment, and the bytes of it
    /// already written.
    cursor: (usize, usize),
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Frames queued since the last flush.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes queued since the last flush.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Bytes of memory the outbox owns (the read buffer's are not counted).
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
            + self.segments.capacity() * std::mem::size_of::<Segment>()
            + self.shared.capacity() * std::mem::size_of::<Bytes>()
    }

    /// Frees the outbox's buffers if nothing is queued (an idle connection).
    pub fn release(&mut self) {
        if self.segments.is_empty() {
            self.bytes = Vec::new();
            self.segments = Vec::new();
            self.shared = Vec::new();
        }
    }

    /// Queues a frame header; its payload must follow, `payload_len` bytes
    /// of [`extend`](Self::extend) and [`input`](Self::input) calls.
    pub fn header(&mut self, fin: bool, opcode: OpCode, payload_len: usize) {
        let mut head = [0u8; MAX_HEADER];
        let n = encode_header(&mut head, fin, opcode, payload_len, None);
        self.extend(&head[..n]);
        self.frames += 1;
    }

    /// Queues a whole frame whose payload is copied in.
    pub fn frame(&mut self, opcode: OpCode, payload: &[u8]) {
        self.header(true, opcode, payload.len());
        self.extend(payload);
    }

    /// Queues a Close frame with a status code and a reason.
    pub fn close(&mut self, code: u16, reason: &str) {
        self.header(true, OpCode::Close, 2 + reason.len());
        self.extend(&code.to_be_bytes());
        self.extend(reason.as_bytes());
    }

    /// Queues bytes copied into the outbox.
    pub fn extend(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        let end = self.bytes.len();
        self.queued += data.len();
        match self.segments.last_mut() {
            Some(Segment::Owned { end: last_end, .. }) if *last_end == start => *last_end = end,
            _ => self.segments.push(Segment::Owned { start, end }),
        }
    }

    /// Queues `bytes`, which is `input[range]` of the read buffer: copied
    /// if it is small ([`COPY_AT_MOST`]), else referenced, and the buffer
    /// must then hold the same bytes when [`flush`](Self::flush) runs.
    pub fn input(&mut self, range: Range<usize>, bytes: &[u8]) {
        self.reference(Referenced::Input, range, bytes);
    }

    /// Queues `bytes`, which is `aside[range]` of the second buffer given
    /// to [`flush_with`](Self::flush_with): copied if small, else
    /// referenced, as [`input`](Self::input) does.
    pub fn aside(&mut self, range: Range<usize>, bytes: &[u8]) {
        self.reference(Referenced::Aside, range, bytes);
    }

    fn reference(&mut self, buffer: Referenced, range: Range<usize>, bytes: &[u8]) {
        debug_assert_eq!(range.len(), bytes.len());
        if range.len() <= COPY_AT_MOST {
            return self.extend(bytes);
        }
        self.refer(buffer, range);
    }

    /// Queues `buffer[range]` by reference, joined to the segment before
    /// if that one ends where it starts.
    fn refer(&mut self, buffer: Referenced, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.queued += range.len();
        let (start, end) = (range.start, range.end);
        match (self.segments.last_mut(), buffer) {
            (Some(Segment::Input { end: last, .. }), Referenced::Input)
            | (Some(Segment::Aside { end: last, .. }), Referenced::Aside)
                if *last == start =>
            {
                *last = end
            }
            (_, Referenced::Input) => self.segments.push(Segment::Input { start, end }),
            (_, Referenced::Aside) => self.segments.push(Segment::Aside { start, end }),
        }
    }

    /// Queues `frames` whole frames that lie one after another in the read
    /// buffer at `range` (a run echoed by `Decoder::echo_whole`): referenced
    /// whatever their size, as they already are one slice.
    pub fn input_frames(&mut self, range: Range<usize>, frames: usize) {
        self.refer(Referenced::Input, range);
        self.frames += frames as u64;
    }

    /// Queues a whole frame that lies in the read buffer at `range`
    /// (`bytes` is that range), as [`input`](Self::input) does.
    pub fn input_frame(&mut self, range: Range<usize>, bytes: &[u8]) {
        self.input(range, bytes);
        self.frames += 1;
    }

    /// Queues a whole frame encoded elsewhere and shared (a broadcast
    /// frame): referenced, never copied, whatever its size.
    pub fn shared_frame(&mut self, frame: Bytes) {
        if frame.is_empty() {
            return;
        }
        self.queued += frame.len();
        self.frames += 1;
        self.segments.push(Segment::Shared { index: self.shared.len() });
        self.shared.push(frame);
    }

    /// Offset the next owned byte will have; with [`set_fin`](Self::set_fin)
    /// this lets a streaming writer decide a frame's FIN bit after the fact.
    pub(crate) fn owned_len(&self) -> usize {
        self.bytes.len()
    }

    /// Sets FIN on the frame whose header starts at owned offset `at`.
    pub(crate) fn set_fin(&mut self, at: usize) {
        self.bytes[at] |= 0x80;
    }

    /// Sets RSV1 (a compressed message, RFC 7692) on the frame whose
    /// header starts at owned offset `at`.
    pub(crate) fn set_rsv1(&mut self, at: usize) {
        self.bytes[at] |= 0x40;
    }

    /// Writes everything queued, in order, then forgets it.
    pub async fn flush<S>(&mut self, io: &mut S, input: &[u8]) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        self.flush_with(io, input, &[]).await
    }

    /// [`flush`](Self::flush), with the buffer that
    /// [`aside`](Self::aside) segments refer to.
    pub async fn flush_with<S>(&mut self, io: &mut S, input: &[u8], aside: &[u8]) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        poll_fn(|cx| self.poll_flush_with(cx, Pin::new(&mut *io), input, aside)).await
    }

    /// [`flush_with`](Self::flush_with) as a poll function, for callers
    /// whose futures should not hold a flush's state. Cancel-safe.
    pub fn poll_flush_with<S>(
        &mut self,
        cx: &mut Context<'_>,
        io: Pin<&mut S>,
        input: &[u8],
        aside: &[u8],
    ) -> Poll<io::Result<()>>
    where
        S: AsyncWrite,
    {
        let result = ready!(self.poll_write(cx, io, input, aside));
        self.clear();
        Poll::Ready(result)
    }

    fn resolve<'a>(&'a self, s: &Segment, input: &'a [u8], aside: &'a [u8]) -> &'a [u8] {
        match *s {
            Segment::Owned { start, end } => &self.bytes[start..end],
            Segment::Input { start, end } => &input[start..end],
            Segment::Aside { start, end } => &aside[start..end],
            Segment::Shared { index } => &self.shared[index],
        }
    }

    /// Writes what is queued from the cursor on, `writev` by `writev`,
    /// then flushes `io`. Cancel-safe: progress is kept in the cursor.
    fn poll_write<S>(
        &mut self,
        cx: &mut Context<'_>,
        mut io: Pin<&mut S>,
        input: &[u8],
        aside: &[u8],
    ) -> Poll<io::Result<()>>
    where
        S: AsyncWrite,
    {
        loop {
            let (segment, offset) = self.cursor;
            let rest = &self.segments[segment..];
            let Some(first) = rest.first() else {
                return io.poll_flush(cx);
            };
            let head = &self.resolve(first, input, aside)[offset..];
            let written = if rest.len() == 1 || !io.is_write_vectored() {
                ready!(io.as_mut().poll_write(cx, head))?
            } else {
                let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
                slices[0] = IoSlice::new(head);
                let count = rest.len().min(SLICES_PER_WRITE);
                for (slot, s) in slices[1..count].iter_mut().zip(&rest[1..]) {
                    *slot = IoSlice::new(self.resolve(s, input, aside));
                }
                ready!(io.as_mut().poll_write_vectored(cx, &slices[..count]))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(written, input, aside);
        }
    }

    /// Moves the cursor past `n` written bytes.
    fn advance(&mut self, mut n: usize, input: &[u8], aside: &[u8]) {
        let (mut segment, mut offset) = self.cursor;
        while n > 0 {
            let left = self.resolve(&self.segments[segment], input, aside).len() - offset;
            if n < left {
                offset += n;
                break;
            }
            n -= left;
            segment += 1;
            offset = 0;
        }
        self.cursor = (segment, offset);
    }

    /// Empties the outbox, releasing a buffer grown past what it keeps.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.shared.clear();
        self.cursor = (0, 0);
        self.frames = 0;
        self.queued = 0;
        if self.bytes.capacity() > RETAINED_CAPACITY {
            self.bytes = Vec::new();
        } else {
            self.bytes.clear();
        }
    }

    /// The queued bytes, concatenated: for tests and benchmarks.
    pub fn to_vec(&self, input: &[u8]) -> Vec<u8> {
        self.to_vec_with(input, &[])
    }

    /// [`to_vec`](Self::to_vec) with the [`aside`](Self::aside) buffer.
    pub fn to_vec_with(&self, input: &[u8], aside: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for s in &self.segments {
            v.extend_from_slice(self.resolve(s, input, aside));
        }
        v
    }
}

#[cfg(test)]
mod tests;
