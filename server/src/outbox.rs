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

use std::io::{self, IoSlice};
use std::ops::Range;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use wsbench_proto::{encode_header, OpCode, MAX_HEADER};

/// Capacity kept between flushes; a larger buffer left by a big reply is
/// released so that idle connections stay small.
const RETAINED_CAPACITY: usize = 64 << 10;

/// Slices handed to one `writev`: enough for a batch of pipelined replies,
/// small enough to live in the connection task's state.
const SLICES_PER_WRITE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// `bytes[start..end]`.
    Owned { start: usize, end: usize },
    /// `input[start..end]`, the read buffer passed to [`Outbox::flush`].
    Input { start: usize, end: usize },
    /// `aside[start..end]`, the second buffer passed to
    /// [`Outbox::flush_with`].
    Aside { start: usize, end: usize },
}

/// Queued output of one connection.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    segments: Vec<Segment>,
    frames: u64,
    /// Bytes queued, kept as segments are added: the connection checks it
    /// against `--max-backpressure` after every frame.
    queued: usize,
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
        self.bytes.capacity() + self.segments.capacity() * std::mem::size_of::<Segment>()
    }

    /// Frees the outbox's buffers if nothing is queued (an idle connection).
    pub fn release(&mut self) {
        if self.segments.is_empty() {
            self.bytes = Vec::new();
            self.segments = Vec::new();
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
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        let end = self.bytes.len();
        self.queued += data.len();
        match self.segments.last_mut() {
            Some(Segment::Owned { end: last_end, .. }) if *last_end == start => *last_end = end,
            _ => self.segments.push(Segment::Owned { start, end }),
        }
    }

    /// Queues `input[range]` of the read buffer, without copying it; the
    /// buffer must hold the same bytes when [`flush`](Self::flush) runs.
    pub fn input(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.queued += range.len();
        match self.segments.last_mut() {
            Some(Segment::Input { end, .. }) if *end == range.start => *end = range.end,
            _ => self.segments.push(Segment::Input { start: range.start, end: range.end }),
        }
    }

    /// Queues `aside[range]` of the second buffer given to
    /// [`flush_with`](Self::flush_with), without copying it.
    pub fn aside(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        self.queued += range.len();
        match self.segments.last_mut() {
            Some(Segment::Aside { end, .. }) if *end == range.start => *end = range.end,
            _ => self.segments.push(Segment::Aside { start: range.start, end: range.end }),
        }
    }

    /// Queues a whole frame that lies in the read buffer at `range`.
    pub fn input_frame(&mut self, range: Range<usize>) {
        self.input(range);
        self.frames += 1;
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
        let result = self.write_all(io, input, aside).await;
        self.clear();
        result
    }

    fn resolve<'a>(&'a self, s: &Segment, input: &'a [u8], aside: &'a [u8]) -> &'a [u8] {
        match *s {
            Segment::Owned { start, end } => &self.bytes[start..end],
            Segment::Input { start, end } => &input[start..end],
            Segment::Aside { start, end } => &aside[start..end],
        }
    }

    async fn write_all<S>(&self, io: &mut S, input: &[u8], aside: &[u8]) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        let resolve = |s: &Segment| self.resolve(s, input, aside);
        if let [only] = self.segments.as_slice() {
            io.write_all(resolve(only)).await?;
            return io.flush().await;
        }
        for batch in self.segments.chunks(SLICES_PER_WRITE) {
            let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
            for (slot, segment) in slices.iter_mut().zip(batch) {
                *slot = IoSlice::new(resolve(segment));
            }
            write_all_vectored(io, &mut slices[..batch.len()]).await?;
        }
        io.flush().await
    }

    /// Empties the outbox, releasing a buffer grown past what it keeps.
    pub fn clear(&mut self) {
        self.segments.clear();
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

async fn write_all_vectored<S>(io: &mut S, mut slices: &mut [IoSlice<'_>]) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    while !slices.is_empty() {
        let n = io.write_vectored(slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_owned_and_input_segments_in_order() {
        let input = b"0123456789".to_vec();
        let mut out = Outbox::new();
        out.extend(b"ab");
        out.input(2..5);
        out.input(5..6);
        out.extend(b"cd");
        out.input(0..1);
        out.aside(1..3);
        assert_eq!(out.segments.len(), 5, "adjacent segments merge");
        assert_eq!(out.len(), 11);
        let mut written = Vec::new();
        out.flush_with(&mut written, &input, b"xyz").await.unwrap();
        assert_eq!(written, b"ab2345cd0yz");
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn many_segments_survive_short_writes() {
        // A duplex pipe with a tiny buffer forces partial vectored writes.
        let (mut a, mut b) = tokio::io::duplex(7);
        let input: Vec<u8> = (0..200u8).collect();
        let mut out = Outbox::new();
        let mut expected = Vec::new();
        for (i, &byte) in input.iter().enumerate().take(150) {
            out.extend(&[i as u8]);
            out.input(i..i + 1);
            out.extend(b"|");
            expected.extend_from_slice(&[i as u8, byte, b'|']);
        }
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got).await.unwrap();
            got
        });
        out.flush(&mut a, &input).await.unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
