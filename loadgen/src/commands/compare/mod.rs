//! `compare BASE NEW`: a new build's results held against a baseline's,
//! side by side, and with `--fail-if-worse PCT`, a CI gate.
//!
//! BASE and NEW are each a result file or a directory of them (as `suite`
//! writes); results are paired by scenario name, and a pair must be of the
//! same scenario and of schema versions read together (v1 with v2:
//! [`schema::comparable`]), or nothing is compared (exit 2). Other JSON in
//! a directory (benches.json) is passed over.
//!
//! Each figure is taken per run: a result of `suite --repeat N` holds N runs,
//! a plain result one. Per scenario and figure the table shows BASE's and
//! NEW's medians and the judgement of [`crate::results::noise::judge`]: the
//! relative change of the medians with a bootstrap 95 % interval, called
//! "worse" or "improved" only when it is larger than PCT **and** the
//! interval excludes no change, "within noise" (or "below threshold")
//! otherwise. With fewer than 2 runs on a side (a v1 baseline, or no
//! `--repeat`) there is no interval: "noise unknown", and the plain PCT
//! threshold on the medians decides, as the table says.
//!
//! The gate (exit 1) fails on: a throughput, p50 or p99 judged worse (the
//! other figures are shown, not gated: see [`rows`]);
//! a NEW run that failed its own checks (errors past its
//! `--max-error-rate`), with a baseline or without; a scenario of BASE that
//! NEW lacks (a gate that passes because a scenario was not run gates
//! nothing). Scenarios only in
//! NEW have no baseline: reported, and failed only if their run failed.
//! Pairs that loaded the server differently (another rate, connection
//! count, size, mode, ...) are refused, unless `--allow-setup-change`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::Verdict;
use crate::error::Error;
pub use crate::results::noise::Better;
use crate::results::noise::Verdict as NoiseVerdict;
use crate::results::outcome::ErrorRatios;
use crate::results::schema::{self, RunResult, Status};
pub use figures::{rows, Call, Row};

mod figures;
mod side;
pub use side::Side;

/// `compare`'s arguments.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a result (`run --json`) or a directory of results.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// The results to hold against it: a result or a directory of results.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Exit 1 if any throughput, p50 or p99 is worse than BASE's by more
    /// than PCT percent (a factor both ways: 100 is a latency doubled or a
    /// throughput halved) and outside the noise of the repeats (with a
    /// single run on a side: by PCT alone); if a NEW run failed, or its
    /// errors pass BASE's allowances (--max-error-rate,
    /// --max-connect-errors); or if a scenario of BASE is missing from NEW.
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub fail_if_worse: Option<f64>,

    /// Compare results that loaded the server differently (connections,
    /// rate, size, mode, ...), which is otherwise refused (exit 2); the
    /// differences are noted.
    #[arg(long)]
    pub allow_setup_change: bool,
}

fn percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a percentage (e.g. 10 for 10%)")),
    }
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
    /// Every NEW result.
    pub new_results: &'a [(PathBuf, RunResult)],
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
    let mut m = Matching { pairs: Vec::new(), only_base: Vec::new(), only_new: Vec::new(), new_results: &new.results };
    for b in &base.results {
        match new.results.iter().find(|n| n.1.scenario == b.1.scenario) {
            Some(n) => {
                if !schema::comparable(b.1.schema_version, n.1.schema_version) {
                    return Err(Error::usage(format!(
                        "{} is schema version {} and {} is {}: results of these schema versions are not compared",
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
    let threshold = fail_if_worse.unwrap_or(0.0);
    for p in &m.pairs {
        let (b, n) = (&p.base.1, &p.new.1);
        let load = if b.config.load.is_open() { "open loop, RTT corrected" } else { "closed loop, RTT" };
        let (bn, nn) = (b.repeat_count(), n.repeat_count());
        let _ = writeln!(
            s,
            "\n{:<18} {:>12} {:>12}   change [95% interval]   ({load}; {}, {})",
            p.scenario,
            format!("BASE ({bn})"),
            format!("NEW ({nn})"),
            p.base.0.display(),
            p.new.0.display()
        );
        for row in rows(b, n) {
            let call = row.call(threshold);
            let worse = fail_if_worse.is_some() && row.gated && call.worse();
            let plain = if call.plain_worse { format!(", past {threshold}% (plain threshold)") } else { String::new() };
            let mark = match (worse, row.gated || call.judgement.verdict != NoiseVerdict::Worse) {
                (true, _) => "   WORSE",
                (false, false) => "   (not gated)",
                _ => "",
            };
            let _ = writeln!(
                s,
                "  {:<16} {:>12} {:>12}   {}{plain}{mark}",
                row.name,
                row.show(row.base_median()),
                row.show(row.new_median()),
                call.judgement
            );
            if worse {
                failures.push(format!(
                    "{}: {} {} -> {} ({}{plain})",
                    p.scenario,
                    row.name,
                    row.show(row.base_median()),
                    row.show(row.new_median()),
                    call.judgement
                ));
            }
        }
        if bn < 2 || nn < 2 {
            let _ = writeln!(
                s,
                "  note: noise unknown: BASE has {bn} run(s), NEW {nn}; with fewer than 2 on a side there is no interval, so the plain {threshold}% threshold on the medians decides (suite --repeat 5 or more on both sides for a gate that knows the noise)"
            );
        } else {
            let _ = writeln!(
                s,
                "  (medians of the runs; the change is NEW's median over BASE's, its interval a bootstrap of the runs)"
            );
            // With few runs, an unchanged build's runs all fall on one side
            // by chance often enough to be called outside the noise.
            let chance = by_chance(bn, nn);
            if chance > 0.01 {
                let _ = writeln!(
                    s,
                    "  note: with {bn} and {nn} runs, every NEW run lands past every BASE run by chance {:.1} % of the time per figure: use suite --repeat 5 or more on both sides for a gate",
                    chance * 100.0
                );
            }
        }
        let changed = setup_changes(b, n, &["target"]);
        if !changed.is_empty() {
            let _ = writeln!(s, "  note: set up differently: {}", changed.join(", "));
        }
        for (side, r) in [("BASE", b), ("NEW", n)] {
            if r.loadgen.limited {
                let _ = writeln!(
                    s,
                    "  note: {side}'s loadgen was the limit: its throughput is a lower bound of the server's, its latencies an upper bound"
                );
            }
            // A LOADGEN LIMIT run did not fail: its figures are a lower
            // bound (noted above), held against BASE like any other.
            if r.outcome.status() == Status::Fail {
                let _ = writeln!(s, "  note: {side}'s run failed: {}", r.outcome.reasons.join("; "));
            }
        }
        if fail_if_worse.is_some() && n.outcome.status() == Status::Fail {
            failures.push(format!("{}: the NEW run failed: {}", p.scenario, n.outcome.reasons.join("; ")));
        }
        for over in over_base_allowance(b, n) {
            let _ = writeln!(s, "  note: {over}");
            if fail_if_worse.is_some() {
                failures.push(format!("{}: {over}", p.scenario));
            }
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
    // No baseline to hold it against, but a failed run fails all the same.
    for (_, n) in m.new_results.iter().filter(|(_, n)| m.only_new.contains(&n.scenario.as_str())) {
        if n.outcome.status() == Status::Fail {
            let _ = writeln!(s, "  note: {}: the NEW run failed: {}", n.scenario, n.outcome.reasons.join("; "));
            if fail_if_worse.is_some() {
                failures.push(format!("{}: the NEW run failed: {}", n.scenario, n.outcome.reasons.join("; ")));
            }
        }
    }
    (s, failures)
}

/// The chance that `n` runs of an unchanged build all land on one given
/// side of `b` others: 1 / C(b + n, n), the least the runs can tell apart.
fn by_chance(b: usize, n: usize) -> f64 {
    (1..=n).map(|i| i as f64 / (b + i) as f64).product()
}

/// How NEW was set up differently from BASE, as "field BASE -> NEW", but
/// for the fields `except`.
fn setup_changes(b: &RunResult, n: &RunResult, except: &[&str]) -> Vec<String> {
    b.setup()
        .into_iter()
        .zip(n.setup())
        .filter(|((f, x), (_, y))| !except.contains(f) && x != y)
        .map(|((f, x), (_, y))| format!("{f} {x} -> {y}"))
        .collect()
}

/// Refuses pairs that loaded the server differently (another load, size,
/// mode, ...): their figures measure different things, and a halved rate
/// would hide a slower server. The target (an embedded server's port) and
/// the duration may differ. `--allow-setup-change` compares them anyway.
pub fn check_setups(m: &Matching<'_>) -> Result<(), Error> {
    for p in &m.pairs {
        let changed = setup_changes(&p.base.1, &p.new.1, &["target", "duration"]);
        if !changed.is_empty() {
            return Err(Error::usage(format!(
                "{}: NEW ran another load than BASE ({}): its figures are not comparable (--allow-setup-change compares them anyway)",
                p.scenario,
                changed.join(", ")
            )));
        }
    }
    Ok(())
}

/// NEW's errors beyond what BASE allowed, in words. The baseline sets the
/// bar: a NEW run made with a looser `--max-error-rate` or
/// `--max-connect-errors` passes its own verdict, and without this its
/// errors, shown but not gated, passed the gate with it.
fn over_base_allowance(b: &RunResult, n: &RunResult) -> Vec<String> {
    let ratios = ErrorRatios::of(&n.counters, &n.config);
    let mut over = Vec::new();
    if ratios.message_error_rate > b.config.max_error_rate {
        over.push(format!(
            "NEW's message error rate {:.4} % is over BASE's allowance {:.4} % (--max-error-rate)",
            ratios.message_error_rate * 100.0,
            b.config.max_error_rate * 100.0
        ));
    }
    if ratios.connections_failed > b.config.max_connect_errors {
        over.push(format!(
            "NEW had {} failed connections, over BASE's allowance of {} (--max-connect-errors)",
            ratios.connections_failed, b.config.max_connect_errors
        ));
    }
    over
}

/// Loads both sides, prints the comparison, and returns the exit status:
/// 0, or 1 when `--fail-if-worse` finds something worse.
pub fn execute(args: &CompareArgs) -> anyhow::Result<Verdict> {
    let base = Side::load(&args.base)?;
    let new = Side::load(&args.new)?;
    let m = pair(&base, &new)?;
    if !args.allow_setup_change {
        check_setups(&m)?;
    }
    let (text, failures) = report(&m, args.fail_if_worse);
    println!("compare: BASE {} vs NEW {}", base.path.display(), new.path.display());
    print!("{text}");
    let Some(pct) = args.fail_if_worse else { return Ok(Verdict::Passed) };
    if failures.is_empty() {
        println!("\nno throughput, p50 or p99 worse by more than {pct}% outside the noise: PASS");
        return Ok(Verdict::Passed);
    }
    println!("\nworse than BASE by more than {pct}% and outside the noise, or incomplete:");
    for f in &failures {
        println!("  {f}");
    }
    eprintln!("wsbench-loadgen: {} regression(s) past {pct}%: {}", failures.len(), failures.join("; "));
    Ok(Verdict::Failed)
}

#[cfg(test)]
mod tests;
