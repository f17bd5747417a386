//! The verdict of a run as data: its status (pass, fail, or the loadgen
//! was the limit), why, and the two error ratios it was judged on, each in
//! its own unit: failed connections over connections, failed messages over
//! messages. Connections and messages are never added together: 4,000
//! failed connections would vanish among a million messages.

use serde::{Deserialize, Serialize};

use super::counters::Counters;
use super::setup::RunConfig;

/// What a run concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every check passed (a loadgen limit accepted by
    /// `--allow-loadgen-limit` included: it stays in the findings).
    Pass,
    /// The server failed a check: errors above what is allowed, no reply,
    /// a silent server, a run stopped early.
    Fail,
    /// The loadgen, not the server, held the load back: the figures are a
    /// lower bound of the server's, not a measurement of it.
    LoadgenLimit,
}

impl Status {
    /// How the summary says it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::LoadgenLimit => "LOADGEN LIMIT",
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The run passed its checks (status `pass`).
    pub passed: bool,
    /// Why the run ended before its time, if it did: "interrupted", ...
    pub stopped_early: Option<String>,
    /// Errors of every kind.
    pub errors: u64,
    /// Message errors over messages: the rate `--max-error-rate` bounds
    /// (before the `ratios` field: errors over connections plus messages).
    pub error_rate: f64,
    /// Why the run did not pass; empty when it passed.
    pub reasons: Vec<String>,
    /// Pass, fail or loadgen limit. Absent from results written before it:
    /// see [`Outcome::status`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The two error ratios the run was judged on. Absent from results
    /// written before them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratios: Option<ErrorRatios>,
}

impl Outcome {
    /// The status; for results written before the field, from `passed`.
    pub fn status(&self) -> Status {
        self.status.unwrap_or(if self.passed { Status::Pass } else { Status::Fail })
    }
}

/// Failed connections over connections, failed messages over messages,
/// each against its allowance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRatios {
    /// Connections that could not be opened, or ended badly once open.
    pub connections_failed: u64,
    /// Connections tried.
    pub connections_attempted: u64,
    /// `connections_failed / connections_attempted` (0 when none was tried).
    pub connection_failure_rate: f64,
    /// `--max-connect-errors`: failed connections allowed, a count.
    pub max_connect_errors: u64,
    /// Missing, corrupt, duplicate, out-of-order and unsent messages (and
    /// unsolicited ones, with `--unsolicited error`).
    pub messages_failed: u64,
    /// Messages of the run: sent (all phases), due but never sent, and
    /// received answering none of them ([`Counters::messages_judged`]).
    pub messages: u64,
    /// `messages_failed / messages` (0 when there was none).
    pub message_error_rate: f64,
    /// `--max-error-rate`: a fraction.
    pub max_error_rate: f64,
}

impl ErrorRatios {
    /// The ratios of `c`, against `config`'s allowances.
    pub fn of(c: &Counters, config: &RunConfig) -> Self {
        let connections_failed = c.connections_failed();
        ErrorRatios {
            connections_failed,
            connections_attempted: c.connections_attempted,
            connection_failure_rate: connections_failed as f64 / c.connections_attempted.max(1) as f64,
            max_connect_errors: config.max_connect_errors,
            messages_failed: c.reply_errors.total(),
            messages: c.messages_judged(),
            message_error_rate: c.error_rate(),
            max_error_rate: config.max_error_rate,
        }
    }

    /// More connections failed than `--max-connect-errors` allows.
    pub fn connections_over(&self) -> bool {
        self.connections_failed > self.max_connect_errors
    }

    /// The message error rate is above `--max-error-rate`.
    pub fn messages_over(&self) -> bool {
        self.message_error_rate > self.max_error_rate
    }

    /// "5 of 10 connections failed (50.0 %, allowed 0)".
    pub fn connections_in_words(&self) -> String {
        format!(
            "{} of {} connections failed ({:.1} %, allowed {})",
            thousands(self.connections_failed),
            thousands(self.connections_attempted),
            self.connection_failure_rate * 100.0,
            thousands(self.max_connect_errors)
        )
    }

    /// "3 of 31,325 messages failed (0.0096 %, allowed 1 %)".
    pub fn messages_in_words(&self) -> String {
        format!(
            "{} of {} messages failed ({:.4} %, allowed {} %)",
            thousands(self.messages_failed),
            thousands(self.messages),
            self.message_error_rate * 100.0,
            trimmed(self.max_error_rate * 100.0)
        )
    }
}

/// 31325 as "31,325".
pub fn thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A percentage as given: 1 as "1", 0.5 as "0.5", without float noise.
fn trimmed(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        serde_json::from_value(serde_json::json!({
            "url": null, "connections": 10, "connect_rate": 1.0, "connect_timeout": 1.0, "local_addrs": [],
            "duration": 1.0, "warmup": 0.0, "size": 32, "message_type": "text",
            "load": {"model": "closed", "pipeline": 1}, "mode": null, "chunk": null, "headers": [],
            "origin": null, "insecure": false, "ca": null, "threads": 1, "server_threads": null,
            "drain_timeout": 1.0, "max_error_rate": 0.01, "max_send_lag": 0.005, "json": null, "hlog": null,
            "quiet": true
        }))
        .unwrap()
    }

    #[test]
    fn ratios_are_in_their_own_units_and_words() {
        let mut c = Counters { connections_attempted: 10, connections_opened: 5, ..Default::default() };
        c.connect_errors.http_status.insert(503, 5);
        c.messages_sent_total = 31_325;
        c.reply_errors.missing = 3;
        let r = ErrorRatios::of(&c, &config());
        assert_eq!(r.connections_in_words(), "5 of 10 connections failed (50.0 %, allowed 0)");
        assert_eq!(r.messages_in_words(), "3 of 31,325 messages failed (0.0096 %, allowed 1 %)");
        assert!(r.connections_over() && !r.messages_over());
    }

    #[test]
    fn unsent_messages_count_among_the_messages() {
        let mut c = Counters { messages_sent_total: 100, ..Default::default() };
        c.reply_errors.unsent = 900;
        assert_eq!(c.messages_due(), 1000);
        assert!((c.error_rate() - 0.9).abs() < 1e-12, "never above 100 %: {}", c.error_rate());
    }

    /// 100 messages each answered twice, beside 100 unsolicited pushes
    /// counted as errors: 200 failed of the 300 judged, not "200 of 100".
    #[test]
    fn duplicates_and_unsolicited_messages_count_among_the_messages() {
        let mut c = Counters { messages_sent_total: 100, ..Default::default() };
        c.reply_errors.duplicate = 100;
        c.reply_errors.unsolicited = 100;
        let r = ErrorRatios::of(&c, &config());
        assert_eq!(r.messages_in_words(), "200 of 300 messages failed (66.6667 %, allowed 1 %)");
        assert!(c.error_rate() <= 1.0);
    }

    #[test]
    fn thousands_and_trimmed() {
        assert_eq!(
            [thousands(0), thousands(999), thousands(1000), thousands(1_234_567)],
            ["0", "999", "1,000", "1,234,567"]
        );
        assert_eq!([trimmed(1.0), trimmed(0.5), trimmed(0.07 * 100.0)], ["1", "0.5", "7"]);
    }

    #[test]
    fn older_outcomes_have_a_status() {
        let o: Outcome = serde_json::from_value(serde_json::json!({
            "passed": false, "stopped_early": null, "errors": 3, "error_rate": 0.1, "reasons": ["x"]
        }))
        .unwrap();
        assert_eq!((o.status(), o.ratios.is_none()), (Status::Fail, true));
    }
}
