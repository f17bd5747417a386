//! The timeouts of one connection: idle (ping at half, close at all of it)
//! and message (a frame or message begun must end in time).
//!
//! One timer per connection, re-armed only when it fires or when a message
//! begins: receiving bytes only stores the time, so the hot path never
//! touches the timer wheel.

use tokio::time::Instant;

use super::{Closing, ConnectionLimits};

/// Close code of an idle connection: 1001 Going Away, the server ending a
/// quiet but well-behaved connection (it may reconnect); 1008 would blame it.
pub(super) const IDLE_CLOSE: u16 = 1001;
/// Close code of a message not completed in time: 1008 Policy Violation, a
/// trickle being what an attacker does to hold a connection.
pub(super) const MESSAGE_TIMEOUT_CLOSE: u16 = 1008;

/// What the timer asks for when it fires.
pub(super) enum Tick {
    /// Nothing yet: re-arm.
    Wait,
    /// Half the idle timeout passed in silence: send a ping.
    Ping,
    /// Close the connection: idle (`true`) or a message too slow (`false`).
    Close(Closing, bool),
}

/// When the connection last received, and since when a message is in
/// progress.
#[derive(Debug)]
pub(super) struct Clock {
    last_received: Instant,
    pinged: bool,
    message_since: Option<Instant>,
}

impl Clock {
    pub(super) fn new() -> Self {
        Clock { last_received: Instant::now(), pinged: false, message_since: None }
    }

    /// Bytes arrived.
    pub(super) fn received(&mut self) {
        self.last_received = Instant::now();
        self.pinged = false;
    }

    /// Notes whether a frame or message is in progress; returns its
    /// deadline when one has just begun, for the timer.
    pub(super) fn message(&mut self, in_progress: bool, limits: &ConnectionLimits) -> Option<Instant> {
        match (in_progress, self.message_since) {
            (true, None) => {
                let now = Instant::now();
                self.message_since = Some(now);
                Some(now + limits.message_timeout)
            }
            (false, Some(_)) => {
                self.message_since = None;
                None
            }
            _ => None,
        }
    }

    /// When the timer should next fire.
    pub(super) fn next_deadline(&self, limits: &ConnectionLimits) -> Instant {
        let quiet = if self.pinged { limits.idle_timeout } else { limits.idle_timeout / 2 };
        let idle = self.last_received + quiet;
        match self.message_since {
            Some(since) => idle.min(since + limits.message_timeout),
            None => idle,
        }
    }

    /// The timer fired.
    pub(super) fn tick(&mut self, limits: &ConnectionLimits) -> Tick {
        let now = Instant::now();
        if self.message_since.is_some_and(|since| now >= since + limits.message_timeout) {
            let closing = Closing::Fail { code: MESSAGE_TIMEOUT_CLOSE, reason: "message not completed in time" };
            return Tick::Close(closing, false);
        }
        let quiet = now.saturating_duration_since(self.last_received);
        if quiet >= limits.idle_timeout {
            return Tick::Close(Closing::Fail { code: IDLE_CLOSE, reason: "idle timeout" }, true);
        }
        if quiet >= limits.idle_timeout / 2 && !self.pinged {
            self.pinged = true;
            return Tick::Ping;
        }
        Tick::Wait
    }
}
