//! A `broadcast` connection's side of its topic: what it publishes goes
//! to the topic instead of being answered, and what the topic's members
//! publish is taken from its queue into the outbox, alternately with reads
//! from the peer so that neither starves the other.

use std::io;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use wsbench_proto::MessageKind;

use super::buffers::OUT_OF_MEMORY;
use super::{Closing, Connection};
use crate::broadcast::{Membership, TooSlow};

/// Close code of a member too slow for its topic: Policy Violation.
const TOO_SLOW: u16 = 1008;

/// What the connection's wait for input brought.
pub(super) enum Input {
    /// A read from the peer (0 bytes: its end).
    Read(io::Result<usize>),
    /// Frames the topic's members published, now in the outbox; or the
    /// member was too slow and must close.
    Broadcast(Result<(), Closing>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Makes this connection a member of a topic (mode `broadcast`): its
    /// messages are published to it, and it writes what the topic carries.
    pub fn with_membership(mut self, membership: Membership) -> Self {
        self.broadcast = Some(Box::new(membership));
        self
    }

    /// Publishes a whole message to the topic, if a member: true when it did
    /// (and nothing is to be answered); 1013 when the memory budget cannot
    /// take its frame.
    pub(super) fn publish(&self, kind: MessageKind, message: &[u8]) -> Result<bool, Closing> {
        match &self.broadcast {
            Some(membership) if membership.publish(kind, message) => Ok(true),
            Some(_) => {
                self.budget.metrics.memory_refused();
                Err(OUT_OF_MEMORY)
            }
            None => Ok(false),
        }
    }

    /// Whether this wake-up has published its share (a quarter of
    /// `--max-backpressure`): then the connection yields, so that members
    /// drain their queues before a pipelining publisher fills them.
    pub(super) fn published_enough(&mut self) -> bool {
        let share = self.limits.max_backpressure / 4;
        self.broadcast.as_mut().is_some_and(|membership| membership.published_past(share))
    }

    /// Waits for bytes from the peer or, for a member, frames from its
    /// topic: the two polled first in turns.
    pub(super) fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        let Some(membership) = &mut self.broadcast else {
            return self.poll_fill(cx).map(Input::Read);
        };
        if membership.topic_first() {
            if let Poll::Ready(input) = self.poll_topic(cx) {
                return Poll::Ready(input);
            }
            self.poll_fill(cx).map(Input::Read)
        } else {
            if let Poll::Ready(read) = self.poll_fill(cx) {
                return Poll::Ready(Input::Read(read));
            }
            self.poll_topic(cx)
        }
    }

    fn poll_topic(&mut self, cx: &mut Context<'_>) -> Poll<Input> {
        let Some(membership) = &mut self.broadcast else {
            return Poll::Pending;
        };
        membership.poll_take(cx, &mut self.out, self.limits.max_backpressure).map(|taken| {
            Input::Broadcast(taken.map_err(|TooSlow| Closing::Fail {
                code: TOO_SLOW,
                reason: "too slow: broadcast frames queued past --max-backpressure",
            }))
        })
    }
}
