//! A session's messages with `--message`: each rendered from its template
//! into the write buffer as it is sent, and each message from the server
//! matched to the request in flight with the id `--match` finds in it, in
//! any order; those that match none are unsolicited. The stamp path
//! ([`super::phases`], [`super::input`]) is not touched by any of it: the
//! session takes one branch per message on whether it has an API.

use wsbench_proto::{MessageKind, OpCode};

use super::input::{record_answer, Reply};
use crate::engine::api::template::{run_id, seq_of_run_id, unix_ms};
use crate::engine::api::{write_frame, ApiPlan, Correlation, Parsed, Vars};
use crate::engine::connect::Rng;
use crate::engine::payload::preview;
use crate::engine::plan::RunPlan;
use crate::engine::tracker::{InFlight, Matched};
use crate::results::counters::ReplyErrorKind;
use crate::results::setup::Unsolicited;
use crate::results::stats::WorkerStats;

/// The longest message from the server read with `--message` (the
/// wsbench server's default message limit); a longer frame is a protocol
/// error of the connection.
pub const MAX_API_REPLY: usize = 16 << 20;

/// Corrupt replies (failing `--expect`) described per worker.
const CORRUPT_SAMPLES: u64 = 3;

/// One connection's share of the API load.
pub(super) struct ApiSession<'a> {
    plan: &'a ApiPlan,
    opcode: OpCode,
    rng: Rng,
    /// Messages the slot's earlier connections sent (churn): this
    /// connection's message `seq` is the slot's `sent_before + seq`-th, and
    /// `{{id}}` numbers the slot's messages, so it stays unique in the run
    /// when connections are replaced (each restarts `seq` at 1).
    sent_before: u64,
}

impl<'a> ApiSession<'a> {
    pub(super) fn new(plan: &'a ApiPlan, kind: MessageKind, rng: &mut Rng, sent_before: u64) -> Self {
        ApiSession { plan, opcode: kind.opcode(), rng: Rng::new(rng.next_u64()), sent_before }
    }

    /// See the field.
    pub(super) fn sent_before(&self) -> u64 {
        self.sent_before
    }

    /// The shortest message of any template.
    pub(super) fn min_len(&self) -> usize {
        self.plan.min_len()
    }

    /// The clock for `{{now_ms}}`, read once per batch and only if used.
    pub(super) fn now_ms(&self) -> u64 {
        if self.plan.uses_now {
            unix_ms()
        } else {
            0
        }
    }

    /// Appends message `seq` of connection `conn` to `wbuf` as a frame.
    #[inline]
    pub(super) fn write(
        &mut self,
        wbuf: &mut Vec<u8>,
        conn: u32,
        seq: u64,
        connections: u32,
        mask: [u8; 4],
        now_ms: u64,
    ) {
        let vars = Vars { conn, seq, id: run_id(conn, self.sent_before + seq, connections) };
        let template = self.plan.template(conn, seq);
        write_frame(wbuf, template, &vars, now_ms, self.opcode, mask, &mut self.rng);
    }

    /// Matches one message from the server to its request, checks it with
    /// `--expect`, and records it; counts it unsolicited when it answers
    /// no request in flight.
    pub(super) fn on_reply(&self, inflight: &mut InFlight, st: &mut WorkerStats, plan: &RunPlan, r: Reply<'_>) {
        let api = self.plan;
        let mut parsed = Parsed::new(r.payload);
        let seq = api.matcher.key(&mut parsed).and_then(|key| match api.correlation {
            Correlation::Seq => Some(key),
            Correlation::Id => seq_of_run_id(key, r.id, plan.connections)
                .and_then(|n| n.checked_sub(self.sent_before))
                .filter(|&seq| seq > 0),
        });
        let matched = seq.map(|seq| inflight.answer(seq));
        let sent = match matched {
            None | Some(Matched::NeverSent) => {
                st.counters.unsolicited_total += 1;
                if plan.in_window(r.now) {
                    st.counters.unsolicited += 1;
                }
                if api.unsolicited == Unsolicited::Error {
                    st.counters.reply_errors[ReplyErrorKind::Unsolicited] += 1;
                    st.live.errors += 1;
                    st.sample(|| format!("connection {}: unsolicited message: {}", r.id, preview(r.payload)));
                }
                return;
            }
            Some(Matched::Duplicate) => {
                st.counters.replies_received_total += 1;
                st.counters.reply_errors[ReplyErrorKind::Duplicate] += 1;
                st.live.errors += 1;
                return;
            }
            // In any order: an API's replies owe none (no out-of-order errors).
            Some(Matched::Answer { sent, .. }) => sent,
            Some(Matched::Late { sent }) => {
                st.counters.late_replies += 1;
                sent
            }
        };
        st.counters.replies_received_total += 1;
        st.live.received += 1;
        if let Some(expect) = &api.expect {
            if let Err(why) = expect.check(&mut parsed) {
                st.counters.reply_errors[ReplyErrorKind::Corrupt] += 1;
                st.live.errors += 1;
                if st.counters.reply_errors.corrupt <= CORRUPT_SAMPLES {
                    st.sample(|| format!("connection {}: reply fails --expect ({why}): {}", r.id, preview(r.payload)));
                }
                return;
            }
        }
        record_answer(st, plan, &sent, r.now);
    }
}
