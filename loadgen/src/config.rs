//! The validated settings of one run, from the command line or a library
//! caller. Serialized as the `config` of the JSON result, so that a result
//! says how it was obtained.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::{MessageType, RunArgs};
use crate::error::Error;
use crate::payload::STAMP_LEN;

/// Largest message accepted by `--size`: the wsbench server's default limit.
pub const MAX_SIZE: usize = 16 << 20;

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

/// Headers the handshake writes itself; `-H` may not replace them.
const RESERVED_HEADERS: [&str; 5] =
    ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "content-length"];

impl RunConfig {
    /// Checks the flags against each other; a failure is a usage error.
    pub fn from_args(args: &RunArgs) -> Result<RunConfig, Error> {
        if args.size < STAMP_LEN {
            return Err(Error::usage(format!(
                "--size {} is too small: a message carries a {STAMP_LEN}-byte stamp (connection id and sequence number)",
                args.size
            )));
        }
        if args.size > MAX_SIZE {
            return Err(Error::usage(format!("--size {} is larger than {MAX_SIZE} bytes", args.size)));
        }
        if args.duration.is_zero() {
            return Err(Error::usage("--duration must be more than 0"));
        }
        let load = match args.rate {
            Some(rate) => {
                if rate / f64::from(args.connections) > 1_000_000.0 {
                    return Err(Error::usage(format!(
                        "--rate {rate} over {} connections is more than 1,000,000 messages/s per connection",
                        args.connections
                    )));
                }
                LoadModel::Open { rate, max_in_flight: args.pipeline }
            }
            None => LoadModel::Closed { pipeline: args.pipeline.unwrap_or(1) },
        };
        let headers = args.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
        if let Some(origin) = &args.origin {
            check_header_value("--origin", origin)?;
        }
        if let Some(token) = &args.auth_token {
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::usage("--auth-token must be non-empty printable ASCII without spaces"));
            }
        }
        if let Some(ca) = &args.ca {
            if !ca.is_file() {
                return Err(Error::usage(format!("--ca {}: no such file", ca.display())));
            }
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let embedded = args.url.is_none();
        let default_threads = if embedded { (cores / 2).max(1) } else { cores };
        let threads = args.threads.map_or(default_threads, usize::from).min(args.connections as usize).max(1);
        let server_threads = embedded.then(|| args.server_threads.map_or((cores - cores / 2).max(1), usize::from));
        Ok(RunConfig {
            scenario: args.scenario.clone(),
            url: args.url.clone(),
            connections: args.connections,
            connect_rate: args.connect_rate,
            connect_timeout: args.connect_timeout,
            local_addrs: args.local_addr.clone(),
            duration: args.duration,
            warmup: args.warmup,
            size: args.size,
            message_type: args.message_type,
            load,
            mode: args.mode.map(|m| m.to_string()),
            chunk: args.chunk,
            headers,
            auth_token: args.auth_token.clone(),
            auth_token_set: args.auth_token.is_some(),
            origin: args.origin.clone(),
            insecure: args.insecure,
            ca: args.ca.clone(),
            threads,
            server_threads,
            drain_timeout: args.drain_timeout,
            max_error_rate: args.max_error_rate,
            max_send_lag: args.max_send_lag,
            json: args.json.clone(),
            hlog: args.hlog.clone(),
            quiet: args.quiet,
        })
    }

    /// The time connections take to open at `--connect-rate`.
    pub fn ramp(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.connections.saturating_sub(1)) / self.connect_rate)
    }
}

fn default_scenario() -> String {
    crate::output::DEFAULT_SCENARIO.to_string()
}

fn parse_header(h: &str) -> Result<(String, String), Error> {
    let Some((name, value)) = h.split_once(':') else {
        return Err(Error::usage(format!("-H {h:?}: expected 'Name: value'")));
    };
    let (name, value) = (name.trim(), value.trim());
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(Error::usage(format!("-H {h:?}: {name:?} is not a header name")));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(Error::usage(format!("-H {h:?}: the handshake sets {name} itself")));
    }
    check_header_value(&format!("-H {name}"), value)?;
    Ok((name.to_string(), value.to_string()))
}

fn check_header_value(what: &str, value: &str) -> Result<(), Error> {
    if http::HeaderValue::from_str(value).is_err() {
        return Err(Error::usage(format!("{what}: {value:?} is not a valid header value")));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn config(args: &[&str]) -> Result<RunConfig, Error> {
        let cli = Cli::try_parse_from(["wsbench-loadgen", "run"].iter().chain(args)).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        RunConfig::from_args(&run)
    }

    #[test]
    fn load_models() {
        assert_eq!(config(&[]).unwrap().load, LoadModel::Closed { pipeline: 1 });
        assert_eq!(config(&["-p", "8"]).unwrap().load, LoadModel::Closed { pipeline: 8 });
        assert_eq!(config(&["--rate", "100"]).unwrap().load, LoadModel::Open { rate: 100.0, max_in_flight: None });
    }

    #[test]
    fn refusals_name_the_flag() {
        for (args, flag) in [
            (&["--size", "4"][..], "--size"),
            (&["-H", "nocolon"], "-H"),
            (&["-H", "Upgrade: h2c"], "-H"),
            (&["--auth-token", "a b"], "--auth-token"),
            (&["--ca", "/nonexistent.pem"], "--ca"),
        ] {
            let err = config(args).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{args:?}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn token_is_not_serialized() {
        let c = config(&["--auth-token", "s3cret"]).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("s3cret"));
        assert!(json.contains("\"auth_token_set\":true"));
    }
}
