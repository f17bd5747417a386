//! Who held the load back: the loadgen (its CPU, or its schedule), the
//! server (pushback: a TCP window full because it reads too slowly), or
//! connections that failed. A pure function of what the run measured, so
//! that each attribution is tested on its own.
//!
//! The order matters: a shortfall that failed connections or pushback
//! explain is not blamed on the loadgen, even when it is also late.

use crate::results::counters::Counters;
use crate::results::format::micros;
use crate::results::setup::LoadModel;

/// A worker thread busier than this may have held the load back.
pub const BUSY_CPU: f64 = 0.95;

/// Pushback counts when connections spent at least this share of their
/// time with a write the socket would not take. It explains a shortfall
/// when, besides, the loadgen sent fast enough while its sockets took
/// writes: the rate achieved over the unblocked time reaches the target.
/// Otherwise the loadgen would have fallen short even without it.
pub const PUSHBACK_SHARE: f64 = 0.1;

/// An open loop that sent less than this share of its rate fell short.
const SHORT: f64 = 0.99;

/// What the run measured that bears on who held it back.
pub(super) struct Facts<'a> {
    /// `--rate` and `--pipeline`.
    pub load: LoadModel,
    /// Connections asked for.
    pub connections: u32,
    /// Everything counted.
    pub counters: &'a Counters,
    /// Messages sent per second in the measured window.
    pub achieved: f64,
    /// The measured window, seconds.
    pub measured_s: f64,
    /// The run from its start to the last connection's end, seconds.
    pub elapsed_s: f64,
    /// Each worker thread's CPU over its wall time.
    pub busy: &'a [f64],
    /// Send lag p99 in the window (open loop), µs.
    pub send_lag_p99_us: Option<u64>,
    /// `--max-send-lag`, µs.
    pub max_send_lag_us: u64,
    /// With `--reconnect`: connections the server dropped that were not
    /// back at the end (not counted as failed connections).
    pub down_at_end: u64,
}

/// Who held the load back.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Causes {
    /// Against the loadgen: each makes the run a LOADGEN LIMIT.
    pub findings: Vec<String>,
    /// Not the loadgen's doing: server pushback, failed connections.
    pub held_back: Vec<String>,
    /// Share of connection-time blocked on a write.
    pub blocked_share: Option<f64>,
    /// The loadgen could not drive the load (a busy thread, or a rate it
    /// could not reach), rather than only delaying some sends: then the
    /// lateness it causes (replies read late, messages never sent) is its
    /// own, not the server's.
    pub overloaded: bool,
}

/// Attributes what held the load back, if anything did.
pub(super) fn causes(f: &Facts<'_>) -> Causes {
    let c = f.counters;
    let mut out = Causes::default();
    let connection_s = c.connections_opened as f64 * f.elapsed_s;
    out.blocked_share = (connection_s > 0.0).then(|| (c.send_blocked_ns as f64 / 1e9 / connection_s).min(1.0));
    let blocked = out.blocked_share.unwrap_or(0.0);
    let pushback = blocked >= PUSHBACK_SHARE;
    let busy: Vec<String> = f
        .busy
        .iter()
        .enumerate()
        .filter(|(_, b)| **b >= BUSY_CPU)
        .map(|(w, b)| format!("worker thread {w} was {:.0}% busy", b * 100.0))
        .collect();
    let pushback_words = || {
        format!(
            "server pushback: connections spent {:.0}% of their time with a write the socket would not take (the server read too slowly: TCP window full)",
            blocked * 100.0
        )
    };

    if let LoadModel::Open { rate, max_in_flight } = f.load {
        let achieved = f.achieved;
        if f.measured_s > 0.0 && achieved < rate * SHORT {
            let short = 1.0 - achieved / rate;
            let sent = format!("sent {achieved:.0} msg/s of the {rate:.0} asked for, {:.1}% short", short * 100.0);
            // Connections never opened, lost during the run (a close
            // timeout is the run's end, not a loss), dropped and not back
            // (--reconnect), or whose replacement (churn) was refused: the
            // rest of their schedule was never sent either.
            let lost = c.connection_errors.total() - c.connection_errors.close_timeout + f.down_at_end;
            let never_opened = u64::from(f.connections).saturating_sub(c.connections_opened);
            let kept = u64::from(f.connections).saturating_sub(never_opened.max(c.connect_errors.total()) + lost);
            let failed = u64::from(f.connections) - kept;
            if failed > 0 && achieved >= rate * kept as f64 / f64::from(f.connections.max(1)) * SHORT {
                out.held_back.push(format!(
                    "{sent}: {failed} of {} connections failed (never opened, lost during the run, or dropped and not back), and their share of the schedule was never sent (not the loadgen's limit)",
                    f.connections
                ));
            } else if pushback && achieved / (1.0 - blocked).max(1e-9) >= rate * SHORT {
                out.held_back
                    .push(format!("{sent}: {}: the server, not the loadgen, held the rate back", pushback_words()));
            } else if let (Some(k), true) = (max_in_flight, busy.is_empty()) {
                out.held_back.push(format!(
                    "{sent}: --pipeline {k} capped messages in flight, and the server's replies were too slow to make room (see RTT)"
                ));
            } else if !busy.is_empty() {
                out.findings
                    .push(format!("the loadgen {sent}: {}: its CPU, not the server, was the limit", busy.join(", ")));
            } else if pushback {
                out.overloaded = true;
                out.held_back.push(pushback_words());
                out.findings.push(format!(
                    "the loadgen {sent}: even while its sockets took writes it sent only {:.0} msg/s, so it would have fallen short without the server's pushback: the loadgen was the limit",
                    achieved / (1.0 - blocked).max(1e-9)
                ));
            } else {
                out.overloaded = true;
                out.findings.push(format!(
                    "the loadgen {sent}, with no thread saturated and no server pushback ({:.0}% of connection-time blocked): it could not keep its schedule (a busy host?), so the loadgen, not the server, was the limit",
                    blocked * 100.0
                ));
            }
        } else if pushback {
            out.held_back.push(pushback_words());
        }
        if let Some(p99) = f.send_lag_p99_us.filter(|&p| p > f.max_send_lag_us) {
            if pushback && out.findings.is_empty() {
                out.held_back.push(format!(
                    "send lag p99 is {} (bound {}): sends waited on the server's pushback",
                    micros(p99),
                    micros(f.max_send_lag_us)
                ));
            } else if let (Some(k), true) = (max_in_flight, out.findings.is_empty() && busy.is_empty()) {
                // Messages held back by the cap wait for replies: that
                // lateness is the server's (the corrected RTT holds it).
                out.held_back.push(format!(
                    "send lag p99 is {} (bound {}): --pipeline {k} held messages back until the server's replies made room (see RTT)",
                    micros(p99),
                    micros(f.max_send_lag_us)
                ));
            } else {
                out.findings.push(format!(
                    "send lag p99 is {} (bound {}): the loadgen could not send on schedule; the corrected RTTs include up to that much of its own delay",
                    micros(p99),
                    micros(f.max_send_lag_us)
                ));
            }
        }
    } else if pushback {
        out.held_back.push(pushback_words());
    }
    // A busy thread in an open loop falls behind its schedule and reads
    // late. A closed loop sends only as replies come back, and a session
    // reads what has arrived before it gives a message up: a busy thread
    // delays its own sends, never makes a reply missing or duplicate, so
    // it excuses none of the server's errors.
    out.overloaded |= f.load.is_open() && !busy.is_empty();
    let already = out.findings.iter().any(|f| f.contains("busy"));
    if !already {
        for b in &busy {
            out.findings.push(format!(
                "{b} on its core: the loadgen may have been the limit; figures are a lower bound of what the server can do"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(counters: &'a Counters, busy: &'a [f64], achieved: f64) -> Facts<'a> {
        Facts {
            load: LoadModel::Open { rate: 1000.0, max_in_flight: None },
            connections: 10,
            counters,
            achieved,
            measured_s: 2.0,
            elapsed_s: 4.0,
            busy,
            send_lag_p99_us: Some(100),
            max_send_lag_us: 5_000,
            down_at_end: 0,
        }
    }

    fn opened(n: u64) -> Counters {
        Counters { connections_attempted: 10, connections_opened: n, ..Default::default() }
    }

    #[test]
    fn a_rate_kept_with_idle_threads_is_nobodys_limit() {
        let c = opened(10);
        assert_eq!(causes(&facts(&c, &[0.3], 1000.0)), Causes { blocked_share: Some(0.0), ..Default::default() });
        assert!(!causes(&facts(&c, &[0.3], 1000.0)).overloaded);
    }

    #[test]
    fn a_busy_thread_short_of_the_rate_is_the_loadgens_limit() {
        let c = opened(10);
        let got = causes(&facts(&c, &[0.99], 500.0));
        assert_eq!(got.findings.len(), 1, "{got:?}");
        assert!(got.findings[0].contains("worker thread 0 was 99% busy") && got.findings[0].contains("its CPU"));
        assert!(got.held_back.is_empty() && got.overloaded);
    }

    #[test]
    fn a_late_send_alone_is_a_limit_not_an_overload() {
        let c = opened(10);
        let mut f = facts(&c, &[0.3], 1000.0);
        f.send_lag_p99_us = Some(27_000);
        let got = causes(&f);
        assert!(got.findings[0].starts_with("send lag p99 is 27.0ms"), "{got:?}");
        assert!(!got.overloaded, "its lateness does not excuse the server's missing replies");
    }

    #[test]
    fn a_late_send_behind_the_pipeline_cap_is_the_servers() {
        let c = opened(10);
        let mut f = facts(&c, &[0.01], 1000.0);
        f.load = LoadModel::Open { rate: 1000.0, max_in_flight: Some(1) };
        f.send_lag_p99_us = Some(1_050_000);
        let got = causes(&f);
        assert!(got.findings.is_empty() && !got.overloaded, "{got:?}");
        assert!(got.held_back[0].contains("--pipeline 1 held messages back"), "{got:?}");
        // A busy thread is still the loadgen's, cap or not.
        f.busy = &[0.99];
        assert!(causes(&f).findings.iter().any(|x| x.starts_with("send lag p99")), "{:?}", causes(&f));
    }

    #[test]
    fn pushback_is_the_servers_even_with_a_late_schedule() {
        // 10 connections for 4 s: 40 s of connection-time, 30 s blocked.
        let c = Counters { send_blocked_ns: 30_000_000_000, ..opened(10) };
        let mut f = facts(&c, &[0.2], 300.0);
        f.send_lag_p99_us = Some(2_000_000);
        let got = causes(&f);
        assert!(got.findings.is_empty(), "not the loadgen's: {got:?}");
        assert_eq!(got.blocked_share, Some(0.75));
        assert!(got.held_back[0].contains("server pushback") && got.held_back[0].contains("75%"), "{got:?}");
        assert!(got.held_back[1].contains("send lag"), "{got:?}");
    }

    #[test]
    fn pushback_does_not_excuse_a_rate_the_loadgen_could_not_reach_anyway() {
        // Blocked 70% of the time, and 30 msg/s over the rest: 100 msg/s
        // unblocked, a tenth of the 1000 asked for.
        let c = Counters { send_blocked_ns: 28_000_000_000, ..opened(10) };
        let got = causes(&facts(&c, &[0.2], 30.0));
        assert!(got.held_back[0].contains("server pushback"), "{got:?}");
        assert_eq!(got.findings.len(), 1, "{got:?}");
        assert!(got.findings[0].contains("sent only 100 msg/s"), "{got:?}");
    }

    #[test]
    fn failed_connections_explain_their_share_of_the_rate() {
        let c = opened(5);
        let got = causes(&facts(&c, &[0.3], 500.0));
        assert!(got.findings.is_empty(), "{got:?}");
        assert!(got.held_back[0].contains("5 of 10 connections failed"), "{got:?}");
        // Lost during the run: their schedule stopped there.
        let mut lost = opened(10);
        lost.connection_errors.eof = 1;
        lost.connection_errors.closed_by_server = 1;
        let got = causes(&facts(&lost, &[0.02], 850.0));
        assert!(got.findings.is_empty() && !got.overloaded, "{got:?}");
        assert!(got.held_back[0].contains("2 of 10 connections failed"), "{got:?}");
        // A replacement refused (churn): its slot's schedule ends there.
        let mut refused = opened(12);
        refused.connect_errors.refused = 2;
        let got = causes(&facts(&refused, &[0.02], 850.0));
        assert!(got.findings.is_empty() && got.held_back[0].contains("2 of 10 connections failed"), "{got:?}");
        // Dropped by the server and not back (--reconnect): not failed
        // connections, but their schedule stopped there all the same.
        let all = opened(10);
        let mut f = facts(&all, &[0.02], 300.0);
        f.down_at_end = 10;
        let got = causes(&f);
        assert!(got.findings.is_empty() && !got.overloaded, "{got:?}");
        assert!(got.held_back[0].contains("10 of 10 connections failed"), "{got:?}");
        // A close timeout at the end lost nothing of the schedule.
        let mut late_close = opened(10);
        late_close.connection_errors.close_timeout = 2;
        assert!(causes(&facts(&late_close, &[0.02], 850.0)).findings[0].contains("no thread saturated"));
        // More short than the failed connections explain: the rest is the loadgen's.
        let got = causes(&facts(&c, &[0.3], 200.0));
        assert!(got.held_back.is_empty() && got.findings[0].contains("no thread saturated"), "{got:?}");
    }

    #[test]
    fn a_closed_loop_is_limited_only_by_a_busy_thread() {
        let c = opened(10);
        let mut f = facts(&c, &[0.97, 0.5], 0.0);
        f.load = LoadModel::Closed { pipeline: 1 };
        let got = causes(&f);
        assert_eq!(got.findings.len(), 1);
        assert!(got.findings[0].starts_with("worker thread 0 was 97% busy on its core"), "{got:?}");
        assert!(!got.overloaded, "a busy closed loop excuses no missing or duplicate reply");
    }
}
