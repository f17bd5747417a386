//! The messages one connection has in flight, matched to their replies by
//! sequence number: what was answered, twice, out of order, never, or by a
//! reply to nothing sent. Pure bookkeeping, kept apart from the socket
//! code so that each case can be tested on its own.
//!
//! Three times per message: intended (the schedule's), queued (when the
//! session prepared it for a write) and sent (when the write that took
//! its last byte was issued, [`InFlight::written`]), each message of a
//! batch by its own piece of the write. The uncorrected RTT runs from the
//! sent time, so it holds no local send-queue time.

use std::collections::VecDeque;

/// A message sent and not yet settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// When the schedule meant it to go (the queued time in a closed loop).
    pub intended_ns: u64,
    /// When it was prepared and queued for the write.
    pub queued_ns: u64,
    /// When the write of its last byte completed; its queued time until then.
    pub sent_ns: u64,
    answered: bool,
}

/// What a reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The first reply to a message in flight; `overtaken` when a later
    /// message was answered before it.
    Answer {
        /// The message answered.
        sent: Sent,
        /// A later message was answered first.
        overtaken: bool,
    },
    /// The first reply to a message already given up as missing (it came
    /// later than `--drain-timeout`): late, not a duplicate. The message
    /// stays counted missing; its RTT is what it was.
    Late {
        /// The message answered.
        sent: Sent,
    },
    /// A second reply to a message already answered (or settled long
    /// ago: answered, or given up before the [`GIVEN_UP_KEPT`] latest).
    Duplicate,
    /// A reply to a sequence number never sent.
    NeverSent,
}

/// How many of its latest given-up messages a connection remembers (40
/// bytes each, and only once replies go missing), so that a reply coming
/// after its message was counted missing is told apart from a duplicate.
pub const GIVEN_UP_KEPT: usize = 256;

/// A connection's messages in flight, oldest first.
#[derive(Debug)]
pub struct InFlight {
    queue: VecDeque<Sent>,
    /// The latest messages given up as missing, by sequence number (in
    /// increasing order), at most [`GIVEN_UP_KEPT`]. Boxed: most
    /// connections never give one up, and this is 8 bytes in every task
    /// where a `VecDeque` is 32.
    #[allow(clippy::box_collection)]
    given_up: Option<Box<VecDeque<(u64, Sent)>>>,
    /// Sequence number of `queue[0]`.
    base: u64,
    next_seq: u64,
    /// Messages in the queue not yet answered.
    outstanding: u64,
    /// Sequence number of the oldest message whose write has not completed
    /// (`next_seq` when every write has). A number, not a count of the
    /// newest messages: messages expired or settled from the front while
    /// their batch still waits must not shift which ones a write marks.
    first_unwritten: u64,
    /// The highest sequence number answered so far (0: none).
    latest_answered: u64,
}

impl Default for InFlight {
    fn default() -> Self {
        // Sequence numbers start at 1: a stamp of 0 answers nothing.
        InFlight {
            queue: VecDeque::new(),
            given_up: None,
            base: 1,
            next_seq: 1,
            outstanding: 0,
            first_unwritten: 1,
            latest_answered: 0,
        }
    }
}

impl InFlight {
    /// Messages awaiting their reply.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// Messages pushed since the start (sent or being written).
    pub fn pushed(&self) -> u64 {
        self.next_seq - 1
    }

    /// Registers a message queued for the write at `queued_ns`; returns
    /// its sequence number.
    pub fn push(&mut self, intended_ns: u64, queued_ns: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back(Sent { intended_ns, queued_ns, sent_ns: queued_ns, answered: false });
        self.outstanding += 1;
        seq
    }

    /// The `k` oldest messages not yet written were, by a write issued at
    /// `written_ns` (the one that took their last byte): their sent time is
    /// set, and `each` sees each of them (to record its write lag). A batch
    /// written in pieces (the socket full) so times each message by its own
    /// piece: the batch's last piece would shorten the uncorrected RTTs of
    /// the first messages by the time the rest waited.
    pub fn written(&mut self, k: usize, written_ns: u64, mut each: impl FnMut(&Sent)) {
        let end = self.first_unwritten.saturating_add(k as u64).min(self.next_seq);
        // Those expired meanwhile are gone from the queue: nothing to mark.
        let from = self.first_unwritten.max(self.base);
        self.first_unwritten = end;
        if from >= end {
            return;
        }
        let range = (from - self.base) as usize..(end - self.base) as usize;
        for sent in self.queue.range_mut(range) {
            sent.sent_ns = written_ns;
            each(sent);
        }
    }

    /// The sequence numbers of the messages awaiting their reply, oldest first.
    pub fn unanswered(&self) -> impl Iterator<Item = u64> + '_ {
        self.queue.iter().enumerate().filter(|(_, s)| !s.answered).map(|(i, _)| self.base + i as u64)
    }

    /// Settles the message `seq` with a reply.
    pub fn answer(&mut self, seq: u64) -> Matched {
        if seq >= self.next_seq || seq == 0 {
            return Matched::NeverSent;
        }
        let Some(index) = seq.checked_sub(self.base).map(|i| i as usize) else {
            let Some(given_up) = &mut self.given_up else { return Matched::Duplicate };
            return match given_up.binary_search_by_key(&seq, |&(s, _)| s) {
                Ok(at) => Matched::Late { sent: given_up.remove(at).expect("found").1 },
                Err(_) => Matched::Duplicate,
            };
        };
        let sent = &mut self.queue[index];
        if sent.answered {
            return Matched::Duplicate;
        }
        sent.answered = true;
        let sent = *sent;
        self.outstanding -= 1;
        // Overtaken: a later message was answered first. Not merely "not the
        // oldest in flight": then one lost reply would make every later one
        // count. O(1): scanning the later messages for an answered one was
        // 11 % of a pipelined loadgen's cycles (64 in flight).
        let overtaken = self.latest_answered > seq;
        self.latest_answered = self.latest_answered.max(seq);
        self.pop_answered();
        Matched::Answer { sent, overtaken }
    }

    /// When the oldest message awaiting a reply was queued.
    pub fn oldest_unanswered_ns(&self) -> Option<u64> {
        self.queue.iter().find(|s| !s.answered).map(|s| s.queued_ns)
    }

    /// Gives up on messages queued before `sent_before_ns` and still
    /// unanswered, freeing their slots; returns how many (all missing). A
    /// lost reply must neither stall a closed loop nor grow the queue.
    pub fn expire(&mut self, sent_before_ns: u64) -> u64 {
        let mut expired = 0;
        while let Some(head) = self.queue.front() {
            if !head.answered && head.queued_ns >= sent_before_ns {
                break;
            }
            if !head.answered {
                expired += 1;
                self.outstanding -= 1;
                let given_up = self.given_up.get_or_insert_with(Default::default);
                if given_up.len() == GIVEN_UP_KEPT {
                    given_up.pop_front();
                }
                given_up.push_back((self.base, *head));
            }
            self.queue.pop_front();
            self.base += 1;
        }
        self.pop_answered();
        expired
    }

    /// Gives up on everything still awaited (the connection's end); returns
    /// how many (all missing).
    pub fn abandon(&mut self) -> u64 {
        let missing = self.outstanding;
        self.first_unwritten = self.next_seq;
        self.base += self.queue.len() as u64;
        self.queue.clear();
        self.outstanding = 0;
        missing
    }

    fn pop_answered(&mut self) {
        while self.queue.front().is_some_and(|s| s.answered) {
            self.queue.pop_front();
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(n: u64) -> InFlight {
        let mut f = InFlight::default();
        for i in 0..n {
            assert_eq!(f.push(i * 10, i * 10 + 1), i + 1);
        }
        f
    }

    #[test]
    fn in_order_replies_settle_the_queue() {
        let mut f = sent(3);
        for seq in 1..=3 {
            let Matched::Answer { sent, overtaken } = f.answer(seq) else { panic!("{seq}") };
            assert!(!overtaken);
            assert_eq!(sent.intended_ns, (seq - 1) * 10);
        }
        assert_eq!(f.outstanding(), 0);
        assert!(f.queue.is_empty());
    }

    #[test]
    fn duplicates_and_replies_to_nothing() {
        let mut f = sent(2);
        assert!(matches!(f.answer(1), Matched::Answer { .. }));
        assert_eq!(f.answer(1), Matched::Duplicate, "settled and popped");
        assert!(matches!(f.answer(2), Matched::Answer { .. }));
        assert_eq!(f.answer(2), Matched::Duplicate);
        assert_eq!(f.answer(3), Matched::NeverSent);
        assert_eq!(f.answer(0), Matched::NeverSent);
    }

    #[test]
    fn overtaken_only_when_a_later_message_was_answered_first() {
        let mut f = sent(4);
        assert!(matches!(f.answer(2), Matched::Answer { overtaken: false, .. }), "1 is late, 2 is not");
        assert!(matches!(f.answer(1), Matched::Answer { overtaken: true, .. }), "1 was overtaken by 2");
        // 3 is lost: 4's reply is not out of order because of it.
        assert!(matches!(f.answer(4), Matched::Answer { overtaken: false, .. }));
        assert_eq!(f.outstanding(), 1);
    }

    /// Every order of answering 6 messages (some never answered, some
    /// twice): overtaken is exactly "a later message was answered first".
    #[test]
    fn overtaken_matches_its_definition_in_every_order() {
        fn orders(left: Vec<u64>, out: &mut Vec<Vec<u64>>, prefix: &mut Vec<u64>) {
            out.push(prefix.clone());
            for (i, &x) in left.iter().enumerate() {
                let mut rest = left.clone();
                rest.remove(i);
                prefix.push(x);
                orders(rest, out, prefix);
                prefix.pop();
            }
        }
        let mut all = Vec::new();
        orders((1..=6).collect(), &mut all, &mut Vec::new());
        assert_eq!(all.len(), 1957);
        for order in all {
            let mut f = sent(6);
            let mut answered: Vec<u64> = Vec::new();
            for &seq in order.iter().chain(order.first()) {
                let naive = answered.iter().any(|&a| a > seq);
                match f.answer(seq) {
                    Matched::Answer { overtaken, .. } => {
                        assert_eq!(overtaken, naive, "order {order:?}, seq {seq}");
                        answered.push(seq);
                    }
                    Matched::Duplicate => assert!(answered.contains(&seq), "order {order:?}"),
                    Matched::NeverSent | Matched::Late { .. } => panic!("{seq} was sent, and none given up"),
                }
            }
            assert_eq!(f.outstanding(), 6 - answered.len() as u64);
        }
    }

    #[test]
    fn the_sent_time_is_when_the_write_completed() {
        let mut f = InFlight::default();
        assert_eq!(f.push(100, 110), 1);
        let mut seen = Vec::new();
        f.written(1, 150, |s| seen.push((s.intended_ns, s.queued_ns, s.sent_ns)));
        assert_eq!(seen, [(100, 110, 150)], "the write lag is sent - queued");
        assert_eq!(f.push(200, 210), 2);
        assert_eq!(f.push(201, 215), 3);
        // A reply before the write is seen complete: sent is still the queued time.
        let Matched::Answer { sent, .. } = f.answer(2) else { panic!("2") };
        assert_eq!(sent.sent_ns, 210);
        let mut seen = Vec::new();
        f.written(2, 300, |s| seen.push(s.queued_ns));
        assert_eq!(seen, [210, 215], "both were in that write, answered or not");
        let Matched::Answer { sent, .. } = f.answer(3) else { panic!("3") };
        assert_eq!((sent.queued_ns, sent.sent_ns), (215, 300));
        f.written(1, 400, |_| panic!("nothing queued since"));
        assert_eq!(f.unanswered().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn a_batch_written_in_pieces_times_each_message_by_its_piece() {
        let mut f = InFlight::default();
        for q in [10, 11, 12, 13] {
            f.push(q, q);
        }
        let mut seen = Vec::new();
        f.written(2, 100, |s| seen.push((s.queued_ns, s.sent_ns)));
        assert_eq!(seen, [(10, 100), (11, 100)], "the first piece took the two oldest");
        f.written(0, 150, |_| panic!("a piece that completed no frame"));
        f.written(9, 200, |s| seen.push((s.queued_ns, s.sent_ns)));
        assert_eq!(seen[2..], [(12, 200), (13, 200)], "no more than were unwritten");
        f.written(1, 300, |_| panic!("all were written by their pieces"));
        let Matched::Answer { sent, .. } = f.answer(1) else { panic!("1") };
        assert_eq!(sent.sent_ns, 100, "its RTT starts at its own piece, not the batch's last");
    }

    #[test]
    fn messages_expired_while_their_batch_waits_shift_no_later_write() {
        let mut f = InFlight::default();
        for q in [10, 11, 12, 13] {
            f.push(q, q);
        }
        f.written(1, 100, |_| {});
        // The server stops reading: 11-13 wait, and are given up on.
        assert_eq!(f.expire(1_000), 4, "all four, written or not, are missing");
        let mut seen = Vec::new();
        f.written(3, 2_000, |s| seen.push(s.queued_ns));
        assert!(seen.is_empty(), "the batch's rest was expired: {seen:?}");
        f.push(20, 20);
        f.push(21, 21);
        f.written(2, 3_000, |s| seen.push(s.queued_ns));
        assert_eq!(seen, [20, 21], "the next batch marks its own messages");
        f.push(30, 30);
        f.push(31, 31);
        f.written(2, 4_000, |s| seen.push(s.queued_ns));
        assert_eq!(seen[2..], [30, 31], "and so does the one after, 20 and 21 still in flight");
        let Matched::Answer { sent, .. } = f.answer(6) else { panic!("6") };
        assert_eq!(sent.sent_ns, 3_000, "20's RTT starts at its own write, not a later one");
        let Matched::Answer { sent, .. } = f.answer(8) else { panic!("8") };
        assert_eq!(sent.sent_ns, 4_000);
    }

    #[test]
    fn lost_messages_expire_and_free_their_slots() {
        let mut f = sent(4); // sent at 1, 11, 21, 31
        assert!(matches!(f.answer(2), Matched::Answer { .. }));
        assert_eq!(f.oldest_unanswered_ns(), Some(1));
        assert_eq!(f.expire(15), 1, "message 1 expired; 2 was answered");
        assert_eq!(f.outstanding(), 2);
        assert_eq!(f.oldest_unanswered_ns(), Some(21));
        let Matched::Late { sent } = f.answer(1) else { panic!("a reply after giving up is late, not a duplicate") };
        assert_eq!(sent.queued_ns, 1, "with its message's times");
        assert_eq!(f.answer(1), Matched::Duplicate, "a second one is a duplicate");
        assert_eq!(f.outstanding(), 2, "a late reply frees no slot: its message was given up already");
        assert!(matches!(f.answer(3), Matched::Answer { .. }));
        assert_eq!(f.abandon(), 1, "message 4 was never answered");
        assert_eq!(f.outstanding(), 0);
        assert_eq!(f.push(0, 0), 5, "sequence numbers go on");
    }

    #[test]
    fn only_the_latest_given_up_messages_are_remembered() {
        let n = GIVEN_UP_KEPT as u64 + 10;
        let mut f = sent(n);
        assert_eq!(f.expire(u64::MAX), n);
        assert_eq!(f.answer(10), Matched::Duplicate, "given up before the latest {GIVEN_UP_KEPT}: not told apart");
        for seq in 11..=n {
            assert!(matches!(f.answer(seq), Matched::Late { .. }), "{seq}");
        }
        assert!(f.given_up.unwrap().is_empty(), "each late reply forgets its message");
    }
}
