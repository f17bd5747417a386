//! Histograms and counters. Each worker thread owns a [`WorkerStats`]
//! (behind a `RefCell`, as its connections share one thread) and records
//! into it with no lock or atomic; workers' results are merged at the end
//! with [`Histograms::add`] and [`Counters::add`], exactly.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Histogram range: 1 µs to an hour, 3 significant digits.
pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 3_600_000_000;
pub const SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// The measured series, each a histogram in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// TCP connect.
    Connect,
    /// TLS (wss) and the WebSocket upgrade, after connect.
    Handshake,
    /// Reply time from the message's intended send time (wrk2's correction).
    RttCorrected,
    /// Reply time from the message's actual write.
    RttUncorrected,
    /// Actual write time minus intended time (open loop): the loadgen's health.
    SendLag,
}

impl Series {
    pub const ALL: [Series; 5] =
        [Series::Connect, Series::Handshake, Series::RttCorrected, Series::RttUncorrected, Series::SendLag];

    /// The name used in JSON keys and as the hlog tag.
    pub fn name(self) -> &'static str {
        match self {
            Series::Connect => "connect",
            Series::Handshake => "handshake",
            Series::RttCorrected => "rtt_corrected",
            Series::RttUncorrected => "rtt_uncorrected",
            Series::SendLag => "send_lag",
        }
    }

    pub fn from_name(name: &str) -> Option<Series> {
        Series::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn title(self) -> &'static str {
        match self {
            Series::Connect => "TCP connect",
            Series::Handshake => "WS handshake",
            Series::RttCorrected => "RTT corrected",
            Series::RttUncorrected => "RTT uncorrected",
            Series::SendLag => "send lag",
        }
    }
}

/// One histogram per series.
#[derive(Debug, Clone)]
pub struct Histograms([Histogram<u64>; 5]);

impl Default for Histograms {
    fn default() -> Self {
        Histograms(std::array::from_fn(|_| new_histogram()))
    }
}

impl Histograms {
    pub fn get(&self, s: Series) -> &Histogram<u64> {
        &self.0[s as usize]
    }

    pub fn get_mut(&mut self, s: Series) -> &mut Histogram<u64> {
        &mut self.0[s as usize]
    }

    /// Records nanoseconds as microseconds (rounded), clamped to the range.
    #[inline]
    pub fn record_ns(&mut self, s: Series, ns: u64) {
        let us = (ns + 500) / 1000;
        self.0[s as usize].saturating_record(us.min(HIGHEST_US));
    }

    pub fn add(&mut self, other: &Histograms) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            a.add(b).expect("histograms of the same bounds merge");
        }
    }

    pub fn reset(&mut self) {
        for h in &mut self.0 {
            h.reset();
        }
    }
}

/// Connections that could not be opened, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectErrors {
    pub refused: u64,
    pub timeout: u64,
    /// No source port or address left (EADDRNOTAVAIL, EADDRINUSE), or descriptors (EMFILE).
    pub resources: u64,
    pub tls: u64,
    /// The server answered the upgrade with this HTTP status instead of 101.
    pub http_status: BTreeMap<u16, u64>,
    /// A 101 with a wrong Sec-WebSocket-Accept or Upgrade, a malformed
    /// response, or a connection closed during the handshake.
    pub bad_handshake: u64,
    pub other: u64,
}

impl ConnectErrors {
    pub fn total(&self) -> u64 {
        self.refused
            + self.timeout
            + self.resources
            + self.tls
            + self.http_status.values().sum::<u64>()
            + self.bad_handshake
            + self.other
    }
}

/// Replies that were not right, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyErrors {
    /// Not received by the end of the drain timeout (or the connection's end).
    pub missing: u64,
    /// Not the reply the mode prescribes to the message, or to no message sent.
    pub corrupt: u64,
    /// A second reply to the same message.
    pub duplicate: u64,
    /// A reply before the reply to an earlier message.
    pub out_of_order: u64,
    /// Open loop: messages due in the window that were never sent, because
    /// the connection could not send (the server stopped reading, or
    /// --pipeline was full) until the run ended. Exactly the messages a stall
    /// holds back: left out, they would hide it.
    #[serde(default)]
    pub unsent: u64,
}

impl ReplyErrors {
    pub fn total(&self) -> u64 {
        self.missing + self.corrupt + self.duplicate + self.out_of_order + self.unsent
    }
}

/// Open connections that ended badly, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionErrors {
    /// The server sent a close frame before the run ended.
    pub closed_by_server: u64,
    /// The TCP connection ended without a close frame.
    pub eof: u64,
    /// A frame from the server broke RFC 6455.
    pub protocol: u64,
    /// Read or write failed (reset, ...).
    pub io: u64,
    /// The closing handshake at the end got no answer in time.
    pub close_timeout: u64,
}

impl ConnectionErrors {
    pub fn total(&self) -> u64 {
        self.closed_by_server + self.eof + self.protocol + self.io + self.close_timeout
    }
}

/// Everything counted, summed over workers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub connections_attempted: u64,
    pub connections_opened: u64,
    pub connect_errors: ConnectErrors,
    pub connection_errors: ConnectionErrors,
    pub reply_errors: ReplyErrors,
    /// Close codes received from the server (1005: a close frame without code).
    pub close_codes: BTreeMap<u16, u64>,
    /// Messages whose intended send time fell in the measured window.
    pub messages_sent: u64,
    /// Replies to those messages that checked.
    pub messages_received: u64,
    /// Wire bytes written and read in the measured window.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Every phase (ramp, warmup, measure, drain).
    pub messages_sent_total: u64,
    pub replies_received_total: u64,
}

impl Counters {
    pub fn errors(&self) -> u64 {
        self.connect_errors.total() + self.connection_errors.total() + self.reply_errors.total()
    }

    /// Errors over connection attempts plus messages sent (all phases): the
    /// rate `--max-error-rate` bounds.
    pub fn error_rate(&self) -> f64 {
        let denominator = (self.connections_attempted + self.messages_sent_total).max(1);
        self.errors() as f64 / denominator as f64
    }

    pub fn add(&mut self, o: &Counters) {
        self.connections_attempted += o.connections_attempted;
        self.connections_opened += o.connections_opened;
        let (a, b) = (&mut self.connect_errors, &o.connect_errors);
        a.refused += b.refused;
        a.timeout += b.timeout;
        a.resources += b.resources;
        a.tls += b.tls;
        a.bad_handshake += b.bad_handshake;
        a.other += b.other;
        for (k, v) in &b.http_status {
            *a.http_status.entry(*k).or_default() += v;
        }
        let (a, b) = (&mut self.connection_errors, &o.connection_errors);
        a.closed_by_server += b.closed_by_server;
        a.eof += b.eof;
        a.protocol += b.protocol;
        a.io += b.io;
        a.close_timeout += b.close_timeout;
        let (a, b) = (&mut self.reply_errors, &o.reply_errors);
        a.missing += b.missing;
        a.corrupt += b.corrupt;
        a.duplicate += b.duplicate;
        a.out_of_order += b.out_of_order;
        a.unsent += b.unsent;
        for (k, v) in &o.close_codes {
            *self.close_codes.entry(*k).or_default() += v;
        }
        self.messages_sent += o.messages_sent;
        self.messages_received += o.messages_received;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.messages_sent_total += o.messages_sent_total;
        self.replies_received_total += o.replies_received_total;
    }
}

/// What the live view needs from one worker for one second.
#[derive(Debug, Clone, Default)]
pub struct LiveCounters {
    pub sent: u64,
    pub received: u64,
    pub errors: u64,
}

/// A worker's histograms and counters. `interval` collects the current
/// second; each tick adds it to `total` and hands it to the collector (for
/// the live view and the interval log).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub interval: Histograms,
    pub total: Histograms,
    pub counters: Counters,
    pub live: LiveCounters,
    /// Connections open now.
    pub open: u64,
    /// The first few corrupt replies, described, for the report.
    pub samples: Vec<String>,
}

/// Corrupt replies described per worker, at most.
pub const MAX_SAMPLES: usize = 5;

impl WorkerStats {
    /// Closes the current interval: adds it to the total and returns it.
    pub fn take_interval(&mut self) -> (Histograms, LiveCounters) {
        let h = std::mem::take(&mut self.interval);
        self.total.add(&h);
        (h, std::mem::take(&mut self.live))
    }

    pub fn sample(&mut self, what: impl FnOnce() -> String) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(what());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_microseconds_and_merges() {
        let mut a = Histograms::default();
        a.record_ns(Series::RttCorrected, 1_499);
        a.record_ns(Series::RttCorrected, u64::MAX / 2);
        let mut b = Histograms::default();
        b.record_ns(Series::RttCorrected, 2_000_000);
        a.add(&b);
        let h = a.get(Series::RttCorrected);
        assert_eq!(h.len(), 3);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= HIGHEST_US / 2);
        let mut c = Counters::default();
        c.close_codes.insert(1000, 2);
        c.connect_errors.http_status.insert(503, 1);
        let mut d = c.clone();
        d.add(&c);
        assert_eq!(d.close_codes[&1000], 4);
        assert_eq!(d.errors(), 2);
    }
}
