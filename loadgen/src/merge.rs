//! `merge`: the results of several loadgens that ran one scenario at the same
//! time, against one target (a distributed run: one result per worker), as
//! one result that `compare` and `plot` read like any other.
//!
//! What is exact: each histogram is the sum of the workers' histograms,
//! bucket by bucket (`Histogram::add`), so every percentile of the merged
//! result is the percentile of all messages together, not an average of
//! percentiles; every counter is the sum of the workers' counters.
//!
//! What is not: throughput. Each worker counts messages over its own
//! measured window, and the workers did not start at exactly the same
//! instant. The merged window is the one common to all of them, from the
//! latest start to the earliest end; each worker's count is prorated to it
//! (its count over its own window, times the common window's length), which
//! assumes each worker's rate was steady in its window. The merged
//! throughput is thus the sum of the workers' rates. When the windows
//! coincide, this is exactly the summed counts over the window; the further
//! apart they are, the more it leans on that assumption, and `merge` warns
//! when they overlap for less than [`MIN_OVERLAP`] of the shortest window.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::LoadModel;
use crate::error::Error;
use crate::output::{self, HistogramData, MergedFrom, RunResult, Throughput, Timing};
use crate::stats::{new_histogram, Counters, Series};

/// Below this fraction of the shortest window in common, `merge` warns that
/// the throughput leans on steady rates.
pub const MIN_OVERLAP: f64 = 0.9;

/// Samples of bad replies kept in a merged result.
pub const MAX_MERGED_SAMPLES: usize = 20;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results (`run --json`) of loadgens that ran the same scenario at the
    /// same time against the same target.
    #[arg(required = true, value_name = "RESULT.json")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the merged result.
    #[arg(short, long, value_name = "OUT.json")]
    pub output: PathBuf,

    /// No summary on stdout.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Reads, merges, writes, and prints the merged summary. Exits like `run`:
/// 0 when the merged run passed, 1 when it failed (the file is written
/// either way).
pub fn execute(args: &MergeArgs) -> Result<u8, Error> {
    let inputs =
        args.inputs.iter().map(|p| output::read_json(p).map(|r| (p.clone(), r))).collect::<Result<Vec<_>, _>>()?;
    let mut merged = merge(&inputs)?;
    merged.config.json = Some(args.output.clone());
    output::write_json(&merged, &args.output)?;
    if !args.quiet {
        print!("{}", crate::report::summary(&merged));
    }
    let (start, end) = merged.window();
    let shortest = inputs.iter().map(|(_, r)| r.timing.measured_s).fold(f64::INFINITY, f64::min);
    println!(
        "merged {} results into {}: common window {:.3} s{}",
        inputs.len(),
        args.output.display(),
        end - start,
        if inputs.len() > 1 { format!(" (shortest worker window {shortest:.3} s)") } else { String::new() }
    );
    if shortest > 0.0 && (end - start) < MIN_OVERLAP * shortest {
        eprintln!(
            "wsbench-loadgen: warning: the workers' windows overlap for only {:.3} s of {shortest:.3} s: throughput is prorated to the common window, assuming steady rates",
            end - start
        );
    }
    let o = &merged.outcome;
    if o.passed {
        return Ok(0);
    }
    eprintln!("wsbench-loadgen: merged run failed: {}", o.reasons.join("; "));
    Ok(1)
}

/// What must be the same in every input for their sum to mean something,
/// as `(field, value)`: the schema version, the scenario, and the setup
/// but for connections and rate, which may differ: a worker carries its
/// share of the load.
fn identity(r: &RunResult) -> Vec<(&'static str, String)> {
    let mut fields = vec![("schema version", r.schema_version.to_string()), ("scenario", r.scenario.clone())];
    fields.extend(r.setup().into_iter().filter(|(f, _)| !matches!(*f, "connections" | "rate")));
    fields
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// Merges results of one scenario run at the same time. Refuses inputs that
/// differ in what [`identity`] lists, and windows that do not overlap.
pub fn merge(inputs: &[(PathBuf, RunResult)]) -> Result<RunResult, Error> {
    let Some((first_path, first)) = inputs.first() else {
        return Err(Error::usage("merge needs at least one result"));
    };
    let reference = identity(first);
    for (path, r) in &inputs[1..] {
        for ((field, want), (_, got)) in reference.iter().zip(identity(r)) {
            if *want != got {
                return Err(Error::usage(format!(
                    "{}: {field} is {got:?}, but {} has {want:?}: merge adds up workers of one scenario against one target",
                    name(path),
                    name(first_path)
                )));
            }
        }
    }

    // The common window.
    let windows: Vec<(f64, f64)> = inputs.iter().map(|(_, r)| r.window()).collect();
    let start = windows.iter().map(|w| w.0).fold(f64::NEG_INFINITY, f64::max);
    let end = windows.iter().map(|w| w.1).fold(f64::INFINITY, f64::min);
    if end <= start {
        return Err(Error::usage(format!(
            "the measured windows do not overlap (latest start {start:.3}, earliest end {end:.3}, Unix seconds): these loadgens did not run at the same time"
        )));
    }
    let common = end - start;

    // Histograms, exactly.
    let mut histograms = std::collections::BTreeMap::new();
    for s in Series::ALL {
        let mut sum = new_histogram();
        for (path, r) in inputs {
            let h = match r.histograms.get(&s) {
                Some(data) => data.decode().map_err(|e| Error::usage(format!("{}: {}: {e}", name(path), s.name())))?,
                None => return Err(Error::usage(format!("{}: no {} histogram", name(path), s.name()))),
            };
            sum.add(&h).map_err(|e| Error::usage(format!("{}: {}: cannot add: {e:?}", name(path), s.name())))?;
        }
        histograms.insert(s, HistogramData::from_histogram(&sum));
    }

    let mut counters = Counters::default();
    let mut throughput = Throughput {
        sent_msgs_per_s: 0.0,
        received_msgs_per_s: 0.0,
        sent_bytes_per_s: 0.0,
        received_bytes_per_s: 0.0,
        target_msgs_per_s: None,
    };
    let mut config = first.config.clone();
    config.connections = 0;
    config.threads = 0;
    config.hlog = None;
    let mut rate_sum = 0.0;
    let mut findings = Vec::new();
    let mut busy = Vec::new();
    let mut samples = Vec::new();
    let mut reasons = Vec::new();
    let mut stopped_early = None;
    let mut merged_from = Vec::new();
    let mut ramp_s: f64 = 0.0;
    let mut warmup_s: f64 = 0.0;
    let mut elapsed_s: f64 = 0.0;
    for ((path, r), &(w_start, w_end)) in inputs.iter().zip(&windows) {
        let file = name(path);
        counters.add(&r.counters);
        // Each worker's rate over its own window: its count prorated to the common one.
        let t = &r.throughput;
        throughput.sent_msgs_per_s += t.sent_msgs_per_s;
        throughput.received_msgs_per_s += t.received_msgs_per_s;
        throughput.sent_bytes_per_s += t.sent_bytes_per_s;
        throughput.received_bytes_per_s += t.received_bytes_per_s;
        if let Some(target) = t.target_msgs_per_s {
            throughput.target_msgs_per_s = Some(throughput.target_msgs_per_s.unwrap_or(0.0) + target);
        }
        config.connections = config.connections.saturating_add(r.config.connections);
        config.threads += r.config.threads;
        if let LoadModel::Open { rate, .. } = r.config.load {
            rate_sum += rate;
        }
        findings.extend(r.loadgen.findings.iter().map(|f| format!("{file}: {f}")));
        busy.extend_from_slice(&r.loadgen.worker_cpu_busy);
        samples.extend(r.samples.iter().map(|s| format!("{file}: {s}")));
        reasons.extend(r.outcome.reasons.iter().map(|s| format!("{file}: {s}")));
        if stopped_early.is_none() {
            stopped_early = r.outcome.stopped_early.as_ref().map(|s| format!("{file}: {s}"));
        }
        ramp_s = ramp_s.max(r.timing.ramp_s);
        warmup_s = warmup_s.max(r.timing.warmup_s);
        elapsed_s = elapsed_s.max(r.timing.elapsed_s);
        match &r.merged_from {
            // A merged result merged again: keep its workers.
            Some(inner) => merged_from.extend(inner.iter().cloned()),
            None => merged_from.push(MergedFrom {
                file,
                host: r.host.clone(),
                started_at: r.started_at.clone(),
                window_start_unix: w_start,
                window_end_unix: w_end,
                connections: r.config.connections,
                messages_received: r.counters.messages_received,
                passed: r.outcome.passed,
            }),
        }
    }
    if let LoadModel::Open { max_in_flight, .. } = first.config.load {
        config.load = LoadModel::Open { rate: rate_sum, max_in_flight };
    }
    samples.truncate(MAX_MERGED_SAMPLES);

    let errors = counters.errors();
    let error_rate = counters.error_rate();
    if error_rate > config.max_error_rate {
        reasons.push(format!(
            "merged error rate {:.4}% ({errors} errors) is above --max-error-rate {}%",
            error_rate * 100.0,
            config.max_error_rate * 100.0
        ));
    }
    // The earliest worker speaks for the run's start and host.
    let earliest = inputs
        .iter()
        .map(|(_, r)| r)
        .min_by(|a, b| a.started_at_unix.total_cmp(&b.started_at_unix))
        .expect("at least one input");
    let passed = reasons.is_empty() && inputs.iter().all(|(_, r)| r.outcome.passed);
    Ok(RunResult {
        schema: output::SCHEMA.to_string(),
        schema_version: first.schema_version,
        scenario: first.scenario.clone(),
        loadgen_version: first.loadgen_version.clone(),
        started_at: earliest.started_at.clone(),
        started_at_unix: earliest.started_at_unix,
        target: first.target.clone(),
        host: earliest.host.clone(),
        timing: Timing {
            ramp_s,
            warmup_s,
            measured_s: common,
            elapsed_s,
            window_start_unix: Some(start),
            window_end_unix: Some(end),
        },
        config,
        counters,
        throughput,
        loadgen: output::LoadgenHealth { limited: !findings.is_empty(), findings, worker_cpu_busy: busy },
        outcome: output::Outcome { passed, stopped_early, errors, error_rate, reasons },
        samples,
        histograms,
        merged_from: Some(merged_from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::testing::synthetic;

    fn input(file: &str, r: RunResult) -> (PathBuf, RunResult) {
        (PathBuf::from(file), r)
    }

    #[test]
    fn three_workers_add_up_exactly() {
        let a = synthetic("s", &["-c", "10", "-d", "10"], (100.0, 110.0), &[10, 20, 30, 40]);
        let b = synthetic("s", &["-c", "20", "-d", "10"], (100.5, 110.5), &[15, 25, 2_000]);
        let c = synthetic("s", &["-c", "30", "-d", "10"], (99.0, 109.0), &[1, 1, 1, 1, 1, 900_000]);
        let inputs = vec![input("a.json", a.clone()), input("b.json", b.clone()), input("c.json", c.clone())];
        let m = merge(&inputs).unwrap();
        for s in Series::ALL {
            let mut want = a.histogram(s).decode().unwrap();
            want.add(b.histogram(s).decode().unwrap()).unwrap();
            want.add(c.histogram(s).decode().unwrap()).unwrap();
            assert_eq!(m.histogram(s).decode().unwrap(), want, "{s:?}");
        }
        assert_eq!(m.latency().count, 13);
        assert_eq!(m.latency().max, c.latency().max);
        assert_eq!(m.counters.messages_received, 13);
        assert_eq!(m.counters.connections_opened, 60);
        assert_eq!(m.config.connections, 60);
        // The common window: the latest start to the earliest end.
        assert_eq!(m.window(), (100.5, 109.0));
        assert!((m.timing.measured_s - 8.5).abs() < 1e-9);
        // Throughput: the sum of each worker's rate over its own window.
        assert!((m.throughput.received_msgs_per_s - 1.3).abs() < 1e-9, "{}", m.throughput.received_msgs_per_s);
        let from = m.merged_from.as_ref().unwrap();
        assert_eq!(from.iter().map(|f| f.file.as_str()).collect::<Vec<_>>(), ["a.json", "b.json", "c.json"]);
        assert!(m.outcome.passed);
        // Merging the merged result with nothing else changes nothing measured.
        let again = merge(&[input("m.json", m.clone())]).unwrap();
        assert_eq!(again.histograms, m.histograms);
        assert_eq!(again.merged_from.unwrap().len(), 3);
    }

    #[test]
    fn refuses_what_does_not_add_up() {
        let base = || synthetic("s", &["-d", "10"], (100.0, 110.0), &[10]);
        let cases: Vec<(RunResult, &str)> = vec![
            (synthetic("other", &["-d", "10"], (100.0, 110.0), &[10]), "scenario"),
            (synthetic("s", &["-d", "10", "--size", "64"], (100.0, 110.0), &[10]), "size"),
            (synthetic("s", &["-d", "10", "-p", "4"], (100.0, 110.0), &[10]), "load model"),
            (synthetic("s", &["-d", "10", "--rate", "5"], (100.0, 110.0), &[10]), "load model"),
            (synthetic("s", &["-d", "5"], (100.0, 105.0), &[10]), "duration"),
            (
                {
                    let mut r = base();
                    r.target.url = "ws://127.0.0.1:10/ws".into();
                    r
                },
                "target",
            ),
            (synthetic("s", &["-d", "10"], (200.0, 210.0), &[10]), "do not overlap"),
        ];
        for (other, why) in cases {
            let e = merge(&[input("a.json", base()), input("b.json", other)]).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{why}: {e}");
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
        assert!(merge(&[]).is_err());
    }

    #[test]
    fn a_failed_worker_fails_the_merge() {
        let a = synthetic("s", &[], (0.0, 10.0), &[10]);
        let mut b = a.clone();
        b.outcome.passed = false;
        b.outcome.reasons = vec!["no reply was received in the measured window".into()];
        let m = merge(&[input("a.json", a), input("b.json", b)]).unwrap();
        assert!(!m.outcome.passed);
        assert_eq!(m.outcome.reasons, ["b.json: no reply was received in the measured window"]);
    }
}
