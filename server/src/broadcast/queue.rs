//! A member's queue of broadcast frames: a `VecDeque` of shared frames
//! under a mutex, and the member's waker, taken by the push that finds it
//! (so a member is woken once per wait, not once per frame). About 90
//! bytes per member until frames are queued; the deque's buffer grows with
//! a backlog and is freed once it drains past [`RETAINED_FRAMES`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::outbox::Outbox;

/// Capacity, in frames, that an empty queue keeps.
const RETAINED_FRAMES: usize = 64;
/// Frames moved into the outbox per take, at most (the connection's
/// fairness bound, as for frames read).
const FRAMES_PER_TAKE: usize = 1024;

/// What a member and its publishers share.
#[derive(Default)]
pub(super) struct MemberQueue {
    inner: Mutex<Inner>,
    /// Broadcast bytes queued to it and not yet written.
    pub(super) queued: AtomicUsize,
    /// Found too slow: it gets nothing more, and closes.
    pub(super) slow: AtomicBool,
}

#[derive(Default)]
struct Inner {
    frames: VecDeque<Bytes>,
    /// The member's task, while it waits for frames.
    waker: Option<Waker>,
}

impl MemberQueue {
    /// Queues a frame, and wakes the member if it was waiting.
    pub(super) fn push(&self, frame: Bytes) {
        let waker = {
            let mut inner = self.inner.lock().expect("member queue lock");
            inner.frames.push_back(frame);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes the member if it is waiting (to find itself too slow).
    pub(super) fn wake(&self) {
        let waker = self.inner.lock().expect("member queue lock").waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Moves queued frames into `out`, up to `budget` bytes (at least one
    /// frame) and [`FRAMES_PER_TAKE`]; returns the bytes moved. Pending,
    /// with the waker kept for the next push, when none is queued.
    pub(super) fn poll_take(&self, cx: &mut Context<'_>, out: &mut Outbox, budget: usize) -> Poll<usize> {
        let mut inner = self.inner.lock().expect("member queue lock");
        if inner.frames.is_empty() {
            if inner.frames.capacity() > RETAINED_FRAMES {
                inner.frames = VecDeque::new();
            }
            if !inner.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                inner.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let mut taken = 0;
        for _ in 0..FRAMES_PER_TAKE {
            let Some(frame) = inner.frames.pop_front() else { break };
            taken += frame.len();
            out.shared_frame(frame);
            if out.len() >= budget {
                break;
            }
        }
        Poll::Ready(taken)
    }
}
