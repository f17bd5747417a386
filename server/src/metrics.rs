//! Server counters, served at `GET /metrics` in the Prometheus text format.
//!
//! Connections add to these once per batch of messages, not per message,
//! so the shared atomics stay off the per-message path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Close codes counted one by one; others fall under "other".
const CLOSE_CODES: [u16; 5] = [1000, 1001, 1002, 1007, 1009];

#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    upgrades_refused: AtomicU64,
    messages_received: AtomicU64,
    frames_sent: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    closes_sent: [AtomicU64; CLOSE_CODES.len() + 1],
    read_errors: AtomicU64,
    write_errors: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetricsSnapshot {
    pub connections_open: u64,
    pub connections_total: u64,
    pub upgrades_refused: u64,
    pub messages_received: u64,
    pub frames_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// (close code, count); code 0 stands for any code not listed.
    pub closes_sent: Vec<(u16, u64)>,
    pub read_errors: u64,
    pub write_errors: u64,
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Relaxed)
    }

    pub fn upgrade_refused(&self) {
        self.upgrades_refused.fetch_add(1, Relaxed);
    }

    /// Adds one batch: what was read and what was written for it.
    pub fn add_batch(&self, messages: u64, bytes_in: u64, frames_out: u64, bytes_out: u64) {
        if messages > 0 {
            self.messages_received.fetch_add(messages, Relaxed);
        }
        if bytes_in > 0 {
            self.bytes_received.fetch_add(bytes_in, Relaxed);
        }
        if frames_out > 0 {
            self.frames_sent.fetch_add(frames_out, Relaxed);
            self.bytes_sent.fetch_add(bytes_out, Relaxed);
        }
    }

    pub fn close_sent(&self, code: u16) {
        let slot = CLOSE_CODES.iter().position(|&c| c == code).unwrap_or(CLOSE_CODES.len());
        self.closes_sent[slot].fetch_add(1, Relaxed);
    }

    pub fn read_error(&self) {
        self.read_errors.fetch_add(1, Relaxed);
    }

    pub fn write_error(&self) {
        self.write_errors.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let codes = CLOSE_CODES.iter().copied().chain([0]);
        MetricsSnapshot {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            upgrades_refused: self.upgrades_refused.load(Relaxed),
            messages_received: self.messages_received.load(Relaxed),
            frames_sent: self.frames_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            closes_sent: codes.zip(&self.closes_sent).map(|(c, n)| (c, n.load(Relaxed))).collect(),
            read_errors: self.read_errors.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
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
        metric("connections_total", "counter", "WebSocket connections accepted.", self.connections_total);
        metric("upgrades_refused_total", "counter", "Upgrade requests refused.", self.upgrades_refused);
        metric("messages_received_total", "counter", "Data messages received.", self.messages_received);
        metric("frames_sent_total", "counter", "Frames sent.", self.frames_sent);
        metric("received_bytes_total", "counter", "Bytes read from WebSocket connections.", self.bytes_received);
        metric("sent_bytes_total", "counter", "Bytes written to WebSocket connections.", self.bytes_sent);
        metric("read_errors_total", "counter", "Connections ended by a read error.", self.read_errors);
        metric("write_errors_total", "counter", "Connections ended by a write error.", self.write_errors);
        s.push_str("# HELP wsbench_closes_sent_total Close frames sent, by code (0: other).\n");
        s.push_str("# TYPE wsbench_closes_sent_total counter\n");
        for (code, n) in &self.closes_sent {
            let _ = writeln!(s, "wsbench_closes_sent_total{{code=\"{code}\"}} {n}");
        }
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
        let s = m.snapshot();
        assert_eq!((s.connections_open, s.messages_received, s.bytes_sent), (1, 3, 60));
        let text = s.to_prometheus();
        assert!(text.contains("wsbench_messages_received_total 3\n"));
        assert!(text.contains("wsbench_closes_sent_total{code=\"1002\"} 1\n"));
        assert!(text.contains("wsbench_closes_sent_total{code=\"0\"} 1\n"));
    }
}
