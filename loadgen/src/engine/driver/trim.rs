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
//! the latencies. Other allocators return memory on their own; there it
//! does nothing.

/// Trims once, the first time `open` reaches `target` before `in_warmup`
/// ends.
#[derive(Debug, Default)]
pub(super) struct TrimAfterRamp {
    done: bool,
}

impl TrimAfterRamp {
    /// Looks at one merged second; true if it trimmed.
    pub(super) fn second(&mut self, open: u64, target: u32, in_warmup: bool) -> bool {
        if self.done || !in_warmup || open < u64::from(target) {
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
    fn trims_once_all_are_open_in_the_warmup_only() {
        let mut t = TrimAfterRamp::default();
        assert!(!t.second(50, 100, true), "still opening");
        assert!(!t.second(100, 100, false), "in the measured window: never");
        assert!(t.second(100, 100, true));
        assert!(!t.second(100, 100, true), "once");
    }
}
