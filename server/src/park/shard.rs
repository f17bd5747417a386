//! One shard of the parked connections: their array, one epoll for their
//! sockets, and one timer for their deadlines.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tokio::io::unix::AsyncFd;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::{debug, error, warn};

use slab::Slab;

use super::{resume, Parking};
use crate::connection::Quiet;

/// Socket events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// The slab key's part of a token.
const KEY_MASK: usize = u32::MAX as usize;
/// The timer's deadline when no connection is parked.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// One shard: its parked connections and what watches them.
pub(super) struct Shard {
    /// Adds and removes sockets of the epoll the watcher polls.
    registry: mio::Registry,
    /// That epoll, until the watcher takes it.
    poll: Mutex<Option<Poll>>,
    state: Mutex<State>,
    /// A deadline earlier than all others was added: the watcher's timer
    /// must move.
    earlier: Notify,
}

#[derive(Default)]
struct State {
    /// Inline, in one array: boxed one by one, they sat among the freed
    /// tasks and kept those pages resident.
    parked: Slab<Parked>,
    /// (deadline, token), soonest first. A resumed connection's entry stays
    /// until it comes up or the heap is rebuilt.
    deadlines: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Parkings so far: the high half of the next token.
    parkings: u64,
    /// Shutdown began: nothing parks.
    closing: bool,
}

/// A parked connection.
pub(super) struct Parked {
    quiet: Quiet,
    /// Its slab key (low 32 bits) and the parking's number (high 32): an
    /// event or deadline of a connection resumed since, whose key another
    /// has taken, finds a different token. (A 32-bit target has no room for
    /// the number: such an event resumes the other connection, which finds
    /// nothing to read and parks again after a tick.)
    token: usize,
}

impl State {
    /// The connection parked as `token`, if it still is.
    fn get(&self, token: usize) -> Option<&Parked> {
        self.parked.get(token & KEY_MASK).filter(|p| p.token == token)
    }

    /// Takes the connection parked as `token`, if it still is.
    fn remove(&mut self, token: usize) -> Option<Parked> {
        self.get(token)?;
        let parked = self.parked.remove(token & KEY_MASK);
        if self.parked.is_empty() && self.parked.capacity() > 1024 {
            // A burst's array is not kept for ever.
            self.parked = Slab::new();
        }
        Some(parked)
    }
}

impl Shard {
    pub(super) fn new() -> io::Result<Shard> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Shard { registry, poll: Mutex::new(Some(poll)), state: Mutex::default(), earlier: Notify::new() })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves the map whole: go on with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parks `quiet`, or gives it a task again when it cannot be parked
    /// (shutdown begun, or its socket cannot be watched).
    pub(super) fn park(&self, quiet: Quiet, parking: &Arc<Parking>) {
        let wake_at = quiet.deadline();
        let mut state = self.state();
        let key = match u32::try_from(state.parked.vacant_key()) {
            Ok(key) if !state.closing => key,
            _ => {
                drop(state);
                return resume(quiet, parking.clone());
            }
        };
        let token = (u64::from(key) | (state.parkings << 32)) as usize;
        // Edge-triggered, and reported at once if bytes came in meanwhile.
        if let Err(e) = self.registry.register(&mut SourceFd(&quiet.fd()), Token(token), Interest::READABLE) {
            debug!(error = %e, "cannot watch a parked socket");
            drop(state);
            return resume(quiet, parking.clone());
        }
        state.parkings = (state.parkings + 1) & u64::from(u32::MAX);
        let inserted = state.parked.insert(Parked { quiet, token });
        debug_assert_eq!(inserted, key as usize);
        let earlier = state.deadlines.peek().map_or(true, |Reverse((first, _))| wake_at < *first);
        state.deadlines.push(Reverse((wake_at, token)));
        parking.metrics.connection_parked();
        drop(state);
        if earlier {
            self.earlier.notify_one();
        }
    }

    /// The connection parked as `token`, if it still is.
    fn take(&self, token: usize) -> Option<Parked> {
        let mut state = self.state();
        let parked = state.remove(token);
        if state.deadlines.len() > 2 * state.parked.len() + 64 {
            state.deadlines = state.parked.iter().map(|(_, p)| Reverse((p.quiet.deadline(), p.token))).collect();
        }
        parked
    }

    /// Resumes the connections whose deadline has come.
    fn wake_due(&self, parking: &Arc<Parking>) {
        let now = Instant::now();
        let mut due = Vec::new();
        let mut state = self.state();
        while let Some(&Reverse((at, token))) = state.deadlines.peek() {
            if at > now {
                break;
            }
            state.deadlines.pop();
            due.extend(state.remove(token));
        }
        drop(state);
        for parked in due {
            self.wake(parked, parking);
        }
    }

    /// The soonest deadline of a connection still parked.
    fn next_deadline(&self) -> Option<Instant> {
        let mut state = self.state();
        while let Some(&Reverse((at, token))) = state.deadlines.peek() {
            if state.get(token).is_some() {
                return Some(at);
            }
            state.deadlines.pop();
        }
        None
    }

    /// Parks nothing from now on; returns every connection parked.
    pub(super) fn close(&self) -> Vec<Parked> {
        let mut state = self.state();
        state.closing = true;
        state.deadlines.clear();
        state.parked.drain().collect()
    }

    /// Gives `parked` a task again, its socket off this shard's epoll.
    fn wake(&self, parked: Parked, parking: &Arc<Parking>) {
        let _ = self.registry.deregister(&mut SourceFd(&parked.quiet.fd()));
        parking.metrics.connection_unparked();
        resume(parked.quiet, parking.clone());
    }

    /// The task that watches this shard's sockets and deadlines until
    /// `closing` turns true; then it resumes every parked connection.
    pub(super) fn watcher(
        self: &Arc<Self>,
        parking: Arc<Parking>,
        closing: watch::Receiver<bool>,
    ) -> io::Result<impl Future<Output = ()> + Send + 'static> {
        let poll = self.poll.lock().unwrap_or_else(|p| p.into_inner()).take();
        let poll = poll.ok_or_else(|| io::Error::other("the shard is watched already"))?;
        // SAFETY: a `mio::Poll` owns its epoll descriptor from creation to
        // drop, and `as_raw_fd` always returns that one; the `AsyncFd` owns
        // the `Poll`, so the descriptor outlives the registration.
        let registered = unsafe { AsyncFd::register_with_interest(poll, tokio::io::Interest::READABLE) };
        let poll = registered.map_err(|e| e.into_parts().1)?;
        let watching = Watching { shard: self.clone(), parking };
        Ok(async move { watching.run(poll, closing).await })
    }
}

/// A shard's watcher. However it ends, its connections are not left
/// parked: a parked connection nobody watches would get no ping, no close
/// and no shutdown.
struct Watching {
    shard: Arc<Shard>,
    parking: Arc<Parking>,
}

impl Watching {
    async fn run(&self, mut poll: AsyncFd<Poll>, mut closing: watch::Receiver<bool>) {
        let (shard, parking) = (&self.shard, &self.parking);
        let mut events = Events::with_capacity(EVENTS);
        let timer = tokio::time::sleep(NEVER);
        tokio::pin!(timer);
        loop {
            timer.as_mut().reset(shard.next_deadline().unwrap_or_else(|| Instant::now() + NEVER));
            tokio::select! {
                biased;
                _ = closing.wait_for(|closing| *closing) => return,
                ready = poll.readable_mut() => {
                    let mut guard = match ready {
                        Ok(guard) => guard,
                        Err(e) => return warn!(error = %e, "parking shard failed: resuming its connections"),
                    };
                    // Readiness is cleared only once a poll finds nothing.
                    let polled = guard.try_io(|poll| {
                        poll.get_mut().poll(&mut events, Some(Duration::ZERO))?;
                        if events.is_empty() { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(()) }
                    });
                    if let Ok(Err(e)) = polled {
                        return warn!(error = %e, "parking shard failed: resuming its connections");
                    }
                    for event in events.iter() {
                        if let Some(parked) = shard.take(event.token().0) {
                            shard.wake(parked, parking);
                        }
                    }
                    events.clear();
                    // Busy sockets do not hold the deadlines back.
                    shard.wake_due(parking);
                }
                () = &mut timer => shard.wake_due(parking),
                () = shard.earlier.notified() => {}
            }
        }
    }
}

impl Drop for Watching {
    /// Parks nothing more, and resumes every connection parked; after a
    /// panic, when spawning may be what failed, ends them instead (their
    /// sockets closed, their places given back, counted as read errors).
    fn drop(&mut self) {
        let parked = self.shard.close();
        let panicking = std::thread::panicking();
        if panicking && !parked.is_empty() {
            error!(connections = parked.len(), "parking shard failed: closing its parked connections");
        }
        for parked in parked {
            if panicking {
                self.parking.metrics.connection_unparked();
                parked.quiet.abandon();
            } else {
                self.shard.wake(parked, &self.parking);
            }
        }
    }
}
