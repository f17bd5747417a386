//! The timerfd: `CLOCK_MONOTONIC` (the clock of `std::time::Instant` on
//! Linux), non-blocking, armed with absolute deadlines.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::unix::AsyncFd;

use super::NEVER;

pub struct TimerFd {
    fd: AsyncFd<OwnedFd>,
    /// `CLOCK_MONOTONIC` at the timer's base instant, in ns, read just
    /// after it: a deadline is set a few ns late, never early.
    base_ns: u64,
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes to a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl TimerFd {
    pub fn new(base: Instant) -> io::Result<Self> {
        // SAFETY: plain system call with constant arguments.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Elapsed first, then the clock: the base comes out a few ns late.
        let elapsed = base.elapsed().as_nanos() as u64;
        let base_ns = monotonic_ns() - elapsed;
        // SAFETY: the AsyncFd owns `fd`, which stays open and the same
        // descriptor for as long as the AsyncFd lives.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)? };
        Ok(TimerFd { fd, base_ns })
    }

    /// Goes off at `at` ns after the base (at once if past); `NEVER`
    /// disarms it.
    pub fn arm(&self, at: u64) {
        let abs = if at == NEVER { 0 } else { self.base_ns + at };
        let it_value = if at == NEVER {
            libc::timespec { tv_sec: 0, tv_nsec: 0 }
        } else {
            libc::timespec { tv_sec: (abs / 1_000_000_000) as _, tv_nsec: (abs % 1_000_000_000) as _ }
        };
        let spec = libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value };
        // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
        // Only fails for invalid arguments, which these are not.
        debug_assert_eq!(r, 0, "timerfd_settime: {}", io::Error::last_os_error());
    }

    /// Ready once the timer has gone off.
    ///
    /// The expiry count is not read (a system call per expiry saved):
    /// the timer is one-shot, and arming it again resets the count;
    /// each expiry wakes the descriptor's waiters anew, which tokio's
    /// edge-triggered epoll reports as a new event. So clearing tokio's
    /// readiness here loses no expiry.
    pub fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self.fd.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => {
                guard.clear_ready();
                Poll::Ready(())
            }
            // Pending, or the runtime is shutting down.
            _ => Poll::Pending,
        }
    }
}
