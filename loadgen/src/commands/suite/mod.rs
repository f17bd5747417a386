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
//! # An API (see `run --help`, "API load"): one scenario per call shape.
//! message = ['{"jsonrpc":"2.0","id":{{seq}},"method":"ping"}']  # or one string
//! match = "json:/id"
//! expect = "json:/result=pong"
//! ```
//!
//! Every scenario is checked before any runs, so that a typo in the last
//! one does not waste the first ones' minutes; unknown keys are refused.
//!
//! `--repeat N` runs the list N times over, interleaved (A B C A B C ...),
//! so that a slow minute of a shared machine falls on every scenario alike
//! rather than on all runs of one. `DIR/<name>.json` then holds every run
//! (`repeats`, schema v2) and their exact sum as its top-level figures,
//! and each run's interval log is `DIR/<name>.r<K>.hlog` (K from 1). The
//! spread of the runs is what `compare` judges a change against.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::args::scenario_name;
use super::run::run_and_report;
use super::Verdict;
use crate::error::Error;
use crate::results::format::{count, micros};
use crate::results::merge::merge_repeats;
use crate::results::noise::median;
use crate::results::outcome::Status;
use crate::results::schema::{read_json, write_json, RunResult};

mod scenario;

use scenario::ScenarioFile;
pub use scenario::{DurationValue, Scenario, Strings};

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

    /// Run the whole list N times, interleaved (A B C A B C ...); each
    /// result keeps every run, for `compare` to see the noise. 5 or more
    /// for a gate on a shared machine (see results/README.md).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,

    /// Run only these scenarios.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,

    /// No live progress view.
    #[arg(short, long)]
    pub quiet: bool,
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
        // toml's message spans lines (the source line, a caret): one line
        // here, naming the key of the line it points at (a bad value's
        // message names only the value).
        let msg = e.message().trim().to_string();
        let (mut at, mut key) = (String::new(), String::new());
        if let Some(span) = e.span() {
            let before = &text[..span.start.min(text.len())];
            at = format!(" (line {})", before.lines().count().max(1));
            let line = text[before.rfind('\n').map_or(0, |i| i + 1)..].lines().next().unwrap_or("");
            if let Some((k, _)) = line.split_once('=').filter(|(k, _)| !msg.contains(k.trim())) {
                key = format!("{}: ", k.trim());
            }
        }
        Error::usage(format!("{}: {key}{msg}{at}", path.display()))
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

/// Runs the scenarios, the list `--repeat` times over, writing each
/// scenario's result (its runs added up) when all its runs are done; prints
/// a summary line per scenario at the end. Exits 0 when every run passed, 1
/// when any failed (its files are written all the same), 130 if
/// interrupted, and with the error if a run could not start (in both, the
/// runs completed until then are written).
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
        c.quiet = c.quiet || args.quiet;
        configs.push(c);
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(Error::usage(format!("--out {}: not a directory", args.out.display())).into());
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", args.out.display())))?;
    let stale = others_in(&args.out, &scenarios);
    if !stale.is_empty() {
        eprintln!(
            "wsbench-loadgen: warning: {} also holds results of scenarios not run now ({}): compare would read them with this run's",
            args.out.display(),
            stale.join(", ")
        );
    }

    let started = Instant::now();
    let repeats = args.repeat as usize;
    let mut runs: Vec<Vec<RunResult>> = vec![Vec::new(); scenarios.len()];
    let mut seconds = vec![0.0; scenarios.len()];
    let mut interrupted = false;
    let mut stopped_by = None;
    'rounds: for k in 1..=repeats {
        for (i, config) in configs.iter().enumerate() {
            let name = &scenarios[i].name;
            let of = if repeats > 1 { format!(", repeat {k}/{repeats}") } else { String::new() };
            println!("\n== scenario {}/{}: {name}{of}", i + 1, scenarios.len());
            let (json, hlog) = run_files(&args.out, name, k, repeats);
            let mut config = config.clone();
            config.json = Some(json.clone());
            config.hlog = Some(hlog);
            let t = Instant::now();
            let verdict = match run_and_report(config).with_context(|| format!("scenario {name:?}")) {
                Ok(verdict) => verdict,
                // A run that could not start (the target gone): the runs
                // done until then are still written, then the error told.
                Err(e) => {
                    if repeats > 1 {
                        let _ = std::fs::remove_file(&json);
                    }
                    stopped_by = Some(e);
                    break 'rounds;
                }
            };
            if verdict == Verdict::Interrupted {
                if repeats > 1 {
                    // A cut-short run is not one of the repeats: its part goes.
                    let _ = std::fs::remove_file(&json);
                }
                interrupted = true;
                break 'rounds;
            }
            seconds[i] += t.elapsed().as_secs_f64();
            runs[i].push(read_json(&json)?);
        }
    }
    let mut lines = Vec::new();
    let (mut failed, mut limited) = (0, 0);
    for (i, s) in scenarios.iter().enumerate() {
        if runs[i].is_empty() {
            continue;
        }
        let json = args.out.join(format!("{}.json", s.name));
        let result = write_result(&runs[i], &json, repeats)?;
        lines.push(summary_line(&s.name, &runs[i], &result, seconds[i], &json));
        match result.outcome.status() {
            Status::Fail => failed += 1,
            Status::LoadgenLimit => limited += 1,
            Status::Pass => {}
        }
    }
    let of = if repeats > 1 { format!(" x {repeats} repeats") } else { String::new() };
    println!(
        "\nsuite: {} scenario(s){of} in {:.0} s, {failed} failed, {limited} limited by the loadgen",
        lines.len(),
        started.elapsed().as_secs_f64()
    );
    for l in &lines {
        println!("{l}");
    }
    if let Some(e) = stopped_by {
        return Err(e);
    }
    if interrupted {
        return Ok(Verdict::Interrupted);
    }
    if failed > 0 {
        eprintln!("wsbench-loadgen: {failed} of {} scenario(s) failed", lines.len());
        return Ok(Verdict::Failed);
    }
    if limited > 0 {
        eprintln!(
            "wsbench-loadgen: the loadgen was the limit in {limited} of {} scenario(s) (allow_loadgen_limit = true accepts it)",
            lines.len()
        );
        return Ok(Verdict::LoadgenLimit);
    }
    Ok(Verdict::Passed)
}

/// The scenarios of the results in `out` that are not among `scenarios`:
/// left by an earlier suite (another file, or `--only`).
fn others_in(out: &Path, scenarios: &[Scenario]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(out) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| read_json(&p).ok().map(|r| r.scenario))
        .filter(|name| !scenarios.iter().any(|s| &s.name == name))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Where run `k` of `repeats` of scenario `name` writes its result and its
/// interval log. A single run writes the scenario's files; a repeated one
/// writes its result aside (`.json.part`, read back and removed: `compare`
/// reads `*.json` only) and its log as `<name>.r<K>.hlog`.
fn run_files(out: &Path, name: &str, k: usize, repeats: usize) -> (PathBuf, PathBuf) {
    if repeats == 1 {
        (out.join(format!("{name}.json")), out.join(format!("{name}.hlog")))
    } else {
        (out.join(format!("{name}.r{k}.json.part")), out.join(format!("{name}.r{k}.hlog")))
    }
}

/// Writes a scenario's result: its one run as it is, or its runs added up
/// with each kept (`repeats`); removes the runs' `.part` files.
fn write_result(runs: &[RunResult], json: &Path, repeats: usize) -> anyhow::Result<RunResult> {
    if repeats == 1 {
        return Ok(runs[0].clone());
    }
    let mut result = merge_repeats(runs)?;
    result.config.json = Some(json.to_path_buf());
    result.config.hlog = None;
    write_json(&result, json)?;
    for k in 1..=runs.len() {
        let (part, _) = run_files(json.parent().unwrap_or(Path::new(".")), &result.scenario, k, repeats);
        let _ = std::fs::remove_file(part);
    }
    Ok(result)
}

/// One line of the suite's summary: the median of the runs' figures, and
/// their range when there are several.
fn summary_line(name: &str, runs: &[RunResult], result: &RunResult, seconds: f64, json: &Path) -> String {
    let figure = |f: &dyn Fn(&RunResult) -> f64, show: &dyn Fn(f64) -> String, width: usize| {
        let values: Vec<f64> = runs.iter().map(f).collect();
        let mid = format!("{:>width$}", show(median(&values).unwrap_or(0.0)));
        if runs.len() < 2 {
            return mid;
        }
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        format!("{mid} ({}-{})", show(lo), show(hi))
    };
    let us = |v: f64| micros(v as u64);
    let p = |q: f64| move |r: &RunResult| r.latency().percentile(q).unwrap_or(0) as f64;
    format!(
        "  {name:<20} {} msg/s  p50 {}  p99 {}  {:<13}  {:>5.1} s  {}",
        figure(&|r| r.throughput.received_msgs_per_s, &count, 9),
        figure(&p(50.0), &us, 8),
        figure(&p(99.0), &us, 8),
        result.outcome.status().label(),
        seconds,
        json.display()
    )
}

#[cfg(test)]
mod tests;
