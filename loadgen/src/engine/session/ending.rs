//! How a session ends: its messages still awaited given up, and the
//! ending counted as what it was. The run's end and a planned close at the
//! limit are no failure. A drop by the server (EOF, a reset, a close 1000,
//! 1001, 1012 or 1013) is, as before, a failed connection with its messages
//! missing, unless `--reconnect`: then it is a drop, and its messages are
//! lost to it (`results::churn`). Anything else (a protocol error, a close
//! with another code, a close handshake not answered) is a failed
//! connection.

use std::future::Future;
use std::time::Duration;

use super::SessionIo;
use tokio::io::AsyncReadExt;
use wsbench_proto::ProtocolError;

use super::{input, Ending, LifeEnd, Session, CLOSE_TIMEOUT_NS};
use crate::results::churn::DROP_CLOSE_CODES;
use crate::results::counters::{ConnectionErrorKind, ReplyErrorKind};

impl<'a, S: SessionIo + 'a> Session<'a, S> {
    /// Runs the session to its end and counts it; returns how it ended and
    /// the slot's next message index (where a connection replacing it
    /// takes up the schedule).
    ///
    /// Not an `async fn`: one taking `mut self` keeps two copies of the
    /// session in its future, the argument and the binding
    /// (rust-lang/rust#62958), in every connection's task for its whole
    /// life. The `async move` block uses the captured session in place.
    #[allow(clippy::manual_async_fn)]
    /// Returns how it ended, the slot's next message index, and the
    /// messages its connections sent so far (with `--message`; else 0).
    pub(super) fn run(mut self) -> impl Future<Output = (LifeEnd, u64, u64)> + 'a {
        async move { self.run_in_place().await }
    }
}

impl<S: SessionIo> Session<'_, S> {
    /// [`run`](Self::run)'s body, on the session where it lies.
    async fn run_in_place(&mut self) -> (LifeEnd, u64, u64) {
        let ending = self.drive().await;
        self.unblocked();
        self.give_up_deliveries(None);
        let end = match &ending {
            Ending::Done if self.churn.planned => LifeEnd::Planned,
            Ending::Done => LifeEnd::RunOver,
            Ending::ClosedByServer if self.churn.server_code.is_some_and(|c| DROP_CLOSE_CODES.contains(&c)) => {
                LifeEnd::Dropped
            }
            Ending::Eof | Ending::Io(_) => LifeEnd::Dropped,
            Ending::ClosedByServer | Ending::Protocol(_) | Ending::CloseTimeout => LifeEnd::Failed,
        };
        let missing = self.inflight.abandon();
        if end == LifeEnd::Dropped && self.plan.churn.as_ref().is_some_and(|c| c.reconnect.is_some()) {
            let mut churn = self.ctx.churn.borrow_mut();
            churn.tally.lost_to_drop += missing;
            let drops = &mut churn.tally.drops;
            match (&ending, self.churn.server_code) {
                (Ending::ClosedByServer, Some(code)) => *drops.close_codes.entry(code).or_default() += 1,
                (Ending::Io(_), _) => drops.reset += 1,
                _ => drops.eof += 1,
            }
        } else {
            self.count_failure(ending, missing);
        }
        if end == LifeEnd::Planned {
            self.ctx.churn.borrow_mut().tally.closed_at_limit += 1;
            // Boxed: its timeout and scrap buffer (240 B) would otherwise
            // be in every connection's task for its whole life.
            Box::pin(self.await_server_end()).await;
        }
        let api_sent = self.api.as_ref().map_or(0, |api| api.sent_before() + self.inflight.pushed());
        (end, self.next_index, api_sent)
    }

    /// Counts the messages given up as missing and, unless the session
    /// ended well, the connection as failed, by kind.
    fn count_failure(&mut self, ending: Ending, missing: u64) {
        let mut st = self.ctx.stats.borrow_mut();
        st.counters.reply_errors[ReplyErrorKind::Missing] += missing;
        st.live.errors += missing;
        let id = self.id;
        let kind = match ending {
            Ending::Done => return,
            Ending::ClosedByServer => ConnectionErrorKind::ClosedByServer,
            Ending::Eof => ConnectionErrorKind::Eof,
            Ending::Protocol(why) => {
                let max = input::max_reply_len(&self.api, &self.checker);
                st.sample(|| match why {
                    // The decoder's limit: the longest reply of any mode, or an API's.
                    ProtocolError::MessageTooBig => format!(
                        "connection {id}: protocol error from the server: a frame longer than any reply to these messages ({max} bytes at most)"
                    ),
                    why => format!("connection {id}: protocol error from the server: {why}"),
                });
                ConnectionErrorKind::Protocol
            }
            Ending::Io(err) => {
                st.sample(|| format!("connection {id}: I/O error: {err}"));
                ConnectionErrorKind::Io
            }
            Ending::CloseTimeout => ConnectionErrorKind::CloseTimeout,
        };
        st.counters.connection_errors[kind] += 1;
        st.live.errors += 1;
    }

    /// After a clean close at the limit, waits (at most the close timeout)
    /// for the server to end the TCP connection, as RFC 6455 §7.1.1 has
    /// it: the server then holds the TIME_WAIT, not the loadgen, whose
    /// source ports a high churn would otherwise run out of.
    async fn await_server_end(&mut self) {
        let mut scrap = [0u8; 64];
        let read_to_end = async {
            while let Ok(n) = self.io.read(&mut scrap).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_nanos(CLOSE_TIMEOUT_NS), read_to_end).await;
    }
}
