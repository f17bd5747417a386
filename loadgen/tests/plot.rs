//! `plot` as a process: from a real run's JSON and hlog, an SVG that is
//! well-formed XML and says, in text, what it shows: axis titles with units,
//! percentile ticks, and a legend entry per input.

mod common;

use std::process::Command;

use common::{config, serial, temp_dir};
use wsbench_loadgen::results::schema::write_json;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

#[test]
fn plot_draws_spectra_and_time_series_as_svg() {
    let dir = temp_dir("plot");
    let (json, hlog, svg) = (dir.join("open.json"), dir.join("open.hlog"), dir.join("plot.svg"));
    let mut c = config(&["-c", "10", "--rate", "2000", "-d", "2", "-w", "0.3", "-q", "--scenario", "open-2k"]);
    c.hlog = Some(hlog.clone());
    // The run writes the hlog itself, as it goes.
    let out = {
        let _turn = serial();
        wsbench_loadgen::commands::run::run(c).expect("the run starts")
    };
    write_json(&out.result, &json).unwrap();
    // A second result of another scenario, to see two legend entries.
    let other = dir.join("other.json");
    let mut r = out.result.clone();
    r.scenario = "baseline-copy".into();
    write_json(&r, &other).unwrap();

    let o = Command::new(BIN).arg("plot").arg(&json).arg(&other).arg(&hlog).arg("-o").arg(&svg).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
    for needed in [
        "RTT by percentile (from intended send time): open-2k, baseline-copy",
        "latency (ms, log scale)",
        "percentile (log scale of 1/(1-p))",
        "90%",
        "99%",
        "99.9%",
        "Throughput over time: open-2k",
        "p99 of each second: open-2k",
        "replies per second",
        "time since the run started (s)",
        "p99 (ms)",
        "open-2k replies",
        "open-2k rtt_corrected",
        "open-2k send_lag",
    ] {
        assert!(texts.iter().any(|t| t.contains(needed)), "no text {needed:?} in {texts:?}");
    }
    // Legend: scenario (directory/file).
    for (scenario, file) in [("open-2k (", "-plot/open.json)"), ("baseline-copy (", "-plot/other.json)")] {
        assert!(
            texts.iter().any(|t| t.starts_with(scenario) && t.ends_with(file)),
            "no legend {scenario}{file} in {texts:?}"
        );
    }
    // The latency axis is logarithmic: its ticks are whole decades of ms,
    // spanning at least one (a linear axis would tick 0, 0.5, 1, ...).
    let decades: Vec<f64> = texts
        .iter()
        .filter_map(|t| t.parse::<f64>().ok())
        .filter(|v| *v > 0.0 && (v.log10() - v.log10().round()).abs() < 1e-9)
        .collect();
    assert!(decades.len() >= 2, "latency ticks spanning decades: {texts:?}");

    let lines = doc.descendants().filter(|n| n.has_tag_name("polyline")).count();
    assert!(lines >= 2 + 1 + 3, "a line per input and tag, and the legend's: {lines}");

    // What cannot be plotted is refused in one line.
    std::fs::write(dir.join("bad.hlog"), "not a log\n").unwrap();
    let o = Command::new(BIN).arg("plot").arg(dir.join("bad.hlog")).arg("-o").arg(dir.join("x.svg")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
}
