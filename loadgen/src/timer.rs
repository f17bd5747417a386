//! A precise timer for one worker thread, for the open loop's send schedule.
//!
//! tokio's timer has a resolution of one millisecond: a message due at
//! `t` went out at about `t + 1 ms`, and that lag was added to every
//! corrected RTT. Here, one Linux `timerfd` per worker thread, armed with
//! absolute nanosecond deadlines and registered with tokio through
//! [`AsyncFd`](tokio::io::unix::AsyncFd), wakes the thread at the earliest
//! deadline of its connections; a min-heap holds the deadlines. A sleeping
//! thread costs nothing (no spinning), and one descriptor serves all of the
//! thread's connections.
//!
//! - Each waiter (a connection) owns a [`TimerSlot`], taken once when it
//!   starts: setting a deadline pushes `(deadline, slot, generation)` on the
//!   heap, with no allocation once the heap has grown to the thread's
//!   connections, no lock and no atomic (the timer is `!Send`, behind `Rc`
//!   and `RefCell`).
//! - Entries are removed lazily. A deadline moved later keeps its entry,
//!   which is pushed again at the new time when it comes up; a deadline
//!   moved earlier, a cleared deadline and a dropped slot leave an entry
//!   that its generation no longer matches, skipped when it comes up. The
//!   heap is rebuilt without such entries when they outnumber the slots.
//! - A deadline already past when it is set fires at once, without the heap
//!   or a system call: a connection behind its schedule sends straight away.
//! - [`PreciseTimer::drive`] must run on the thread (a local task): it waits
//!   for the timerfd, wakes every waiter whose deadline has come, in
//!   deadline order, and arms the timerfd for the next one.
//!
//! Off Linux, or if `timerfd_create` fails, the same heap is driven by one
//! tokio `Sleep` at the earliest deadline, at tokio's resolution.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// No deadline.
const NEVER: u64 = u64::MAX;

/// A heap entry: deadline (ns after the timer's base), slot, generation.
type Entry = Reverse<(u64, u32, u32)>;

#[derive(Debug, Default)]
struct Slot {
    /// The deadline waited for, or `NEVER`.
    deadline: u64,
    /// Generation of the slot's live heap entry; other entries are stale.
    gen: u32,
    /// The slot has a live entry in the heap, at `queued_at`.
    queued: bool,
    queued_at: u64,
    /// The deadline came; cleared when the waiter sees it.
    fired: bool,
    waker: Option<Waker>,
}

#[derive(Debug, Default)]
struct Inner {
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// Deadlines of one thread's waiters, and the clock that wakes it.
pub struct PreciseTimer {
    /// Deadlines are nanoseconds after this instant.
    base: Instant,
    inner: RefCell<Inner>,
    clock: Clock,
    /// The deadline the clock is set for, or `NEVER`.
    armed: Cell<u64>,
}

impl std::fmt::Debug for PreciseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreciseTimer").field("precise", &self.is_precise()).finish_non_exhaustive()
    }
}

impl PreciseTimer {
    /// A timer on a timerfd where there is one, else on tokio's timer. Call
    /// from within a tokio runtime with I/O and time enabled.
    pub fn new() -> Rc<Self> {
        let base = Instant::now();
        #[cfg(target_os = "linux")]
        if let Ok(fd) = timerfd::TimerFd::new(base) {
            return Self::with_clock(base, Clock::TimerFd(fd));
        }
        Self::with_tokio_clock(base)
    }

    /// A timer on tokio's timer only (the fallback; also for tests).
    pub fn new_coarse() -> Rc<Self> {
        Self::with_tokio_clock(Instant::now())
    }

    fn with_tokio_clock(base: Instant) -> Rc<Self> {
        let sleep = Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(base)));
        Self::with_clock(base, Clock::Tokio { sleep: RefCell::new(sleep), waker: RefCell::new(None) })
    }

    fn with_clock(base: Instant, clock: Clock) -> Rc<Self> {
        Rc::new(PreciseTimer { base, inner: RefCell::default(), clock, armed: Cell::new(NEVER) })
    }

    /// True if deadlines are kept to the nanosecond (timerfd), false on
    /// tokio's millisecond timer.
    pub fn is_precise(&self) -> bool {
        match self.clock {
            #[cfg(target_os = "linux")]
            Clock::TimerFd(_) => true,
            Clock::Tokio { .. } => false,
        }
    }

    /// A slot for one waiter, released when dropped.
    pub fn slot(self: &Rc<Self>) -> TimerSlot {
        let mut inner = self.inner.borrow_mut();
        let index = match inner.free.pop() {
            Some(i) => i,
            None => {
                inner.slots.push(Slot { deadline: NEVER, ..Slot::default() });
                (inner.slots.len() - 1) as u32
            }
        };
        TimerSlot { timer: self.clone(), index }
    }

    /// Wakes waiters as their deadlines come; never returns. Run it as a
    /// local task on the timer's thread, for as long as there are waiters.
    pub async fn drive(self: Rc<Self>) {
        poll_fn(|cx| {
            while self.poll_clock(cx).is_ready() {
                self.fire();
            }
            Poll::<()>::Pending
        })
        .await
    }

    /// Heap entries, live or stale (for tests of the bound).
    pub fn queued(&self) -> usize {
        self.inner.borrow().heap.len()
    }

    #[inline]
    fn now_ns(&self) -> u64 {
        Instant::now().saturating_duration_since(self.base).as_nanos() as u64
    }

    #[inline]
    fn to_ns(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.base).as_nanos() as u64).min(NEVER - 1)
    }

    /// Wakes the waiters whose deadlines have come, in deadline order, and
    /// sets the clock for the next deadline.
    fn fire(&self) {
        let mut now = self.now_ns();
        let mut inner = self.inner.borrow_mut();
        let Inner { heap, slots, .. } = &mut *inner;
        while let Some(&Reverse((at, index, gen))) = heap.peek() {
            if at > now {
                // Come while waking the others? Then no need to sleep for it.
                now = self.now_ns();
                if at > now {
                    break;
                }
            }
            heap.pop();
            let slot = &mut slots[index as usize];
            if !slot.queued || slot.gen != gen {
                continue;
            }
            slot.queued = false;
            if slot.deadline <= now {
                slot.deadline = NEVER;
                slot.fired = true;
                // A waker only schedules its task; it does not call back in here.
                if let Some(w) = &slot.waker {
                    w.wake_by_ref();
                }
            } else if slot.deadline != NEVER {
                // Moved later since it was queued: queue it again, same entry.
                slot.queued = true;
                slot.queued_at = slot.deadline;
                heap.push(Reverse((slot.deadline, index, gen)));
            }
        }
        let next = heap.peek().map_or(NEVER, |e| e.0 .0);
        drop(inner);
        self.arm(next);
    }

    /// Sets the clock for `at`, unless it already is.
    fn arm(&self, at: u64) {
        if at == self.armed.get() {
            return;
        }
        self.armed.set(at);
        match &self.clock {
            #[cfg(target_os = "linux")]
            Clock::TimerFd(fd) => fd.arm(at),
            Clock::Tokio { sleep, waker } => {
                if at != NEVER {
                    let deadline = self.base + std::time::Duration::from_nanos(at);
                    sleep.borrow_mut().as_mut().reset(tokio::time::Instant::from_std(deadline));
                }
                // The driver polls the reset sleep again.
                if let Some(w) = waker.borrow_mut().take() {
                    w.wake();
                }
            }
        }
    }

    /// Ready when the clock has gone off (and is no longer armed).
    fn poll_clock(&self, cx: &mut Context<'_>) -> Poll<()> {
        match &self.clock {
            #[cfg(target_os = "linux")]
            Clock::TimerFd(fd) => {
                let r = fd.poll_expired(cx);
                if r.is_ready() {
                    self.armed.set(NEVER);
                }
                r
            }
            Clock::Tokio { sleep, waker } => {
                *waker.borrow_mut() = Some(cx.waker().clone());
                if self.armed.get() == NEVER {
                    return Poll::Pending;
                }
                if sleep.borrow_mut().as_mut().poll(cx).is_ready() {
                    self.armed.set(NEVER);
                    return Poll::Ready(());
                }
                Poll::Pending
            }
        }
    }
}

enum Clock {
    #[cfg(target_os = "linux")]
    TimerFd(timerfd::TimerFd),
    /// tokio's timer; the driver's waker, to poll the sleep again once reset.
    Tokio { sleep: RefCell<Pin<Box<tokio::time::Sleep>>>, waker: RefCell<Option<Waker>> },
}

/// One waiter's place in a [`PreciseTimer`]: at most one deadline at a time.
#[derive(Debug)]
pub struct TimerSlot {
    timer: Rc<PreciseTimer>,
    index: u32,
}

impl TimerSlot {
    /// Waits for `deadline` from now on (replacing any earlier one), or for
    /// nothing with `None`. A deadline already past fires at once.
    pub fn set(&self, deadline: Option<Instant>) {
        let timer = &*self.timer;
        let at = deadline.map_or(NEVER, |d| timer.to_ns(d));
        let mut inner = timer.inner.borrow_mut();
        let Inner { heap, slots, .. } = &mut *inner;
        let live = slots.len();
        let slot = &mut slots[self.index as usize];
        slot.fired = false;
        if at == NEVER {
            // Its entry, if any, is skipped when it comes up.
            slot.deadline = NEVER;
            return;
        }
        if at <= timer.now_ns() {
            slot.deadline = NEVER;
            slot.fired = true;
            return;
        }
        slot.deadline = at;
        if slot.queued && slot.queued_at <= at {
            // The entry comes up first and is queued again at `at`.
            return;
        }
        slot.gen = slot.gen.wrapping_add(1);
        slot.queued = true;
        slot.queued_at = at;
        heap.push(Reverse((at, self.index, slot.gen)));
        if heap.len() > 2 * live + 64 {
            heap.retain(|&Reverse((_, i, g))| {
                let s = &slots[i as usize];
                s.queued && s.gen == g
            });
        }
        drop(inner);
        if at < timer.armed.get() {
            timer.arm(at);
        }
    }

    /// Ready once the deadline set last has come (then clear until the next
    /// `set`); otherwise remembers `cx`'s waker, replacing it only if it
    /// would wake another task.
    #[inline]
    pub fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.timer.inner.borrow_mut();
        let slot = &mut inner.slots[self.index as usize];
        if slot.fired {
            slot.fired = false;
            return Poll::Ready(());
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits until `deadline`.
    pub async fn sleep_until(&self, deadline: Instant) {
        self.set(Some(deadline));
        poll_fn(|cx| self.poll_expired(cx)).await
    }
}

impl Drop for TimerSlot {
    fn drop(&mut self) {
        let mut inner = self.timer.inner.borrow_mut();
        let slot = &mut inner.slots[self.index as usize];
        // Any entry it has in the heap is now stale.
        *slot = Slot { deadline: NEVER, gen: slot.gen.wrapping_add(1), ..Slot::default() };
        inner.free.push(self.index);
    }
}

/// Waits until `deadline` on a one-off slot of `timer`.
pub fn sleep_until(timer: &Rc<PreciseTimer>, deadline: Instant) -> impl Future<Output = ()> {
    let slot = timer.slot();
    async move { slot.sleep_until(deadline).await }
}

#[cfg(target_os = "linux")]
mod timerfd {
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
            let r = unsafe {
                libc::timerfd_settime(self.fd.as_raw_fd(), libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut())
            };
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Runs `f` with a fresh timer (precise or coarse) and its driver on a
    /// current-thread runtime, as a worker thread does.
    fn with_timer<F, Fut>(precise: bool, f: F)
    where
        F: FnOnce(Rc<PreciseTimer>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let timer = if precise { PreciseTimer::new() } else { PreciseTimer::new_coarse() };
            #[cfg(target_os = "linux")]
            assert_eq!(timer.is_precise(), precise);
            let driver = tokio::task::spawn_local(timer.clone().drive());
            f(timer).await;
            driver.abort();
        });
    }

    fn both(f: impl Fn(Rc<PreciseTimer>) -> Pin<Box<dyn Future<Output = ()>>>) {
        with_timer(true, &f);
        with_timer(false, &f);
    }

    fn noop_waker() -> Waker {
        struct Noop;
        impl std::task::Wake for Noop {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        Waker::from(std::sync::Arc::new(Noop))
    }

    /// Shuffled offsets, in ms, deterministic.
    fn offsets(n: u64, spread_ms: u64) -> Vec<u64> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % spread_ms
            })
            .collect()
    }

    #[test]
    fn deadlines_fire_in_order_and_never_early() {
        both(|timer| {
            Box::pin(async move {
                let start = Instant::now() + Duration::from_millis(30);
                let woke = Rc::new(RefCell::new(Vec::new()));
                let tasks: Vec<_> = offsets(50, 40)
                    .into_iter()
                    .enumerate()
                    .map(|(i, ms)| {
                        // Distinct deadlines: ms plus a µs tie-breaker.
                        let deadline = start + Duration::from_millis(ms) + Duration::from_micros(i as u64);
                        let (timer, woke) = (timer.clone(), woke.clone());
                        tokio::task::spawn_local(async move {
                            sleep_until(&timer, deadline).await;
                            woke.borrow_mut().push((deadline, Instant::now()));
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                let woke = woke.borrow();
                assert_eq!(woke.len(), 50);
                for (deadline, at) in woke.iter() {
                    assert!(at >= deadline, "woken {:?} early", deadline.duration_since(*at));
                }
                assert!(woke.windows(2).all(|w| w[0].0 < w[1].0), "woken out of deadline order");
                assert_eq!(timer.queued(), 0);
            })
        });
    }

    #[test]
    fn a_past_deadline_fires_at_once_without_the_driver() {
        // No runtime driver involved: the first poll is ready.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = rt.enter();
        for timer in [PreciseTimer::new(), PreciseTimer::new_coarse()] {
            let slot = timer.slot();
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            for past in [Instant::now(), Instant::now() - Duration::from_millis(5), timer.base] {
                slot.set(Some(past));
                assert!(slot.poll_expired(&mut cx).is_ready());
                // Seen once; not again until set again.
                assert!(slot.poll_expired(&mut cx).is_pending());
            }
            assert_eq!(timer.queued(), 0, "a past deadline goes nowhere near the heap");
            let mut fut = std::pin::pin!(slot.sleep_until(Instant::now()));
            assert!(fut.as_mut().poll(&mut cx).is_ready());
        }
    }

    #[test]
    fn many_waiters_all_wake() {
        both(|timer| {
            Box::pin(async move {
                let start = Instant::now() + Duration::from_millis(5);
                let count = Rc::new(Cell::new(0));
                let tasks: Vec<_> = offsets(2000, 30)
                    .into_iter()
                    .enumerate()
                    .map(|(i, ms)| {
                        let deadline = start + Duration::from_millis(ms) + Duration::from_nanos(i as u64 * 7);
                        let (timer, count) = (timer.clone(), count.clone());
                        tokio::task::spawn_local(async move {
                            let slot = timer.slot();
                            // Several deadlines in a row on one slot.
                            for k in 0..3 {
                                let d = deadline + Duration::from_micros(k * 300);
                                slot.sleep_until(d).await;
                                assert!(Instant::now() >= d);
                            }
                            count.set(count.get() + 1);
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                assert_eq!(count.get(), 2000);
                assert_eq!(timer.queued(), 0);
                let inner = timer.inner.borrow();
                assert_eq!(inner.free.len(), inner.slots.len(), "every slot released");
            })
        });
    }

    #[test]
    fn a_dropped_waiter_is_not_woken_and_its_slot_is_reused() {
        both(|timer| {
            Box::pin(async move {
                let soon = Instant::now() + Duration::from_millis(200);
                // A waiter dropped before its deadline (a timeout won the race).
                let dropped = tokio::time::timeout(Duration::from_millis(1), sleep_until(&timer, soon)).await;
                assert!(dropped.is_err());
                assert_eq!(timer.queued(), 1, "its entry is left for later");
                // The slot is reused; the stale entry does not wake the new owner.
                let slot = timer.slot();
                assert_eq!(slot.index, 0);
                let later = soon + Duration::from_millis(10);
                slot.sleep_until(later).await;
                assert!(Instant::now() >= later, "woken by the dropped waiter's entry");
                assert_eq!(timer.queued(), 0, "the stale entry was skipped and dropped");
            })
        });
    }

    #[test]
    fn moved_deadlines_fire_at_the_last_one_set() {
        both(|timer| {
            Box::pin(async move {
                let slot = timer.slot();
                let now = Instant::now();
                // Later: the first entry stays, and is requeued when it comes up.
                slot.set(Some(now + Duration::from_millis(5)));
                slot.set(Some(now + Duration::from_millis(15)));
                assert_eq!(timer.queued(), 1);
                poll_fn(|cx| slot.poll_expired(cx)).await;
                assert!(Instant::now() >= now + Duration::from_millis(15));
                // Earlier: a new entry; the old one is stale.
                let now = Instant::now();
                slot.set(Some(now + Duration::from_millis(50)));
                slot.set(Some(now + Duration::from_millis(5)));
                assert_eq!(timer.queued(), 2);
                poll_fn(|cx| slot.poll_expired(cx)).await;
                let woke = Instant::now();
                assert!(woke >= now + Duration::from_millis(5));
                // Cleared: nothing fires.
                slot.set(None);
                let quiet = tokio::time::timeout(Duration::from_millis(60), poll_fn(|cx| slot.poll_expired(cx))).await;
                assert!(quiet.is_err(), "a cleared deadline fired");
            })
        });
    }

    #[test]
    fn the_heap_stays_bounded_when_deadlines_move_earlier() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = rt.enter();
        for timer in [PreciseTimer::new(), PreciseTimer::new_coarse()] {
            let slots: Vec<_> = (0..10).map(|_| timer.slot()).collect();
            let far = Instant::now() + Duration::from_secs(3600);
            for k in 0..10_000u64 {
                slots[(k % 10) as usize].set(Some(far - Duration::from_nanos(k)));
                assert!(timer.queued() <= 2 * 10 + 64 + 1);
            }
            drop(slots);
            let s = timer.slot();
            for k in 0..1000u64 {
                s.set(Some(far - Duration::from_nanos(k)));
            }
            assert!(timer.queued() <= 2 * 10 + 64 + 1);
        }
    }
}
