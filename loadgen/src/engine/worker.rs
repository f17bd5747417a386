//! Worker threads: each runs a current-thread tokio runtime with its share
//! of the connections, and its own [`WorkerStats`]. Once a second it hands
//! the second's histograms to the collector (live view, interval log); at
//! the end it returns its totals, which the collector merges. A task of
//! each worker drives its [`PreciseTimer`], the open loop's send times.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::plan::{RunPlan, StopSignal, WorkerCtx};
use super::session::run_connection;
use super::timer::{Counted, PreciseTimer};
use crate::results::broadcast::BroadcastStats;
use crate::results::counters::Counters;
use crate::results::stats::{Histograms, LiveCounters, WorkerStats};

/// One second (or the last part of one) of one worker.
#[derive(Debug)]
pub struct IntervalReport {
    /// The worker (thread) index.
    pub worker: usize,
    /// The interval: `RunPlan::interval_start_ns(index)` to its end.
    pub index: u64,
    /// Nanoseconds after the epoch that the interval really ended.
    pub end_ns: u64,
    /// The second's histograms.
    pub histograms: Histograms,
    /// The second's counts for the live view.
    pub live: LiveCounters,
    /// Connections open at its end.
    pub open: u64,
}

/// A worker's totals.
#[derive(Debug)]
pub struct WorkerResult {
    /// The worker (thread) index.
    pub worker: usize,
    /// Every histogram of the run.
    pub histograms: Histograms,
    /// Every count of the run.
    pub counters: Counters,
    /// The first few errors, described.
    pub samples: Vec<String>,
    /// Connections replaced, drops, reconnects.
    pub churn: crate::results::churn::ChurnCounts,
    /// `--mode broadcast`: deliveries and their latencies.
    pub broadcast: BroadcastStats,
    /// CPU time of the worker thread over the measured window (its whole
    /// life if the run stopped early), less its timer's waits by polling
    /// ([`PreciseTimer::spun`]), and that wall time.
    pub cpu: Duration,
    /// See `cpu`.
    pub wall: Duration,
}

/// What a worker sends the collector.
#[derive(Debug)]
pub enum Report {
    /// A second is over.
    Interval(Box<IntervalReport>),
    /// The worker is done: its totals.
    Done(Box<WorkerResult>),
}

/// Starts worker `worker` on its own thread with the connections `ids`,
/// connection `i` starting at `starts_ns[i]`.
pub fn spawn(
    worker: usize,
    plan: Arc<RunPlan>,
    conns: Vec<(u32, u64)>,
    reports: mpsc::UnboundedSender<Report>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("loadgen-{worker}")).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("worker runtime");
        let local = tokio::task::LocalSet::new();
        // The timer registers its timerfd with this runtime.
        let timer = {
            let _runtime = runtime.enter();
            PreciseTimer::new()
        };
        let cpu0 = work_time(&timer);
        let wall0 = std::time::Instant::now();
        let window_busy: Rc<std::cell::Cell<Option<(Duration, Duration)>>> = Rc::default();
        let ctx = Rc::new(WorkerCtx {
            plan: plan.clone(),
            stats: std::cell::RefCell::new(WorkerStats { rtt_alike: !plan.load.is_open(), ..Default::default() }),
            stop: StopSignal::default(),
            timer: timer.clone(),
            churn: Default::default(),
            topics: Default::default(),
        });
        local.block_on(&runtime, async {
            let handles: Vec<_> = conns
                .iter()
                .map(|&(id, start)| tokio::task::spawn_local(Counted(run_connection(ctx.clone(), id, start))))
                .collect();
            let timer_driver = tokio::task::spawn_local(timer.clone().drive());
            // Stop requests from the collector (Ctrl-C). A dead target ends each
            // connection by itself (EOF, reset or close).
            let stopper = {
                let ctx = ctx.clone();
                let mut stop = stop.clone();
                tokio::task::spawn_local(async move {
                    if stop.wait_for(|s| *s).await.is_ok() {
                        ctx.stop.stop();
                    }
                })
            };
            // The thread's CPU over the measured window only: over its whole
            // life, idle ramp-up and drain would hide a saturated window.
            let window_cpu = {
                let plan = ctx.plan.clone();
                let busy = window_busy.clone();
                let timer = timer.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep_until(plan.instant(plan.measure_start_ns)).await;
                    let (cpu, wall) = (work_time(&timer), std::time::Instant::now());
                    tokio::time::sleep_until(plan.instant(plan.measure_end_ns)).await;
                    busy.set(Some((work_time(&timer).saturating_sub(cpu), wall.elapsed())));
                })
            };
            // Once a second, aligned to the measured window's start.
            let ticker = {
                let ctx = ctx.clone();
                let reports = reports.clone();
                tokio::task::spawn_local(Counted(async move {
                    let mut index = 0u64;
                    loop {
                        let end_ns = ctx.plan.interval_end_ns(index);
                        tokio::time::sleep_until(ctx.plan.instant(end_ns)).await;
                        // Another thread's connection found a wrong mode: stop too.
                        if ctx.plan.wrong_mode.get().is_some() {
                            ctx.stop.stop();
                        }
                        let report = interval(worker, index, end_ns, &mut ctx.stats.borrow_mut());
                        let _ = reports.send(Report::Interval(Box::new(report)));
                        index += 1;
                    }
                }))
            };
            for h in handles {
                let _ = h.await;
            }
            window_cpu.abort();
            ticker.abort();
            stopper.abort();
            timer_driver.abort();
        });
        let now_ns = plan.now_ns();
        let mut st = ctx.stats.borrow_mut();
        let index = plan.interval_index(now_ns);
        let _ = reports.send(Report::Interval(Box::new(interval(worker, index, now_ns, &mut st))));
        // The measured window's CPU when the run reached its end; the
        // thread's whole life when it stopped early.
        let (cpu, wall) =
            window_busy.get().unwrap_or_else(|| (work_time(&timer).saturating_sub(cpu0), wall0.elapsed()));
        let result = WorkerResult {
            worker,
            histograms: std::mem::take(&mut st.total),
            counters: std::mem::take(&mut st.counters),
            samples: std::mem::take(&mut st.samples),
            churn: ctx.churn.take(),
            broadcast: std::mem::take(&mut st.broadcast),
            cpu,
            wall,
        };
        let _ = reports.send(Report::Done(Box::new(result)));
    })
}

fn interval(worker: usize, index: u64, end_ns: u64, st: &mut WorkerStats) -> IntervalReport {
    let (histograms, live) = st.take_interval();
    IntervalReport { worker, index, end_ns, histograms, live, open: st.open }
}

/// CPU time this thread has used for work: all of it but its timer's
/// waits by polling.
fn work_time(timer: &PreciseTimer) -> Duration {
    thread_cpu_time().saturating_sub(timer.spun())
}

/// CPU time this thread has used.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes to a local timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
