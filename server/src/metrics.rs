//! Server counters, served at `GET /metrics` in the Prometheus text format.
//!
//! Connections add to the counters once per batch of messages. Under a
//! closed loop a batch is one message, so the counters are sharded: each
//! runtime thread adds to its own cache line, and only a snapshot (a scrape)
//! reads them all. A single shared atomic would bounce between cores on
//! every message.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use serde::Serialize;

mod broadcast;
pub use broadcast::{BroadcastMetrics, BroadcastSnapshot};

/// Close codes counted one by one; others fall under "other".
const CLOSE_CODES: [u16; 7] = [1000, 1001, 1002, 1007, 1008, 1009, 1013];

/// Shards of the per-batch counters; threads beyond this share shards.
const SHARDS: usize = 16;

/// The per-batch counters of one shard, alone on its cache line(s).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    messages_received: AtomicU64,
    frames_sent: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// The server's counters, shared by its connections.
#[derive(Debug, Default)]
pub struct Metrics {
    shards: [Shard; SHARDS],
    connections_open: AtomicU64,
    connections_parked: AtomicU64,
    /// Parkings and resumptions so far (for the heap trim).
    park_moves: AtomicU64,
    connections_total: AtomicU64,
    upgrades_refused: AtomicU64,
    closes_sent: [AtomicU64; CLOSE_CODES.len() + 1],
    read_errors: AtomicU64,
    write_errors: AtomicU64,
    limits: LimitCounters,
    /// Mode `broadcast`'s topics and fan-out.
    pub broadcast: BroadcastMetrics,
}

/// The per-connection limits' gauge and counters (issue 9). They change at
/// coarse granularity (64 KiB of memory, one timeout), so they are not
/// sharded.
#[derive(Debug, Default)]
struct LimitCounters {
    /// Bytes charged to the --max-memory budget now.
    memory_held: AtomicU64,
    /// The most charged at once since the last [`Metrics::take_memory_peak`].
    memory_peak: AtomicU64,
    memory_refusals: AtomicU64,
    idle_timeouts: AtomicU64,
    message_timeouts: AtomicU64,
    write_timeouts: AtomicU64,
    close_unanswered: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    /// Open WebSocket connections.
    pub connections_open: u64,
    /// Open connections parked: idle, without a task of their own.
    pub connections_parked: u64,
    /// WebSocket connections accepted.
    pub connections_total: u64,
    /// Upgrade requests refused.
    pub upgrades_refused: u64,
    /// Messages answered.
    pub messages_received: u64,
    /// Frames written.
    pub frames_sent: u64,
    /// Bytes read from WebSocket connections.
    pub bytes_received: u64,
    /// Bytes written to WebSocket connections.
    pub bytes_sent: u64,
    /// (close code, count); code 0 stands for any code not listed.
    pub closes_sent: Vec<(u16, u64)>,
    /// Connections ended by a read error.
    pub read_errors: u64,
    /// Connections ended by a write error.
    pub write_errors: u64,
    /// Bytes held now in partial messages and unsent replies, as charged to
    /// `--max-memory` (in 64 KiB units).
    pub memory_held: u64,
    /// Messages refused with 1013 because they would pass `--max-memory`.
    pub memory_refusals: u64,
    /// Connections closed by `--idle-timeout`.
    pub idle_timeouts: u64,
    /// Connections closed by `--message-timeout`.
    pub message_timeouts: u64,
    /// Connections dropped by `--write-timeout`.
    pub write_timeouts: u64,
    /// Connections dropped because the peer sent nothing after the
    /// server's close (no close frame, no end of stream) within the linger
    /// (2 s, at most `--write-timeout`).
    pub close_unanswered: u64,
    /// Mode `broadcast`.
    pub broadcast: BroadcastSnapshot,
}

impl Metrics {
    /// Counts a connection upgraded.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    /// Counts a connection ended.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Relaxed)
    }

    /// Counts a connection parked (open, idle, without a task).
    pub fn connection_parked(&self) {
        self.connections_parked.fetch_add(1, Relaxed);
        self.park_moves.fetch_add(1, Relaxed);
    }

    /// Counts a parked connection given a task again.
    pub fn connection_unparked(&self) {
        self.connections_parked.fetch_sub(1, Relaxed);
        self.park_moves.fetch_add(1, Relaxed);
    }

    /// Connections parked or resumed so far.
    pub fn park_moves(&self) -> u64 {
        self.park_moves.load(Relaxed)
    }

    /// Counts an upgrade refused.
    pub fn upgrade_refused(&self) {
        self.upgrades_refused.fetch_add(1, Relaxed);
    }

    /// Adds one batch: what was read and what was written for it.
    pub fn add_batch(&self, messages: u64, bytes_in: u64, frames_out: u64, bytes_out: u64) {
        let shard = &self.shards[shard_index()];
        if messages > 0 {
            shard.messages_received.fetch_add(messages, Relaxed);
        }
        if bytes_in > 0 {
            shard.bytes_received.fetch_add(bytes_in, Relaxed);
        }
        if frames_out > 0 {
            shard.frames_sent.fetch_add(frames_out, Relaxed);
            shard.bytes_sent.fetch_add(bytes_out, Relaxed);
        }
    }

    /// Counts a Close frame sent with `code`.
    pub fn close_sent(&self, code: u16) {
        let slot = CLOSE_CODES.iter().position(|&c| c == code).unwrap_or(CLOSE_CODES.len());
        self.closes_sent[slot].fetch_add(1, Relaxed);
    }

    /// Counts a read error.
    pub fn read_error(&self) {
        self.read_errors.fetch_add(1, Relaxed);
    }

    /// Counts a write error.
    pub fn write_error(&self) {
        self.write_errors.fetch_add(1, Relaxed);
    }

    /// Charges `bytes` to the memory budget if the total stays within
    /// `max`; false (and nothing charged) otherwise.
    pub fn try_hold(&self, bytes: usize, max: usize) -> bool {
        let bytes = bytes as u64;
        let before = self.limits.memory_held.fetch_add(bytes, Relaxed);
        if before.saturating_add(bytes) > max as u64 {
            self.limits.memory_held.fetch_sub(bytes, Relaxed);
            return false;
        }
        self.limits.memory_peak.fetch_max(before + bytes, Relaxed);
        true
    }

    /// Takes up to `want` bytes of what is left under `max`, at once, and
    /// returns how many it took (give them back with
    /// [`release`](Self::release)). A reservation for an allocation whose
    /// size is not known yet; not memory, so not in the high-water mark.
    pub fn hold_up_to(&self, want: usize, max: usize) -> usize {
        let mut took = 0;
        let _ = self.limits.memory_held.fetch_update(Relaxed, Relaxed, |held| {
            took = (max as u64).saturating_sub(held).min(want as u64);
            Some(held + took)
        });
        took as usize
    }

    /// The most charged at once since the last call, which starts the next
    /// span at what is charged now.
    pub fn take_memory_peak(&self) -> usize {
        let now = self.limits.memory_held.load(Relaxed);
        self.limits.memory_peak.swap(now, Relaxed).max(now) as usize
    }

    /// Refunds `bytes` charged with [`try_hold`](Self::try_hold).
    pub fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.limits.memory_held.fetch_sub(bytes as u64, Relaxed);
        }
    }

    /// Bytes charged to the memory budget now.
    pub fn memory_held(&self) -> usize {
        self.limits.memory_held.load(Relaxed) as usize
    }

    /// Counts a message refused for the memory budget.
    pub fn memory_refused(&self) {
        self.limits.memory_refusals.fetch_add(1, Relaxed);
    }

    /// Counts a connection closed for being idle.
    pub fn idle_timeout(&self) {
        self.limits.idle_timeouts.fetch_add(1, Relaxed);
    }

    /// Counts a connection closed for a message not completed in time.
    pub fn message_timeout(&self) {
        self.limits.message_timeouts.fetch_add(1, Relaxed);
    }

    /// Counts a connection dropped for a write not completed in time.
    pub fn write_timeout(&self) {
        self.limits.write_timeouts.fetch_add(1, Relaxed);
    }

    /// Counts a connection dropped with its close unanswered by the peer.
    pub fn close_unanswered(&self) {
        self.limits.close_unanswered.fetch_add(1, Relaxed);
    }

    fn sum(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| counter(s).load(Relaxed)).sum()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let codes = CLOSE_CODES.iter().copied().chain([0]);
        MetricsSnapshot {
            connections_open: self.connections_open.load(Relaxed),
            connections_parked: self.connections_parked.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            upgrades_refused: self.upgrades_refused.load(Relaxed),
            messages_received: self.sum(|s| &s.messages_received),
            frames_sent: self.sum(|s| &s.frames_sent),
            bytes_received: self.sum(|s| &s.bytes_received),
            bytes_sent: self.sum(|s| &s.bytes_sent),
            closes_sent: codes.zip(&self.closes_sent).map(|(c, n)| (c, n.load(Relaxed))).collect(),
            read_errors: self.read_errors.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
            memory_held: self.limits.memory_held.load(Relaxed),
            memory_refusals: self.limits.memory_refusals.load(Relaxed),
            idle_timeouts: self.limits.idle_timeouts.load(Relaxed),
            message_timeouts: self.limits.message_timeouts.load(Relaxed),
            write_timeouts: self.limits.write_timeouts.load(Relaxed),
            close_unanswered: self.limits.close_unanswered.load(Relaxed),
            broadcast: self.broadcast.snapshot(),
        }
    }
}

impl MetricsSnapshot {
    /// The Prometheus text exposition format.
    pub fn to_prometheus(&self) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(s, "# HELP wsbench_{name} {help}\n# TYPE wsbench_{name} {kind}\nwsbench_{name} {value}");
        };
        metric("connections_open", "gauge", "Open WebSocket connections.", self.connections_open);
        metric(
            "connections_parked",
            "gauge",
            "Open connections parked: idle, without a task of their own.",
            self.connections_parked,
        );
        metric("connections_total", "counter", "WebSocket connections accepted.", self.connections_total);
        metric("upgrades_refused_total", "counter", "Upgrade requests refused.", self.upgrades_refused);
        metric("messages_received_total", "counter", "Data messages received.", self.messages_received);
        metric("frames_sent_total", "counter", "Frames sent.", self.frames_sent);
        metric("received_bytes_total", "counter", "Bytes read from WebSocket connections.", self.bytes_received);
        metric("sent_bytes_total", "counter", "Bytes written to WebSocket connections.", self.bytes_sent);
        metric("read_errors_total", "counter", "Connections ended by a read error.", self.read_errors);
        metric("write_errors_total", "counter", "Connections ended by a write error.", self.write_errors);
        metric(
            "memory_held_bytes",
            "gauge",
            "Bytes held in partial messages and unsent replies (64 KiB units).",
            self.memory_held,
        );
        metric(
            "memory_refusals_total",
            "counter",
            "Messages refused with 1013 for --max-memory.",
            self.memory_refusals,
        );
        metric("idle_timeouts_total", "counter", "Connections closed by --idle-timeout.", self.idle_timeouts);
        metric("message_timeouts_total", "counter", "Connections closed by --message-timeout.", self.message_timeouts);
        metric("write_timeouts_total", "counter", "Connections dropped by --write-timeout.", self.write_timeouts);
        metric(
            "close_unanswered_total",
            "counter",
            "Connections dropped with the server's close unanswered by the peer.",
            self.close_unanswered,
        );
        s.push_str("# HELP wsbench_closes_sent_total Close frames sent, by code (0: other).\n");
        s.push_str("# TYPE wsbench_closes_sent_total counter\n");
        for (code, n) in &self.closes_sent {
            let _ = writeln!(s, "wsbench_closes_sent_total{{code=\"{code}\"}} {n}");
        }
        self.broadcast.write_prometheus(&mut s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        m.connection_opened();
        m.add_batch(3, 30, 3, 60);
        m.close_sent(1002);
        m.close_sent(4000);
        // From another thread, which may land on another shard.
        std::thread::scope(|t| {
            t.spawn(|| m.add_batch(1, 10, 1, 20));
        });
        let s = m.snapshot();
        assert_eq!((s.connections_open, s.messages_received, s.bytes_sent), (1, 4, 80));
        let text = s.to_prometheus();
        assert!(text.contains("wsbench_messages_received_total 4\n"));
        assert!(text.contains("wsbench_closes_sent_total{code=\"1002\"} 1\n"));
        assert!(text.contains("wsbench_closes_sent_total{code=\"0\"} 1\n"));
    }

    #[test]
    fn the_memory_budget_refuses_past_its_maximum() {
        let m = Metrics::default();
        assert!(m.try_hold(60, 100));
        assert!(!m.try_hold(41, 100), "would pass the maximum");
        assert_eq!(m.memory_held(), 60, "a refusal charges nothing");
        assert!(m.try_hold(40, 100));
        m.release(100);
        assert_eq!(m.snapshot().memory_held, 0);
    }
}
