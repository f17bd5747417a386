//! What the connections of a run with churn share, across worker threads:
//! each connection's limit, the reconnect backoff, the pace of new
//! connections ([`ConnectPacer`]) and the outages ([`Outages`]). Touched
//! once per connection opened or dropped, never per message.
//!
//! The per-connection side (closing at the limit, opening again, backing
//! off) is the session's: `session::lives` and `session::churn`.

use std::sync::atomic::{AtomicU64, Ordering};

use super::connect::{nanos, Rng};
use crate::results::churn::{ChurnConfig, ConnLimit};

mod outages;

pub use outages::Outages;

/// The churn of a run, as the engine uses it.
#[derive(Debug)]
pub struct ChurnPlan {
    /// Each connection's limit, if any.
    pub limit: Option<ConnLimit>,
    /// `--reconnect`: the backoff; `None` without it.
    pub reconnect: Option<Backoff>,
    /// Spaces every connection opened after a slot's first.
    pub pacer: ConnectPacer,
    /// Outages, from the drops and re-connections of all threads.
    pub outages: Outages,
}

impl ChurnPlan {
    /// The plan of `config` at `connect_rate` new connections per second.
    pub fn new(config: &ChurnConfig, connect_rate: f64) -> Self {
        ChurnPlan {
            limit: config.limit,
            reconnect: config.reconnect.then(|| Backoff {
                initial_ns: nanos(config.reconnect_initial_delay).max(1),
                max_ns: nanos(config.reconnect_max_delay).max(1),
            }),
            pacer: ConnectPacer::new(connect_rate),
            outages: Outages::default(),
        }
    }
}

/// Full-jitter exponential backoff: the wait before attempt `n` (from 0)
/// is drawn uniformly from 0 to `min(max, initial · 2^n)`. Full jitter
/// spreads a storm of clients dropped at once over the whole window
/// instead of sending them back in waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The bound of the first wait, ns.
    pub initial_ns: u64,
    /// The cap, ns.
    pub max_ns: u64,
}

impl Backoff {
    /// The bound of attempt `attempt`'s wait, ns.
    pub fn bound_ns(&self, attempt: u32) -> u64 {
        self.initial_ns.saturating_mul(1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX)).min(self.max_ns)
    }

    /// The wait before attempt `attempt`, ns.
    pub fn delay_ns(&self, attempt: u32, rng: &mut Rng) -> u64 {
        rng.next_u64() % (self.bound_ns(attempt) + 1)
    }
}

/// Spaces new connections `1 / --connect-rate` apart over all threads, as
/// the ramp-up does: each asks for the next free time at or after now.
/// Limit: during the ramp-up the ramp's own schedule does not take turns
/// here, so a slot replaced then can add to the ramp's rate.
#[derive(Debug)]
pub struct ConnectPacer {
    gap_ns: u64,
    next_ns: AtomicU64,
}

impl ConnectPacer {
    /// A pacer of `rate` connections per second.
    pub fn new(rate: f64) -> Self {
        let gap_ns = if rate.is_finite() && rate > 0.0 { (1e9 / rate) as u64 } else { 0 };
        ConnectPacer { gap_ns, next_ns: AtomicU64::new(0) }
    }

    /// When a connection wanting to open at `now_ns` may: its turn.
    pub fn turn(&self, now_ns: u64) -> u64 {
        let gap = self.gap_ns;
        let prev = self
            .next_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| Some(next.max(now_ns).saturating_add(gap)));
        // The closure never refuses.
        prev.unwrap_or_else(|p| p).max(now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_full_jitter() {
        let b = Backoff { initial_ns: 50, max_ns: 300 };
        assert_eq!((0..6).map(|n| b.bound_ns(n)).collect::<Vec<_>>(), [50, 100, 200, 300, 300, 300]);
        assert_eq!(b.bound_ns(u32::MAX), 300, "no overflow");
        let mut rng = Rng::new(7);
        let draws: Vec<u64> = (0..1000).map(|_| b.delay_ns(2, &mut rng)).collect();
        assert!(draws.iter().all(|&d| d <= 200));
        assert!(draws.iter().any(|&d| d < 20) && draws.iter().any(|&d| d > 180), "spread over the whole bound");
    }

    #[test]
    fn the_pacer_gives_turns_a_gap_apart() {
        let p = ConnectPacer::new(1000.0); // 1 ms apart
        assert_eq!(p.turn(5_000_000), 5_000_000, "free: at once");
        assert_eq!(p.turn(5_000_000), 6_000_000);
        assert_eq!(p.turn(5_500_000), 7_000_000);
        assert_eq!(p.turn(20_000_000), 20_000_000, "idle since: at once again");
    }
}
