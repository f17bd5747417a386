//! A waiter's place in the [`PreciseTimer`]: one deadline at a time.

use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::{Inner, PreciseTimer, Slot, NEVER};
use crate::engine::waker::remember;
use std::cmp::Reverse;

/// One waiter's place in a [`PreciseTimer`]: at most one deadline at a time.
#[derive(Debug)]
pub struct TimerSlot {
    pub(super) timer: Rc<PreciseTimer>,
    pub(super) index: u32,
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
            // The driver sets the clock, once for all the tick's waiters.
            if let Some(w) = &*timer.driver.borrow() {
                w.wake_by_ref();
            }
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
        remember(&mut slot.waker, cx.waker());
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
