//! When each message is meant to go: the open loop's train over all
//! connections ([`Train`]), and each connection's view of it, the
//! [`Schedule`] the session asks for message `k`'s intended time.
//!
//! The intended time is what latency is measured from (wrk2's correction
//! of coordinated omission): in an open loop, the train's time, however
//! late the message really went; in a closed loop there is no schedule,
//! and a message's intended time is its queued time.
//!
//! A connection that comes up after the epoch (the ramp, a slow connect)
//! takes up its part of the train at its first intended time at or after
//! the moment it is ready ([`Train::first_index_at_or_after`]); it does
//! not burst through the past. The messages intended before it existed
//! are **not counted as unsent**: they were never due on a connection
//! that did not exist, so they are no failure of the loadgen (a failed
//! connection is counted as such, on its own). So during the ramp the
//! server sees the rate in proportion to the connections open.
//!
//! Why: the load is `R` messages per second over `N` connections, so each
//! connection sends every `N / R` seconds. If each connection picked its own
//! start (its connect time plus a random offset clamped to one second), then
//! with fewer than one message per second per connection every connection
//! fired in the same second of each period: 2,000 connections at 200 msg/s
//! sent ~2,000 messages within one second every ten seconds and none in
//! between. The server saw bursts, not a rate.
//!
//! Here all connections share one epoch, and connection `i`'s k-th message
//! is global message `g = k·N + i` of a single train spaced `1 / R` apart:
//!
//! ```text
//! intended(i, k) = epoch + floor((k·N + i) · 1e9 / R)  ns
//! ```
//!
//! `(i, k) ↦ k·N + i` is a bijection onto `0, 1, 2, …`, so the union of all
//! connections' sends is exactly one evenly spaced train at `R`: every whole
//! second after the epoch holds `floor(R)` or `ceil(R)` intended sends,
//! whatever the ratio of `R` to `N`. Connection `i` is offset by
//! `i · period / N` inside its own period.
//!
//! Worker threads: the run deals connection `i` to thread `i % T`
//! (round-robin, `driver`). Thread `w` then holds offsets `w, w+T, w+2T, …`
//! (in units of `1 / R`): an even train at about `R / T` with gaps of `T / R`,
//! except one gap per period that is at most `2T − 1` units long. Were
//! connections dealt in contiguous blocks instead, each thread's sends would
//! bunch into one `1 / T` of the period; that assignment would need another
//! order of offsets.
//!
//! Times are computed from the index, never accumulated, so nothing drifts
//! over a long run. Limits: the index is converted to `f64`, which is exact
//! below 2^53; the time offset from the epoch is exact to the nanosecond up
//! to 2^53 ns (~104 days) and within a few ns beyond. Times saturate at
//! `u64::MAX` ns. The schedule says when a message is *intended*; whether a
//! connection keeps up (and the coordinated-omission correction when it does
//! not) is the caller's business.

use std::fmt;

use crate::results::setup::LoadModel;

/// The open loop's train: when each of `N` connections intends to send its
/// messages, for a total rate `R` from a common epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Train {
    epoch_ns: u64,
    connections: u32,
    rate: f64,
    /// Nanoseconds between two consecutive sends of the whole train, `1e9 / R`.
    gap_ns: f64,
}

/// Why a schedule cannot be built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScheduleError {
    /// The rate is not a finite number above zero.
    BadRate(f64),
    /// There are no connections to send on.
    NoConnections,
    /// A connection would send more than once per nanosecond, so its send
    /// times could not strictly increase.
    TooFast {
        /// The rate asked of each connection, messages per second.
        per_connection: f64,
    },
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::BadRate(rate) => write!(f, "the rate must be a number above 0 msg/s, not {rate}"),
            ScheduleError::NoConnections => f.write_str("an open-loop schedule needs at least one connection"),
            ScheduleError::TooFast { per_connection } => {
                write!(f, "{per_connection} msg/s per connection is more than one message per nanosecond")
            }
        }
    }
}

impl std::error::Error for ScheduleError {}

impl Train {
    /// The schedule of `connections` connections sending `rate` messages per
    /// second in total, starting at `epoch_ns` on the run's clock.
    pub fn new(rate: f64, connections: u32, epoch_ns: u64) -> Result<Self, ScheduleError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ScheduleError::BadRate(rate));
        }
        if connections == 0 {
            return Err(ScheduleError::NoConnections);
        }
        let gap_ns = 1e9 / rate;
        if gap_ns * f64::from(connections) < 1.0 {
            return Err(ScheduleError::TooFast { per_connection: rate / f64::from(connections) });
        }
        Ok(Train { epoch_ns, connections, rate, gap_ns })
    }

    /// When the schedule starts, on the run's clock.
    pub fn epoch_ns(&self) -> u64 {
        self.epoch_ns
    }

    /// How many connections share the rate.
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// The total rate, messages per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Nanoseconds between two sends of one connection, `N / R` seconds.
    pub fn period_ns(&self) -> f64 {
        self.gap_ns * f64::from(self.connections)
    }

    /// When connection `conn` intends to send its `k`-th message (from 0),
    /// in ns on the run's clock. Strictly increases with `k`.
    ///
    /// Panics (debug builds) if `conn` is not below the number of connections.
    pub fn intended(&self, conn: u32, k: u64) -> u64 {
        debug_assert!(conn < self.connections, "connection {conn} of {}", self.connections);
        let global = u128::from(k) * u128::from(self.connections) + u128::from(conn);
        // `as u64` rounds toward zero and saturates; both keep the order.
        let offset = (global as f64 * self.gap_ns) as u64;
        self.epoch_ns.saturating_add(offset)
    }

    /// The index of connection `conn`'s first intended send at or after
    /// `t_ns`: where a connection that comes up late, or resumes after a
    /// stall, takes up its schedule instead of bursting through the past.
    /// Exactly the least `k` with `intended(conn, k) >= t_ns`.
    pub fn first_index_at_or_after(&self, conn: u32, t_ns: u64) -> u64 {
        if self.intended(conn, 0) >= t_ns {
            return 0;
        }
        // The estimate from the formula is within a step or two of the
        // answer (rounding); the steps below make it exact against
        // `intended` itself.
        let trains = (t_ns - self.epoch_ns) as f64 / self.gap_ns;
        let estimate = ((trains - f64::from(conn)) / f64::from(self.connections)).ceil();
        let mut k = if estimate > 0.0 { estimate as u64 } else { 0 };
        while k > 0 && self.intended(conn, k - 1) >= t_ns {
            k -= 1;
        }
        while self.intended(conn, k) < t_ns {
            k += 1;
        }
        k
    }
}

/// One connection's schedule: its part of the train, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Closed loop: a message goes as soon as a reply makes room.
    Closed,
    /// Open loop: connection `conn`'s part of `train`.
    Open {
        /// The run's train.
        train: Train,
        /// This connection's index in it.
        conn: u32,
    },
}

impl Schedule {
    /// Connection `conn`'s schedule under `load` spread over `connections`,
    /// the train starting at `epoch_ns` (the load's start, common to all
    /// connections). A rate the command line let through but the train
    /// cannot hold (over one message per nanosecond per connection) is
    /// clamped to that.
    pub fn for_connection(load: &LoadModel, connections: u32, conn: u32, epoch_ns: u64) -> Schedule {
        match *load {
            LoadModel::Closed { .. } => Schedule::Closed,
            LoadModel::Open { rate, .. } => {
                let connections = connections.max(1);
                let rate = rate.clamp(1e-9, 1e9 * f64::from(connections));
                match Train::new(rate, connections, epoch_ns) {
                    Ok(train) => Schedule::Open { train, conn: conn.min(connections - 1) },
                    Err(_) => Schedule::Closed,
                }
            }
        }
    }

    /// Whether messages follow a schedule (open loop).
    pub fn is_open(&self) -> bool {
        matches!(self, Schedule::Open { .. })
    }

    /// Messages per second this connection is meant to send; `None` in a
    /// closed loop, which sends as fast as replies come.
    pub fn rate_per_s(&self) -> Option<f64> {
        match self {
            Schedule::Closed => None,
            Schedule::Open { train, .. } => Some(1e9 / train.period_ns()),
        }
    }

    /// When message `k` (from 0) is meant to go, ns after the run's epoch;
    /// `None` in a closed loop, where it goes when it is queued.
    #[inline]
    pub fn intended_ns(&self, k: u64) -> Option<u64> {
        match *self {
            Schedule::Closed => None,
            Schedule::Open { train, conn } => Some(train.intended(conn, k)),
        }
    }

    /// The first message index of a connection ready at `now_ns`: its
    /// first intended time at or after now (0 in a closed loop).
    pub fn first_index(&self, now_ns: u64) -> u64 {
        match *self {
            Schedule::Closed => 0,
            Schedule::Open { train, conn } => train.first_index_at_or_after(conn, now_ns),
        }
    }
}

#[cfg(test)]
mod tests;
