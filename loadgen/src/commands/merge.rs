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
    super::args::check_writable("-o", &args.output)?;
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
    use crate::results::merge::{merge, merge_repeats};
    use crate::results::schema::RunResult;
    use crate::results::stats::Series;

    fn input(file: &str, r: RunResult) -> (PathBuf, RunResult) {
        (PathBuf::from(file), r)
    }

    /// A histogram that does not decode is named by its file and series.
    #[test]
    fn a_bad_histogram_names_its_input_and_series() {
        let a = synthetic("s", &["-c", "10", "-d", "10"], (100.0, 110.0), &[10, 20]);
        let mut b = synthetic("s", &["-c", "10", "-d", "10"], (100.0, 110.0), &[30]);
        b.histograms.get_mut(&Series::SendLag).unwrap().encoded = "not base64!".into();
        let e = merge(&[input("a.json", a), input("b.json", b)]).unwrap_err().to_string();
        assert!(e.contains("b.json: send_lag: "), "{e}");
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
    fn unsolicited_counts_and_rates_add_up() {
        let api = ["-d", "10", "--message", "{\"id\":{{seq}}}", "--match", "json:/id", "--subprotocol", "v1"];
        let worker = |n: u64, window: (f64, f64)| {
            let mut r = synthetic("s", &api, window, &[10]);
            r.counters.unsolicited = n;
            r.counters.unsolicited_total = n + 1;
            r.counters.subprotocols.insert("v1".into(), 2);
            r.throughput.unsolicited_msgs_per_s = Some(n as f64 / 10.0);
            r
        };
        let m =
            merge(&[input("a.json", worker(30, (100.0, 110.0))), input("b.json", worker(50, (100.0, 110.0)))]).unwrap();
        assert_eq!((m.counters.unsolicited, m.counters.unsolicited_total), (80, 82));
        assert_eq!(m.counters.subprotocols["v1"], 4);
        assert!((m.throughput.unsolicited_msgs_per_s.unwrap() - 8.0).abs() < 1e-9);
        let r = merge_repeats(&[worker(30, (100.0, 110.0)), worker(50, (120.0, 130.0))]).unwrap();
        assert_eq!(r.counters.unsolicited, 80);
        assert!((r.throughput.unsolicited_msgs_per_s.unwrap() - 4.0).abs() < 1e-9, "80 over 20 s");
        // Stamped results and API results are different set-ups.
        let stamped = synthetic("s", &["-d", "10"], (100.0, 110.0), &[10]);
        let e = merge(&[input("a.json", worker(1, (100.0, 110.0))), input("b.json", stamped)]).unwrap_err();
        assert!(e.to_string().contains("messages"), "{e}");
    }

    #[test]
    fn broadcast_figures_add_up_exactly() {
        use crate::results::broadcast::{BroadcastResult, BroadcastStats};
        let worker = |window: (f64, f64), delivery_us: &[u64]| {
            let mut r = synthetic("s", &["-d", "10", "--mode", "broadcast", "--topic-size", "4"], window, &[10]);
            let mut stats = BroadcastStats::default();
            for &us in delivery_us {
                BroadcastStats::record(&mut stats.delivery, us * 1000);
            }
            BroadcastStats::record(&mut stats.completion, 7_000);
            stats.counts.delivered = delivery_us.len() as u64;
            r.broadcast = Some(BroadcastResult::of(&stats, 4, 1, 10.0));
            r
        };
        let (a, b) = (worker((100.0, 110.0), &[5, 6, 7]), worker((100.0, 110.0), &[900]));
        let m = merge(&[input("a.json", a.clone()), input("b.json", b.clone())]).unwrap();
        let mb = m.broadcast.as_ref().expect("kept by merge");
        let mut want = a.broadcast.as_ref().unwrap().delivery_latency.decode().unwrap();
        want.add(b.broadcast.as_ref().unwrap().delivery_latency.decode().unwrap()).unwrap();
        assert_eq!(mb.delivery_latency.decode().unwrap(), want);
        assert_eq!((mb.counts.delivered, mb.topics, mb.completion_latency.count), (4, 2, 2));
        assert!((mb.deliveries_per_s - 0.4).abs() < 1e-9, "the sum of each loadgen's rate");
        let r = merge_repeats(&[a, worker((120.0, 130.0), &[1])]).unwrap();
        let rb = r.broadcast.unwrap();
        assert!((rb.deliveries_per_s - 0.2).abs() < 1e-9, "4 over 20 s");
        assert_eq!(rb.topics, 1, "runs in turn had the same topic, not two");
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
    fn refuses_a_run_given_twice() {
        let a = synthetic("s", &["-c", "10", "-d", "10"], (100.0, 110.0), &[10, 20]);
        let b = synthetic("s", &["-c", "10", "-d", "10"], (100.5, 110.5), &[30]);
        let e = merge(&[input("a.json", a.clone()), input("again.json", a.clone())]).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("again.json: the run started at") && e.to_string().contains("a.json"), "{e}");
        // Inside a merged result too.
        let ab = merge(&[input("a.json", a.clone()), input("b.json", b)]).unwrap();
        let e = merge(&[input("ab.json", ab), input("a2.json", a)]).unwrap_err();
        assert!(e.to_string().contains("a2.json: the run started at") && e.to_string().contains("ab.json"), "{e}");
    }

    #[test]
    fn a_failed_worker_fails_the_merge() {
        let a = synthetic("s", &[], (0.0, 10.0), &[10]);
        let mut b = a.clone();
        b.started_at = "2026-01-01T01:00:00.000Z".into();
        b.outcome.passed = false;
        b.outcome.reasons = vec!["no reply was received in the measured window".into()];
        let m = merge(&[input("a.json", a), input("b.json", b)]).unwrap();
        assert!(!m.outcome.passed);
        assert_eq!(m.outcome.reasons, ["b.json: no reply was received in the measured window"]);
    }

    #[test]
    fn repeats_add_up_exactly_and_are_kept() {
        let a = synthetic("s", &["-d", "10"], (100.0, 110.0), &[10, 20, 30, 40]);
        let b = synthetic("s", &["-d", "5"], (200.0, 205.0), &[15, 2_000]);
        let mut b = b;
        // A run of its own against the embedded server: another port.
        b.config.duration = a.config.duration;
        let (mut a, mut b2) = (a, b.clone());
        a.target.embedded = true;
        b2.target.embedded = true;
        b2.target.url = "ws://127.0.0.1:10/ws".into();
        let m = merge_repeats(&[a.clone(), b2.clone()]).unwrap();
        let mut want = a.latency().decode().unwrap();
        want.add(b2.latency().decode().unwrap()).unwrap();
        assert_eq!(m.latency().decode().unwrap(), want);
        assert_eq!(m.counters.messages_received, 6);
        // Time adds up: 6 messages over 15 s.
        assert!((m.timing.measured_s - 15.0).abs() < 1e-9);
        assert!((m.throughput.received_msgs_per_s - 0.4).abs() < 1e-9, "{}", m.throughput.received_msgs_per_s);
        assert_eq!(m.window(), (100.0, 205.0));
        assert_eq!(m.schema_version, crate::results::schema::SCHEMA_VERSION);
        let runs = m.runs();
        assert_eq!((m.repeat_count(), runs.len()), (2, 2));
        assert_eq!(runs[1].histograms, b2.histograms);
        assert_eq!(runs[1].throughput, b2.throughput);
        assert_eq!(runs[0].config.connections, a.config.connections);
        // Written and read back, every run is there.
        let v = serde_json::to_value(&m).unwrap();
        let back = crate::results::schema::from_value(std::path::Path::new("m.json"), v).unwrap();
        assert_eq!(back.runs()[1].histograms, b2.histograms);

        // A failed run fails the whole; another set-up is refused.
        b2.outcome.passed = false;
        b2.outcome.reasons = vec!["boom".into()];
        let m = merge_repeats(&[a.clone(), b2]).unwrap();
        assert!(!m.outcome.passed);
        assert_eq!(m.outcome.reasons, ["repeat 2: boom"]);
        let mut other = synthetic("s", &["-d", "10", "-c", "7"], (0.0, 10.0), &[1]);
        other.target.embedded = true;
        let e = merge_repeats(&[a.clone(), other]).unwrap_err();
        assert!(e.to_string().contains("repeat 2: connections"), "{e}");
        // Against an external server the URL must match.
        let mut elsewhere = b.clone();
        elsewhere.target.url = "ws://127.0.0.1:10/ws".into();
        let e = merge_repeats(&[b, elsewhere]).unwrap_err();
        assert!(e.to_string().contains("target"), "{e}");
    }

    #[test]
    fn workers_with_repeats_merge_repeat_by_repeat() {
        let w = |c: &str, shift: f64, lat: &[u64]| {
            let r1 = synthetic("s", &["-c", c, "-d", "10"], (100.0 + shift, 110.0 + shift), lat);
            let r2 = synthetic("s", &["-c", c, "-d", "10"], (200.0 + shift, 210.0 + shift), lat);
            merge_repeats(&[r1, r2]).unwrap()
        };
        let (a, b) = (w("10", 0.0, &[10, 20]), w("20", 0.5, &[30]));
        let m = merge(&[input("a.json", a.clone()), input("b.json", b.clone())]).unwrap();
        assert_eq!(m.repeat_count(), 2);
        assert_eq!(m.counters.messages_received, 6);
        assert_eq!(m.config.connections, 30);
        let runs = m.runs();
        // Repeat 1 of both workers: their common window.
        assert_eq!(runs[0].window(), (100.5, 110.0));
        assert_eq!(runs[0].latency().count, 3);
        assert_eq!(m.merged_from.as_ref().unwrap().len(), 2);
        let single = synthetic("s", &["-c", "20", "-d", "10"], (100.0, 110.0), &[1]);
        let e = merge(&[input("a.json", a), input("c.json", single)]).unwrap_err();
        assert!(e.to_string().contains("repeat(s)"), "{e}");
    }
}
