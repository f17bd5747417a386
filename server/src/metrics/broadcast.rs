//! The counters of mode `broadcast`: topics and members now, messages
//! published, frames fanned out, and slow members disconnected.
//!
//! Published and fanned-out counts move once per published message (one
//! `fetch_add` of the member count, not one per delivery); the gauges move
//! on join and leave only.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// The live counters, inside [`Metrics`](super::Metrics).
#[derive(Debug, Default)]
pub struct BroadcastMetrics {
    topics: AtomicU64,
    members: AtomicU64,
    published: AtomicU64,
    deliveries: AtomicU64,
    slow_disconnects: AtomicU64,
}

/// A copy of [`BroadcastMetrics`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BroadcastSnapshot {
    /// Topics with at least one member.
    pub topics: u64,
    /// Members of all topics.
    pub members: u64,
    /// Messages published to a topic.
    pub published: u64,
    /// Broadcast frames queued to members (each published message once per
    /// member it was queued to).
    pub deliveries: u64,
    /// Members disconnected because their queued, unwritten broadcast
    /// frames passed `--max-backpressure`.
    pub slow_disconnects: u64,
}

impl BroadcastMetrics {
    /// The topic and member gauges, set under the topic registry's lock.
    pub fn set_sizes(&self, topics: usize, members: usize) {
        self.topics.store(topics as u64, Relaxed);
        self.members.store(members as u64, Relaxed);
    }

    /// One message published, queued to `deliveries` members.
    pub fn published(&self, deliveries: usize) {
        self.published.fetch_add(1, Relaxed);
        self.deliveries.fetch_add(deliveries as u64, Relaxed);
    }

    /// A member found too slow, once per member.
    pub fn slow_disconnect(&self) {
        self.slow_disconnects.fetch_add(1, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> BroadcastSnapshot {
        BroadcastSnapshot {
            topics: self.topics.load(Relaxed),
            members: self.members.load(Relaxed),
            published: self.published.load(Relaxed),
            deliveries: self.deliveries.load(Relaxed),
            slow_disconnects: self.slow_disconnects.load(Relaxed),
        }
    }
}

impl BroadcastSnapshot {
    /// Appends the Prometheus text of these counters to `s`.
    pub fn write_prometheus(&self, s: &mut String) {
        let rows: [(&str, &str, &str, u64); 5] = [
            ("broadcast_topics", "gauge", "Broadcast topics with at least one member.", self.topics),
            ("broadcast_members", "gauge", "Members of all broadcast topics.", self.members),
            ("broadcast_published_total", "counter", "Messages published to a topic.", self.published),
            ("broadcast_deliveries_total", "counter", "Broadcast frames queued to members.", self.deliveries),
            (
                "broadcast_slow_disconnects_total",
                "counter",
                "Members disconnected for broadcast frames queued past --max-backpressure.",
                self.slow_disconnects,
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(s, "# HELP wsbench_{name} {help}\n# TYPE wsbench_{name} {kind}\nwsbench_{name} {value}");
        }
    }
}
