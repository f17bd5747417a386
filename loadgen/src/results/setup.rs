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
    Closed { pipeline: u32 },
    /// `rate` messages/s in total on a fixed schedule; `max_in_flight` per
    /// connection holds messages back (late, and counted so) when reached.
    Open { rate: f64, max_in_flight: Option<u32> },
}

impl LoadModel {
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
    pub connections: u32,
    pub connect_rate: f64,
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    pub local_addrs: Vec<IpAddr>,
    #[serde(with = "secs")]
    pub duration: Duration,
    #[serde(with = "secs")]
    pub warmup: Duration,
    pub size: usize,
    pub message_type: MessageType,
    pub load: LoadModel,
    /// `--mode`, if given (else the URL's `mode`, else the server's default).
    pub mode: Option<String>,
    pub chunk: Option<u32>,
    pub headers: Vec<(String, String)>,
    /// Never written out; `auth_token_set` records that one was used.
    #[serde(skip)]
    pub auth_token: Option<String>,
    #[serde(default)]
    pub auth_token_set: bool,
    pub origin: Option<String>,
    pub insecure: bool,
    pub ca: Option<PathBuf>,
    pub threads: usize,
    pub server_threads: Option<usize>,
    #[serde(with = "secs")]
    pub drain_timeout: Duration,
    pub max_error_rate: f64,
    #[serde(with = "secs")]
    pub max_send_lag: Duration,
    pub json: Option<PathBuf>,
    pub hlog: Option<PathBuf>,
    pub quiet: bool,
}

impl RunConfig {
    /// The time connections take to open at `--connect-rate`.
    pub fn ramp(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.connections.saturating_sub(1)) / self.connect_rate)
    }
}

fn default_scenario() -> String {
    super::schema::DEFAULT_SCENARIO.to_string()
}

/// Durations as seconds (a float) in JSON.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}
