//! The binary as a process: exit codes, one-line errors, the summary, and
//! the files it writes (`--json` round-trips, `--hlog` parses back).

mod common;

use std::process::{Command, Output};

use common::{serial, temp_dir};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use wsbench_loadgen::results::schema::read_json;
use wsbench_loadgen::results::stats::Series;

fn loadgen(args: &[&str]) -> Output {
    let _turn = serial();
    Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen")).args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One line, prefixed, and no backtrace.
fn assert_one_line(o: &Output, contains: &str) {
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("wsbench-loadgen: "), "{err:?}");
    assert!(err.contains(contains), "{err:?} should mention {contains:?}");
    assert!(!err.contains("backtrace") && !err.contains("panicked"), "{err:?}");
}

#[test]
fn a_run_writes_json_that_round_trips_and_an_hlog_that_parses() {
    let dir = temp_dir("outputs");
    let (json, hlog) = (dir.join("run.json"), dir.join("run.hlog"));
    let o = loadgen(&[
        "run",
        "-c",
        "50",
        "--mode",
        "echo",
        "-d",
        "2",
        "-w",
        "0.5",
        "--json",
        json.to_str().unwrap(),
        "--hlog",
        hlog.to_str().unwrap(),
        // What is tested is the files; on a quiet machine the debug
        // loadgen beside its embedded server is the closed loop's limit.
        "--allow-loadgen-limit",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needed in ["RTT corrected", "p99.99", "throughput", "errors: none", "close codes received: 1000 x50", "PASS"] {
        assert!(stdout.contains(needed), "summary lacks {needed:?}:\n{stdout}");
    }
    assert!(stderr(&o).is_empty(), "no live view without a terminal: {:?}", stderr(&o));

    // JSON: read back, the same document; each histogram decodes to its figures.
    let r = read_json(&json).unwrap();
    let again = serde_json::to_value(&r).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(again, original);
    assert_eq!(r.schema_version, wsbench_loadgen::results::schema::SCHEMA_VERSION);
    assert_eq!(r.loadgen_version, env!("CARGO_PKG_VERSION"));
    assert!(r.target.embedded && r.target.url.starts_with("ws://127.0.0.1:"));
    assert!(r.host.cores >= 1 && !r.host.os.is_empty());
    assert!(r.started_at.ends_with('Z'));
    assert_eq!(r.config.connections, 50);
    for s in Series::ALL {
        let data = r.histogram(s);
        let h = data.decode().unwrap();
        assert_eq!(h.len(), data.count, "{s:?}");
        assert_eq!(h.value_at_quantile(0.99), data.percentile(99.0).unwrap(), "{s:?}");
    }

    // hlog: the header lines the Java tools expect, then tagged intervals
    // whose histograms add up to the JSON's.
    let bytes = std::fs::read(&hlog).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("#[Histogram log format version 1.3]\n"), "{text}");
    assert!(text.contains("#[StartTime: ") && text.contains("#[BaseTime: "));
    assert!(text.contains("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""));
    let mut rtt_count = 0;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(i) = entry.unwrap() {
            intervals += 1;
            assert!(i.duration().as_secs_f64() <= 1.0);
            let tag = i.tag().expect("every interval is tagged").as_str();
            assert!(Series::from_name(tag).is_some(), "{tag}");
            if tag == "rtt_corrected" {
                let decoded = base64_decode(i.encoded_histogram());
                let h: hdrhistogram::Histogram<u64> =
                    Deserializer::new().deserialize(&mut std::io::Cursor::new(decoded)).unwrap();
                rtt_count += h.len();
            }
        }
    }
    assert!(intervals >= 3, "{intervals} intervals");
    assert_eq!(rtt_count, r.histogram(Series::RttCorrected).count);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn usage_errors_exit_2_in_one_line() {
    for (args, mention) in [
        (&["run", "--connections", "0"][..], "--connections"),
        (&["run", "--size", "8"], "--size"),
        (&["run", "--mode", "loud"], "--mode"),
        (&["run", "http://example.com/"], "scheme"),
        (&["run", "--duration", "soon"], "--duration"),
        (&["frobnicate"], "frobnicate"),
    ] {
        let o = loadgen(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_one_line(&o, mention);
    }
    let o = loadgen(&["run", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--connections"));
}

#[test]
fn too_many_connections_for_the_descriptors_are_refused() {
    // With the embedded server each connection costs 2 descriptors here.
    let o = loadgen(&["run", "-c", "600000"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_one_line(&o, "open files");
}

#[test]
fn an_unreachable_server_exits_1_in_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let o = loadgen(&["run", &format!("ws://127.0.0.1:{port}/")]);
    assert_eq!(o.status.code(), Some(1));
    assert_one_line(&o, "connection refused");
}

#[test]
fn a_failed_run_exits_1_and_still_writes_json() {
    // Replies in `echo` mode, checked as the seed's `reply`: all corrupt.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt
        .block_on(wsbench_server::spawn(wsbench_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            default_mode: wsbench_server::ReplyMode::Echo,
            ..Default::default()
        }))
        .unwrap();
    let dir = temp_dir("failed");
    let json = dir.join("run.json");
    let url = format!("ws://{}/upgradews", server.local_addr());
    let o = loadgen(&["run", &url, "-c", "5", "-d", "0.5", "-w", "0", "--json", json.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_one_line(&o, "run failed");
    let r = read_json(&json).unwrap();
    assert!(!r.outcome.passed);
    assert!(r.counters.reply_errors.corrupt > 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("corrupt reply"), "a sample is shown");

    // Tolerated with --max-error-rate 1.
    let o = loadgen(&["run", &url, "-c", "5", "-d", "0.5", "-w", "0", "--max-error-rate", "1"]);
    assert_eq!(o.status.code(), Some(1), "no reply checked is still a failure: {}", stderr(&o));
    rt.block_on(server.shutdown());
}

/// An output the command could not write is refused before it reads or
/// runs anything, as bad usage naming the flag (exit 2), for every
/// command that writes one.
#[test]
fn unwritable_outputs_are_refused_up_front_naming_the_flag() {
    let dir = temp_dir("unwritable");
    let result = concat!(env!("CARGO_MANIFEST_DIR"), "/../results/v0.2.0/small-closed.json");
    let a_file = dir.join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let scenarios = dir.join("s.toml");
    std::fs::write(&scenarios, "[[scenario]]\nname = \"a\"\nduration = \"1s\"\n").unwrap();
    for (args, flag) in [
        (vec!["plot", "-o", "/nonexistent-dir/x.svg", result], "-o /nonexistent-dir/x.svg: no directory"),
        (vec!["merge", "-o", "/nonexistent-dir/m.json", result], "-o /nonexistent-dir/m.json: no directory"),
        (
            vec!["suite", "--scenarios", scenarios.to_str().unwrap(), "--out", a_file.to_str().unwrap()],
            "not a directory",
        ),
    ] {
        let o = loadgen(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
    }
}

/// The interval log's seconds start where the measured window does: no
/// interval holds half warmup and half measurement while claiming a whole
/// second (a plot of it drew a false drop of throughput at the start).
#[test]
fn the_hlog_seconds_start_with_the_measured_window() {
    let dir = temp_dir("hlog-aligned");
    let hlog = dir.join("run.hlog");
    let o = loadgen(
        &["run", "-c", "4", "-r", "1000", "--mode", "echo", "-w", "0.5", "-d", "2", "-q", "--hlog"]
            .into_iter()
            .chain([hlog.to_str().unwrap(), "--allow-loadgen-limit"])
            .collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&hlog).unwrap();
    let mut measured = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        if let LogEntry::Interval(i) = entry.unwrap() {
            if i.tag().map(|t| t.as_str()) == Some("rtt_corrected") {
                let decoded = base64_decode(i.encoded_histogram());
                let h: hdrhistogram::Histogram<u64> =
                    Deserializer::new().deserialize(&mut std::io::Cursor::new(decoded)).unwrap();
                if !h.is_empty() {
                    measured.push((i.start_timestamp().as_secs_f64(), i.duration().as_secs_f64(), h.len()));
                }
            }
        }
    }
    // A whole second of ~1,000 replies starts at the window's start, 0.5 s
    // in (after a ramp of under a millisecond); the warmup's interval
    // before it holds at most what came in during the tick's own delay.
    let first = measured.iter().position(|&(_, length, _)| (length - 1.0).abs() < 0.01).expect("a whole second");
    let (start, _, count) = measured[first];
    assert!((start - 0.5).abs() < 0.01 && count >= 900, "{measured:?}");
    assert!(measured[..first].iter().all(|&(_, _, n)| n < 20), "{measured:?}");
}
