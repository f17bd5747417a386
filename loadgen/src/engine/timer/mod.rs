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
//!   deadline order, and arms the timerfd for the next one. Only the driver
//!   sets the clock: a waiter whose deadline is earlier than the clock's
//!   wakes the driver, which sets it once for every waiter of the tick.
//! - Setting the clock is not free: the deadline becomes the core's
//!   earliest timer, and the kernel reprograms the timer hardware, ~0.5 µs
//!   on bare metal but ~9 µs in the 2-core Firecracker VM this was measured
//!   on (a VM exit; then the expiry's interrupt and the wake-up), where one
//!   thread pacing 100k msg/s spent a fifth of its time setting the clock.
//!   So a next deadline at most [`SPIN_NS`] ahead is waited for by polling
//!   the driver again, behind the thread's other ready tasks and I/O,
//!   instead: deadlines that close together are kept without a wake-up.
//!   That is waiting, not work: the time a spinning driver waits while no
//!   other task of the thread runs ([`PreciseTimer::spun`], told apart by
//!   [`Counted`]) is left out of the thread's busy share, which decides
//!   whether the loadgen was the run's limit (docs/performance.md, round
//!   10). (Measuring the cost of setting the clock at start-up, to spin
//!   only where it is dear, was tried: one sample in five came out 20
//!   times cheaper, and the pacing would differ from run to run.)
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

use crate::engine::waker::remember;

/// No deadline.
const NEVER: u64 = u64::MAX;

/// A next deadline at most this far ahead (ns) is waited for by polling
/// rather than by setting the clock: about what setting it costs in a VM.
pub const SPIN_NS: u64 = 10_000;

/// A spinning driver is polled again within a few µs (one tick of the
/// runtime). A longer gap with no counted work means the thread was not
/// running (descheduled, or held by an uncounted task): wall time its CPU
/// clock did not count either, so it is not taken off as idle.
const SPIN_STEP_MAX_NS: u64 = 4 * SPIN_NS;

thread_local! {
    /// Polls of the thread's [`Counted`] tasks: work, as opposed to a
    /// spinning driver's waiting.
    static WORK_POLLS: Cell<u64> = const { Cell::new(0) };
}

/// A task whose polls are work: while it runs, a spinning driver's wait
/// is not idle time (see [`PreciseTimer::spun`]). No bytes added.
#[derive(Debug)]
pub struct Counted<F>(pub F);

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        WORK_POLLS.with(|n| n.set(n.get() + 1));
        // SAFETY: structural pinning of the only field, which is never
        // moved out of or handed out unpinned.
        unsafe { self.map_unchecked_mut(|c| &mut c.0) }.poll(cx)
    }
}

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
    /// A next deadline at most this far ahead (ns) is waited for by
    /// polling the driver again rather than by setting the clock.
    spin_ns: u64,
    /// The driver's waker: a waiter's earlier deadline wakes the driver,
    /// which sets the clock once for all of them.
    driver: RefCell<Option<Waker>>,
    /// Times the clock was set (or disarmed).
    arms: Cell<u64>,
    /// When the driver last chose to spin, and the work polls by then.
    spin_mark: Cell<Option<(u64, u64)>>,
    /// The spinning driver's waits during which no counted task ran, ns.
    spun_ns: Cell<u64>,
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
        Self::with_clock(base, Clock::Tokio(RefCell::new(sleep)))
    }

    fn with_clock(base: Instant, clock: Clock) -> Rc<Self> {
        let mut timer = PreciseTimer {
            base,
            inner: RefCell::default(),
            clock,
            armed: Cell::new(NEVER),
            spin_ns: 0,
            driver: RefCell::default(),
            arms: Cell::new(0),
            spin_mark: Cell::new(None),
            spun_ns: Cell::new(0),
        };
        // tokio's timer is too coarse for a spin to keep a deadline.
        timer.spin_ns = if timer.is_precise() { SPIN_NS } else { 0 };
        Rc::new(timer)
    }

    /// A precise timer that waits for deadlines up to `spin_ns` ahead by
    /// polling (for tests).
    pub fn with_spin(spin_ns: u64) -> Rc<Self> {
        let mut timer = Rc::into_inner(Self::new()).expect("a new timer has one owner");
        timer.spin_ns = spin_ns;
        Rc::new(timer)
    }

    /// Times the clock was set or disarmed (for tests and profiles).
    pub fn arms(&self) -> u64 {
        self.arms.get()
    }

    /// Time the driver spent waiting by polling (a spin) while no
    /// [`Counted`] task ran: idle time the thread's CPU clock counts as
    /// busy. An interval in which any counted task ran counts as work.
    pub fn spun(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.spun_ns.get())
    }

    /// True if deadlines are kept to the nanosecond (timerfd), false on
    /// tokio's millisecond timer.
    pub fn is_precise(&self) -> bool {
        match self.clock {
            #[cfg(target_os = "linux")]
            Clock::TimerFd(_) => true,
            Clock::Tokio(_) => false,
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
            remember(&mut self.driver.borrow_mut(), cx.waker());
            let work = WORK_POLLS.with(Cell::get);
            if let Some((since, polls)) = self.spin_mark.take() {
                let waited = self.now_ns().saturating_sub(since);
                if polls == work && waited <= SPIN_STEP_MAX_NS {
                    self.spun_ns.set(self.spun_ns.get() + waited);
                }
            }
            loop {
                // An expiry is taken first: the clock is then known to be
                // unset, and is not set twice for the same deadline.
                let _ = self.poll_clock(cx);
                let next = self.fire();
                let now = self.now_ns();
                if next != NEVER && next.saturating_sub(now) <= self.spin_ns {
                    // Near: polled again after the tasks already ready
                    // (and, every few ticks, the runtime's I/O).
                    self.spin_mark.set(Some((now, WORK_POLLS.with(Cell::get))));
                    cx.waker().wake_by_ref();
                    return Poll::<()>::Pending;
                }
                self.arm(next);
                if self.poll_clock(cx).is_pending() {
                    return Poll::Pending;
                }
            }
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
    /// returns the next deadline.
    fn fire(&self) -> u64 {
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
        heap.peek().map_or(NEVER, |e| e.0 .0)
    }

    /// Sets the clock for `at`, unless it already is. Only the driver
    /// calls it, and polls the clock right after.
    fn arm(&self, at: u64) {
        if at == self.armed.get() {
            return;
        }
        self.armed.set(at);
        self.arms.set(self.arms.get() + 1);
        match &self.clock {
            #[cfg(target_os = "linux")]
            Clock::TimerFd(fd) => fd.arm(at),
            // The driver polls the reset sleep right after (`drive`).
            Clock::Tokio(sleep) => {
                if at != NEVER {
                    let deadline = self.base + std::time::Duration::from_nanos(at);
                    sleep.borrow_mut().as_mut().reset(tokio::time::Instant::from_std(deadline));
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
            Clock::Tokio(sleep) => {
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
    /// tokio's timer, set only by the driver, which polls it right after.
    Tokio(RefCell<Pin<Box<tokio::time::Sleep>>>),
}

mod slot;
#[cfg(target_os = "linux")]
mod timerfd;

pub use slot::{sleep_until, TimerSlot};

#[cfg(test)]
mod tests;
