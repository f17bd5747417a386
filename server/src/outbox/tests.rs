//! The outbox's writes: order, partial writes, coalescing.

use super::*;

#[tokio::test]
async fn writes_owned_and_input_segments_in_order() {
    let input: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    let aside = b"xyz".repeat(300);
    let mut out = Outbox::new();
    out.extend(b"ab");
    out.input(2..5, &input[2..5]);
    out.input(5..6, &input[5..6]);
    assert_eq!(out.segments.len(), 1, "small ranges are copied, and coalesce");
    out.input(0..1000, &input[..1000]);
    out.input(1000..2000, &input[1000..]);
    out.extend(b"cd");
    out.aside(3..900, &aside[3..900]);
    out.aside(1..3, &aside[1..3]);
    assert_eq!(out.segments.len(), 5, "large adjacent ranges merge and are referenced");
    let mut expected = b"ab".to_vec();
    expected.extend_from_slice(&input[2..6]);
    expected.extend_from_slice(&input);
    expected.extend_from_slice(b"cd");
    expected.extend_from_slice(&aside[3..900]);
    expected.extend_from_slice(b"yz");
    assert_eq!(out.len(), expected.len());
    let mut written = Vec::new();
    out.flush_with(&mut written, &input, &aside).await.unwrap();
    assert_eq!(written, expected);
    assert!(out.is_empty());
}

#[tokio::test]
async fn many_segments_survive_short_writes() {
    // A duplex pipe with a tiny buffer forces partial writes, in the
    // middle of owned and referenced segments alike.
    let (mut a, mut b) = tokio::io::duplex(7);
    let input: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut out = Outbox::new();
    let mut expected = Vec::new();
    for i in 0..150 {
        let range = i * 600..i * 600 + 513 + i;
        out.extend(&[i as u8]);
        out.input(range.clone(), &input[range.clone()]);
        out.extend(b"|");
        expected.push(i as u8);
        expected.extend_from_slice(&input[range]);
        expected.push(b'|');
    }
    assert_eq!(out.segments.len(), 301, "owned bytes between references coalesce");
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got).await.unwrap();
        got
    });
    out.flush(&mut a, &input).await.unwrap();
    drop(a);
    assert_eq!(reader.await.unwrap(), expected);
}

/// A vectored writer that takes at most `limit` bytes a call.
struct Trickle {
    got: Vec<u8>,
    limit: usize,
    calls: usize,
}

impl AsyncWrite for Trickle {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.calls += 1;
        let n = buf.len().min(self.limit);
        self.got.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.calls += 1;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(self.limit - n);
            self.got.extend_from_slice(&b[..take]);
            n += take;
            if n == self.limit {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn partial_vectored_writes_resume_where_they_stopped() {
    let input: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    for limit in [1, 5, 600, 1500, 70_000] {
        let mut out = Outbox::new();
        let mut expected = Vec::new();
        for i in 0..100 {
            let range = i * 1000..i * 1000 + 600 + i;
            out.header(true, OpCode::Binary, range.len());
            out.input(range.clone(), &input[range.clone()]);
            expected.extend_from_slice(&out.to_vec(&input)[expected.len()..]);
        }
        let mut sink = Trickle { got: Vec::new(), limit, calls: 0 };
        out.flush(&mut sink, &input).await.unwrap();
        assert_eq!(sink.got, expected, "limit {limit}");
        if limit == 70_000 {
            assert!(sink.calls <= 4, "{} calls: 200 slices go 64 a writev", sink.calls);
        }
    }
}

#[test]
fn small_replies_coalesce_into_one_slice() {
    let input = vec![7u8; 64 * 40];
    let mut out = Outbox::new();
    for i in 0..64 {
        let range = i * 40..i * 40 + 32;
        out.input_frame(range.clone(), &input[range]);
    }
    assert_eq!(out.segments.len(), 1);
    assert_eq!(out.frames(), 64);
    assert_eq!(out.len(), 64 * 32);
}

#[tokio::test]
async fn shared_frames_go_out_uncopied_in_order() {
    let frame = bytes::Bytes::from(vec![0x82, 3, 1, 2, 3]);
    let mut out = Outbox::new();
    out.frame(OpCode::Pong, b"p");
    out.shared_frame(frame.clone());
    out.shared_frame(frame.clone());
    assert_eq!((out.frames(), out.len()), (3, 3 + 10));
    // The outbox holds the publisher's allocation, not a copy of it.
    assert!(matches!(out.segments[1], Segment::Shared { index: 0 }));
    assert_eq!(out.shared[0].as_ptr(), frame.as_ptr());
    let expected = [&[0x8a, 1, b'p'][..], &frame, &frame].concat();
    assert_eq!(out.to_vec(&[]), expected);
    let mut sink = Trickle { got: Vec::new(), limit: 2, calls: 0 };
    out.flush(&mut sink, &[]).await.unwrap();
    assert_eq!(sink.got, expected);
    assert!(out.shared.is_empty(), "a flush lets go of the shared frames");
}

#[tokio::test]
async fn a_run_of_echoes_is_referenced_whatever_its_size_and_joins_the_next() {
    let input: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut out = Outbox::new();
    out.input_frames(10..40, 3);
    out.input_frames(40..50, 1);
    out.input_frames(50..50, 0);
    assert_eq!(out.segments, [Segment::Input { start: 10, end: 50 }], "referenced, not copied, and joined");
    assert_eq!(out.bytes.capacity(), 0, "nothing copied");
    out.frame(OpCode::Pong, b"p");
    out.input_frames(60..70, 2);
    assert_eq!(out.segments.len(), 3, "not joined across a frame in between");
    assert_eq!((out.frames(), out.len()), (7, 40 + 3 + 10));
    let mut written = Vec::new();
    out.flush(&mut written, &input).await.unwrap();
    assert_eq!(written, [&input[10..50], &[0x8a, 1, b'p'][..], &input[60..70]].concat());
}
