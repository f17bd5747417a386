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
mod timerfd;

#[cfg(test)]
mod tests;
