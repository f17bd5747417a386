//! When each message of one connection is meant to go: the pacing of the
//! open and closed loops, as a type the session asks for the intended time
//! of message `k`.
//!
//! The intended time is what latency is measured from (wrk2's correction
//! of coordinated omission): in an open loop, the schedule's time, however
//! late the message really went; in a closed loop there is no schedule, and
//! a message's intended time is its send time.
//!
//! Limits: the open loop's times are `start + k * period` in `f64`
//! nanoseconds, truncated, so the schedule drifts by less than a nanosecond
//! per message and is exact in the mean; the start is spread at random over
//! one period (at most 1 s) so that connections opened together do not send
//! together.

use crate::results::setup::LoadModel;

/// The latest a connection's schedule starts after the connection opens.
const MAX_START_SPREAD_NS: u64 = 1_000_000_000;

/// One connection's schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Closed loop: a message goes as soon as a reply makes room.
    Closed,
    /// Open loop: message `k` is due at `start_ns + k * period_ns`.
    Open {
        /// When message 0 is due, ns after the run's epoch.
        start_ns: u64,
        /// Time between two messages of this connection.
        period_ns: f64,
    },
}

impl Schedule {
    /// The schedule of a connection opened at `now_ns`, under `load` spread
    /// over `connections`; `random` (any value) places its start within the
    /// first period.
    pub fn for_connection(load: &LoadModel, connections: u32, now_ns: u64, random: u64) -> Schedule {
        match *load {
            LoadModel::Closed { .. } => Schedule::Closed,
            LoadModel::Open { rate, .. } => {
                let period_ns = 1e9 / (rate / f64::from(connections));
                let spread = (random % (period_ns.max(1.0) as u64)).min(MAX_START_SPREAD_NS);
                Schedule::Open { start_ns: now_ns + spread, period_ns }
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
            Schedule::Open { period_ns, .. } => Some(1e9 / period_ns),
        }
    }

    /// When message `k` (from 0) is meant to go, ns after the run's epoch;
    /// `None` in a closed loop, where it goes when it is sent.
    #[inline]
    pub fn intended_ns(&self, k: u64) -> Option<u64> {
        match *self {
            Schedule::Closed => None,
            Schedule::Open { start_ns, period_ns } => Some(start_ns + (k as f64 * period_ns) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: LoadModel = LoadModel::Open { rate: 1000.0, max_in_flight: None };

    #[test]
    fn closed_loop_has_no_schedule() {
        let s = Schedule::for_connection(&LoadModel::Closed { pipeline: 4 }, 10, 5, 123);
        assert_eq!(s, Schedule::Closed);
        assert_eq!(s.intended_ns(0), None);
        assert!(!s.is_open() && s.rate_per_s().is_none());
    }

    #[test]
    fn open_loop_spreads_the_rate_over_connections() {
        // 1000 msg/s over 10 connections: 100 msg/s each, every 10 ms.
        let s = Schedule::for_connection(&OPEN, 10, 1_000, 0);
        assert_eq!(s.intended_ns(0), Some(1_000));
        assert_eq!(s.intended_ns(1), Some(10_001_000));
        assert_eq!(s.intended_ns(100), Some(1_000_001_000));
        assert!((s.rate_per_s().unwrap() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn the_start_is_spread_within_one_period_and_one_second() {
        let period = 10_000_000;
        for random in [0, 1, period - 1, period, 7 * period + 3, u64::MAX] {
            let Schedule::Open { start_ns, .. } = Schedule::for_connection(&OPEN, 10, 50, random) else {
                panic!("open")
            };
            assert_eq!(start_ns, 50 + random % period, "{random}");
        }
        // One message per 10 s per connection: the spread stops at 1 s.
        let slow = LoadModel::Open { rate: 1.0, max_in_flight: None };
        let Schedule::Open { start_ns, .. } = Schedule::for_connection(&slow, 10, 0, 5_000_000_000) else {
            panic!("open")
        };
        assert_eq!(start_ns, MAX_START_SPREAD_NS);
    }

    #[test]
    fn long_schedules_do_not_drift() {
        // 3 msg/s: a period of 333333333.33 ns, not a whole number.
        let s = Schedule::for_connection(&LoadModel::Open { rate: 3.0, max_in_flight: None }, 1, 0, 0);
        let t = s.intended_ns(3_000_000).unwrap();
        assert!(t.abs_diff(1_000_000_000_000_000) <= 1, "{t}");
    }
}
