//! A session's side of its topic (`--mode broadcast`): its messages
//! registered in the topic's book as they are queued, every message it
//! receives checked off as a delivery, its own messages settled when their
//! last member has them, and the topic-wide drain at the end. No-ops for
//! other modes.

use std::task::Context;

use super::SessionIo;

use super::input::{record_answer, Reply};
use super::{Phase, Session};
use crate::engine::broadcast::{check_delivery, Member, Receipt};
use crate::engine::plan::{RunPlan, WorkerCtx};
use crate::engine::tracker::Matched;
use crate::results::broadcast::BroadcastStats;
use crate::results::counters::ReplyErrorKind;
use crate::results::stats::WorkerStats;

/// Connection `id`'s place in its topic, in a broadcast run.
pub(super) fn join_topic(ctx: &WorkerCtx, id: u32) -> Option<Member> {
    ctx.plan.broadcast.as_ref().map(|plan| ctx.topics.join(plan, id))
}

impl<S: SessionIo> Session<'_, S> {
    /// Registers message `seq`, queued at `queued_ns`, as owed to every
    /// member of the topic.
    pub(super) fn on_published(&self, st: &mut WorkerStats, seq: u64, intended_ns: u64, queued_ns: u64) {
        let Some(member) = &self.broadcast else { return };
        let in_window = self.plan.in_window(intended_ns);
        let mut book = member.book.borrow_mut();
        book.published(member.index, seq, intended_ns, queued_ns, in_window);
        if in_window {
            st.broadcast.counts.published += 1;
            st.broadcast.counts.expected += book.size() as u64;
        }
    }

    /// Settles this member's messages that every member now has: answered
    /// in its `InFlight` (a closed loop sends the next), the RTT recorded
    /// to the last receipt.
    pub(super) fn settle_completed(&mut self) {
        let Some(member) = &self.broadcast else { return };
        let mut done = Vec::new();
        member.book.borrow_mut().take_completed(member.index, &mut done);
        if done.is_empty() {
            return;
        }
        let mut st = self.ctx.stats.borrow_mut();
        for (seq, at_ns) in done {
            if let Matched::Answer { sent, .. } = self.inflight.answer(seq) {
                record_answer(&mut st, self.plan, &sent, at_ns);
            }
        }
    }

    /// Counts the missing deliveries of the messages this member gives up
    /// on: those queued before `sent_before_ns` (`None`: all of them, at
    /// its end, when it also stops sending).
    pub(super) fn give_up_deliveries(&mut self, sent_before_ns: Option<u64>) {
        let Some(member) = &mut self.broadcast else { return };
        let mut book = member.book.borrow_mut();
        let missing = match sent_before_ns {
            Some(before) => book.expire(member.index, before),
            None => {
                if !std::mem::replace(&mut member.stopped, true) {
                    book.stopped();
                }
                book.abandon(member.index)
            }
        };
        if missing.deliveries == 0 {
            return;
        }
        let (id, size, topic) = (self.id, book.size(), member.topic);
        let mut st = self.ctx.stats.borrow_mut();
        st.broadcast.counts.missing += missing.deliveries;
        st.live.errors += missing.deliveries;
        if let Some((seq, reached)) = missing.example {
            st.sample(|| {
                format!("connection {id}: broadcast message {seq} reached {reached} of the {size} members of topic {topic}: deliveries missing")
            });
        }
    }

    /// Whether nothing more is awaited: this connection's messages all
    /// settled and, in a broadcast run, no member of its topic sending and
    /// nothing owed to any (a member that closed early would miss the
    /// others' last messages). Called while draining: the first call tells
    /// the book this member is done sending.
    pub(super) fn nothing_awaited(&mut self) -> bool {
        let settled = self.inflight.outstanding() == 0;
        let Some(member) = &mut self.broadcast else { return settled };
        let mut book = member.book.borrow_mut();
        if !std::mem::replace(&mut member.stopped, true) {
            book.stopped();
        }
        settled && book.drained()
    }

    /// For the I/O poll: registers to be woken when a message of this
    /// member completes, or, draining, when the topic is drained; true
    /// when there is something to act on now.
    pub(super) fn poll_topic(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(member) = &self.broadcast else { return false };
        let mut book = member.book.borrow_mut();
        if book.has_completed(member.index) {
            return true;
        }
        book.register_publisher(member.index, cx.waker());
        let ready = match self.phase {
            // Waiting for the last member to join before it sends.
            Phase::Running if !member.started => book.all_joined(),
            Phase::Draining { .. } => book.drained() && self.inflight.outstanding() == 0,
            _ => return false,
        };
        if !ready {
            book.wait(member.index, cx.waker());
        }
        ready
    }

    /// Whether this member may publish: in a broadcast run, once every
    /// member of its topic has joined. Until then its open-loop schedule
    /// moves on without it, as a connection that came up late.
    pub(super) fn topic_ready(&mut self, now: u64) -> bool {
        let Some(member) = &mut self.broadcast else { return true };
        if !member.started {
            member.started = member.book.borrow().all_joined();
            self.next_index = self.schedule.first_index(now);
        }
        member.started
    }
}

/// Checks one received message as a delivery to `member` and records it:
/// a delivery (latency from the message's start), the completion of its
/// message (the latency to its last member), or an error.
pub(super) fn on_delivery(member: &Member, st: &mut WorkerStats, plan: &RunPlan, r: Reply<'_>) {
    st.counters.replies_received_total += 1;
    st.live.received += 1;
    let (kind, size) = (plan.message_type, plan.size);
    let checked = check_delivery(kind, size, r.kind, r.payload);
    let (conn, seq) = match checked {
        Ok(stamp) => stamp,
        Err((why, stamp)) => {
            error(st, ReplyErrorKind::Corrupt, |c| c.corrupt += 1);
            st.sample(|| format!("connection {}: corrupt broadcast delivery ({why})", r.id));
            // Checked off, so the message does not count as missing too.
            if let Some((conn, seq)) = stamp {
                member.book.borrow_mut().receive(member.index, conn, seq, r.now);
            }
            return;
        }
    };
    let receipt = member.book.borrow_mut().receive(member.index, conn, seq, r.now);
    match receipt {
        Receipt::Delivered { start_ns, in_window, out_of_order, completed } => {
            if out_of_order {
                error(st, ReplyErrorKind::OutOfOrder, |c| c.out_of_order += 1);
                st.sample(|| format!("connection {}: connection {conn}'s message {seq} came after a later one", r.id));
            }
            if in_window {
                let b = &mut st.broadcast;
                b.counts.delivered += 1;
                BroadcastStats::record(&mut b.delivery, r.now.saturating_sub(start_ns));
                if completed {
                    b.counts.completed += 1;
                    BroadcastStats::record(&mut b.completion, r.now.saturating_sub(start_ns));
                }
            }
        }
        Receipt::Duplicate => {
            error(st, ReplyErrorKind::Duplicate, |c| c.duplicate += 1);
            st.sample(|| format!("connection {}: connection {conn}'s message {seq} delivered again", r.id));
        }
        Receipt::NotInTopic | Receipt::NeverSent => {
            error(st, ReplyErrorKind::Corrupt, |c| c.corrupt += 1);
            let why = if receipt == Receipt::NotInTopic { "from outside its topic" } else { "never sent" };
            st.sample(|| format!("connection {}: connection {conn}'s message {seq} delivered, {why}", r.id));
        }
    }
}

/// Counts a delivery error: in the message errors the verdict holds against
/// `--max-error-rate`, and in the broadcast counts.
fn error(
    st: &mut WorkerStats,
    kind: ReplyErrorKind,
    count: impl FnOnce(&mut crate::results::broadcast::DeliveryCounts),
) {
    st.counters.reply_errors[kind] += 1;
    st.live.errors += 1;
    count(&mut st.broadcast.counts);
}
