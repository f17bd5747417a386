//! `compare` as CI uses it: directories of results (as `suite` writes),
//! exit 1 past `--fail-if-worse`, exit 2 in one line for what cannot be
//! compared. BASE is a real short run; NEW is it made slower, exactly.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{run, temp_dir};
use wsbench_loadgen::results::schema::{write_json, HistogramData, RunResult};
use wsbench_loadgen::results::stats::{new_histogram, Series};

fn compare(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen")).arg("compare").args(args).args(extra).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every RTT 30% longer.
fn slower(r: &RunResult) -> RunResult {
    let mut r = r.clone();
    for s in [Series::RttCorrected, Series::RttUncorrected] {
        let h = r.histogram(s).decode().unwrap();
        let mut scaled = new_histogram();
        for v in h.iter_recorded() {
            scaled.record_n(v.value_iterated_to() * 13 / 10, v.count_at_value()).unwrap();
        }
        r.histograms.insert(s, HistogramData::from_histogram(&scaled));
    }
    r
}

fn renamed(r: &RunResult, scenario: &str) -> RunResult {
    RunResult { scenario: scenario.into(), ..r.clone() }
}

#[test]
fn directories_are_matched_by_scenario_and_gated() {
    let a = run(&["-c", "10", "-d", "0.5", "-w", "0", "-q", "--scenario", "a"]);
    assert_eq!(a.scenario, "a");
    assert!(a.latency().percentile(99.0).unwrap() >= 4, "a p99 that +30% moves");
    let b = renamed(&a, "b");
    let dir = temp_dir("compare");
    let (base, new, partial) = (dir.join("base"), dir.join("new"), dir.join("partial"));
    for d in [&base, &new, &partial] {
        std::fs::create_dir_all(d).unwrap();
    }
    write_json(&a, &base.join("a.json")).unwrap();
    write_json(&b, &base.join("b.json")).unwrap();
    // Other JSON beside the results is passed over.
    std::fs::write(base.join("benches.json"), r#"{"schema": 1, "benches": []}"#).unwrap();
    write_json(&slower(&a), &new.join("a-new.json")).unwrap();
    write_json(&b, &new.join("b.json")).unwrap();
    write_json(&a, &partial.join("a.json")).unwrap();

    // Without a gate: the table, exit 0.
    let o = compare(&[&base, &new], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for needed in ["a ", "b ", "throughput msg/s", "p99.9", "error rate", "a-new.json"] {
        assert!(out.contains(needed), "{needed:?} in\n{out}");
    }
    // 30 % slower, as the histogram's buckets (3 significant digits) round
    // it: 226 µs x 1.3 lands in the bucket of 293 µs, +29.6 %.
    assert!(out.contains("+29.") || out.contains("+30."), "a change of about +30 % in\n{out}");
    assert!(!out.contains("WORSE") && !out.contains("benches"), "{out}");

    // A 30% slower p99 fails a 10% gate, not a 50% one.
    let o = compare(&[&base, &new], &["--fail-if-worse", "10"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(out.contains("WORSE"), "{out}");
    assert!(err.starts_with("wsbench-loadgen: ") && err.lines().count() == 1 && err.contains("a: p99"), "{err}");
    assert!(!err.contains("b: "), "b did not change: {err}");
    let o = compare(&[&base, &new], &["--fail-if-worse", "50"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("PASS"));

    // A scenario of BASE missing from NEW fails the gate.
    let o = compare(&[&base, &partial], &["--fail-if-worse", "50"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("b: missing from NEW"), "{}", text(&o.stderr));

    // Refusals: exit 2, one line.
    let older = dir.join("older.json");
    let mut v = serde_json::to_value(&a).unwrap();
    v["schema_version"] = 0.into();
    std::fs::write(&older, serde_json::to_vec(&v).unwrap()).unwrap();
    for (args, why) in [
        ([base.join("a.json"), base.join("b.json")], "scenario"),
        ([older.clone(), base.join("a.json")], "schema version"),
        ([base.join("a.json"), dir.join("missing.json")], "cannot read"),
        ([base.join("benches.json"), base.join("a.json")], "not a wsbench-loadgen/run document"),
    ] {
        let o = compare(&[&args[0], &args[1]], &["--fail-if-worse", "10"]);
        assert_eq!(o.status.code(), Some(2), "{why}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.starts_with("wsbench-loadgen: ") && err.lines().count() == 1 && err.contains(why), "{err}");
    }
}

/// A stored result whose histogram does not decode is refused by name, by
/// every command that reads results: not compared on its percentiles alone
/// (compare took it, exit 0), nor failing unnamed in the middle of a plot.
#[test]
fn a_result_whose_histogram_does_not_decode_is_refused_by_name() {
    let dir = temp_dir("bad-histogram");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/v0.2.0/small-closed.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    doc["histograms"]["rtt_corrected"]["encoded"] = "not base64!".into();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    let svg = dir.join("out.svg");
    let merged = dir.join("merged.json");
    for (command, args) in [
        ("compare", vec![good.as_path(), bad.as_path()]),
        ("plot", vec![Path::new("-o"), svg.as_path(), bad.as_path()]),
        ("merge", vec![Path::new("-o"), merged.as_path(), bad.as_path()]),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen")).arg(command).args(args).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains("bad.json: rtt_corrected: histogram is not base64"), "{command}: {err}");
    }
}

/// A gate that drops a scenario because its file was cut short, or holds a
/// run of another load against the baseline, gates nothing: both are
/// refused (exit 2), the second unless --allow-setup-change.
#[test]
fn a_cut_result_or_another_load_is_refused() {
    let stored = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/v0.2.0");
    let dir = temp_dir("cut-or-changed");
    let new = dir.join("new");
    std::fs::create_dir_all(&new).unwrap();
    for entry in std::fs::read_dir(&stored).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            std::fs::copy(&p, new.join(p.file_name().unwrap())).unwrap();
        }
    }
    let whole = std::fs::read(new.join("1k-open.json")).unwrap();
    std::fs::write(new.join("1k-open.json"), &whole[..3000]).unwrap();
    let o = compare(&[&stored, &new], &["--fail-if-worse", "100"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("1k-open.json: not JSON"), "{}", text(&o.stderr));

    let mut doc: serde_json::Value = serde_json::from_slice(&whole).unwrap();
    doc["config"]["load"]["rate"] = serde_json::json!(500.0);
    std::fs::write(new.join("1k-open.json"), serde_json::to_vec(&doc).unwrap()).unwrap();
    let base = stored.join("1k-open.json");
    let changed = new.join("1k-open.json");
    let o = compare(&[&base, &changed], &["--fail-if-worse", "100"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("NEW ran another load than BASE (rate"), "{}", text(&o.stderr));
    let o = compare(&[&base, &changed], &["--allow-setup-change"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("set up differently: rate"), "{}", text(&o.stdout));
}
