//! What the server sent: whole frames parsed where they lie in the read
//! buffer, replies reassembled when fragmented, checked and matched to
//! their messages; pings answered, the server's close noted.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Ending, Phase, Session, CLOSE_TIMEOUT_NS};
use crate::engine::frame::{self, parse_header, FrameError, OpCode};
use crate::engine::payload::Checker;
use crate::engine::plan::RunPlan;
use crate::engine::tracker::{InFlight, Matched};
use crate::results::counters::ReplyErrorKind;
use crate::results::stats::{Series, WorkerStats};

/// How the server broke RFC 6455, or sent what no reply can be.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolViolation {
    /// A frame header that breaks the protocol.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame longer than any reply to these messages: refused before it
    /// is buffered (a header alone must not cost gigabytes).
    #[error("a frame of {len} bytes, longer than any reply to these messages ({max_reply} bytes at most)")]
    LongerThanAnyReply {
        /// The frame's payload length.
        len: u64,
        /// The longest valid reply.
        max_reply: usize,
    },
    /// A text or binary frame while a fragmented message is unfinished.
    #[error("a new message inside a fragmented one")]
    MessageInsideFragmented,
    /// A continuation frame with no fragmented message to continue.
    #[error("a continuation frame without a message")]
    ContinuationWithoutMessage,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// Handles every whole frame read so far.
    pub(super) fn process_input(&mut self) -> Result<(), Ending> {
        let now = self.plan.now_ns();
        let plan = self.plan;
        let mut st = self.ctx.stats.borrow_mut();
        if plan.in_window(now) {
            st.counters.bytes_received += self.fresh as u64;
        }
        self.fresh = 0;
        let max_reply = self.checker.max_reply_len();
        loop {
            let avail = &self.rbuf[self.rstart..self.rend];
            let header = match parse_header(avail) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(Ending::Protocol(e.into())),
            };
            // No reply to these messages is this long: refuse it before
            // allocating for it (a header alone must not cost gigabytes).
            let assembled = if header.opcode == OpCode::Continuation { self.assembly.len() } else { 0 };
            if header.payload_len > (max_reply - assembled.min(max_reply)) as u64 {
                return Err(Ending::Protocol(ProtocolViolation::LongerThanAnyReply {
                    len: header.payload_len,
                    max_reply,
                }));
            }
            let frame_len = header.header_len + header.payload_len as usize;
            if avail.len() < frame_len {
                // Make sure the whole frame will fit.
                if frame_len > self.rbuf.len() - self.rstart {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                    if frame_len > self.rbuf.len() {
                        self.rbuf.resize(frame_len.next_power_of_two(), 0);
                    }
                }
                break;
            }
            let payload_range = self.rstart + header.header_len..self.rstart + frame_len;
            self.rstart += frame_len;
            match header.opcode {
                OpCode::Text | OpCode::Binary => {
                    if self.fragmented.is_some() {
                        return Err(Ending::Protocol(ProtocolViolation::MessageInsideFragmented));
                    }
                    if header.fin {
                        let payload = &self.rbuf[payload_range];
                        let reply = Reply { id: self.id, opcode: header.opcode, payload, now };
                        on_reply(&mut self.checker, &mut self.inflight, &mut st, plan, reply);
                    } else {
                        self.assembly.clear();
                        self.assembly.extend_from_slice(&self.rbuf[payload_range]);
                        self.fragmented = Some(header.opcode);
                    }
                }
                OpCode::Continuation => {
                    let Some(opcode) = self.fragmented else {
                        return Err(Ending::Protocol(ProtocolViolation::ContinuationWithoutMessage));
                    };
                    self.assembly.extend_from_slice(&self.rbuf[payload_range]);
                    if header.fin {
                        self.fragmented = None;
                        let reply = Reply { id: self.id, opcode, payload: &self.assembly, now };
                        on_reply(&mut self.checker, &mut self.inflight, &mut st, plan, reply);
                        if self.assembly.capacity() > 1 << 20 {
                            self.assembly = Vec::new();
                        }
                    }
                }
                OpCode::Ping => {
                    let payload = self.rbuf[payload_range].to_vec();
                    frame::write_client_frame(&mut self.cbuf, true, OpCode::Pong, &payload, self.mask);
                }
                OpCode::Pong => {}
                OpCode::Close => {
                    let payload = &self.rbuf[payload_range];
                    let code = if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 };
                    *st.counters.close_codes.entry(code).or_default() += 1;
                    self.close_received = true;
                    if !self.close_sent {
                        // The server closed first: answer with its code, then end.
                        self.server_closed = true;
                        let echo = if code == 1005 { 1000 } else { code };
                        if !self.close_sent {
                            self.close_sent = true;
                            frame::write_client_frame(
                                &mut self.cbuf,
                                true,
                                OpCode::Close,
                                &echo.to_be_bytes(),
                                self.mask,
                            );
                        }
                        self.phase = Phase::Closing { until_ns: now + CLOSE_TIMEOUT_NS };
                    }
                }
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        Ok(())
    }
}

/// One whole reply message, as read.
struct Reply<'p> {
    id: u32,
    opcode: OpCode,
    payload: &'p [u8],
    now: u64,
}

/// Checks a reply, settles its message and records what it shows.
#[inline]
fn on_reply(checker: &mut Checker, inflight: &mut InFlight, st: &mut WorkerStats, plan: &RunPlan, r: Reply<'_>) {
    st.counters.replies_received_total += 1;
    st.live.received += 1;
    let checked = checker.check(r.opcode, r.payload);
    if let Err(why) = &checked {
        st.counters.reply_errors[ReplyErrorKind::Corrupt] += 1;
        st.live.errors += 1;
        st.sample(|| format!("connection {}: corrupt reply ({}): {}", r.id, why.0, preview(r.payload)));
    }
    // A corrupt reply whose stamp still reads settles its message (counted
    // corrupt, not also missing); its RTT is not recorded.
    let Some(seq) = checked.as_ref().map_or_else(|why| why.seq(), |&seq| Some(seq)) else { return };
    let matched = inflight.answer(seq);
    if checked.is_err() {
        return;
    }
    match matched {
        Matched::Answer { sent, overtaken } => {
            if overtaken {
                st.counters.reply_errors[ReplyErrorKind::OutOfOrder] += 1;
                st.live.errors += 1;
            }
            if plan.in_window(sent.intended_ns) {
                st.counters.messages_received += 1;
                st.interval.record_ns(Series::RttCorrected, r.now.saturating_sub(sent.intended_ns));
                st.interval.record_ns(Series::RttUncorrected, r.now.saturating_sub(sent.sent_ns));
            }
        }
        // Answered before, or given up as missing after the drain timeout.
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
}

fn preview(payload: &[u8]) -> String {
    let s = String::from_utf8_lossy(&payload[..payload.len().min(60)]);
    format!("{s:?}{}", if payload.len() > 60 { "..." } else { "" })
}
