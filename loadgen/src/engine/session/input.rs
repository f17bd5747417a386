//! What the server sent: frames decoded in place in the read buffer by
//! wsbench-proto's [`Decoder`](wsbench_proto::Decoder) (every RFC 6455
//! check, close frames included), replies reassembled when fragmented,
//! checked and matched to their messages; pings answered, the server's
//! close noted.

use super::SessionIo;
use wsbench_proto::{write_frame, Decoder, Event, MessageKind, OpCode, ReplyMode, Role};

use super::{api_io, broadcast_io, ApiSession, Ending, Phase, Session, CLOSE_TIMEOUT_NS};
use crate::engine::mode_guess::{describe_mismatch, guess_mode};
use crate::engine::payload::{preview, Checker};
use crate::engine::plan::RunPlan;
use crate::engine::tracker::{InFlight, Matched, Sent};
use crate::results::counters::ReplyErrorKind;
use crate::results::stats::{Series, WorkerStats};

/// How many messages in flight a reply that fails its check is compared
/// with, to find the one it answers in another mode's format.
const GUESS_AMONG: usize = 64;

impl<S: SessionIo> Session<'_, S> {
    /// Handles every whole frame read so far.
    pub(super) fn process_input(&mut self) -> Result<(), Ending> {
        let now = self.plan.now_ns();
        let plan = self.plan;
        let mut st = self.ctx.stats.borrow_mut();
        if plan.in_window(now) {
            st.counters.bytes_received += self.fresh as u64;
        }
        self.fresh = 0;
        let mut wrong_mode = None;
        loop {
            let frame = match self.decoder.decode(&mut self.rbuf[self.rstart..self.rend]) {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    // Make sure the whole frame will fit (the decoder has
                    // bounded it by the longest reply of any mode).
                    if let Some(len) = self.decoder.pending_frame_len() {
                        if len > self.rbuf.len() - self.rstart {
                            self.rbuf.copy_within(self.rstart..self.rend, 0);
                            self.rend -= self.rstart;
                            self.rstart = 0;
                            if len > self.rbuf.len() {
                                self.rbuf.resize(len.next_power_of_two(), 0);
                            }
                        }
                    }
                    break;
                }
                Err(e) => return Err(Ending::Protocol(e)),
            };
            let payload = self.rstart + frame.payload.start..self.rstart + frame.payload.end;
            self.rstart += frame.len;
            match frame.event {
                Event::Data { kind, first, fin } => {
                    // Mode stream: every fragment at most `chunk` bytes (not
                    // told when compressed: deflate may add a few bytes).
                    let plain = self.api.is_none() && self.deflate.is_none();
                    if plain && self.checker.mode() == ReplyMode::Stream && payload.len() > self.chunk {
                        self.oversized_fragment = self.oversized_fragment.max(payload.len());
                    }
                    let reply = if let Some(deflate) = &mut self.deflate {
                        let counts = st.counters.deflate.get_or_insert_with(Default::default);
                        let compressed = self.decoder.compressed();
                        let part = &self.rbuf[payload];
                        let fragmented = !(first && fin);
                        deflate
                            .on_part(first, fin, compressed, part, counts, plan.in_window(now))?
                            .map(|payload| Reply { id: self.id, kind, payload, fragmented, now })
                    } else if first && fin {
                        Some(Reply { id: self.id, kind, payload: &self.rbuf[payload], fragmented: false, now })
                    } else {
                        self.assembly.push(first, fin, &self.rbuf[payload]).map(|message| Reply {
                            id: self.id,
                            kind,
                            payload: message,
                            fragmented: true,
                            now,
                        })
                    };
                    let found = match (reply, &self.api) {
                        (None, _) => None,
                        (Some(reply), _) if self.broadcast.is_some() => {
                            let member = self.broadcast.as_ref().expect("checked");
                            broadcast_io::on_delivery(member, &mut st, plan, reply);
                            None
                        }
                        (Some(reply), Some(api)) => {
                            api.on_reply(&mut self.inflight, &mut st, plan, reply);
                            None
                        }
                        (Some(reply), None) => on_reply(
                            &mut self.checker,
                            &mut self.inflight,
                            &mut st,
                            plan,
                            reply,
                            self.oversized_fragment,
                        ),
                    };
                    if fin {
                        self.oversized_fragment = 0;
                        self.assembly.shrink(1 << 20);
                    }
                    wrong_mode = wrong_mode.or(found);
                }
                Event::Ping => {
                    let ping = self.rbuf[payload].to_vec();
                    write_frame(&mut self.cbuf, true, OpCode::Pong, &ping, Some(self.mask));
                }
                Event::Pong => {}
                Event::Close { code, .. } => {
                    // A valid close (the decoder refused bad codes, a
                    // one-byte payload and a reason that is not UTF-8).
                    *st.counters.close_codes.entry(code.unwrap_or(1005)).or_default() += 1;
                    self.close_received = true;
                    if !self.close_sent {
                        // The server closed first: answer with its code, then end.
                        self.server_closed = true;
                        self.churn.server_code = code;
                        self.close_sent = true;
                        let echo = code.unwrap_or(wsbench_proto::close::NORMAL);
                        write_frame(&mut self.cbuf, true, OpCode::Close, &echo.to_be_bytes(), Some(self.mask));
                        self.phase = Phase::Closing { until_ns: now + CLOSE_TIMEOUT_NS };
                    }
                }
            }
        }
        if self.rstart == self.rend && self.decoder.pending_frame_len().is_none() {
            self.rstart = 0;
            self.rend = 0;
        }
        drop(st);
        if let Some(finding) = wrong_mode {
            self.on_wrong_mode(finding, now);
        }
        Ok(())
    }

    /// A reply in another mode's format: the run cannot measure anything
    /// with this `--mode`. Noted once for the run, this connection closed
    /// properly (1000, then the server's close), and every connection of
    /// the run told to stop.
    fn on_wrong_mode(&mut self, finding: String, now: u64) {
        let first = self.plan.wrong_mode.set(finding.clone()).is_ok();
        if first {
            let id = self.id;
            self.ctx.stats.borrow_mut().sample(|| format!("connection {id}: {finding}"));
        }
        if self.phase == Phase::Running || matches!(self.phase, Phase::Draining { .. }) {
            self.queue_close(wsbench_proto::close::NORMAL);
            self.phase = Phase::Closing { until_ns: now + CLOSE_TIMEOUT_NS };
        }
        self.ctx.stop.stop();
    }
}

/// One whole reply message, as read.
pub(super) struct Reply<'p> {
    /// The connection.
    pub(super) id: u32,
    pub(super) kind: MessageKind,
    /// The message.
    pub(super) payload: &'p [u8],
    fragmented: bool,
    /// When it was read.
    pub(super) now: u64,
}

/// Checks a reply, settles its message and records what it shows. A
/// reply that fails the check settles the message it answers when that
/// can be told (by its stamp, or by the message in flight it answers in
/// another mode's format), so no message counts as both corrupt and
/// missing. Returns the wrong-mode finding, when the reply fits another
/// mode. `oversized_fragment`: the largest fragment over `chunk` (0: none).
#[inline]
fn on_reply(
    checker: &mut Checker,
    inflight: &mut InFlight,
    st: &mut WorkerStats,
    plan: &RunPlan,
    r: Reply<'_>,
    oversized_fragment: usize,
) -> Option<String> {
    st.counters.replies_received_total += 1;
    st.live.received += 1;
    let checked = checker.check(r.kind, r.payload);
    let mut wrong_mode = None;
    let settles = match &checked {
        Ok(seq) => Some(*seq),
        Err(why) => {
            st.counters.reply_errors[ReplyErrorKind::Corrupt] += 1;
            st.live.errors += 1;
            st.sample(|| format!("connection {}: corrupt reply ({}): {}", r.id, why.0, preview(r.payload)));
            why.seq().or_else(|| {
                // Which message in flight does it answer, in which mode?
                let (seq, mode) = inflight.unanswered().take(GUESS_AMONG).find_map(|seq| {
                    guess_mode(&checker.sent_message(seq), r.payload, r.fragmented).map(|mode| (seq, mode))
                })?;
                if mode != checker.mode() {
                    let sent = checker.sent_message(seq);
                    wrong_mode = Some(describe_mismatch(checker.mode(), &sent, r.payload, r.fragmented));
                }
                Some(seq)
            })
        }
    };
    let seq = settles?;
    let matched = inflight.answer(seq);
    if checked.is_err() {
        return wrong_mode;
    }
    if oversized_fragment > 0 {
        // Right content, but not streamed as the server promised.
        st.counters.reply_errors[ReplyErrorKind::Corrupt] += 1;
        st.live.errors += 1;
        st.sample(|| format!("connection {}: a reply fragment of {oversized_fragment} bytes, over --chunk", r.id));
        return None;
    }
    match matched {
        Matched::Answer { sent, overtaken } => {
            if overtaken {
                st.counters.reply_errors[ReplyErrorKind::OutOfOrder] += 1;
                st.live.errors += 1;
            }
            record_answer(st, plan, &sent, r.now);
        }
        // Its message is counted missing already: the reply is late, not an
        // error of its own, and its RTT is what it was.
        Matched::Late { sent } => {
            st.counters.late_replies += 1;
            record_answer(st, plan, &sent, r.now);
        }
        // Answered before (or given up before the latest GIVEN_UP_KEPT).
        Matched::Duplicate => {
            st.counters.reply_errors[ReplyErrorKind::Duplicate] += 1;
            st.live.errors += 1;
        }
        Matched::NeverSent => {
            st.counters.reply_errors[ReplyErrorKind::Corrupt] += 1;
            st.live.errors += 1;
            st.sample(|| format!("connection {}: reply to message {seq}, never sent", r.id));
        }
    }
    None
}

/// Records the answer to `sent`, read at `now`: a reply, and its RTTs,
/// when the message was meant to go in the measured window; a reply of the
/// throughput when it came in the window.
#[inline]
pub(super) fn record_answer(st: &mut WorkerStats, plan: &RunPlan, sent: &Sent, now: u64) {
    if plan.in_window(now) {
        st.counters.replies_in_window += 1;
    }
    if plan.in_window(sent.intended_ns) {
        st.counters.messages_received += 1;
        // A closed loop has no schedule: a message is meant to go
        // when it goes, so both RTTs start at its write.
        let intended = if plan.load.is_open() { sent.intended_ns } else { sent.sent_ns };
        st.interval.record_ns(Series::RttCorrected, now.saturating_sub(intended));
        if !st.rtt_alike {
            st.interval.record_ns(Series::RttUncorrected, now.saturating_sub(sent.sent_ns));
        }
    }
}

/// The decoder of a connection's replies. In echo mode every reply is
/// compared byte for byte with the message sent, which is UTF-8: the
/// decoder's UTF-8 check could only repeat that verdict (40-70 ns per
/// reply), so it is left out, and a text reply that is not UTF-8 counts as
/// a corrupt reply (differing bytes), not as a protocol error. API replies
/// are not compared whole: they keep the check.
pub(super) fn reply_decoder(api: &Option<Box<ApiSession<'_>>>, checker: &Checker) -> Decoder {
    let decoder = Decoder::new(Role::Client, max_reply_len(api, checker));
    if api.is_none() && checker.mode() == ReplyMode::Echo {
        decoder.without_utf8_check()
    } else {
        decoder
    }
}

/// The longest reply read: of any reply mode, or with `--message` any
/// message up to [`api_io::MAX_API_REPLY`].
pub(super) fn max_reply_len(api: &Option<Box<ApiSession<'_>>>, checker: &Checker) -> usize {
    if api.is_some() {
        api_io::MAX_API_REPLY
    } else {
        checker.max_reply_len()
    }
}
