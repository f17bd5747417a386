//! `run`: load a server and report. The flags ([`RunArgs`]) are checked
//! into the engine's plain [`RunConfig`] ([`config`]); the engine runs it
//! while [`live`] shows each second; the summary is printed and the result
//! written as JSON and hlog.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};

use super::args::{fraction, parse_duration, positive_f64, scenario_name};
use super::Verdict;
use crate::engine::protocol::ReplyMode;
use crate::engine::RunOutput;
use crate::error::Error;
use crate::results::report::summary;
use crate::results::schema::{write_json, Status, DEFAULT_SCENARIO};
use crate::results::setup::{MessageType, RunConfig, Unsolicited};

mod api_args;
mod broadcast_args;
mod churn_args;
mod config;
mod deflate_args;
pub mod live;

pub use config::{FromRunArgs, MAX_SIZE};

/// `--type`: the engine's [`MessageType`], as clap parses it. The variants
/// have no doc comments on purpose: clap would show them as help for each
/// value, and switch `run --help` to its long layout.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageTypeArg {
    Text,
    Binary,
}

impl From<MessageTypeArg> for MessageType {
    fn from(t: MessageTypeArg) -> Self {
        match t {
            MessageTypeArg::Text => MessageType::Text,
            MessageTypeArg::Binary => MessageType::Binary,
        }
    }
}

/// `--mode`: the reply modes by name, listed with what they do in `--help`
/// and in the error for any other value, parsed with `ReplyMode`'s own
/// `FromStr` (the engine's `ReplyMode` is not a clap type).
fn reply_modes() -> impl TypedValueParser<Value = ReplyMode> {
    let values = ReplyMode::ALL.map(|mode| PossibleValue::new(mode.as_str()).help(mode.help()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<ReplyMode>())
}

/// The exit statuses of `run`, as `run --help` lists them.
pub const EXIT_CODES: &str = "\
Exit status:
  0    passed (a loadgen limit too, with --allow-loadgen-limit)
  1    failed: connections or messages failed beyond --max-connect-errors or
       --max-error-rate, no reply, a silent server (--reply-timeout), a run
       stopped early; or the run could not start
  2    bad usage: a bad flag or value, an output path that cannot be written
  3    LOADGEN LIMIT: the loadgen, not the server, held the load back
  130  interrupted (Ctrl-C or SIGTERM); what was measured is still reported";

/// `run`'s arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// ws:// or wss:// URL to load. Without one, a wsbench server is started
    /// in this process on 127.0.0.1 at a free port, and loaded.
    pub url: Option<String>,

    /// Name of what is run, recorded in the result: compare matches results
    /// by it, and refuses to hold different scenarios against each other.
    #[arg(long, default_value = DEFAULT_SCENARIO, value_parser = scenario_name)]
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

    /// Message size in bytes (at least 20: the stamp that matches replies)
    /// [default: 32]. Not with --message, whose template is the message.
    #[arg(short, long)]
    pub size: Option<usize>,

    /// Message type.
    #[arg(long = "type", value_enum, default_value_t = MessageTypeArg::Text)]
    pub message_type: MessageTypeArg,

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
    #[arg(short, long, value_parser = reply_modes())]
    pub mode: Option<ReplyMode>,

    /// Fragment size of `stream` replies (query parameter `chunk`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub chunk: Option<u32>,

    /// Extra handshake header, 'Name: value'. Repeatable; 'Host: name'
    /// replaces the URL's Host.
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

    /// How long a reply is waited for before its message counts as missing,
    /// during the run and after it (for replies still in flight). A reply
    /// that comes later is counted as late, not as a duplicate, and its RTT
    /// is recorded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Fraction of messages that may fail (missing, corrupt, duplicate,
    /// out of order, or due and never sent) without failing the run.
    /// Failed connections are counted apart: --max-connect-errors.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    pub max_error_rate: f64,

    /// Connections that may fail (not opened, or ended badly once open)
    /// without failing the run.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_connect_errors: u64,

    /// Accept a run the loadgen could not drive (exit 0 instead of 3); the
    /// finding is still reported.
    #[arg(long)]
    pub allow_loadgen_limit: bool,

    /// No reply on any connection for this long, with messages
    /// outstanding, stops the run (a silent server): it fails.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub reply_timeout: Duration,

    /// Open loop: send-lag p99 beyond which the loadgen, not the server, is
    /// reported as the limit.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub max_send_lag: Duration,

    /// Write everything measured as JSON (versioned schema). Checked before
    /// the run: its directory must exist and the file be writable.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write an HdrHistogram interval log (1 s intervals, a tag per series),
    /// each second appended as the run goes. Checked before the run.
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,

    /// No live progress view.
    #[arg(short, long)]
    pub quiet: bool,

    /// Load any API: send messages made from this template instead of
    /// wsbench's stamped ones. Repeatable (cycled; `W:TEMPLATE` weighs
    /// one). Placeholders: {{conn}}, {{seq}} (the id --match finds in the
    /// reply), {{id}} (unique in the run), {{now_ms}}, {{rand:N}},
    /// {{pad:N}} (pads the message to N bytes). Needs --match.
    #[arg(long, value_name = "TEMPLATE", help_heading = "API load")]
    pub message: Vec<String>,

    /// Message templates, one per line (blank lines skipped), as --message.
    #[arg(long, value_name = "FILE", help_heading = "API load")]
    pub message_file: Option<PathBuf>,

    /// Sent once per connection after the upgrade, before its load (auth,
    /// subscribe). Repeatable, sent in order.
    #[arg(long, value_name = "TEMPLATE", help_heading = "API load")]
    pub init: Vec<String>,

    /// After --init, wait for a message meeting this (json:/pointer=VALUE,
    /// json:/pointer, regex:PATTERN) within --connect-timeout; else the
    /// connection fails ("init failed").
    #[arg(long, value_name = "RULE", help_heading = "API load")]
    pub init_expect: Option<String>,

    /// Offer this subprotocol in Sec-WebSocket-Protocol (repeatable, in
    /// order); the server's pick is checked (one offered, or none) and
    /// counted.
    #[arg(long, value_name = "NAME", help_heading = "API load")]
    pub subprotocol: Vec<String>,

    /// `--deflate`, `--deflate-no-context-takeover`, `--payload`.
    #[command(flatten)]
    pub deflate: deflate_args::DeflateArgs,

    /// Where the request id is in each message from the server:
    /// json:/pointer or regex:PATTERN with one capture group. A message
    /// answers the request in flight with that id, in any order.
    #[arg(long = "match", value_name = "RULE", help_heading = "API load")]
    pub match_rule: Option<String>,

    /// Checks each matched reply (json:/pointer=VALUE, json:/pointer,
    /// regex:PATTERN); a reply that fails it is corrupt.
    #[arg(long, value_name = "RULE", help_heading = "API load")]
    pub expect: Option<String>,

    /// Messages that answer no request in flight (pushes, notifications):
    /// counted (default), or counted as errors.
    #[arg(long, value_enum, help_heading = "API load")]
    pub unsolicited: Option<UnsolicitedArg>,

    /// `--conn-lifetime`, `--messages-per-conn`, `--reconnect`.
    #[command(flatten)]
    pub churn: churn_args::ChurnArgs,
    /// `--topic-size`.
    #[command(flatten)]
    pub broadcast: broadcast_args::BroadcastArgs,
}

/// `--unsolicited`. No doc comments on the variants: see [`MessageTypeArg`].
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnsolicitedArg {
    Count,
    Error,
}

impl From<UnsolicitedArg> for Unsolicited {
    fn from(u: UnsolicitedArg) -> Self {
        match u {
            UnsolicitedArg::Count => Unsolicited::Count,
            UnsolicitedArg::Error => Unsolicited::Error,
        }
    }
}

/// Runs the load `config` describes, with the live view unless `quiet`.
/// Errors are for runs that could not start; a run that started returns
/// its result, with the verdict in `result.outcome`.
pub fn run(config: RunConfig) -> Result<RunOutput, Error> {
    let mut live = live::Live::new(config.quiet);
    crate::engine::run(config, &mut live)
}

/// `run` from the command line.
pub fn execute(args: &RunArgs) -> anyhow::Result<Verdict> {
    run_and_report(RunConfig::from_args(args)?)
}

/// Runs `config`, prints the summary, writes the JSON (the interval log
/// was written as the run went), and concludes: passed, failed, the
/// loadgen was the limit, or interrupted.
pub fn run_and_report(config: RunConfig) -> anyhow::Result<Verdict> {
    let json = config.json.clone();
    let out = run(config)?;
    print!("{}", summary(&out.result));
    if let Some(path) = &json {
        write_json(&out.result, path)?;
    }
    let o = &out.result.outcome;
    match o.status() {
        Status::Pass => Ok(Verdict::Passed),
        Status::LoadgenLimit => {
            eprintln!("wsbench-loadgen: LOADGEN LIMIT: {}", o.reasons.join("; "));
            Ok(Verdict::LoadgenLimit)
        }
        Status::Fail => {
            eprintln!("wsbench-loadgen: run failed: {}", o.reasons.join("; "));
            let interrupted = o.stopped_early.as_deref() == Some("interrupted");
            Ok(if interrupted { Verdict::Interrupted } else { Verdict::Failed })
        }
    }
}
