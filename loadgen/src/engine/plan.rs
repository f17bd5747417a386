//! What the run's connections share: the plan (across threads, read
//! only), and per worker thread its statistics, its stop signal and its
//! precise timer (on the thread, behind `Rc` and `RefCell`: no lock and no
//! atomic per message).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use super::connect::{RequestTemplate, Target};
use super::timer::PreciseTimer;
use super::waker::remember;
use crate::results::setup::{LoadModel, MessageType};
use crate::results::stats::WorkerStats;

/// Everything about the run that connections share, across threads.
pub struct RunPlan {
    /// The server.
    pub target: Target,
    /// Its address, resolved once.
    pub addr: std::net::SocketAddr,
    /// Source addresses, used round robin.
    pub local_addrs: Vec<std::net::IpAddr>,
    /// For `wss://`.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// The upgrade request.
    pub request: RequestTemplate,
    /// Connections in the run.
    pub connections: u32,
    /// Message size.
    pub size: usize,
    /// Message type.
    pub message_type: MessageType,
    /// Open or closed loop.
    pub load: LoadModel,
    /// `--connect-timeout`.
    pub connect_timeout_ns: u64,
    /// `--drain-timeout`.
    pub drain_timeout_ns: u64,
    /// Time zero of the run: all times below are nanoseconds after it.
    pub epoch: Instant,
    /// Start of the measured window.
    pub measure_start_ns: u64,
    /// End of the measured window.
    pub measure_end_ns: u64,
    /// With `--message`: the API load, compiled (templates, `--match`,
    /// `--expect`, init); `None` for wsbench's own stamped messages.
    pub api: Option<super::api::ApiPlan>,
    /// Set by the first connection that gets a reply in another mode's
    /// format (`mode_guess::describe_mismatch`'s line): the run stops
    /// early and fails with it, whatever thread found it.
    pub wrong_mode: std::sync::OnceLock<String>,
    /// Connections open now, across the workers: the collector gives the
    /// connect phase's memory back as soon as all are, without waiting for
    /// a merged second (driver/trim.rs). One add and one subtract per
    /// connection.
    pub open_now: std::sync::atomic::AtomicU64,
    /// `--conn-lifetime`, `--messages-per-conn`, `--reconnect`; `None`: one connection per slot.
    pub churn: Option<super::churn::ChurnPlan>,
    /// `--mode broadcast`: how connections are grouped into topics.
    pub broadcast: Option<super::broadcast::BroadcastPlan>,
    /// `--payload random`: the filler after the stamp is random.
    pub random_payload: bool,
}

impl RunPlan {
    /// Connection `id`'s message, with the stamp of sequence number 0.
    pub fn message(&self, id: u32) -> Vec<u8> {
        let mut m = super::payload::message_template(id, self.message_type, self.size);
        if self.random_payload {
            super::random_padding::randomize(&mut m, id, self.message_type);
        }
        m
    }

    /// Now, ns after the epoch.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        Instant::now().saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Whether `t_ns` is in the measured window.
    #[inline]
    pub fn in_window(&self, t_ns: u64) -> bool {
        t_ns >= self.measure_start_ns && t_ns < self.measure_end_ns
    }

    /// The end of the run's interval `index` (of the live view and the
    /// interval log), ns after the epoch: see [`interval_end_ns`].
    pub fn interval_end_ns(&self, index: u64) -> u64 {
        interval_end_ns(self.measure_start_ns, index)
    }

    /// The interval that time `t_ns` falls in.
    pub fn interval_index(&self, t_ns: u64) -> u64 {
        interval_index(self.measure_start_ns, t_ns)
    }

    /// The start of interval `index`: the end of the one before.
    pub fn interval_start_ns(&self, index: u64) -> u64 {
        index.checked_sub(1).map_or(0, |before| self.interval_end_ns(before))
    }

    /// `ns` after the epoch, for tokio's timer.
    pub fn instant(&self, ns: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + std::time::Duration::from_nanos(ns))
    }
}

/// Tells a worker's connections to stop sending and wind down. Each
/// connection owns a slot for its task's waker, refreshed only when the
/// waker changes: checking costs a `Cell` read per poll.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Cell<bool>,
    wakers: RefCell<Vec<Option<Waker>>>,
}

impl StopSignal {
    /// A waker slot for a new connection.
    pub fn slot(&self) -> usize {
        let mut w = self.wakers.borrow_mut();
        w.push(None);
        w.len() - 1
    }

    /// Frees a connection's slot (its waker is dropped).
    pub fn release(&self, slot: usize) {
        self.wakers.borrow_mut()[slot] = None;
    }

    /// True once stopped; otherwise remembers who to wake.
    #[inline]
    pub fn check(&self, slot: usize, waker: &Waker) -> bool {
        if self.stopped.get() {
            return true;
        }
        remember(&mut self.wakers.borrow_mut()[slot], waker);
        false
    }

    /// Whether the stop was given.
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Stops every connection, waking them.
    pub fn stop(&self) {
        self.stopped.set(true);
        for w in self.wakers.borrow_mut().iter_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }

    /// Resolves once stopped (for the connect phase).
    pub async fn wait(&self, slot: usize) {
        poll_fn(|cx| if self.check(slot, cx.waker()) { Poll::Ready(()) } else { Poll::Pending }).await
    }
}

/// What a worker's connections share on its thread.
pub struct WorkerCtx {
    /// The run's plan.
    pub plan: Arc<RunPlan>,
    /// The worker's histograms and counters.
    pub stats: RefCell<WorkerStats>,
    /// Stops the worker's connections (Ctrl-C).
    pub stop: StopSignal,
    /// The open loop's send times; driven by a task of the worker.
    pub timer: Rc<PreciseTimer>,
    /// The worker's churn counts (connections replaced, drops, reconnects).
    pub churn: RefCell<crate::results::churn::ChurnCounts>,
    /// `--mode broadcast`: the books of this thread's topics.
    pub topics: super::broadcast::WorkerTopics,
}

const SECOND: u64 = 1_000_000_000;

/// The end of interval `index` of a run whose measured window starts at
/// `measure_start_ns`. Intervals are whole seconds aligned to the window's
/// start, so that none holds part warmup and part measurement; the first,
/// before it, is the shorter.
fn interval_end_ns(measure_start_ns: u64, index: u64) -> u64 {
    let first = match measure_start_ns % SECOND {
        0 => SECOND,
        part => part,
    };
    first.saturating_add(index.saturating_mul(SECOND))
}

/// The interval that `t_ns` falls in, for [`interval_end_ns`]'s intervals.
fn interval_index(measure_start_ns: u64, t_ns: u64) -> u64 {
    let first = interval_end_ns(measure_start_ns, 0);
    if t_ns < first {
        0
    } else {
        (t_ns - first) / SECOND + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_seconds_aligned_to_the_window() {
        let half = SECOND / 2;
        assert_eq!((interval_end_ns(half, 0), interval_end_ns(half, 1)), (half, half + SECOND));
        assert_eq!(interval_end_ns(2 * SECOND, 0), SECOND, "a whole first second");
        for start in [0, half, 2 * SECOND, 1_234_567_891] {
            for t in (0..5 * SECOND).step_by(7_777_777) {
                let i = interval_index(start, t);
                let begin = i.checked_sub(1).map_or(0, |b| interval_end_ns(start, b));
                assert!(begin <= t && t < interval_end_ns(start, i), "start {start}, t {t}: interval {i}");
            }
        }
    }
}
