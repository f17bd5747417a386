//! One `[[scenario]]` of a suite file: a name and `run`'s flags as TOML
//! keys, turned into the `run` command line it stands for and checked by
//! `run`'s own rules.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use crate::commands::run::FromRunArgs;
use crate::commands::{Cli, Command};
use crate::error::Error;
use crate::results::setup::RunConfig;

/// A duration as `run` takes it: "10s", "500ms", or a number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// A number of seconds.
    Seconds(f64),
    /// "10s", "500ms", as `run` takes them.
    Text(String),
}

impl DurationValue {
    fn arg(&self) -> String {
        match self {
            DurationValue::Seconds(s) => s.to_string(),
            DurationValue::Text(t) => t.clone(),
        }
    }
}

/// One `[[scenario]]`: a name and `run`'s flags. Absent keys take `run`'s defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scenario's name: its files' name and `compare`'s key.
    pub name: String,
    /// For people; not used.
    pub description: Option<String>,
    /// `--connections`.
    pub connections: Option<u32>,
    /// `--connect-rate`.
    pub connect_rate: Option<f64>,
    /// `--rate` (an open loop).
    pub rate: Option<f64>,
    /// `--pipeline`.
    pub pipeline: Option<u32>,
    /// `--size`.
    pub size: Option<usize>,
    /// `--type`.
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// `--mode`.
    pub mode: Option<String>,
    /// `--chunk`.
    pub chunk: Option<u32>,
    /// `--duration`.
    pub duration: Option<DurationValue>,
    /// `--warmup`.
    pub warmup: Option<DurationValue>,
    /// `--drain-timeout`.
    pub drain_timeout: Option<DurationValue>,
    /// `--threads`.
    pub threads: Option<u16>,
    /// `--server-threads`.
    pub server_threads: Option<u16>,
    /// `--max-error-rate`.
    pub max_error_rate: Option<f64>,
    /// `--max-connect-errors`.
    pub max_connect_errors: Option<u64>,
    /// `--reply-timeout`.
    pub reply_timeout: Option<DurationValue>,
    /// `--allow-loadgen-limit`: the scenario measures the pair of loadgen
    /// and server (a closed loop on shared cores), so a busy loadgen is
    /// expected rather than a finding that voids the run.
    pub allow_loadgen_limit: Option<bool>,
    /// `--message`: one template, or a list.
    pub message: Option<Strings>,
    /// `--message-file`, relative to the scenario file.
    pub message_file: Option<PathBuf>,
    /// `--init`: one template, or a list.
    pub init: Option<Strings>,
    /// `--init-expect`.
    pub init_expect: Option<String>,
    /// `--subprotocol`: one name, or a list.
    pub subprotocol: Option<Strings>,
    /// `--match`.
    #[serde(rename = "match")]
    pub match_rule: Option<String>,
    /// `--expect`.
    pub expect: Option<String>,
    /// `--unsolicited`: "count" or "error".
    pub unsolicited: Option<String>,
    /// `--deflate`.
    pub deflate: Option<bool>,
    /// `--payload`: "compressible" or "random".
    pub payload: Option<String>,
    /// `--deflate-no-context-takeover`.
    pub deflate_no_context_takeover: Option<bool>,
    /// `--topic-size` (mode "broadcast").
    pub topic_size: Option<u32>,
    /// `--conn-lifetime`.
    pub conn_lifetime: Option<DurationValue>,
    /// `--messages-per-conn`.
    pub messages_per_conn: Option<u64>,
    /// `--reconnect`.
    pub reconnect: Option<bool>,
    /// `--reconnect-max-delay`.
    pub reconnect_max_delay: Option<DurationValue>,
}

/// A key that takes one string or a list of them (repeatable flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Strings {
    /// One value.
    One(String),
    /// Several, in order.
    Many(Vec<String>),
}

impl Strings {
    fn values(&self) -> &[String] {
        match self {
            Strings::One(s) => std::slice::from_ref(s),
            Strings::Many(v) => v,
        }
    }
}

/// A scenario file: its `[[scenario]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    #[serde(default)]
    pub(super) scenario: Vec<Scenario>,
}

impl Scenario {
    /// The `run` command line this scenario stands for.
    pub fn run_args(&self, url: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into()];
        a.extend(url.map(String::from));
        a.extend(["--scenario".into(), self.name.clone()]);
        let mut flag = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                a.push(format!("--{name}={v}"));
            }
        };
        flag("connections", self.connections.map(|v| v.to_string()));
        flag("connect-rate", self.connect_rate.map(|v| v.to_string()));
        flag("rate", self.rate.map(|v| v.to_string()));
        flag("pipeline", self.pipeline.map(|v| v.to_string()));
        flag("size", self.size.map(|v| v.to_string()));
        flag("type", self.message_type.clone());
        flag("mode", self.mode.clone());
        flag("chunk", self.chunk.map(|v| v.to_string()));
        flag("duration", self.duration.as_ref().map(DurationValue::arg));
        flag("warmup", self.warmup.as_ref().map(DurationValue::arg));
        flag("drain-timeout", self.drain_timeout.as_ref().map(DurationValue::arg));
        flag("threads", self.threads.map(|v| v.to_string()));
        flag("server-threads", self.server_threads.map(|v| v.to_string()));
        flag("max-error-rate", self.max_error_rate.map(|v| v.to_string()));
        flag("max-connect-errors", self.max_connect_errors.map(|v| v.to_string()));
        flag("reply-timeout", self.reply_timeout.as_ref().map(DurationValue::arg));
        flag("payload", self.payload.clone());
        flag("topic-size", self.topic_size.map(|v| v.to_string()));
        flag("conn-lifetime", self.conn_lifetime.as_ref().map(DurationValue::arg));
        flag("messages-per-conn", self.messages_per_conn.map(|v| v.to_string()));
        flag("reconnect-max-delay", self.reconnect_max_delay.as_ref().map(DurationValue::arg));
        for (name, on) in [
            ("allow-loadgen-limit", self.allow_loadgen_limit),
            ("deflate", self.deflate),
            ("deflate-no-context-takeover", self.deflate_no_context_takeover),
            ("reconnect", self.reconnect),
        ] {
            if on == Some(true) {
                a.push(format!("--{name}"));
            }
        }
        for (name, list) in [("message", &self.message), ("init", &self.init), ("subprotocol", &self.subprotocol)] {
            for v in list.iter().flat_map(Strings::values) {
                a.push(format!("--{name}={v}"));
            }
        }
        if let Some(file) = &self.message_file {
            a.push(format!("--message-file={}", file.display()));
        }
        for (name, v) in [
            ("init-expect", &self.init_expect),
            ("match", &self.match_rule),
            ("expect", &self.expect),
            ("unsolicited", &self.unsolicited),
        ] {
            if let Some(v) = v {
                a.push(format!("--{name}={v}"));
            }
        }
        a
    }

    /// The scenario as a run's configuration, checked by `run`'s own rules;
    /// a refusal names the file, the scenario and the key.
    pub fn config(&self, file: &Path, url: Option<&str>) -> Result<RunConfig, Error> {
        let at = |msg: String| Error::usage(format!("{}: scenario {:?}: {msg}", file.display(), self.name));
        // A message file is found next to the scenario file.
        let mut scenario = self.clone();
        if let (Some(f), Some(dir)) = (&self.message_file, file.parent()) {
            scenario.message_file = Some(dir.join(f));
        }
        let args = scenario.run_args(url);
        let cli = Cli::try_parse_from(std::iter::once("wsbench-loadgen".to_string()).chain(args)).map_err(|e| {
            // clap's message, to its usage lines, as one line: its first
            // line alone can end before what it is about ("...not
            // provided:" and the flag on the next line).
            let text = e.to_string();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect();
            at(lines.join(" ").trim_start_matches("error: ").to_string())
        })?;
        let Command::Run(run) = cli.command else { unreachable!("the arguments start with `run`") };
        RunConfig::from_args(&run).map_err(|e| at(e.to_string()))
    }
}
