//! The collector: receives the workers' reports until all are done,
//! merges each second, shows it, appends it to the interval log (written
//! as the run goes: nothing accumulates for the end), and turns Ctrl-C,
//! SIGTERM or a silent server into a stop.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::engine::plan::RunPlan;
use crate::engine::worker::{Report, WorkerResult};
use crate::error::Error;
use crate::results::hlog::IntervalLog;
use crate::results::stats::{Histograms, LiveCounters, Series};

/// Where a run shows its progress. The engine says what happens; the
/// caller (`commands::run`, with its live view) decides how it looks, or
/// whether it shows at all.
pub trait Progress {
    /// Loading starts now, for about `length` (ramp-up to drain).
    fn start(&mut self, length: Duration);
    /// One second of the whole run, all workers merged, `elapsed` into it.
    fn second(&self, elapsed: Duration, frame: &LiveFrame);
    /// A message for the user, shown with the progress.
    fn println(&self, line: &str);
    /// Loading is over.
    fn finish(&mut self);
}

/// One second of the whole run, as the live view shows it.
#[derive(Debug, Clone, Default)]
pub struct LiveFrame {
    /// "warmup", "measure" or "drain".
    pub phase: &'static str,
    /// Connections open.
    pub open: u64,
    /// Connections asked for.
    pub target: u32,
    /// Messages sent per second.
    pub sent_per_s: f64,
    /// Replies received per second.
    pub received_per_s: f64,
    /// Errors so far.
    pub errors_total: u64,
    /// RTT (corrected) p50 and p99 over the last second, µs.
    pub p50_us: Option<u64>,
    /// See `p50_us`.
    pub p99_us: Option<u64>,
}

/// What the collector gathered.
pub(super) struct Collected {
    /// Worker threads started; a thread that ended without its result
    /// (a panic) leaves `results` short.
    pub workers: usize,
    pub results: Vec<WorkerResult>,
    pub interrupted_ns: Option<u64>,
    /// Why the run was stopped for a silent server, if it was.
    pub silent: Option<String>,
    /// When the run was stopped early (Ctrl-C, or a silent server): the
    /// measured window ends there, as nothing was sent after it.
    pub stopped_ns: Option<u64>,
    pub last_end_ns: u64,
}

/// Watches for a silent server from the merged seconds: no reply on any
/// connection for the reply timeout while messages are outstanding. It
/// reads the per-second counts the live view already has, so it costs
/// nothing per message; it judges at whole seconds, so it stops a run
/// between `timeout` and `timeout` + 1 s after the last reply (never
/// before), counting silence from the end of the last second with a reply
/// or, before any reply, with the first sends. Messages given up as
/// missing stay outstanding in this count: the server never answered them.
#[derive(Debug, Default)]
pub(super) struct SilenceWatch {
    sent: u64,
    received: u64,
    quiet_since_ns: Option<u64>,
}

impl SilenceWatch {
    /// Adds one merged second that ended at `end_ns`; returns the cause if
    /// the server has now been silent for `timeout_ns`.
    pub fn second(&mut self, live: &LiveCounters, end_ns: u64, timeout_ns: u64) -> Option<String> {
        self.sent += live.sent;
        self.received += live.received;
        let outstanding = self.sent.saturating_sub(self.received);
        if outstanding == 0 {
            self.quiet_since_ns = None;
        } else if live.received > 0 || self.quiet_since_ns.is_none() {
            self.quiet_since_ns = Some(end_ns);
        }
        let since = self.quiet_since_ns?;
        let quiet_ns = end_ns.saturating_sub(since);
        (quiet_ns >= timeout_ns && live.received == 0).then(|| {
            format!(
                "no reply from the server for {:.1} s with {outstanding} messages outstanding (--reply-timeout {:.1} s)",
                quiet_ns as f64 / 1e9,
                timeout_ns as f64 / 1e9
            )
        })
    }
}

#[derive(Default)]
struct Pending {
    reported: usize,
    histograms: Histograms,
    live: LiveCounters,
    open: u64,
    end_ns: u64,
}

/// Ctrl-C, or SIGTERM: what `kill`, `timeout`, `docker stop` and a CI job's
/// time limit send. Either stops the run, which then reports what it
/// measured; the default action of SIGTERM would lose all of it.
async fn interrupt() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "Ctrl-C"),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.map(|()| "Ctrl-C")
}

/// Receives the workers' reports until all are done: merges each second,
/// updates the live view and the interval log, and turns Ctrl-C or SIGTERM
/// into a stop.
pub(super) async fn collect(
    plan: &RunPlan,
    workers: usize,
    mut rx: mpsc::UnboundedReceiver<Report>,
    stop: watch::Sender<bool>,
    live: &dyn Progress,
    mut hlog: Option<&mut IntervalLog>,
    reply_timeout_ns: u64,
) -> Result<Collected, Error> {
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut last_index: Vec<Option<u64>> = vec![None; workers];
    let mut done = vec![false; workers];
    let mut results = Vec::new();
    let mut errors_total = 0u64;
    let mut interrupted_ns = None;
    let mut silence = SilenceWatch::default();
    let mut trim = super::trim::TrimAfterRamp::default();
    let mut trim_check = tokio::time::interval(super::trim::CHECK_EVERY);
    trim_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut silent = None;
    let mut stopped_ns = None;
    let mut last_end_ns = 0;
    let signal = interrupt();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            report = rx.recv() => match report {
                None => break,
                Some(Report::Interval(iv)) => {
                    let p = pending.entry(iv.index).or_default();
                    p.reported += 1;
                    p.histograms.add(&iv.histograms);
                    p.live.sent += iv.live.sent;
                    p.live.received += iv.live.received;
                    p.live.errors += iv.live.errors;
                    p.open += iv.open;
                    p.end_ns = p.end_ns.max(iv.end_ns);
                    last_index[iv.worker] = Some(last_index[iv.worker].map_or(iv.index, |i| i.max(iv.index)));
                }
                Some(Report::Done(result)) => {
                    done[result.worker] = true;
                    last_end_ns = last_end_ns.max(plan.now_ns());
                    results.push(*result);
                }
            },
            _ = trim_check.tick(), if trim.pending(plan.now_ns(), plan.measure_start_ns) => {
                let open = plan.open_now.load(std::sync::atomic::Ordering::Relaxed);
                trim.check(open, plan.connections, plan.now_ns(), plan.measure_start_ns);
            }
            r = &mut signal, if interrupted_ns.is_none() => {
                if let Ok(by) = r {
                    interrupted_ns = Some(plan.now_ns());
                    stopped_ns = interrupted_ns;
                    let _ = stop.send(true);
                    live.println(&format!(
                        "wsbench-loadgen: interrupted ({by}); draining replies in flight, then reporting \
                         (Ctrl-C again to quit at once)"
                    ));
                    // A second signal: quit at once, as without a handler.
                    tokio::spawn(async {
                        if interrupt().await.is_ok() {
                            std::process::exit(130);
                        }
                    });
                }
            }
        }
        // Emit every second that all workers have reported.
        while let Some((&index, _)) = pending.first_key_value() {
            let complete = (0..workers).all(|w| done[w] || last_index[w].is_some_and(|i| i >= index));
            if !complete {
                break;
            }
            let p = pending.remove(&index).expect("present");
            errors_total += p.live.errors;
            if silent.is_none() && interrupted_ns.is_none() {
                if let Some(why) = silence.second(&p.live, p.end_ns, reply_timeout_ns) {
                    live.println(&format!("wsbench-loadgen: {why}: stopping the run"));
                    let _ = stop.send(true);
                    silent = Some(why);
                    stopped_ns = Some(plan.now_ns());
                }
            }
            let start_ns = plan.interval_start_ns(index);
            let length_ns = p.end_ns.saturating_sub(start_ns).clamp(1, 1_000_000_000);
            if let Some(log) = hlog.as_deref_mut() {
                log.add(Duration::from_nanos(start_ns), Duration::from_nanos(length_ns), &p.histograms)
                    .map_err(Error::failed)?;
            }
            let rtt = p.histograms.get(Series::RttCorrected);
            let secs = length_ns as f64 / 1e9;
            let phase = if p.end_ns <= plan.measure_start_ns {
                "warmup"
            } else if start_ns < plan.measure_end_ns {
                "measure"
            } else {
                "drain"
            };
            live.second(
                Duration::from_nanos(p.end_ns),
                &LiveFrame {
                    phase,
                    open: p.open,
                    target: plan.connections,
                    sent_per_s: p.live.sent as f64 / secs,
                    received_per_s: p.live.received as f64 / secs,
                    errors_total,
                    p50_us: (!rtt.is_empty()).then(|| rtt.value_at_quantile(0.5)),
                    p99_us: (!rtt.is_empty()).then(|| rtt.value_at_quantile(0.99)),
                },
            );
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    Ok(Collected { workers, results, interrupted_ns, silent, stopped_ns, last_end_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn live(sent: u64, received: u64) -> LiveCounters {
        LiveCounters { sent, received, errors: 0 }
    }

    #[test]
    fn silence_is_counted_from_the_last_second_with_a_reply() {
        let mut w = SilenceWatch::default();
        assert_eq!(w.second(&live(10, 10), S, 2 * S), None);
        assert_eq!(w.second(&live(10, 5), 2 * S, 2 * S), None, "replies came this second");
        assert_eq!(w.second(&live(10, 0), 3 * S, 2 * S), None, "1 s of silence");
        let why = w.second(&live(10, 0), 4 * S, 2 * S).expect("2 s of silence with messages outstanding");
        assert!(why.contains("no reply from the server for 2.0 s with 25 messages outstanding"), "{why}");
    }

    #[test]
    fn no_messages_outstanding_is_not_silence() {
        let mut w = SilenceWatch::default();
        for s in 1..10 {
            assert_eq!(w.second(&live(0, 0), s * S, 2 * S), None, "nothing sent: idle, not silent");
        }
        assert_eq!(w.second(&live(5, 5), 10 * S, 2 * S), None);
        assert_eq!(w.second(&live(0, 0), 13 * S, 2 * S), None, "all answered");
    }

    #[test]
    fn silence_before_any_reply_starts_with_the_first_sends() {
        let mut w = SilenceWatch::default();
        assert_eq!(w.second(&live(0, 0), S, 2 * S), None);
        assert_eq!(w.second(&live(5, 0), 2 * S, 2 * S), None, "sent at most 1 s ago");
        assert_eq!(w.second(&live(5, 0), 3 * S, 2 * S), None);
        assert!(w.second(&live(5, 0), 4 * S, 2 * S).is_some(), "2 whole seconds since");
    }
}
