//! `--mode broadcast`: connections grouped into topics, and the book of
//! each topic's deliveries.
//!
//! Connection `i` is a member of topic `i / topic_size` (the last topic
//! has fewer members when `--connections` is not a multiple), joined with
//! `topic=<run prefix>-<k>` in its upgrade query; the prefix is unique per
//! run, so two runs against one server do not mix.
//!
//! Every message a member publishes is owed to every member of its topic,
//! itself included. A topic's members all run on one worker thread
//! (topic `k` on worker `k % threads`), so the topic's [`TopicBook`] is
//! shared behind `Rc<RefCell>` with no lock or atomic: the publisher
//! registers a message when it queues it, each receiver checks off its
//! receipt, and the receipt that completes a message hands it back to the
//! publisher (waking it), which settles it in its own
//! [`InFlight`](super::tracker::InFlight): a closed loop's `--pipeline`
//! counts messages in flight until *every* member has them. The price:
//! a topic's load is on one thread; topics spread over threads.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::connect::{RequestTemplate, Target};
use super::protocol::ReplyMode;
use crate::error::Error;

mod book;
mod check;

pub use book::{Receipt, TopicBook};
pub use check::check_delivery;

/// How a broadcast run groups its connections.
#[derive(Debug, Clone)]
pub struct BroadcastPlan {
    /// Members per topic.
    pub topic_size: u32,
    /// Connections in the run.
    pub connections: u32,
    /// The run's own prefix of topic names.
    pub prefix: String,
}

impl BroadcastPlan {
    /// The plan of a run against `target`: `None` unless its mode is
    /// `broadcast`. Without `--topic-size`, one topic of every connection.
    /// A URL that names a topic itself is refused: each connection's topic
    /// is set here.
    pub fn of(target: &Target, topic_size: Option<u32>, connections: u32) -> Result<Option<Self>, Error> {
        if target.mode != ReplyMode::Broadcast {
            return Ok(None);
        }
        let query = target.path_and_query.split_once('?').map_or("", |(_, q)| q);
        if query.split('&').any(|p| p == "topic" || p.starts_with("topic=")) {
            return Err(Error::usage(
                "--mode broadcast: the URL names a topic; the loadgen sets each connection's topic itself (see --topic-size)",
            ));
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let prefix = format!("wsb-{:x}-{:x}", std::process::id(), nanos & 0xffff_ffff_ffff);
        Ok(Some(BroadcastPlan { topic_size: topic_size.unwrap_or(connections).max(1), connections, prefix }))
    }

    /// The topic of connection `conn`.
    pub fn topic_of(&self, conn: u32) -> u32 {
        conn / self.topic_size
    }

    /// Topics in the run.
    pub fn topics(&self) -> u32 {
        self.connections.div_ceil(self.topic_size)
    }

    /// The worker thread of connection `conn`: its topic's.
    pub fn worker_of(&self, conn: u32, threads: usize) -> usize {
        self.topic_of(conn) as usize % threads
    }

    /// The upgrade request of connection `conn`: the run's, with its topic.
    pub fn request(&self, request: &RequestTemplate, conn: u32) -> RequestTemplate {
        request.with_query_param("topic", &format!("{}-{}", self.prefix, self.topic_of(conn)))
    }
}

/// The upgrade request of connection `conn`: with its topic in a broadcast run.
pub fn request_for<'a>(
    plan: &'a Option<BroadcastPlan>,
    request: &'a RequestTemplate,
    conn: u32,
) -> Cow<'a, RequestTemplate> {
    match plan {
        Some(plan) => Cow::Owned(plan.request(request, conn)),
        None => Cow::Borrowed(request),
    }
}

/// A member's place in its topic's book.
pub struct Member {
    /// The topic's book, shared with the other members on this thread.
    pub book: Rc<RefCell<TopicBook>>,
    /// The member's index in its topic (its connection id less the first's).
    pub index: usize,
    /// The topic's number.
    pub topic: u32,
    /// The member found every member joined, and sends.
    pub started: bool,
    /// The member told the book it is done sending.
    pub stopped: bool,
}

/// The books of the topics whose members run on one worker thread.
#[derive(Default)]
pub struct WorkerTopics {
    books: RefCell<HashMap<u32, Rc<RefCell<TopicBook>>>>,
}

impl WorkerTopics {
    /// Connection `conn`'s place in its topic's book (made by its first member).
    pub fn join(&self, plan: &BroadcastPlan, conn: u32) -> Member {
        let topic = plan.topic_of(conn);
        let first = topic * plan.topic_size;
        let members = plan.topic_size.min(plan.connections - first);
        let book = self
            .books
            .borrow_mut()
            .entry(topic)
            .or_insert_with(|| Rc::new(RefCell::new(TopicBook::new(first, members as usize))))
            .clone();
        book.borrow_mut().joined();
        Member { book, index: (conn - first) as usize, topic, started: false, stopped: false }
    }
}

#[cfg(test)]
mod tests;
