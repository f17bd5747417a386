//! Gives freed heap memory back to the OS once a burst of connections is
//! over.
//!
//! glibc's allocator keeps freed chunks resident: after a burst of
//! handshakes (hyper's 8 KiB read buffer and its write buffer each, freed
//! at the upgrade) the process keeps its peak. Measured with the loadgen
//! opening 9,000 connections that then stay idle: 12.7 KB of RSS per
//! connection at 20,000 connects/s, 4.5 KB at 1,000/s (docs/performance.md).
//! `malloc_trim(0)` returns the free pages inside the heap, not only at its
//! top. It walks the free lists under the arena locks, so it runs only
//! when a burst has just ended: at least [`BURST`] connections opened,
//! closed, parked or resumed since the last trim, and fewer than that in
//! the last second. Parking counts: each parked connection frees its task
//! and its future (~1 KB), which glibc would otherwise keep resident.
//! Other allocators return memory on their own; there this does nothing.
//!
//! Large messages are the other peak: a few peers sending 16 MiB messages
//! raise the heap by hundreds of MB without any burst of connections, and
//! it stayed there once they were gone. So the heap is also trimmed once
//! the memory budget's charge has fallen by [`RELEASED`] from its peak
//! since the last look.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::metrics::Metrics;

/// How often the connection churn is looked at.
const TICK: Duration = Duration::from_secs(1);
/// Connections opened or closed that make a burst worth a trim.
const BURST: u64 = 256;

/// Bytes of message and reply buffers given back since their peak that
/// make a trim worth it.
const RELEASED: usize = 32 << 20;

/// Whether buffers charged to the budget were given back in bulk: from
/// `peak` (the most held since the last look) to `now`.
fn buffers_released(peak: usize, now: usize) -> bool {
    peak.saturating_sub(now) >= RELEASED
}

/// Runs until aborted: trims the heap after each burst of connections, or
/// of large buffers.
pub(crate) async fn after_bursts(metrics: Arc<Metrics>) {
    let churn = || {
        let s = metrics.snapshot();
        // Opened plus closed, plus parked and resumed.
        (2 * s.connections_total).saturating_sub(s.connections_open) + metrics.park_moves()
    };
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut state = Churn::new(churn());
    loop {
        interval.tick().await;
        let released = buffers_released(metrics.take_memory_peak(), metrics.memory_held());
        if state.burst_ended(churn()) || released {
            release_free_memory();
        }
    }
}

/// Ticks of churn that never pauses after which the heap is trimmed anyway
/// (steady reconnects, or idle connections pinged, parked and resumed in
/// their thousands): else no trim would ever run.
const SUSTAINED: u32 = 30;

/// The churn seen at the last tick and at the last trim.
#[derive(Debug)]
struct Churn {
    last_tick: u64,
    last_trim: u64,
    /// Ticks since the last trim.
    ticks: u32,
}

impl Churn {
    fn new(now: u64) -> Self {
        Churn { last_tick: now, last_trim: now, ticks: 0 }
    }

    /// Whether to trim now, with `now` the churn so far.
    fn burst_ended(&mut self, now: u64) -> bool {
        let quiet = now - self.last_tick < BURST;
        self.last_tick = now;
        self.ticks = self.ticks.saturating_add(1);
        if (quiet || self.ticks >= SUSTAINED) && now - self.last_trim >= BURST {
            self.last_trim = now;
            self.ticks = 0;
            return true;
        }
        false
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim has no preconditions; it only returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_when_a_burst_ends_and_not_during_it_or_for_a_trickle() {
        let mut churn = Churn::new(0);
        assert!(!churn.burst_ended(100), "a trickle");
        assert!(!churn.burst_ended(200));
        assert!(churn.burst_ended(300), "300 since the last trim, 100 in the last tick");
        assert!(!churn.burst_ended(350), "trimmed already");
        assert!(!churn.burst_ended(5_000), "a burst in progress");
        assert!(!churn.burst_ended(10_000), "still going");
        assert!(churn.burst_ended(10_010), "over");
        assert!(!churn.burst_ended(10_020));
    }

    #[test]
    fn buffers_given_back_in_bulk_are_trimmed() {
        let metrics = Metrics::default();
        assert!(metrics.try_hold(48 << 20, usize::MAX));
        metrics.release(40 << 20);
        let peak = metrics.take_memory_peak();
        assert_eq!(peak, 48 << 20);
        assert!(buffers_released(peak, metrics.memory_held()), "40 MiB given back");
        // The next span starts at what is held now: nothing more released.
        assert!(!buffers_released(metrics.take_memory_peak(), metrics.memory_held()));
        assert!(!buffers_released(10 << 20, 1 << 20), "under RELEASED");
    }

    /// A reservation takes what is left, at once, and is no peak.
    #[test]
    fn reservations_take_what_is_left_and_are_no_peak() {
        let metrics = Metrics::default();
        assert!(metrics.try_hold(10 << 20, 64 << 20));
        metrics.take_memory_peak();
        assert_eq!(metrics.hold_up_to(40 << 20, 64 << 20), 40 << 20);
        assert_eq!(metrics.hold_up_to(40 << 20, 64 << 20), 14 << 20, "the rest, not the same room again");
        assert_eq!(metrics.hold_up_to(1, 64 << 20), 0);
        assert_eq!(metrics.take_memory_peak(), 64 << 20, "held now, at the next look");
        metrics.release(54 << 20);
        assert_eq!(metrics.memory_held(), 10 << 20);
    }

    #[test]
    fn churn_that_never_pauses_is_trimmed_every_sustained_ticks() {
        let mut churn = Churn::new(0);
        let trims: Vec<u32> = (1..=3 * SUSTAINED).filter(|&t| churn.burst_ended(u64::from(t) * 1_000)).collect();
        assert_eq!(trims, [SUSTAINED, 2 * SUSTAINED, 3 * SUSTAINED]);
    }
}
