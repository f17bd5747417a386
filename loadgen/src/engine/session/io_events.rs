//! Moving bytes: the batch of prepared frames or the control frames out,
//! whatever the socket has in, and the timers, as one poll that says what
//! happened.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{Phase, Session, Stream, GROW_READS_UP_TO, NEVER, SESSION_READ_BUFFER};
use wsbench_proto::{write_frame, OpCode};

/// What woke the session.
pub(super) enum Event {
    Read,
    /// A write completed: every byte taken by the socket, and flushed.
    Wrote,
    /// A broadcast topic's turn.
    Timer,
    /// The session's clock, with nothing left to read in the socket.
    Deadline,
    Stop,
    Eof,
    Error(io::Error),
}

/// Which buffer is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteSource {
    Batch,
    Control,
}

/// A session's socket: tokio's reads and writes, and a way to wait for
/// bytes without lending it a buffer.
///
/// Why: an idle connection then holds no read buffer. The session gives
/// its (small) buffer back whenever a read finds nothing, and takes one
/// again when the socket is readable: 512 B of the loadgen's ~2.7 KB per
/// idle connection.
pub(super) trait SessionIo: AsyncRead + AsyncWrite + Unpin {
    /// Ready when a read may find bytes, the end, or an error.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl SessionIo for Stream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Plain(s) => TcpStream::poll_read_ready(s, cx),
            // TLS cannot tell (its reads may come from bytes already
            // decrypted): it is simply read, with a buffer taken for that
            // read and given back if it found nothing.
            Stream::Tls(_) => Poll::Ready(Ok(())),
        }
    }
}

/// One session type for both: a TLS connection's I/O goes through its box,
/// and the task of a plain one is no larger for it (the enum is 8 bytes
/// more than a `TcpStream`). Every call is passed on as it is.
impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

impl<S: SessionIo> Session<'_, S> {
    /// Queues the client's close frame with `code`, once.
    pub(super) fn queue_close(&mut self, code: u16) {
        if !self.close_sent {
            self.close_sent = true;
            write_frame(&mut self.cbuf, true, OpCode::Close, &code.to_be_bytes(), Some(self.mask));
        }
    }

    /// Ends a time blocked on a full socket, if one was going on, and
    /// counts it in the worker's `send_blocked_ns`.
    pub(super) fn unblocked(&mut self) {
        let since = std::mem::replace(&mut self.blocked_since, NEVER);
        if since != NEVER {
            let blocked = self.plan.now_ns().saturating_sub(since);
            self.ctx.stats.borrow_mut().counters.send_blocked_ns += blocked;
        }
    }

    /// Writes, reads, or notices a timer or a stop: the first that is ready.
    pub(super) fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.poll_topic(cx) {
            return Poll::Ready(Event::Timer);
        }
        if self.phase == Phase::Running && self.ctx.stop.check(self.stop_slot as usize, cx.waker()) {
            return Poll::Ready(Event::Stop);
        }
        if let Some(source) = self.writing {
            while self.wpos < self.wend {
                let buf = match source {
                    WriteSource::Batch => &self.wbuf[self.wpos..self.wend],
                    WriteSource::Control => &self.cbuf[self.wpos..self.wend],
                };
                // Taken before the write: a time read after it can come
                // late (the thread descheduled once the bytes are gone),
                // and the uncorrected RTT would then be shorter than the
                // real one (a 40 ms server delay measured as 39.6 ms).
                let issued_ns = self.plan.now_ns();
                match Pin::new(&mut self.io).poll_write(cx, buf) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Event::Error(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        self.wpos += n;
                        self.unblocked();
                        if source == WriteSource::Batch {
                            self.frames_written_by(issued_ns);
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
                    Poll::Pending => {
                        // The socket takes no more: the server's pushback.
                        if self.blocked_since == NEVER {
                            self.blocked_since = self.plan.now_ns();
                        }
                        break;
                    }
                }
            }
            if self.wpos == self.wend {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.writing = None;
                        if source == WriteSource::Control {
                            self.cbuf.clear();
                        }
                        return Poll::Ready(Event::Wrote);
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
                    Poll::Pending => {}
                }
            }
        }
        if let Poll::Ready(event) = self.poll_read(cx) {
            return Poll::Ready(event);
        }
        if self.wake_at != NEVER && self.wake.poll_expired(cx).is_ready() {
            // Set again on the next turn, whatever it is.
            self.wake_at = NEVER;
            return Poll::Ready(Event::Deadline);
        }
        Poll::Pending
    }

    /// Reads what the socket has, into the read buffer; without a buffer
    /// (given back while idle), only once the socket is readable.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.rbuf.is_empty() {
            match self.io.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => self.rbuf.resize(SESSION_READ_BUFFER, 0),
                Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Room to read: move a partial frame to the front, or grow for it.
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else {
                let len = self.rbuf.len() * 2;
                self.rbuf.resize(len, 0);
            }
        }
        let mut rb = ReadBuf::new(&mut self.rbuf[self.rend..]);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Event::Eof);
                }
                // A read that filled all the room there was: more is coming
                // than the buffer takes, so the next read may take twice as
                // much (the buffer starts small, for idle connections).
                if self.rend + n == self.rbuf.len() && self.rbuf.len() < GROW_READS_UP_TO {
                    let len = self.rbuf.len() * 2;
                    self.rbuf.resize(len, 0);
                }
                self.rend += n;
                self.fresh += n;
                return Poll::Ready(Event::Read);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
            Poll::Pending => {}
        }
        // Nothing read and nothing kept: an idle connection holds no
        // buffer (a grown one, of a busy connection, is kept).
        if self.rend == 0 && self.rbuf.len() <= SESSION_READ_BUFFER {
            self.rbuf = Vec::new();
        }
        Poll::Pending
    }
}
