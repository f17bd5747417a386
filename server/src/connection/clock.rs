//! The timeouts of one connection: idle (ping at half, close at all of it)
//! and message (a frame or message begun must end in time).
//!
//! One timer per connection, re-armed only when it fires, when a message
//! begins, or when bytes arrive after a quiet spell. A busy connection
//! reads no clock per read: a read only sets a flag, and the timer, firing
//! every [`ACTIVE_CHECK`] while bytes keep coming, turns the flag into a
//! time. Reading the clock per read cost 5 % of a one-message round trip
//! (`full_path` bench; `clock_gettime` is slow on this VM: docs/limits.md).
//!
//! Bound: the time of the last read is known to within [`ACTIVE_CHECK`]
//! (never early), so an idle connection is closed no sooner than its
//! timeout and at most [`ACTIVE_CHECK`] after it.

use std::time::Duration;

use tokio::time::Instant;

use super::{Closing, ConnectionLimits};

/// Close code of an idle connection: 1001 Going Away, the server ending a
/// quiet but well-behaved connection (it may reconnect); 1008 would blame it.
pub(super) const IDLE_CLOSE: u16 = 1001;
/// Close code of a message not completed in time: 1008 Policy Violation, a
/// trickle being what an attacker does to hold a connection.
pub(super) const MESSAGE_TIMEOUT_CLOSE: u16 = 1008;
/// How often the timer samples the "bytes arrived" flag of a busy
/// connection (a quarter of the idle timeout if that is shorter): the
/// idle timeout's precision, against one timer wake-up per busy connection
/// this often.
pub(super) const ACTIVE_CHECK: Duration = Duration::from_millis(500);

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
    /// When bytes last arrived: exact after a quiet spell, else the time
    /// the timer saw [`received`](Self::received) set (at most
    /// [`ACTIVE_CHECK`] late).
    last_received: Instant,
    /// Bytes arrived since `last_received` was set and the timer is
    /// sampling every [`ACTIVE_CHECK`].
    active: bool,
    /// Bytes arrived since the timer last sampled (only while `active`).
    received: bool,
    pinged: bool,
    message_since: Option<Instant>,
}

impl Clock {
    pub(super) fn new() -> Self {
        Clock { last_received: Instant::now(), active: false, received: false, pinged: false, message_since: None }
    }

    /// Bytes arrived. Returns the timer's new deadline when the connection
    /// was quiet (the only case that reads the clock).
    #[inline]
    pub(super) fn received(&mut self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.active {
            self.received = true;
            return None;
        }
        self.last_received = Instant::now();
        self.active = true;
        self.pinged = false;
        Some(self.next_deadline(limits))
    }

    /// Bytes arrived within the last sample (at most [`ACTIVE_CHECK`] ago).
    pub(super) fn is_active(&self) -> bool {
        self.active
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

    /// A whole frame was decoded. Outside a fragmented message (`in_message`
    /// false), whatever is left buffered begins a new frame, timed from the
    /// next [`message`](Self::message) check: without this a steady pipeline
    /// whose reads end mid-frame was timed from its first partial frame and
    /// closed with 1008 one timeout later. No clock read here (a field
    /// cleared); the check reads it only if a partial frame remains.
    #[inline]
    pub(super) fn frame_done(&mut self, in_message: bool) {
        if !in_message {
            self.message_since = None;
        }
    }

    /// When the timer of a loop (re)starting should first fire: within a
    /// sample period, so that a connection silent from its start (or from
    /// its resumption) is found quiet then, and may park, not only at half
    /// the idle timeout. A tick that finds nothing due just re-arms.
    pub(super) fn first_deadline(&self, limits: &ConnectionLimits) -> Instant {
        self.next_deadline(limits).min(Instant::now() + ACTIVE_CHECK.min(limits.idle_timeout / 4))
    }

    /// When the timer should next fire.
    pub(super) fn next_deadline(&self, limits: &ConnectionLimits) -> Instant {
        let wait = if self.active {
            ACTIVE_CHECK.min(limits.idle_timeout / 4)
        } else if self.pinged {
            limits.idle_timeout
        } else {
            limits.idle_timeout / 2
        };
        let idle = self.last_received + wait;
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
        if self.active {
            if std::mem::take(&mut self.received) {
                self.last_received = now;
                return Tick::Wait;
            }
            // Quiet since the last sample: the next read reads the clock.
            self.active = false;
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
