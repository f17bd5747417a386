//! One topic's deliveries: which member has which message, checked off
//! receipt by receipt. Pure bookkeeping, kept apart from the sockets so
//! that each case can be tested on its own.
//!
//! Per publisher, its messages not yet complete, by sequence number (as
//! [`InFlight`](crate::engine::tracker::InFlight) keeps them), each with a
//! bit per member; per (receiver, publisher), the highest sequence number
//! received, to tell a receipt out of order. Memory: 8 bytes per pair of
//! members (8 MB for a topic of 1,000) plus N/8 bytes per message in
//! flight.

use std::collections::VecDeque;
use std::task::Waker;

use crate::engine::waker::remember;

/// A message published and not yet received by every member.
#[derive(Debug)]
struct Pending {
    /// Its start: intended send time (open loop) or queued time.
    start_ns: u64,
    /// When it was queued for its write (the expiry's clock).
    queued_ns: u64,
    in_window: bool,
    /// A bit per member: received.
    received: Vec<u64>,
    count: usize,
}

/// One member's messages as publisher.
#[derive(Debug)]
struct Publisher {
    /// Sequence number of `pending[0]`.
    base: u64,
    next_seq: u64,
    pending: VecDeque<Option<Pending>>,
    /// Completed messages not yet settled by the publisher: (seq, when).
    completed: Vec<(u64, u64)>,
    waker: Option<Waker>,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher { base: 1, next_seq: 1, pending: VecDeque::new(), completed: Vec::new(), waker: None }
    }
}

/// What a receipt turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// A first receipt of a message in flight.
    Delivered {
        /// The message's start (intended or queued time).
        start_ns: u64,
        /// Its start lies in the measured window.
        in_window: bool,
        /// A later message of the same publisher reached this member first.
        out_of_order: bool,
        /// This receipt was the last one owed: the message is complete.
        completed: bool,
    },
    /// Received before, or given up as missing.
    Duplicate,
    /// From a connection outside the topic.
    NotInTopic,
    /// A sequence number its publisher never sent.
    NeverSent,
}

/// Missing deliveries found by an expiry: how many, and the first message
/// short of its members, as (seq, members that received it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Missing {
    /// Deliveries that never came.
    pub deliveries: u64,
    /// The first message concerned, and how many members it reached.
    pub example: Option<(u64, usize)>,
}

/// One topic's book.
#[derive(Debug)]
pub struct TopicBook {
    first_conn: u32,
    size: usize,
    publishers: Vec<Publisher>,
    /// `[receiver * size + publisher]`: the highest sequence number received.
    last_seen: Vec<u64>,
    /// Messages not yet complete, of every publisher.
    outstanding: u64,
    /// Members joined, ever.
    joined: usize,
    /// Members joined and not yet done sending.
    running: usize,
    /// Members waiting for the topic to be whole, or drained.
    waiters: Vec<Option<Waker>>,
    spare: Vec<Vec<u64>>,
}

impl TopicBook {
    /// The book of a topic whose `size` members are connections
    /// `first_conn..first_conn + size`.
    pub fn new(first_conn: u32, size: usize) -> Self {
        TopicBook {
            first_conn,
            size,
            publishers: (0..size).map(|_| Publisher::default()).collect(),
            last_seen: vec![0; size * size],
            outstanding: 0,
            joined: 0,
            running: 0,
            waiters: vec![None; size],
            spare: Vec::new(),
        }
    }

    /// Members of the topic.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A member joined (and sends until [`stopped`](Self::stopped)).
    pub fn joined(&mut self) {
        self.joined += 1;
        self.running += 1;
        if self.all_joined() {
            self.wake_waiters();
        }
    }

    /// Every member has joined: messages published from now on are owed
    /// to all of them (none is sent before: it would miss members).
    pub fn all_joined(&self) -> bool {
        self.joined >= self.size
    }

    /// A member is done sending.
    pub fn stopped(&mut self) {
        self.running = self.running.saturating_sub(1);
        self.wake_if_drained();
    }

    /// No member sends any more and every message is settled.
    pub fn drained(&self) -> bool {
        self.running == 0 && self.outstanding == 0
    }

    /// Registers message `seq` of `publisher`, just queued; `seq` must be
    /// its next sequence number (its `InFlight`'s).
    pub fn published(&mut self, publisher: usize, seq: u64, start_ns: u64, queued_ns: u64, in_window: bool) {
        let words = self.size.div_ceil(64);
        let mut received = self.spare.pop().unwrap_or_default();
        received.clear();
        received.resize(words, 0);
        let p = &mut self.publishers[publisher];
        debug_assert_eq!(seq, p.next_seq);
        p.next_seq = seq + 1;
        p.pending.push_back(Some(Pending { start_ns, queued_ns, in_window, received, count: 0 }));
        self.outstanding += 1;
    }

    /// Member `receiver` received message `seq` of connection `conn`.
    pub fn receive(&mut self, receiver: usize, conn: u32, seq: u64, now_ns: u64) -> Receipt {
        let Some(publisher) = conn.checked_sub(self.first_conn).map(|p| p as usize).filter(|&p| p < self.size) else {
            return Receipt::NotInTopic;
        };
        let p = &mut self.publishers[publisher];
        if seq == 0 || seq >= p.next_seq {
            return Receipt::NeverSent;
        }
        let Some(index) = seq.checked_sub(p.base).map(|i| i as usize) else {
            return Receipt::Duplicate;
        };
        let Some(Some(pending)) = p.pending.get_mut(index) else {
            return Receipt::Duplicate;
        };
        let (word, bit) = (receiver / 64, 1u64 << (receiver % 64));
        if pending.received[word] & bit != 0 {
            return Receipt::Duplicate;
        }
        pending.received[word] |= bit;
        pending.count += 1;
        let (start_ns, in_window) = (pending.start_ns, pending.in_window);
        let completed = pending.count == self.size;
        let last = &mut self.last_seen[receiver * self.size + publisher];
        let out_of_order = *last > seq;
        *last = (*last).max(seq);
        if completed {
            if let Some(done) = p.pending[index].take() {
                self.spare.push(done.received);
            }
            p.completed.push((seq, now_ns));
            if let Some(waker) = &p.waker {
                waker.wake_by_ref();
            }
            self.outstanding -= 1;
            pop_settled(p);
            self.wake_if_drained();
        }
        Receipt::Delivered { start_ns, in_window, out_of_order, completed }
    }

    /// Takes `publisher`'s completed messages, (seq, when), to settle.
    pub fn take_completed(&mut self, publisher: usize, into: &mut Vec<(u64, u64)>) {
        into.append(&mut self.publishers[publisher].completed);
    }

    /// Whether `publisher` has completed messages to settle.
    pub fn has_completed(&self, publisher: usize) -> bool {
        !self.publishers[publisher].completed.is_empty()
    }

    /// Wakes `publisher` when one of its messages completes.
    pub fn register_publisher(&mut self, publisher: usize, waker: &Waker) {
        remember(&mut self.publishers[publisher].waker, waker);
    }

    /// Wakes `member` once every member has joined, or the topic is drained.
    pub fn wait(&mut self, member: usize, waker: &Waker) {
        remember(&mut self.waiters[member], waker);
    }

    /// Gives up on `publisher`'s messages queued before `sent_before_ns`
    /// and still incomplete (as its `InFlight::expire` does): their
    /// missing deliveries.
    pub fn expire(&mut self, publisher: usize, sent_before_ns: u64) -> Missing {
        self.give_up(publisher, |p| p.queued_ns < sent_before_ns)
    }

    /// Gives up on all of `publisher`'s incomplete messages (its end), and
    /// it sends no more.
    pub fn abandon(&mut self, publisher: usize) -> Missing {
        self.publishers[publisher].waker = None;
        self.waiters[publisher] = None;
        self.give_up(publisher, |_| true)
    }

    fn give_up(&mut self, publisher: usize, due: impl Fn(&Pending) -> bool) -> Missing {
        let mut missing = Missing::default();
        let p = &mut self.publishers[publisher];
        while let Some(head) = p.pending.front() {
            if let Some(pending) = head {
                if !due(pending) {
                    break;
                }
                missing.deliveries += (self.size - pending.count) as u64;
                missing.example.get_or_insert((p.base, pending.count));
                self.outstanding -= 1;
            }
            if let Some(Some(done)) = p.pending.pop_front() {
                self.spare.push(done.received);
            }
            p.base += 1;
        }
        self.wake_if_drained();
        missing
    }

    fn wake_if_drained(&mut self) {
        if self.drained() {
            self.wake_waiters();
        }
    }

    fn wake_waiters(&mut self) {
        for waker in self.waiters.iter_mut().filter_map(Option::take) {
            waker.wake();
        }
    }
}

/// Drops the settled messages at the front.
fn pop_settled(p: &mut Publisher) {
    while p.pending.front().is_some_and(Option::is_none) {
        p.pending.pop_front();
        p.base += 1;
    }
}
