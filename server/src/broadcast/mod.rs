//! Mode `broadcast`: topics, their members, and the fan-out of each
//! message to every member (the chat and pub/sub shape, issue 13).
//!
//! A connection upgraded with `mode=broadcast` joins the topic named by
//! its query's `topic` (default [`DEFAULT_TOPIC`]) before its 101 is sent,
//! so a client that has its 101 receives every message published after.
//! Topics are created on first join and removed when their last member
//! leaves.
//!
//! Fan-out: the publisher encodes the frame once into a [`Bytes`](bytes::Bytes); for each
//! member it adds the frame's length to the member's queued-byte count and
//! pushes a clone of the handle (a reference count, not a copy) onto the
//! member's queue ([`queue`]), waking it if it was waiting. It never waits for a member: the member's
//! own connection task drains its channel into its outbox and writes. A
//! member's order of frames from one publisher is the publisher's order.
//!
//! Slow members: a member whose queued-but-unwritten broadcast bytes would
//! pass `--max-backpressure` gets no more frames, is counted
//! (`wsbench_broadcast_slow_disconnects_total`) and closes itself with
//! 1008 (or is dropped at `--write-timeout` if it cannot even take the
//! close). A frame larger than `--max-backpressure` alone still goes to a
//! member with nothing queued. So a member never holds more than
//! `--max-backpressure` plus one frame, and never stalls its topic.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;

use wsbench_proto::{encode_header, MessageKind, MAX_HEADER};

use crate::metrics::Metrics;
use crate::mode::BadParam;
use crate::outbox::Outbox;

mod queue;
use queue::MemberQueue;

/// The topic of a `broadcast` connection without `topic` in its query.
pub const DEFAULT_TOPIC: &str = "default";
/// Longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 128;

/// Reads `topic` from a query string: [`DEFAULT_TOPIC`] when absent; else
/// 1 to [`MAX_TOPIC_LEN`] bytes of `A-Z a-z 0-9 - . _ ~` (URL-unreserved,
/// so no decoding is needed and a name reads the same in logs).
pub fn topic_from_query(query: Option<&str>) -> Result<Box<str>, BadParam> {
    let mut values = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(name, _)| *name == "topic")
        .map(|(_, value)| value);
    let Some(value) = values.next() else {
        return Ok(DEFAULT_TOPIC.into());
    };
    // Given twice, which one holds would be this parser's choice, as for
    // `mode` and `chunk`: refused.
    if values.next().is_some() {
        return Err(BadParam { name: "topic", message: "given more than once".into() });
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if value.is_empty() || value.len() > MAX_TOPIC_LEN || !value.bytes().all(valid) {
        let shown: String = value.chars().take(40).collect();
        return Err(BadParam {
            name: "topic",
            message: format!("{shown:?} is not 1 to {MAX_TOPIC_LEN} bytes of A-Z a-z 0-9 - . _ ~"),
        });
    }
    Ok(value.into())
}

/// A published frame's bytes, charged to the memory budget until the
/// last member's copy of the `Bytes` is dropped (written, or the member
/// gone).
struct ChargedFrame {
    bytes: Vec<u8>,
    metrics: Arc<Metrics>,
}

impl AsRef<[u8]> for ChargedFrame {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for ChargedFrame {
    fn drop(&mut self) {
        self.metrics.release(self.bytes.len());
    }
}

/// Every topic of the server.
pub struct Topics {
    state: Mutex<TopicsState>,
    metrics: Arc<Metrics>,
    max_backpressure: usize,
    /// `--max-memory`: each frame is charged once while any member holds it.
    max_memory: usize,
}

#[derive(Default)]
struct TopicsState {
    topics: HashMap<Box<str>, Arc<Topic>>,
    members: usize,
    next_id: u64,
}

/// One topic's members. Publishing takes the read lock; joins and leaves,
/// rarer, the write lock.
#[derive(Default)]
struct Topic {
    members: RwLock<Vec<Member>>,
}

/// A member as publishers see it: 16 bytes, plus its queue.
struct Member {
    id: u64,
    queue: Arc<MemberQueue>,
}

/// A member found too slow: the connection closes.
#[derive(Debug)]
pub struct TooSlow;

impl Topics {
    /// No topics; members are bounded by `max_backpressure` queued bytes.
    pub fn new(metrics: Arc<Metrics>, max_backpressure: usize, max_memory: usize) -> Self {
        Topics { state: Mutex::default(), metrics, max_backpressure, max_memory }
    }

    /// Joins topic `name`, creating it if it has no members.
    pub fn join(self: &Arc<Self>, name: Box<str>) -> Membership {
        let queue = Arc::new(MemberQueue::default());
        let mut topics = self.state.lock().expect("topics lock");
        let id = topics.next_id;
        topics.next_id += 1;
        let topic = topics.topics.entry(name.clone()).or_default().clone();
        topic.members.write().expect("topic lock").push(Member { id, queue: queue.clone() });
        topics.members += 1;
        self.metrics.broadcast.set_sizes(topics.topics.len(), topics.members);
        Membership {
            topics: self.clone(),
            name,
            topic,
            id,
            queue,
            taken: 0,
            topic_turn: false,
            published: Default::default(),
        }
    }

    fn leave(&self, name: &str, topic: &Arc<Topic>, id: u64) {
        let mut topics = self.state.lock().expect("topics lock");
        let mut members = topic.members.write().expect("topic lock");
        members.retain(|m| m.id != id);
        if members.is_empty() && topics.topics.get(name).is_some_and(|t| Arc::ptr_eq(t, topic)) {
            topics.topics.remove(name);
        }
        drop(members);
        topics.members -= 1;
        self.metrics.broadcast.set_sizes(topics.topics.len(), topics.members);
    }
}

/// A connection's place in its topic: it publishes through it and takes
/// what others published from it. Leaves the topic when dropped.
pub struct Membership {
    topics: Arc<Topics>,
    name: Box<str>,
    topic: Arc<Topic>,
    id: u64,
    queue: Arc<MemberQueue>,
    /// Bytes moved into the outbox by the last take, released from
    /// `queued` once written (the next take comes after the flush).
    taken: usize,
    /// Whose turn it is to be polled first, the topic's or the peer's.
    topic_turn: bool,
    /// Bytes published since the publisher last yielded.
    published: std::cell::Cell<usize>,
}

impl Membership {
    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.name
    }

    /// Whether the topic's frames are polled before the peer's bytes this
    /// time: alternately, so that neither a busy topic nor a busy peer
    /// starves the other.
    pub fn topic_first(&mut self) -> bool {
        self.topic_turn = !self.topic_turn;
        self.topic_turn
    }

    /// Whether more than `share` bytes were published since it last said
    /// so (the count then starts again): the publisher's cue to yield.
    pub fn published_past(&mut self, share: usize) -> bool {
        let past = self.published.get() > share;
        if past {
            self.published.set(0);
        }
        past
    }

    /// Encodes one message as a frame, once, and queues it to every member
    /// (this one included) that is not too slow. Never waits. The frame is
    /// charged to `--max-memory` once, until its last member let it go:
    /// false, and nothing queued, when the budget cannot take it.
    pub fn publish(&self, kind: MessageKind, payload: &[u8]) -> bool {
        let mut head = [0u8; MAX_HEADER];
        let n = encode_header(&mut head, true, kind.opcode(), payload.len(), None);
        let len = n + payload.len();
        if !self.topics.metrics.try_hold(len, self.topics.max_memory) {
            return false;
        }
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&head[..n]);
        bytes.extend_from_slice(payload);
        let frame = Bytes::from_owner(ChargedFrame { bytes, metrics: self.topics.metrics.clone() });
        self.published.set(self.published.get() + len);
        let max = self.topics.max_backpressure;
        let mut queued_to = 0;
        for member in self.topic.members.read().expect("topic lock").iter() {
            let queue = &member.queue;
            if queue.slow.load(Ordering::Relaxed) {
                continue;
            }
            let before = queue.queued.fetch_add(len, Ordering::AcqRel);
            if before > 0 && before + len > max {
                if !queue.slow.swap(true, Ordering::AcqRel) {
                    self.topics.metrics.broadcast.slow_disconnect();
                    queue.wake();
                }
                continue;
            }
            queue.push(frame.clone());
            queued_to += 1;
        }
        self.topics.metrics.broadcast.published(queued_to);
        true
    }

    /// Releases what the last take queued (it has been written: takes come
    /// after flushes), then moves queued frames into `out`, up to
    /// `budget` bytes. Ready when it moved any, or when the member is too
    /// slow; pending (woken by the next publish) when none are queued.
    pub fn poll_take(&mut self, cx: &mut Context<'_>, out: &mut Outbox, budget: usize) -> Poll<Result<(), TooSlow>> {
        if self.taken > 0 {
            self.queue.queued.fetch_sub(self.taken, Ordering::AcqRel);
            self.taken = 0;
        }
        if self.queue.slow.load(Ordering::Acquire) {
            return Poll::Ready(Err(TooSlow));
        }
        let Poll::Ready(taken) = self.queue.poll_take(cx, out, budget) else {
            return Poll::Pending;
        };
        self.taken = taken;
        if self.queue.slow.load(Ordering::Acquire) {
            return Poll::Ready(Err(TooSlow));
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.topics.leave(&self.name, &self.topic, self.id);
    }
}

#[cfg(test)]
mod tests;
