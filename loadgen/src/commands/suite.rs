//! `suite`: a list of named scenarios from a TOML file, each run in turn
//! (with `run`'s own code, in this process), each written as
//! `DIR/<name>.json` and `DIR/<name>.hlog`: the results that `compare`
//! holds against a baseline directory, scenario by scenario.
//!
//! A scenario is a name and the `run` flags that define it, as TOML keys:
//!
//! ```toml
//! [[scenario]]
//! name = "small-closed"       # file name and compare's key
//! description = "..."         # optional, for people
//! connections = 100
//! pipeline = 1                # closed loop; with `rate`: open loop
//! size = 32
//! type = "text"               # or "binary"
//! mode = "reply"              # echo, reply, json, stream
//! duration = "10s"            # or seconds as a number
//! warmup = "2s"
//! ```
//!
//! Every scenario is checked before any runs, so that a typo in the last
//! one does not waste the first ones' minutes; unknown keys are refused.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser};
use serde::Deserialize;

use super::args::scenario_name;
use super::run::{run_and_report, FromRunArgs};
use super::{Cli, Command, Verdict};
use crate::error::Error;
use crate::results::format::{count, micros};
use crate::results::schema::read_json;
use crate::results::setup::RunConfig;

/// `suite`'s arguments.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// ws:// or wss:// URL to load. Without one, each scenario runs against
    /// a wsbench server started in this process, as `run` does.
    pub url: Option<String>,

    /// The scenarios (TOML, `[[scenario]]` entries).
    #[arg(long, value_name = "FILE")]
    pub scenarios: PathBuf,

    /// Directory to write `<name>.json` and `<name>.hlog` to (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Run only these scenarios.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,

    /// No live progress view.
    #[arg(short, long)]
    pub quiet: bool,
}

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    scenario: Vec<Scenario>,
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
        a
    }

    /// The scenario as a run's configuration, checked by `run`'s own rules;
    /// a refusal names the file, the scenario and the key.
    pub fn config(&self, file: &Path, url: Option<&str>) -> Result<RunConfig, Error> {
        let at = |msg: String| Error::usage(format!("{}: scenario {:?}: {msg}", file.display(), self.name));
        let args = self.run_args(url);
        let cli = Cli::try_parse_from(std::iter::once("wsbench-loadgen".to_string()).chain(args)).map_err(|e| {
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("bad value").trim_start_matches("error: ").to_string();
            at(line)
        })?;
        let Command::Run(run) = cli.command else { unreachable!("the arguments start with `run`") };
        RunConfig::from_args(&run).map_err(|e| at(e.to_string()))
    }
}

/// Reads and checks a scenario file: TOML, known keys only, names unique.
pub fn load(path: &Path) -> Result<Vec<Scenario>, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    parse(path, &text)
}

/// Parses and checks scenario file `text`; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Scenario>, Error> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| {
        // toml's message spans lines (the source line, a caret): one line here.
        let msg = e.message().trim().to_string();
        let at = e
            .span()
            .map(|s| format!(" (line {})", text[..s.start.min(text.len())].lines().count().max(1)))
            .unwrap_or_default();
        Error::usage(format!("{}: {msg}{at}", path.display()))
    })?;
    if file.scenario.is_empty() {
        return Err(Error::usage(format!("{}: no [[scenario]] in this file", path.display())));
    }
    for (i, s) in file.scenario.iter().enumerate() {
        scenario_name(&s.name)
            .map_err(|e| Error::usage(format!("{}: scenario {}: name: {e}", path.display(), i + 1)))?;
        if file.scenario[..i].iter().any(|o| o.name == s.name) {
            return Err(Error::usage(format!("{}: scenario {:?} is named twice", path.display(), s.name)));
        }
    }
    Ok(file.scenario)
}

/// Runs the scenarios, one after the other, writing each result; prints a
/// summary line per scenario at the end. Exits 0 when every run passed, 1
/// when any failed (its files are written all the same), 130 if interrupted.
pub fn execute(args: &SuiteArgs) -> anyhow::Result<Verdict> {
    let mut scenarios = load(&args.scenarios)?;
    for name in &args.only {
        if !scenarios.iter().any(|s| &s.name == name) {
            return Err(Error::usage(format!("--only {name}: no such scenario in {}", args.scenarios.display())).into());
        }
    }
    if !args.only.is_empty() {
        scenarios.retain(|s| args.only.contains(&s.name));
    }
    let mut configs = Vec::new();
    for s in &scenarios {
        let mut c = s.config(&args.scenarios, args.url.as_deref())?;
        c.json = Some(args.out.join(format!("{}.json", s.name)));
        c.hlog = Some(args.out.join(format!("{}.hlog", s.name)));
        c.quiet = c.quiet || args.quiet;
        configs.push(c);
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", args.out.display())))?;

    let started = Instant::now();
    let mut lines = Vec::new();
    let mut failed = 0;
    for (i, config) in configs.into_iter().enumerate() {
        let name = scenarios[i].name.clone();
        println!("\n== scenario {}/{}: {name}", i + 1, scenarios.len());
        let json = config.json.clone().expect("set above");
        let t = Instant::now();
        let verdict = run_and_report(config).with_context(|| format!("scenario {name:?}"))?;
        if verdict == Verdict::Interrupted {
            return Ok(Verdict::Interrupted);
        }
        let r = read_json(&json)?;
        let rtt = r.latency();
        lines.push(format!(
            "  {name:<20} {:>9} msg/s  p50 {:>8}  p99 {:>8}  {:<4}  {:>5.1} s  {}",
            count(r.throughput.received_msgs_per_s),
            micros(rtt.percentile(50.0).unwrap_or(0)),
            micros(rtt.percentile(99.0).unwrap_or(0)),
            if r.outcome.passed { "PASS" } else { "FAIL" },
            t.elapsed().as_secs_f64(),
            json.display()
        ));
        if verdict != Verdict::Passed {
            failed += 1;
        }
    }
    println!("\nsuite: {} scenario(s) in {:.0} s, {failed} failed", lines.len(), started.elapsed().as_secs_f64());
    for l in &lines {
        println!("{l}");
    }
    if failed > 0 {
        eprintln!("wsbench-loadgen: {failed} of {} scenario(s) failed", lines.len());
        return Ok(Verdict::Failed);
    }
    Ok(Verdict::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<Scenario>, Error> {
        parse(Path::new("s.toml"), text)
    }

    #[test]
    fn a_scenario_is_run_flags() {
        let s = parsed(
            r#"
            [[scenario]]
            name = "open"
            connections = 10
            rate = 500
            size = 1024
            type = "binary"
            mode = "echo"
            duration = "3s"
            warmup = 0.5
            "#,
        )
        .unwrap();
        let c = s[0].config(Path::new("s.toml"), Some("ws://127.0.0.1:1/ws")).unwrap();
        assert_eq!(c.scenario, "open");
        assert_eq!(c.connections, 10);
        assert_eq!(c.load, crate::results::setup::LoadModel::Open { rate: 500.0, max_in_flight: None });
        assert_eq!(c.size, 1024);
        assert_eq!(c.mode.as_deref(), Some("echo"));
        assert_eq!(c.duration, std::time::Duration::from_secs(3));
        assert_eq!(c.warmup, std::time::Duration::from_millis(500));
        assert_eq!(c.url.as_deref(), Some("ws://127.0.0.1:1/ws"));
    }

    #[test]
    fn refusals_name_the_scenario_and_the_key() {
        for (text, want) in [
            ("[[scenario]]\nname = \"a\"\nconections = 5\n", "unknown field `conections`"),
            ("[[scenario]]\nname = \"a\"\nsize = 4\n", "scenario \"a\": --size 4 is too small"),
            ("[[scenario]]\nname = \"a\"\nmode = \"loud\"\n", "scenario \"a\": invalid value 'loud'"),
            ("[[scenario]]\nname = \"a\"\nduration = \"soon\"\n", "scenario \"a\": invalid value 'soon'"),
            ("[[scenario]]\nname = \"a b\"\n", "not a scenario name"),
            ("[[scenario]]\nname = \"a\"\n[[scenario]]\nname = \"a\"\n", "named twice"),
            ("[[scenario]]\nconnections = 5\n", "missing field `name`"),
            ("[[scenarios]]\nname = \"a\"\n", "unknown field `scenarios`"),
            ("", "no [[scenario]]"),
            ("[[scenario]\n", "s.toml: "),
        ] {
            let e = parsed(text).and_then(|s| s.iter().try_for_each(|s| s.config(Path::new("s.toml"), None).map(drop)));
            let e = e.expect_err(text);
            assert!(matches!(e, Error::Usage(_)), "{text}: {e}");
            assert!(e.to_string().contains(want), "{text:?}: {e}");
            assert_eq!(e.to_string().lines().count(), 1, "one line: {e}");
        }
    }

    #[test]
    fn the_shipped_matrix_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/scenarios.toml");
        let scenarios = load(&path).unwrap();
        let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 5, "{names:?}");
        for s in &scenarios {
            s.config(&path, None).unwrap();
        }
    }
}
