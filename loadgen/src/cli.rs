//! The command line (clap derive). `run` loads a server; the others read
//! or produce the JSON that `run --json` writes: `merge` (workers of one
//! distributed run into one result), `compare` (against a baseline), `suite`
//! (named scenarios, one result each), `plot` (SVG). Each subcommand's arguments live here
//! or beside its code.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wsbench_server::ReplyMode;

#[derive(Debug, Parser)]
#[command(name = "wsbench-loadgen", version, about = "Load a WebSocket server and report truthful latency histograms")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a server (or, without a URL, an in-process wsbench server) and report.
    Run(Box<RunArgs>),
    /// Merge the results of loadgens that ran one scenario at the same time
    /// (a distributed run) into one result: histograms added exactly.
    Merge(crate::merge::MergeArgs),
    /// Hold results against a baseline's, side by side; with
    /// --fail-if-worse, a CI gate.
    Compare(crate::compare::CompareArgs),
    /// Run the named scenarios of a TOML file, one result file each.
    Suite(crate::suite::SuiteArgs),
    /// Draw results as SVG: latency percentile spectra (.json), throughput
    /// and p99 over time (.hlog).
    Plot(crate::plot::PlotArgs),
}

/// The message type sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    Binary,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// ws:// or wss:// URL to load. Without one, a wsbench server is started
    /// in this process on 127.0.0.1 at a free port, and loaded.
    pub url: Option<String>,

    /// Name of what is run, recorded in the result: compare matches results
    /// by it, and refuses to hold different scenarios against each other.
    #[arg(long, default_value = crate::output::DEFAULT_SCENARIO, value_parser = scenario_name)]
    pub scenario: String,

    /// Open connections.
    #[arg(short, long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,

    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 5000.0, value_parser = positive_f64)]
    pub connect_rate: f64,

    /// Time allowed for TCP connect, TLS and the WebSocket handshake together.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Source addresses, used round robin (to pass ~28k ports per address;
    /// on loopback: 127.0.0.2,127.0.0.3,...).
    #[arg(long, value_delimiter = ',', value_name = "ADDR,...")]
    pub local_addr: Vec<IpAddr>,

    /// Measured time, after the ramp-up and the warmup.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Load applied, nothing recorded, after the ramp-up.
    #[arg(short, long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Message size in bytes (at least 20: the stamp that matches replies).
    #[arg(short, long, default_value_t = 32)]
    pub size: usize,

    /// Message type.
    #[arg(long = "type", value_enum, default_value_t = MessageType::Text)]
    pub message_type: MessageType,

    /// Open loop: messages per second in total, on a fixed schedule spread
    /// over the connections. Without it the load is a closed loop.
    #[arg(short, long, value_parser = positive_f64)]
    pub rate: Option<f64>,

    /// Messages in flight per connection: exactly K in a closed loop
    /// (default 1); at most K in an open loop (default: no cap; with a cap,
    /// messages held back are late, and their lateness is counted).
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub pipeline: Option<u32>,

    /// The server's reply mode, sent as the query parameter `mode`; replies
    /// are checked against it.
    #[arg(short, long, value_parser = parse_mode())]
    pub mode: Option<ReplyMode>,

    /// Fragment size of `stream` replies (query parameter `chunk`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub chunk: Option<u32>,

    /// Extra handshake header, 'Name: value'. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Sends `Authorization: Bearer TOKEN`.
    #[arg(long, env = "WSBENCH_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,

    /// Sends `Origin: ORIGIN`.
    #[arg(long)]
    pub origin: Option<String>,

    /// wss: accept any certificate (test servers only).
    #[arg(long)]
    pub insecure: bool,

    /// wss: also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// Worker threads of the loadgen (default: all cores; with the embedded
    /// server, half of them).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Worker threads of the embedded server (default: the other half of the cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub server_threads: Option<u16>,

    /// After the run, how long to wait for replies still in flight before
    /// counting them missing.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Fraction of errors (failed connections and bad or missing replies,
    /// over connections and messages) above which the run fails.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    pub max_error_rate: f64,

    /// Open loop: send-lag p99 beyond which the loadgen, not the server, is
    /// reported as the limit.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub max_send_lag: Duration,

    /// Write everything measured as JSON (versioned schema).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write an HdrHistogram interval log (1 s intervals, a tag per series).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,

    /// No live progress view.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `10s`, `500ms`, `1m30s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return if (0.0..1e9).contains(&secs) {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("{s:?} is not a duration"))
        };
    }
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration ({e}); try 10s, 500ms or 1m"))
}

/// Scenario names become file names (`suite` writes `<name>.json`): letters,
/// digits, `-`, `_` and `.`, not starting with `.`, at most 64.
pub fn scenario_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a scenario name: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"))
    }
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1")),
    }
}

/// A reply mode, its possible values listed in `--help` and in errors.
fn parse_mode() -> impl clap::builder::TypedValueParser<Value = ReplyMode> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser as _};
    let values = ReplyMode::ALL.map(|m| PossibleValue::new(m.as_str()).help(m.help()));
    PossibleValuesParser::new(values).map(|s| s.parse::<ReplyMode>().expect("a listed mode"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn scenario_names() {
        assert!(scenario_name("small-closed_1.x").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(scenario_name(bad).is_err(), "{bad:?}");
        }
    }
}
