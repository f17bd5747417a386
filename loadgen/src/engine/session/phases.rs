//! The session's phases (running, draining, closing) and its sends: what
//! is due, what is lost, and what to wake up for next.

use std::cell::RefCell;
use std::future::poll_fn;
use std::time::Duration;

use super::SessionIo;

use super::io_events::{Event, WriteSource};
use super::{Ending, Phase, Session, CLOSE_TIMEOUT_NS, NEVER};
use crate::engine::payload::write_seq_masked;
use crate::engine::plan::RunPlan;
use crate::engine::schedule::Schedule;
use crate::results::counters::ReplyErrorKind;
use crate::results::stats::{Series, WorkerStats};

impl<S: SessionIo> Session<'_, S> {
    /// Runs the session through its phases until it ends; returns how.
    pub(super) async fn drive(&mut self) -> Ending {
        // Frames that came with the handshake response (a close right after
        // the 101, say) are handled now, not at the next read.
        if self.rend > self.rstart {
            if let Err(ending) = self.process_input() {
                return ending;
            }
        }
        loop {
            self.settle_completed();
            let now = self.plan.now_ns();
            if self.phase == Phase::Running {
                if std::mem::take(&mut self.read_all) {
                    self.expire_lost(now);
                }
                self.close_at_limit(now);
            }
            // Phase changes. An open loop first sends, late, every message
            // whose intended time fell in the window.
            if self.phase == Phase::Running {
                let end = self.plan.measure_end_ns;
                let behind = self.schedule.intended_ns(self.next_index).is_some_and(|t| t < end);
                let stopped = self.ctx.stop.is_stopped();
                if stopped || now >= end + self.plan.drain_timeout_ns || (now >= end && !behind) {
                    if behind && !stopped {
                        self.count_unsent(end);
                    }
                    let from = if stopped { now } else { now.max(end) };
                    self.phase = Phase::Draining { until_ns: from + self.plan.drain_timeout_ns };
                }
            }
            if let Phase::Draining { until_ns } = self.phase {
                if self.nothing_awaited() || now >= until_ns {
                    self.queue_close(1000);
                    self.phase = Phase::Closing { until_ns: now + CLOSE_TIMEOUT_NS };
                }
            }
            if let Phase::Closing { until_ns } = self.phase {
                if self.close_received && self.writing.is_none() && self.cbuf.is_empty() {
                    return if self.server_closed { Ending::ClosedByServer } else { Ending::Done };
                }
                if now >= until_ns {
                    return Ending::CloseTimeout;
                }
            }
            // Sends.
            if self.writing.is_none() {
                if self.phase == Phase::Running {
                    self.send_due(now);
                }
                if self.writing.is_none() && !self.cbuf.is_empty() {
                    self.writing = Some(WriteSource::Control);
                    self.wpos = 0;
                    self.wend = self.cbuf.len();
                }
            }
            // The next time to wake up for: the next send time of an open
            // loop, or the first coarse deadline.
            let wake_at = match self.phase {
                Phase::Running => {
                    let end = self.plan.measure_end_ns;
                    let can_send = self.writing.is_none() && self.inflight.outstanding() < self.cap;
                    let next = self.schedule.intended_ns(self.next_index);
                    // Waiting on a write or on replies, which wake us, once past the end.
                    let coarse = if now < end { end } else { end + self.plan.drain_timeout_ns };
                    // And when the oldest reply awaited counts as lost.
                    let coarse = self
                        .inflight
                        .oldest_unanswered_ns()
                        .map_or(coarse, |sent| coarse.min(sent + self.plan.drain_timeout_ns + 1))
                        .min(self.churn.deadline_ns());
                    let pace = next.filter(|&next| can_send && next < end);
                    pace.map_or(coarse, |pace| pace.min(coarse))
                }
                Phase::Draining { until_ns } | Phase::Closing { until_ns } => until_ns,
            };
            if wake_at != self.wake_at {
                self.wake_at = wake_at;
                // A time already past fires at once: a late connection sends at once.
                self.wake.set((wake_at != NEVER).then(|| self.plan.epoch + Duration::from_nanos(wake_at)));
            }
            let event = poll_fn(|cx| self.poll_io(cx)).await;
            if let Err(ending) = self.on_event(event) {
                return ending;
            }
        }
    }

    /// Handles what the socket or the clock brought; `Err` ends the session.
    fn on_event(&mut self, event: Event) -> Result<(), Ending> {
        match event {
            Event::Read => self.process_input(),
            // The session's clock, reported only once the socket had nothing
            // more to read: messages may be given up as missing now. Before
            // any other turn, a reply already in the socket would have been
            // the loadgen's to read late (a busy thread), not the server's
            // to send late: it was counted missing, then duplicate.
            Event::Deadline => {
                self.read_all = true;
                Ok(())
            }
            // Each write marked the frames it completed.
            Event::Wrote | Event::Timer | Event::Stop => Ok(()),
            Event::Eof if self.server_closed => Err(Ending::ClosedByServer),
            Event::Eof if self.close_received => Err(Ending::Done),
            Event::Eof => Err(Ending::Eof),
            Event::Error(_) if self.server_closed => Err(Ending::ClosedByServer),
            Event::Error(_) if self.close_received => Err(Ending::Done),
            Event::Error(e) => Err(Ending::Io(e)),
        }
    }

    /// Marks the frames of the batch whose last byte the write issued at
    /// `issued_ns` took: their messages' sent time (the uncorrected RTT's
    /// start) and their write lag, queued to written.
    pub(super) fn frames_written_by(&mut self, issued_ns: u64) {
        let done = frames_within(self.wpos, self.frame_len, self.frame_ends.as_deref().map(Vec::as_slice));
        let new = done.saturating_sub(self.frames_written as usize);
        if new == 0 {
            return;
        }
        self.frames_written = done as u32;
        let plan = self.plan;
        let mut st = self.ctx.stats.borrow_mut();
        self.inflight.written(new, issued_ns, |sent| {
            if plan.in_window(sent.intended_ns) {
                st.interval.record_ns(Series::WriteLag, issued_ns.saturating_sub(sent.queued_ns));
            }
        });
    }

    /// Counts replies awaited past the drain timeout as missing and frees
    /// their slots, even when no other reply comes to trigger it.
    fn expire_lost(&mut self, now: u64) {
        let cutoff = now.saturating_sub(self.plan.drain_timeout_ns);
        self.give_up_deliveries(Some(cutoff));
        let expired = self.inflight.expire(cutoff);
        if expired > 0 {
            let mut st = self.ctx.stats.borrow_mut();
            st.counters.reply_errors[ReplyErrorKind::Missing] += expired;
            st.live.errors += expired;
        }
    }

    /// Counts the messages of the schedule due before `end` that were never
    /// sent, and those of the window among them.
    fn count_unsent(&mut self, end: u64) {
        count_unsent(&self.schedule, &mut self.next_index, self.plan, &self.ctx.stats, end);
    }

    /// Prepares the messages due now in their slots and starts writing them.
    fn send_due(&mut self, now: u64) {
        if !self.topic_ready(now) {
            return;
        }
        let room = self.cap.saturating_sub(self.inflight.outstanding()).min(self.slots as u64).min(self.sends_left());
        let room = room as usize;
        if room == 0 {
            return;
        }
        let open = self.schedule.is_open();
        let mut st = self.ctx.stats.borrow_mut();
        // Templated messages are rendered anew into `wbuf`, one after the other.
        let now_ms = self.api.as_ref().map(|api| {
            self.wbuf.clear();
            api.now_ms()
        });
        // Compressed messages too, each its own length.
        let counted = self.plan.in_window(now);
        if self.deflate.is_some() {
            self.wbuf.clear();
        }
        if let Some(ends) = &mut self.frame_ends {
            ends.clear();
        }
        let mut n = 0;
        while n < room {
            let intended = match self.schedule.intended_ns(self.next_index) {
                Some(t) if t > now || t >= self.plan.measure_end_ns => break,
                Some(t) => {
                    self.next_index += 1;
                    t
                }
                None => now,
            };
            let seq = self.inflight.push(intended, now);
            self.on_published(&mut st, seq, intended, now);
            if let (Some(api), Some(now_ms)) = (&mut self.api, now_ms) {
                api.write(&mut self.wbuf, self.id, seq, self.plan.connections, self.mask, now_ms);
                self.frame_ends.as_mut().expect("variable frames have their ends").push(self.wbuf.len());
            } else if let Some(deflate) = &mut self.deflate {
                let counts = st.counters.deflate.get_or_insert_with(Default::default);
                deflate.write(&mut self.wbuf, seq, self.mask, counts, counted);
                self.frame_ends.as_mut().expect("variable frames have their ends").push(self.wbuf.len());
            } else {
                let at = n * self.frame_len + self.seq_at;
                // SEQ_OFFSET is a multiple of 4: the digits are masked from key byte 0.
                write_seq_masked(&mut self.wbuf[at..], seq, self.mask);
            }
            st.counters.messages_sent_total += 1;
            st.live.sent += 1;
            if self.plan.in_window(intended) {
                st.counters.messages_sent += 1;
                if open && self.churn.due_before_ready(intended) {
                    self.ctx.churn.borrow_mut().tally.sent_late_after_reopen += 1;
                } else if open {
                    st.interval.record_ns(Series::SendLag, now - intended);
                }
            }
            n += 1;
        }
        if n > 0 {
            let bytes = if self.api.is_some() || self.deflate.is_some() { self.wbuf.len() } else { n * self.frame_len };
            if counted {
                st.counters.bytes_sent += bytes as u64;
            }
            self.writing = Some(WriteSource::Batch);
            self.wpos = 0;
            self.wend = bytes;
            self.frames_written = 0;
        }
    }
}

/// Counts the messages of `schedule` from `*next_index` due before `end`
/// and never sent as unsent (those of the measured window), and moves
/// `*next_index` past them.
pub(super) fn count_unsent(
    schedule: &Schedule,
    next_index: &mut u64,
    plan: &RunPlan,
    stats: &RefCell<WorkerStats>,
    end: u64,
) {
    let mut unsent = 0;
    while let Some(intended) = schedule.intended_ns(*next_index).filter(|&t| t < end) {
        if plan.in_window(intended) {
            unsent += 1;
        }
        *next_index += 1;
    }
    if unsent > 0 {
        let mut st = stats.borrow_mut();
        st.counters.reply_errors[ReplyErrorKind::Unsent] += unsent;
        st.live.errors += unsent;
    }
}

/// How many frames of a batch end within its first `written` bytes:
/// frames of `frame_len` bytes each, or ending at `ends` when they differ
/// in length.
fn frames_within(written: usize, frame_len: usize, ends: Option<&[usize]>) -> usize {
    match ends {
        None => written / frame_len,
        Some(ends) => ends.partition_point(|&end| end <= written),
    }
}

#[cfg(test)]
mod tests {
    use super::frames_within;

    #[test]
    fn a_frame_counts_once_its_last_byte_is_written() {
        assert_eq!([0, 37, 38, 75, 76, 100].map(|w| frames_within(w, 38, None)), [0, 0, 1, 1, 2, 2]);
        let ends = [10, 25, 40];
        assert_eq!([0, 9, 10, 24, 39, 40].map(|w| frames_within(w, 99, Some(&ends))), [0, 0, 1, 1, 2, 3]);
    }
}
