//! `merge`: the results of loadgens that ran one scenario at the same
//! time, as one result (see [`crate::results::merge`] for what is exact and
//! what is prorated).

use std::path::PathBuf;

use clap::Args;

use super::Verdict;
use crate::results::merge::{merge, MIN_OVERLAP};
use crate::results::report::summary;
use crate::results::schema::{read_json, write_json};

/// `merge`'s arguments.
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
pub fn execute(args: &MergeArgs) -> anyhow::Result<Verdict> {
    let inputs = args.inputs.iter().map(|p| read_json(p).map(|r| (p.clone(), r))).collect::<Result<Vec<_>, _>>()?;
    let mut merged = merge(&inputs)?;
    merged.config.json = Some(args.output.clone());
    write_json(&merged, &args.output)?;
    if !args.quiet {
        print!("{}", summary(&merged));
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
        return Ok(Verdict::Passed);
    }
    eprintln!("wsbench-loadgen: merged run failed: {}", o.reasons.join("; "));
    Ok(Verdict::Failed)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::commands::testing::synthetic;
    use crate::error::Error;
    use crate::results::merge::merge;
    use crate::results::schema::RunResult;
    use crate::results::stats::Series;

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
