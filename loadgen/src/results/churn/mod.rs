//! Connection churn and reconnect storms (`--conn-lifetime`,
//! `--messages-per-conn`, `--reconnect`): the settings ([`ChurnConfig`],
//! recorded as `config.churn`), a worker's counts ([`ChurnCounts`]) and the
//! result's section ([`ChurnResult`], `churn` in the JSON), which share
//! their counts ([`ChurnTally`]), added up exactly by `merge` ([`merge`])
//! and printed by the summary ([`report`]).
//!
//! What is counted where, so that nothing is counted twice or lost:
//! - A connection the loadgen opens by plan (a slot's first, or the one
//!   that replaces a connection closed at its limit) is counted in
//!   `counters.connections_attempted` / `connections_opened`, and its
//!   failure in `counters.connect_errors`, as before this feature.
//! - A re-connection after the server dropped a connection (only with
//!   `--reconnect`), and every retry after a failed attempt, is counted
//!   here: `reconnect_attempts`, `reconnects` (succeeded) and
//!   `reconnect_errors` (by kind). These are not failed connections: an
//!   outage refuses connections, which is what `--reconnect` measures.
//! - A drop with `--reconnect` is counted in `drops`, not in
//!   `counters.connection_errors`, and the messages in flight on it in
//!   `lost_to_drop`, not in `reply_errors.missing`. Without `--reconnect`
//!   a drop stays a failed connection and its messages missing.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::counters::{add_map, ConnectErrors};
use super::schema::HistogramData;
use super::setup::{code_keys, secs};
use super::stats::{new_histogram, HIGHEST_US};

pub mod merge;
pub mod report;
#[cfg(test)]
mod tests;

/// `--reconnect`'s first delay: full jitter draws the first retry from 0
/// to this (at most `--reconnect-max-delay`).
pub const RECONNECT_INITIAL_DELAY: Duration = Duration::from_millis(50);
/// `--reconnect-max-delay`'s default.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(5);
/// Outages kept in a result, at most (the first ones; `outages_total`
/// counts them all, `longest_recovery_s` looks at all).
pub const MAX_OUTAGES: usize = 100;
/// Close codes from the server that are a drop (the server going away,
/// restarting or busy), reconnected with `--reconnect`: 1000 normal,
/// 1001 going away, 1012 service restart, 1013 try again later. Any other
/// code says the client did something wrong (1002, 1007, 1008, ...) or the
/// server failed (1011): a failed connection, never reconnected.
pub const DROP_CLOSE_CODES: [u16; 4] = [1000, 1001, 1012, 1013];

/// When a connection is closed and replaced: after a time, or after a
/// number of replies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnLimit {
    /// `--conn-lifetime`: open this long, then stop sending, drain, close.
    Lifetime(#[serde(with = "secs")] Duration),
    /// `--messages-per-conn`: this many messages sent, then drain (their
    /// replies) and close.
    Messages(u64),
}

/// The churn flags, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnConfig {
    /// Each connection's limit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<ConnLimit>,
    /// `--reconnect`: dropped connections are opened again, with backoff.
    pub reconnect: bool,
    /// Full jitter's first bound (fixed: [`RECONNECT_INITIAL_DELAY`], at
    /// most the max).
    #[serde(with = "secs")]
    pub reconnect_initial_delay: Duration,
    /// `--reconnect-max-delay`: the cap of the backoff.
    #[serde(with = "secs")]
    pub reconnect_max_delay: Duration,
}

impl ChurnConfig {
    /// One line of what this asks for, for `merge`'s identity check.
    pub fn describe(&self) -> String {
        let limit = match self.limit {
            None => "no limit".to_string(),
            Some(ConnLimit::Lifetime(d)) => format!("lifetime {}s", d.as_secs_f64()),
            Some(ConnLimit::Messages(n)) => format!("{n} messages per connection"),
        };
        if self.reconnect {
            format!("{limit}, reconnect (max delay {}s)", self.reconnect_max_delay.as_secs_f64())
        } else {
            limit
        }
    }
}

/// Drops by how the server ended the connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drops {
    /// The TCP connection ended without a close frame.
    pub eof: u64,
    /// Read or write failed (a reset, mostly).
    pub reset: u64,
    /// A close frame with one of [`DROP_CLOSE_CODES`], by code.
    #[serde(deserialize_with = "code_keys::deserialize")]
    pub close_codes: BTreeMap<u16, u64>,
}

impl Drops {
    /// Every drop.
    pub fn total(&self) -> u64 {
        self.eof + self.reset + self.close_codes.values().sum::<u64>()
    }

    fn add(&mut self, o: &Drops) {
        self.eof += o.eof;
        self.reset += o.reset;
        add_map(&mut self.close_codes, &o.close_codes);
    }
}

/// The counts a churn run keeps, the same in a worker's [`ChurnCounts`]
/// and in the result's [`ChurnResult`] (flattened there: the JSON has them
/// as keys of `churn` itself, as before this struct), so that adding them
/// up, over workers or over results, is written once: [`ChurnTally::add`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChurnTally {
    /// Connections closed cleanly at their limit (close 1000 sent, the
    /// server's close received, in time).
    pub closed_at_limit: u64,
    /// Connections opened in place of those.
    pub reopened: u64,
    /// Upgrades completed in the measured window, of any connection
    /// (re-openings and re-connections; a slot's first connection too if it
    /// came up then).
    pub handshakes_in_window: u64,
    /// Connections the server dropped (with `--reconnect`), by how.
    pub drops: Drops,
    /// Messages in flight on them (with `--reconnect`): neither replies nor
    /// message errors.
    pub lost_to_drop: u64,
    /// Re-connection attempts (after a drop, or a failed attempt).
    pub reconnect_attempts: u64,
    /// Of those, the ones that opened.
    pub reconnects: u64,
    /// Of those, the ones that failed, by kind (refused during an outage).
    pub reconnect_errors: ConnectErrors,
    /// Open loop: messages due while their slot had no connection (closing
    /// at its limit, reconnecting), sent late on the next one (their
    /// corrected RTT holds the wait).
    pub sent_late_after_reopen: u64,
}

impl ChurnTally {
    /// Adds `o`, exactly.
    pub fn add(&mut self, o: &ChurnTally) {
        self.closed_at_limit += o.closed_at_limit;
        self.reopened += o.reopened;
        self.handshakes_in_window += o.handshakes_in_window;
        self.drops.add(&o.drops);
        self.lost_to_drop += o.lost_to_drop;
        self.reconnect_attempts += o.reconnect_attempts;
        self.reconnects += o.reconnects;
        self.reconnect_errors.add(&o.reconnect_errors);
        self.sent_late_after_reopen += o.sent_late_after_reopen;
    }
}

/// What one worker counted; summed over workers with [`ChurnCounts::add`].
#[derive(Debug, Clone)]
pub struct ChurnCounts {
    /// The counts the result keeps as they are.
    pub tally: ChurnTally,
    /// TCP connect of re-connections started in the measured window, µs.
    pub connect: Histogram<u64>,
    /// Their TLS and upgrade, µs.
    pub handshake: Histogram<u64>,
}

impl Default for ChurnCounts {
    fn default() -> Self {
        ChurnCounts { tally: ChurnTally::default(), connect: new_histogram(), handshake: new_histogram() }
    }
}

impl ChurnCounts {
    /// Records a re-connection's TCP connect and handshake, ns, as the
    /// main series are (µs, rounded, clamped to the range).
    pub fn record_reconnection(&mut self, tcp_ns: u64, handshake_ns: u64) {
        for (h, ns) in [(&mut self.connect, tcp_ns), (&mut self.handshake, handshake_ns)] {
            h.saturating_record(((ns + 500) / 1000).min(HIGHEST_US));
        }
    }

    /// Adds `o`, exactly.
    pub fn add(&mut self, o: &ChurnCounts) {
        self.tally.add(&o.tally);
        self.connect.add(&o.connect).expect("histograms of the same bounds merge");
        self.handshake.add(&o.handshake).expect("histograms of the same bounds merge");
    }
}

/// One outage: from a drop while every connection was up, until every
/// dropped connection was back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// When the first drop came, seconds after the run's start.
    pub start_s: f64,
    /// Until every dropped connection was back; `None`: not recovered by
    /// the end of the run.
    pub recovery_s: Option<f64>,
    /// Connections dropped during it.
    pub drops: u64,
}

/// The result's `churn` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnResult {
    /// The counts, as the workers' sum had them; their keys sit in `churn`
    /// itself (flattened), as they did before [`ChurnTally`]. Flattening
    /// puts them first in the JSON, before `handshakes_per_s`, where that
    /// key used to come between `handshakes_in_window` and `drops`: the
    /// same object, read by name.
    #[serde(flatten)]
    pub tally: ChurnTally,
    /// `handshakes_in_window` over the measured time.
    pub handshakes_per_s: f64,
    /// Outages, at most [`MAX_OUTAGES`] (the first), in order.
    pub outages: Vec<Outage>,
    /// Every outage, kept or not.
    pub outages_total: u64,
    /// The longest recovery of a recovered outage, seconds.
    pub longest_recovery_s: Option<f64>,
    /// Some dropped connection was not back by the end of the run.
    pub not_recovered: bool,
    /// TCP connect of re-connections started in the measured window (the
    /// main `connect` series holds every connection of the run).
    pub reconnect_connect: HistogramData,
    /// Their TLS and upgrade (likewise against `handshake`).
    pub reconnect_handshake: HistogramData,
}

impl ChurnResult {
    /// The section from the workers' summed counts, the outages seen and
    /// the measured time.
    pub fn new(c: &ChurnCounts, outages: Vec<Outage>, measured_s: f64) -> Self {
        let outages_total = outages.len() as u64;
        let longest_recovery_s = outages.iter().filter_map(|o| o.recovery_s).reduce(f64::max);
        let not_recovered = outages.iter().any(|o| o.recovery_s.is_none());
        let mut outages = outages;
        outages.truncate(MAX_OUTAGES);
        let in_window = c.tally.handshakes_in_window;
        ChurnResult {
            tally: c.tally.clone(),
            handshakes_per_s: if measured_s > 0.0 { in_window as f64 / measured_s } else { 0.0 },
            outages,
            outages_total,
            longest_recovery_s,
            not_recovered,
            reconnect_connect: HistogramData::from_histogram(&c.connect),
            reconnect_handshake: HistogramData::from_histogram(&c.handshake),
        }
    }

    /// Why the run fails because of churn: dropped connections not back by
    /// its end. Drops, lost messages and refused re-connections alone fail
    /// nothing: with `--reconnect` they are what is measured (and the
    /// verdict line names them, [`report::verdict_note`]).
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.not_recovered {
            reasons.push(format!(
                "not recovered: connections dropped by the server were not all back by the end of the run ({} dropped, {} reconnected)",
                self.tally.drops.total(),
                self.tally.reconnects
            ));
        }
        reasons
    }
}
