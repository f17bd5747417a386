//! A connection slot's lives: its connection, and, with churn, the ones
//! that replace it. Without `--conn-lifetime`, `--messages-per-conn` or
//! `--reconnect` a slot has one connection, as it always had.
//!
//! - Closed at its limit, a connection is replaced at the slot's next turn
//!   of the [`ConnectPacer`](crate::engine::churn::ConnectPacer)
//!   (`--connect-rate`), on the next source address of `--local-addr`.
//! - Dropped by the server, with `--reconnect`, it is opened again after a
//!   full-jitter backoff; a failed attempt backs off further (up to
//!   `--reconnect-max-delay`), as does a failed replacement or first
//!   connection. Each drop and re-connection is reported to the run's
//!   [`Outages`](crate::engine::churn::Outages).
//! - Anything else that ends a connection ends its slot, as before.
//!
//! Open loop: a slot keeps its place in the schedule across its
//! connections. Messages due while it has none are sent, late, on the next
//! one (their corrected RTT holds the wait; counted in
//! `churn.sent_late_after_reopen`, not in the send lag, which is the
//! loadgen's own health). If the window ends with such a backlog, the
//! slot still opens its next connection to send it, up to
//! `--drain-timeout` after the window, as a connection behind at the end
//! sends its own; what is still unsent then is counted unsent.

use std::rc::Rc;
use std::time::Duration;

use super::{open_once, phases};
use crate::engine::connect::{ConnectFailure, Rng};
use crate::engine::plan::WorkerCtx;
use crate::engine::schedule::Schedule;

/// How one connection of a slot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::engine) enum LifeEnd {
    /// The run was stopped (Ctrl-C, a silent server) while connecting.
    Stopped,
    /// It could not be opened (counted).
    ConnectFailed,
    /// It closed at the run's end.
    RunOver,
    /// It closed cleanly at its limit, to be replaced.
    Planned,
    /// The server dropped it (EOF, reset, a close with a drop code).
    Dropped,
    /// It failed otherwise (counted).
    Failed,
}

/// A slot between its connections: what carries over from one to the next.
pub(in crate::engine) struct Life {
    /// Connections of the slot before this one.
    pub number: usize,
    /// Handshake and mask keys, backoff jitter.
    pub rng: Rng,
    /// Open loop: the next message's index, once a connection had it.
    pub resume_index: Option<u64>,
    /// With `--message`: messages the slot's connections sent so far, so
    /// that `{{id}}` goes on from them and stays unique in the run.
    pub api_sent: u64,
    /// This attempt re-connects (after a drop or a failed attempt): counted
    /// as a reconnect, not as a planned connection.
    retrying: bool,
    /// The slot was dropped and is not back: an outage waits for it.
    in_outage: bool,
    /// Failed attempts since the last connection, for the backoff.
    attempt: u32,
}

impl Life {
    fn new(id: u32) -> Self {
        let rng = Rng::new(u64::from(id).wrapping_mul(0x2545_F491_4F6C_DD1D));
        Life { number: 0, rng, resume_index: None, api_sent: 0, retrying: false, in_outage: false, attempt: 0 }
    }

    /// An attempt starts: counted as a connection or as a reconnect.
    pub fn attempting(&self, ctx: &WorkerCtx) {
        if self.retrying {
            ctx.churn.borrow_mut().tally.reconnect_attempts += 1;
        } else {
            ctx.stats.borrow_mut().counters.connections_attempted += 1;
        }
    }

    /// The attempt failed: a failed connection, or a failed reconnect.
    pub fn failed(&self, ctx: &WorkerCtx, id: u32, failure: &ConnectFailure) {
        if self.retrying {
            failure.count(&mut ctx.churn.borrow_mut().tally.reconnect_errors);
            return;
        }
        let mut st = ctx.stats.borrow_mut();
        failure.count(&mut st.counters.connect_errors);
        st.live.errors += 1;
        if matches!(
            failure,
            ConnectFailure::HttpStatus(..)
                | ConnectFailure::BadHandshake(_)
                | ConnectFailure::Tls(_)
                | ConnectFailure::ServerName(_)
                | ConnectFailure::Subprotocol(_)
                | ConnectFailure::Init(_)
        ) {
            st.sample(|| format!("connection {id}: {failure}"));
        }
    }

    /// The attempt that started at `started_ns` opened, its TCP connect
    /// and handshake taking `tcp` and `handshake`.
    pub fn opened(&mut self, ctx: &WorkerCtx, started_ns: u64, tcp: Duration, handshake: Duration) {
        let plan = &*ctx.plan;
        let now = plan.now_ns();
        let mut churn = ctx.churn.borrow_mut();
        if self.retrying {
            churn.tally.reconnects += 1;
        } else {
            ctx.stats.borrow_mut().counters.connections_opened += 1;
            if self.number > 0 {
                churn.tally.reopened += 1;
            }
        }
        if self.in_outage {
            if let Some(c) = &plan.churn {
                c.outages.back(now);
            }
        }
        (self.retrying, self.in_outage, self.attempt) = (false, false, 0);
        if plan.in_window(now) {
            churn.tally.handshakes_in_window += 1;
        }
        if self.number > 0 && plan.in_window(started_ns) {
            churn.record_reconnection(tcp.as_nanos() as u64, handshake.as_nanos() as u64);
        }
    }
}

/// Runs slot `id` from `start_ns` until the run's end: its connection, and
/// with churn each one that replaces it.
pub async fn run_connection(ctx: Rc<WorkerCtx>, id: u32, start_ns: u64) {
    let slot = ctx.stop.slot();
    let plan = ctx.plan.clone();
    let mut life = Life::new(id);
    let schedule = Schedule::for_connection(&plan.load, plan.connections, id, 0);
    let mut at = start_ns;
    // Whether the slot is between connections it meant to have.
    let mut between = false;
    loop {
        // No connection opens after the window, but for a backlog of the
        // window (open loop), as a connection behind at the end sends it.
        let backlog = life.resume_index.and_then(|k| schedule.intended_ns(k)).is_some_and(|t| t < plan.measure_end_ns);
        let last_open_ns = if backlog { plan.measure_end_ns + plan.drain_timeout_ns } else { plan.measure_end_ns };
        if between && plan.now_ns() >= last_open_ns {
            break;
        }
        if !wait_until(&ctx, slot, if between { at.min(last_open_ns) } else { at }).await {
            between = false;
            break;
        }
        if let (true, Some(churn)) = (between, &plan.churn) {
            // A turn of the pace of new connections, after any backoff.
            at = churn.pacer.turn(plan.now_ns());
            if !wait_until(&ctx, slot, at).await {
                between = false;
                break;
            }
        }
        if plan.now_ns() >= last_open_ns {
            break;
        }
        let end = open_once(&ctx, id, slot, &mut life).await;
        let Some(churn) = &plan.churn else { break };
        let now = plan.now_ns();
        at = match (end, &churn.reconnect) {
            (LifeEnd::Planned, _) => now,
            (LifeEnd::Dropped, Some(backoff)) => {
                if now < plan.measure_end_ns {
                    churn.outages.dropped(now);
                    life.in_outage = true;
                }
                life.retrying = true;
                now + backoff.delay_ns(0, &mut life.rng)
            }
            (LifeEnd::ConnectFailed, Some(backoff)) => {
                life.retrying = true;
                life.attempt = life.attempt.saturating_add(1);
                now + backoff.delay_ns(life.attempt, &mut life.rng)
            }
            _ => {
                between = false;
                break;
            }
        };
        between = true;
        life.number += 1;
    }
    if between {
        if let Some(mut next_index) = life.resume_index {
            phases::count_unsent(&schedule, &mut next_index, &plan, &ctx.stats, plan.measure_end_ns);
        }
    }
    ctx.stop.release(slot);
}

/// Sleeps until `at_ns`; false if the run was stopped first.
async fn wait_until(ctx: &WorkerCtx, slot: usize, at_ns: u64) -> bool {
    tokio::select! {
        biased;
        () = ctx.stop.wait(slot) => false,
        () = tokio::time::sleep_until(ctx.plan.instant(at_ns)) => true,
    }
}
