//! `compare BASE NEW`: a new build's results held against a baseline's,
//! side by side, and with `--fail-if-worse PCT`, a CI gate.
//!
//! BASE and NEW are each a result file or a directory of them (as `suite`
//! writes); results are paired by scenario name, and a pair must be of the
//! same scenario and schema version, or nothing is compared (exit 2). Other
//! JSON in a directory (benches.json) is passed over.
//!
//! The gate (exit 1) fails on: a throughput lower, or a p99 higher, than
//! BASE's by more than PCT percent; a NEW run that failed its own checks
//! (errors past its `--max-error-rate`); a scenario of BASE that NEW lacks
//! (a gate that passes because a scenario was not run gates nothing).
//! Scenarios only in NEW have no baseline: reported, not failed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::Verdict;
use crate::error::Error;
use crate::results::format::{count, micros};
use crate::results::schema::{self, HistogramData, RunResult};

/// `compare`'s arguments.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a result (`run --json`) or a directory of results.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// The results to hold against it: a result or a directory of results.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Exit 1 if any throughput is lower, or any p99 higher, than BASE's by
    /// more than PCT percent; or if a NEW run failed, or a scenario of BASE
    /// is missing from NEW.
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub fail_if_worse: Option<f64>,
}

fn percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a percentage (e.g. 10 for 10%)")),
    }
}

/// The results of one side, by file.
#[derive(Debug)]
pub struct Side {
    /// The file or directory given.
    pub path: PathBuf,
    /// Whether it is a directory (results are then paired by scenario).
    pub is_dir: bool,
    /// Each result, with its file.
    pub results: Vec<(PathBuf, RunResult)>,
}

impl Side {
    /// Reads a result, or every result of a directory (not recursing),
    /// refusing a directory that names a scenario twice or holds none.
    pub fn load(path: &Path) -> anyhow::Result<Side> {
        if !path.is_dir() {
            let r = schema::read_json(path)?;
            return Ok(Side { path: path.to_path_buf(), is_dir: false, results: vec![(path.to_path_buf(), r)] });
        }
        let entries =
            std::fs::read_dir(path).map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut results: Vec<(PathBuf, RunResult)> = Vec::new();
        for file in files {
            let bytes =
                std::fs::read(&file).map_err(|e| Error::usage(format!("cannot read {}: {e}", file.display())))?;
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
            if !schema::is_run_document(&value) {
                continue;
            }
            let r = schema::from_value(&file, value)?;
            if let Some((other, _)) = results.iter().find(|(_, o)| o.scenario == r.scenario) {
                return Err(Error::usage(format!(
                    "{}: scenario {:?} is in both {} and {}: one result per scenario",
                    path.display(),
                    r.scenario,
                    other.display(),
                    file.display()
                ))
                .into());
            }
            results.push((file, r));
        }
        if results.is_empty() {
            return Err(
                Error::usage(format!("{}: no {} result in this directory", path.display(), schema::SCHEMA)).into()
            );
        }
        Ok(Side { path: path.to_path_buf(), is_dir: true, results })
    }
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Higher is better (throughput).
    Higher,
    /// Lower is better (latency, errors).
    Lower,
}

/// One compared figure of one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The figure, as the table names it.
    pub name: &'static str,
    /// BASE's value.
    pub base: f64,
    /// NEW's value.
    pub new: f64,
    /// Which way is better.
    pub better: Better,
    /// Whether `--fail-if-worse` applies to this figure.
    pub gated: bool,
}

impl Row {
    /// NEW relative to BASE, in percent; `None` when BASE is 0.
    pub fn delta_pct(&self) -> Option<f64> {
        (self.base != 0.0).then(|| (self.new - self.base) / self.base * 100.0)
    }

    /// Worse than BASE by more than `pct` percent. From a BASE of 0, any
    /// latency or throughput change is not a percentage: not judged.
    pub fn worse_by_more_than(&self, pct: f64) -> bool {
        let Some(d) = self.delta_pct() else { return false };
        match self.better {
            Better::Higher => d < -pct,
            Better::Lower => d > pct,
        }
    }

    fn show(&self, v: f64) -> String {
        match self.name {
            "throughput msg/s" => count(v),
            "error rate" => format!("{:.4}%", v * 100.0),
            _ => micros(v as u64),
        }
    }

    fn show_delta(&self) -> String {
        if self.new == self.base {
            return "=".to_string();
        }
        if self.name == "error rate" {
            return format!("{:+.4} pp", (self.new - self.base) * 100.0);
        }
        match self.delta_pct() {
            Some(d) => format!("{d:+.1}%"),
            None => "n/a".to_string(),
        }
    }
}

/// The figures compared: throughput (replies received per second in the
/// window), the RTT's p50/p99/p99.9/max (from each message's intended send
/// time: coordinated omission corrected in an open loop, equal to the plain
/// RTT in a closed one), and the error rate. Only throughput and p99 are
/// gated: the tail beyond p99 and the max hang on a handful of messages.
pub fn rows(base: &RunResult, new: &RunResult) -> Vec<Row> {
    let (b, n) = (base.latency(), new.latency());
    let pct = |h: &HistogramData, p: f64| h.percentile(p).unwrap_or(0) as f64;
    let row = |name, base, new, better, gated| Row { name, base, new, better, gated };
    vec![
        row(
            "throughput msg/s",
            base.throughput.received_msgs_per_s,
            new.throughput.received_msgs_per_s,
            Better::Higher,
            true,
        ),
        row("p50", pct(b, 50.0), pct(n, 50.0), Better::Lower, false),
        row("p99", pct(b, 99.0), pct(n, 99.0), Better::Lower, true),
        row("p99.9", pct(b, 99.9), pct(n, 99.9), Better::Lower, false),
        row("max", b.max as f64, n.max as f64, Better::Lower, false),
        row("error rate", base.outcome.error_rate, new.outcome.error_rate, Better::Lower, false),
    ]
}

/// BASE and NEW results of one scenario.
#[derive(Debug)]
pub struct Pair<'a> {
    /// The scenario both results ran.
    pub scenario: &'a str,
    /// BASE's result, with its file.
    pub base: &'a (PathBuf, RunResult),
    /// NEW's result, with its file.
    pub new: &'a (PathBuf, RunResult),
}

/// The pairs to compare, and the scenarios found on one side only.
#[derive(Debug)]
pub struct Matching<'a> {
    /// Scenarios on both sides.
    pub pairs: Vec<Pair<'a>>,
    /// Scenarios NEW lacks.
    pub only_base: Vec<&'a str>,
    /// Scenarios without a baseline.
    pub only_new: Vec<&'a str>,
}

/// Pairs results by scenario. Refuses (usage error) two single files of
/// different scenarios, pairs of different schema versions, and sides with
/// no scenario in common.
pub fn pair<'a>(base: &'a Side, new: &'a Side) -> Result<Matching<'a>, Error> {
    if !base.is_dir && !new.is_dir {
        let ((bp, b), (np, n)) = (&base.results[0], &new.results[0]);
        if b.scenario != n.scenario {
            return Err(Error::usage(format!(
                "{} is scenario {:?} and {} is scenario {:?}: compare holds a scenario against itself only",
                bp.display(),
                b.scenario,
                np.display(),
                n.scenario
            )));
        }
    }
    let mut m = Matching { pairs: Vec::new(), only_base: Vec::new(), only_new: Vec::new() };
    for b in &base.results {
        match new.results.iter().find(|n| n.1.scenario == b.1.scenario) {
            Some(n) => {
                if b.1.schema_version != n.1.schema_version {
                    return Err(Error::usage(format!(
                        "{} is schema version {} and {} is {}: results of different schema versions are not compared",
                        b.0.display(),
                        b.1.schema_version,
                        n.0.display(),
                        n.1.schema_version
                    )));
                }
                m.pairs.push(Pair { scenario: &b.1.scenario, base: b, new: n });
            }
            None => m.only_base.push(&b.1.scenario),
        }
    }
    for n in &new.results {
        if !base.results.iter().any(|b| b.1.scenario == n.1.scenario) {
            m.only_new.push(&n.1.scenario);
        }
    }
    if m.pairs.is_empty() {
        let names = |s: &Side| s.results.iter().map(|r| r.1.scenario.as_str()).collect::<Vec<_>>().join(", ");
        return Err(Error::usage(format!(
            "no scenario in common: {} has {}; {} has {}",
            base.path.display(),
            names(base),
            new.path.display(),
            names(new)
        )));
    }
    Ok(m)
}

/// The comparison as text, and every reason the gate fails (empty without
/// `--fail-if-worse`, or when nothing is worse).
pub fn report(m: &Matching<'_>, fail_if_worse: Option<f64>) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut failures = Vec::new();
    for p in &m.pairs {
        let (b, n) = (&p.base.1, &p.new.1);
        let load = if b.config.load.is_open() { "open loop, RTT corrected" } else { "closed loop, RTT" };
        let _ = writeln!(
            s,
            "\n{:<18} {:>12} {:>12} {:>11}   ({load}; {}, {})",
            p.scenario,
            "BASE",
            "NEW",
            "delta",
            p.base.0.display(),
            p.new.0.display()
        );
        for row in rows(b, n) {
            let worse = fail_if_worse.is_some_and(|pct| row.gated && row.worse_by_more_than(pct));
            let _ = writeln!(
                s,
                "  {:<16} {:>12} {:>12} {:>11}{}",
                row.name,
                row.show(row.base),
                row.show(row.new),
                row.show_delta(),
                if worse { "   WORSE" } else { "" }
            );
            if worse {
                failures.push(format!(
                    "{}: {} {} -> {} ({})",
                    p.scenario,
                    row.name,
                    row.show(row.base),
                    row.show(row.new),
                    row.show_delta()
                ));
            }
        }
        let changed: Vec<String> = b
            .setup()
            .into_iter()
            .zip(n.setup())
            .filter(|((f, x), (_, y))| *f != "target" && x != y)
            .map(|((f, x), (_, y))| format!("{f} {x} -> {y}"))
            .collect();
        if !changed.is_empty() {
            let _ = writeln!(s, "  note: set up differently: {}", changed.join(", "));
        }
        for (side, r) in [("BASE", b), ("NEW", n)] {
            if r.loadgen.limited {
                let _ = writeln!(s, "  note: {side}'s loadgen was the limit: its figures are a lower bound");
            }
            if !r.outcome.passed {
                let _ = writeln!(s, "  note: {side}'s run failed: {}", r.outcome.reasons.join("; "));
            }
        }
        if fail_if_worse.is_some() && !n.outcome.passed {
            failures.push(format!("{}: the NEW run failed: {}", p.scenario, n.outcome.reasons.join("; ")));
        }
    }
    if !m.only_base.is_empty() {
        let _ = writeln!(s, "\nonly in BASE (not run by NEW): {}", m.only_base.join(", "));
        if fail_if_worse.is_some() {
            failures.extend(m.only_base.iter().map(|name| format!("{name}: missing from NEW")));
        }
    }
    if !m.only_new.is_empty() {
        let _ = writeln!(s, "\nonly in NEW (no baseline): {}", m.only_new.join(", "));
    }
    (s, failures)
}

/// Loads both sides, prints the comparison, and returns the exit status:
/// 0, or 1 when `--fail-if-worse` finds something worse.
pub fn execute(args: &CompareArgs) -> anyhow::Result<Verdict> {
    let base = Side::load(&args.base)?;
    let new = Side::load(&args.new)?;
    let m = pair(&base, &new)?;
    let (text, failures) = report(&m, args.fail_if_worse);
    println!("compare: BASE {} vs NEW {}", base.path.display(), new.path.display());
    print!("{text}");
    let Some(pct) = args.fail_if_worse else { return Ok(Verdict::Passed) };
    if failures.is_empty() {
        println!("\nno throughput lower and no p99 higher by more than {pct}%: PASS");
        return Ok(Verdict::Passed);
    }
    println!("\nworse than BASE by more than {pct}%, or incomplete:");
    for f in &failures {
        println!("  {f}");
    }
    eprintln!("wsbench-loadgen: {} regression(s) past {pct}%: {}", failures.len(), failures.join("; "));
    Ok(Verdict::Failed)
}

#[cfg(test)]
mod tests;
