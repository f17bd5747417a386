//! A session's limit (`--conn-lifetime`, `--messages-per-conn`): when it
//! stops sending and closes to be replaced, how many more messages it may
//! send, and which of its messages were due before it was up (sent late
//! because their slot was between connections).

use super::SessionIo;

use super::{Phase, Session};
use crate::engine::plan::RunPlan;
use crate::results::churn::ConnLimit;

/// No limit of that kind.
const NEVER: u64 = u64::MAX;

/// One connection's limit and how it ended.
#[derive(Debug)]
pub(super) struct SessionChurn {
    /// `--conn-lifetime`: when it stops sending, ns after the epoch.
    deadline_ns: u64,
    /// `--messages-per-conn`.
    max_messages: u64,
    /// When it was ready: messages meant to go before were due while its
    /// slot had no connection.
    ready_ns: u64,
    /// It reached its limit and is closing (or closed) to be replaced.
    pub(super) planned: bool,
    /// The code of the server's close frame, if the server closed first.
    pub(super) server_code: Option<u16>,
}

impl SessionChurn {
    /// The limit of a connection of `plan` ready at `now_ns`.
    pub(super) fn new(plan: &RunPlan, now_ns: u64) -> Self {
        let limit = plan.churn.as_ref().and_then(|c| c.limit);
        let (deadline_ns, max_messages) = match limit {
            None => (NEVER, NEVER),
            Some(ConnLimit::Lifetime(d)) => (now_ns.saturating_add(d.as_nanos() as u64), NEVER),
            Some(ConnLimit::Messages(n)) => (NEVER, n),
        };
        SessionChurn { deadline_ns, max_messages, ready_ns: now_ns, planned: false, server_code: None }
    }

    /// When the lifetime ends (`u64::MAX`: never), to wake up for it.
    pub(super) fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }

    /// Whether a message meant for `intended_ns` was due before this
    /// connection was up: late because its slot was being replaced or
    /// reconnected, not because the loadgen lagged (so not send lag).
    #[inline]
    pub(super) fn due_before_ready(&self, intended_ns: u64) -> bool {
        intended_ns < self.ready_ns
    }
}

impl<S: SessionIo> Session<'_, S> {
    /// At its limit, a running session stops sending and drains: it closes
    /// once its replies are in (or `--drain-timeout` passes), and its slot
    /// opens a new connection. Nothing is abandoned: a message sent is
    /// awaited as at the run's end.
    pub(super) fn close_at_limit(&mut self, now: u64) {
        let c = &self.churn;
        if self.phase != Phase::Running || c.planned {
            return;
        }
        if now >= c.deadline_ns || self.inflight.pushed() >= c.max_messages {
            self.churn.planned = true;
            self.phase = Phase::Draining { until_ns: now.saturating_add(self.plan.drain_timeout_ns) };
        }
    }

    /// Messages this connection may still send before its limit.
    #[inline]
    pub(super) fn sends_left(&self) -> u64 {
        self.churn.max_messages.saturating_sub(self.inflight.pushed())
    }
}
