//! The validated settings of one run, as plain data: the engine runs them,
//! and the result records them (its `config`), so that a result says how it
//! was obtained. They live in the results layer because a result must be
//! readable without the engine; checking flags into them is the commands'
//! job (`commands::run`), so nothing here knows the command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The message type sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// Text frames (the filler is ASCII, so messages stay UTF-8).
    Text,
    /// Binary frames (the filler takes every byte value).
    Binary,
}

impl MessageType {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Text => "text",
            MessageType::Binary => "binary",
        }
    }
}

/// How messages are paced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LoadModel {
    /// `pipeline` messages in flight per connection, each sent as soon as a
    /// reply makes room.
    Closed {
        /// Messages in flight per connection.
        pipeline: u32,
    },
    /// `rate` messages/s in total on a fixed schedule; `max_in_flight` per
    /// connection holds messages back (late, and counted so) when reached.
    Open {
        /// Messages per second, all connections together.
        rate: f64,
        /// `--pipeline`: the cap on messages in flight per connection.
        max_in_flight: Option<u32>,
    },
}

impl LoadModel {
    /// Whether messages follow a schedule.
    pub fn is_open(&self) -> bool {
        matches!(self, LoadModel::Open { .. })
    }
}

/// Everything a run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// The result's name. Recorded once, as the result's top-level
    /// `scenario`, not again here.
    #[serde(skip, default = "default_scenario")]
    pub scenario: String,
    /// The URL as given; `None` runs the embedded server.
    pub url: Option<String>,
    /// `--connections`.
    pub connections: u32,
    /// `--connect-rate`, connections per second.
    pub connect_rate: f64,
    /// `--connect-timeout`.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// `--local-addr`.
    pub local_addrs: Vec<IpAddr>,
    /// `--duration`: the measured window.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// `--warmup`.
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// `--size`, bytes per message.
    pub size: usize,
    /// `--type`.
    pub message_type: MessageType,
    /// `--rate` and `--pipeline`.
    pub load: LoadModel,
    /// `--mode`, if given (else the URL's `mode`, else the server's default).
    pub mode: Option<String>,
    /// `--chunk`.
    pub chunk: Option<u32>,
    /// `-H`, checked.
    pub headers: Vec<(String, String)>,
    /// Never written out; `auth_token_set` records that one was used.
    #[serde(skip)]
    pub auth_token: Option<String>,
    /// Whether `--auth-token` was given.
    #[serde(default)]
    pub auth_token_set: bool,
    /// `--origin`.
    pub origin: Option<String>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--ca`.
    pub ca: Option<PathBuf>,
    /// Worker threads.
    pub threads: usize,
    /// The embedded server's threads (none for a URL).
    pub server_threads: Option<usize>,
    /// `--drain-timeout`.
    #[serde(with = "secs")]
    pub drain_timeout: Duration,
    /// `--max-error-rate`: message errors over messages.
    pub max_error_rate: f64,
    /// `--max-connect-errors`: connections that may fail without failing
    /// the run (0 in results written before it).
    #[serde(default)]
    pub max_connect_errors: u64,
    /// `--allow-loadgen-limit`: a run the loadgen could not drive passes
    /// (still reported).
    #[serde(default)]
    pub allow_loadgen_limit: bool,
    /// `--reply-timeout`: no reply for this long, with messages
    /// outstanding, stops the run.
    #[serde(with = "secs", default = "default_reply_timeout")]
    pub reply_timeout: Duration,
    /// `--max-send-lag`.
    #[serde(with = "secs")]
    pub max_send_lag: Duration,
    /// `--json`.
    pub json: Option<PathBuf>,
    /// `--hlog`.
    pub hlog: Option<PathBuf>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--message` and what goes with it: load an API with templated
    /// messages, replies matched by id. Absent: wsbench's own stamped
    /// messages, checked by the reply mode (and in results written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiConfig>,
    /// `--topic-size` (`--mode broadcast`): members per topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_size: Option<u32>,
    /// `--subprotocol`: offered in `Sec-WebSocket-Protocol`, in order; the
    /// server's pick is counted in `counters.subprotocols`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subprotocols: Vec<String>,
    /// `--conn-lifetime`, `--messages-per-conn`, `--reconnect`; absent without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<super::churn::ChurnConfig>,
    /// `--deflate`: the permessage-deflate offer; what it did is in
    /// `counters.deflate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate: Option<super::deflate::DeflateOffer>,
    /// `--payload random`: the filler after the stamp is random, not the
    /// short repeating one (absent: the default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub random_payload: bool,
}

/// What to do with a message that answers no request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unsolicited {
    /// Counted (with its rate), not an error: server pushes, notifications.
    #[default]
    Count,
    /// Counted, and an error of the message it came with (`reply_errors.unsolicited`).
    Error,
}

/// The API load as given, checked (`engine::api` compiles it): templates,
/// the init exchange, subprotocols, and how replies are matched and checked.
/// Strings as the user wrote them, so that a result says what was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiConfig {
    /// `--message` and the lines of `--message-file`, each optionally
    /// `W:TEMPLATE` with a weight.
    pub messages: Vec<String>,
    /// `--init`: sent once per connection after the upgrade.
    #[serde(default)]
    pub init: Vec<String>,
    /// `--init-expect`: the reply awaited after the init messages.
    #[serde(default)]
    pub init_expect: Option<String>,
    /// `--match`: `json:/pointer` or `regex:PATTERN`.
    #[serde(rename = "match")]
    pub match_rule: String,
    /// `--expect`: `json:/pointer=VALUE` or `regex:PATTERN`.
    #[serde(default)]
    pub expect: Option<String>,
    /// `--unsolicited`.
    #[serde(default)]
    pub unsolicited: Unsolicited,
}

impl RunConfig {
    /// The time connections take to open at `--connect-rate`.
    pub fn ramp(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.connections.saturating_sub(1)) / self.connect_rate)
    }
}

/// `--reply-timeout`'s default.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

fn default_reply_timeout() -> Duration {
    DEFAULT_REPLY_TIMEOUT
}

fn default_scenario() -> String {
    super::schema::DEFAULT_SCENARIO.to_string()
}

/// Durations as seconds (a float) in JSON.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Seconds, as a float.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// From seconds, as a float.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// Maps keyed by a code (an HTTP status, a close code), read back from
/// JSON, whose keys are strings. serde reads number keys from strings by
/// itself, except under `#[serde(flatten)]` (serde-rs/serde#1183): there
/// the map comes buffered, its keys plain strings that a `u16` refuses. The
/// counts flattened into `churn` ([`super::churn::ChurnTally`]) hold two
/// such maps. Writing needs nothing: `u16` keys are written as strings.
pub mod code_keys {
    use std::collections::BTreeMap;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    /// From a map whose keys are codes written as strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u16, u64>, D::Error> {
        let by_text = BTreeMap::<String, u64>::deserialize(d)?;
        by_text
            .into_iter()
            .map(|(k, n)| k.parse().map(|code| (code, n)).map_err(|_| D::Error::custom(format!("not a code: {k:?}"))))
            .collect()
    }
}
