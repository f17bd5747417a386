//! The write side of a connection: flushing the outbox within the write
//! timeout, and the close handshake within it too.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};
use tracing::error;

use wsbench_proto::OpCode;

use super::{Closing, Connection, Ending, CLOSE_LINGER};

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// [`poll_flush`](Self::poll_flush) bounded by `deadline`: a peer that
    /// does not read is dropped.
    pub(super) async fn flush_bounded(&mut self, deadline: Option<Instant>) -> Result<(), Ending> {
        // Most flushes complete at once: only one that waits gets a timer.
        let first = poll_fn(|cx| Poll::Ready(self.poll_flush(cx))).await;
        let result = match first {
            Poll::Ready(result) => result,
            Poll::Pending => {
                let deadline = deadline.unwrap_or_else(|| Instant::now() + self.limits.write_timeout);
                // Boxed: the timer lives on the heap only while a write
                // waits, not in every connection's future.
                match Box::pin(timeout_at(deadline, poll_fn(|cx| self.poll_flush(cx)))).await {
                    Ok(result) => result,
                    Err(_) => return Err(Ending::WriteTimeout),
                }
            }
        };
        result.map_err(Ending::WriteError)
    }

    /// Writes the queued replies, and counts the batch. A poll function: a
    /// flush's state (it was 248 bytes) is then in no connection's future.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (frames, bytes_out) = (self.out.frames(), self.out.len() as u64);
        let result = if self.out.is_empty() {
            Ok(())
        } else {
            ready!(self.out.poll_flush_with(cx, Pin::new(&mut self.io), &self.buf, &self.assembly))
        };
        if let Err(e) = &result {
            let message = match &self.last_answered {
                Some((false, range)) => String::from_utf8_lossy(&self.buf[range.clone()]).into_owned(),
                Some((true, range)) => String::from_utf8_lossy(&self.assembly[range.clone()]).into_owned(),
                None => "(no message: a control frame)".to_string(),
            };
            let message: String = message.chars().take(80).collect();
            error!(peer = %self.peer, error = %e, replies = self.batch_messages, message = ?message, "write failed");
        }
        self.budget.metrics.add_batch(self.batch_messages, self.batch_bytes_in, frames, bytes_out);
        self.batch_messages = 0;
        self.batch_bytes_in = 0;
        self.last_answered = None;
        Poll::Ready(result)
    }

    /// Sends the close frame after any queued replies, shuts down the
    /// write side and waits for the peer to close its side: all of it
    /// within the write timeout.
    ///
    /// Boxed: the closing handshake's state (timers, flush, drain) is
    /// allocated once a connection closes, instead of making every open
    /// connection's future that much larger.
    pub(super) fn close(&mut self, closing: Closing) -> Pin<Box<impl Future<Output = Ending> + '_>> {
        Box::pin(self.close_now(closing))
    }

    async fn close_now(&mut self, closing: Closing) -> Ending {
        // Whatever a failed message left charged is given back before the
        // close frame waits on a peer that may not read.
        let _ = self.charge_to(self.held());
        let deadline = Instant::now() + self.limits.write_timeout;
        let server_closed = matches!(closing, Closing::Fail { .. });
        let (code, ending) = match closing {
            Closing::Answer(code) => (code, Ending::ClosedByPeer(code)),
            Closing::Fail { code, reason } => (Some(code), Ending::Failed { code, reason }),
        };
        match (code, &ending) {
            (Some(code), Ending::Failed { reason, .. }) => self.out.close(code, reason),
            (Some(code), _) => self.out.close(code, ""),
            (None, _) => self.out.frame(OpCode::Close, &[]),
        }
        if let Some(code) = code {
            self.budget.metrics.close_sent(code);
        }
        if let Err(ending) = self.flush_bounded(Some(deadline)).await {
            return ending;
        }
        // Nothing read or queued is needed any more: free it (and refund it)
        // before lingering.
        self.buf = Vec::new();
        self.budget.stop_keeping();
        self.start = 0;
        self.assembly = Vec::new();
        self.out.release();
        let _ = self.charge_to(self.held());
        let _ = timeout_at(deadline, self.io.shutdown()).await;
        // The server's close, and the peer silent to the end of a linger
        // it had time for (no close frame, no end of the stream): the close
        // went unanswered. A peer that answered but keeps its side open is
        // let go the same way, uncounted.
        let linger_end = deadline.min(Instant::now() + CLOSE_LINGER);
        let had_time = linger_end > Instant::now();
        let mut heard = false;
        let lingered = timeout_at(linger_end, self.drain(&mut heard)).await;
        if lingered.is_err() && !heard && server_closed && had_time {
            self.budget.metrics.close_unanswered();
        }
        ending
    }
}
