//! Gives the connect phase's freed memory back to the OS, once.
//!
//! Why: while connections are being opened each holds its connecting
//! state (the connect future, the upgrade's read buffer: several KiB), and
//! glibc's allocator keeps what they freed resident. A run that opened
//! 9,000 connections at once then held its peak for its whole life, most
//! of the loadgen's RSS per connection. `malloc_trim(0)` returns the free
//! pages. It walks the free lists under the arena locks (milliseconds at
//! tens of MB), so it runs once: when every connection is open during
//! the warmup, never in the measured window, where that stall would be in
//! the latencies (judged by the clock when it would run, with a margin).
//! The collector looks every [`CHECK_EVERY`] until it has trimmed or the
//! window opens: a merged second comes too late for a short warmup.
//! Other allocators return memory on their own; there it does nothing.

use std::time::Duration;

/// How often the collector looks whether every connection is open.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(50);

/// How long before the measured window a trim may still start: it takes
/// milliseconds at tens of MB, and must be over before the window opens.
const MARGIN_NS: u64 = 250_000_000;

/// Trims once, the first time `open` reaches `target` while the measured
/// window is at least [`MARGIN_NS`] away.
#[derive(Debug, Default)]
pub(super) struct TrimAfterRamp {
    done: bool,
}

impl TrimAfterRamp {
    /// Whether a later check may still trim: not yet trimmed, and the
    /// window not yet open at `now_ns`.
    pub(super) fn pending(&self, now_ns: u64, measure_start_ns: u64) -> bool {
        !self.done && now_ns < measure_start_ns
    }

    /// Trims if `open` connections are all (`target`) and the window is at
    /// least the margin away at `now_ns` (the run's clock); true if it did.
    pub(super) fn check(&mut self, open: u64, target: u32, now_ns: u64, measure_start_ns: u64) -> bool {
        if self.done || open < u64::from(target) || now_ns.saturating_add(MARGIN_NS) > measure_start_ns {
            return false;
        }
        self.done = true;
        release_free_memory();
        true
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
    fn trims_once_all_are_open_and_only_well_before_the_window() {
        const S: u64 = 1_000_000_000;
        let mut t = TrimAfterRamp::default();
        assert!(!t.check(50, 100, S, 3 * S), "still opening");
        assert!(!t.check(100, 100, 3 * S, 3 * S), "the window opens now: never");
        assert!(!t.check(100, 100, 3 * S - MARGIN_NS / 2, 3 * S), "too close to it");
        assert!(!t.check(100, 100, 4 * S, 3 * S), "in the window: never");
        assert!(t.check(100, 100, 2 * S, 3 * S));
        assert!(!t.check(100, 100, 2 * S, 3 * S), "once");
        assert!(!t.pending(2 * S, 3 * S), "done: no more checks");
        assert!(TrimAfterRamp::default().pending(2 * S, 3 * S));
        assert!(!TrimAfterRamp::default().pending(3 * S, 3 * S), "the window has opened");
    }
}
