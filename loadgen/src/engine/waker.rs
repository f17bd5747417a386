//! The one way the engine's single-threaded waits remember whom to wake.

use std::task::Waker;

/// Stores `waker` in `slot`, unless the waker there already wakes the same
/// task: a task polled again and again (a connection, the timer's driver)
/// then costs no clone, and no drop, per poll.
#[inline]
pub fn remember(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}
