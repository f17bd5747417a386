//! `merge` as a distributed run uses it: two loadgen processes load one
//! server at the same time, and the binary merges their results. The merged
//! histograms must be the inputs' sums, bucket by bucket.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{serial, temp_dir};
use wsbench_loadgen::results::schema::{read_json, RunResult};
use wsbench_loadgen::results::stats::Series;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits for a child, killing it past `limit` so a hung run fails the test
/// instead of hanging it.
fn wait_bounded(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("loadgen still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn worker(url: &str, json: &Path, connections: &str) -> std::process::Child {
    Command::new(BIN)
        .args([
            "run",
            url,
            "--scenario",
            "split",
            "-c",
            connections,
            "-p",
            "2",
            "-d",
            "1.5",
            "-w",
            "0.5",
            "-t",
            "1",
            "-q",
        ])
        .arg("--json")
        .arg(json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

#[test]
fn two_processes_merged_equal_the_sum_of_their_histograms() {
    let _turn = serial();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = rt
        .block_on(wsbench_server::spawn(wsbench_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        }))
        .unwrap();
    let url = format!("ws://{}/upgradews", server.local_addr());
    let dir = temp_dir("merge");
    let (a_path, b_path, out) = (dir.join("worker-0.json"), dir.join("worker-1.json"), dir.join("merged.json"));

    // Both at once: they share the server and the window, as workers do.
    let a = worker(&url, &a_path, "20");
    let b = worker(&url, &b_path, "30");
    for (o, name) in [(wait_bounded(a, Duration::from_secs(30)), "a"), (wait_bounded(b, Duration::from_secs(30)), "b")]
    {
        assert_eq!(o.status.code(), Some(0), "worker {name}: {}", stderr(&o));
    }

    let o = Command::new(BIN).arg("merge").arg(&a_path).arg(&b_path).arg("-o").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("merged 2 results") && stdout.contains("PASS"), "{stdout}");

    let (a, b, m): (RunResult, RunResult, RunResult) =
        (read_json(&a_path).unwrap(), read_json(&b_path).unwrap(), read_json(&out).unwrap());
    assert_eq!(m.scenario, "split");
    for s in Series::ALL {
        let (ha, hb, hm) =
            (a.histogram(s).decode().unwrap(), b.histogram(s).decode().unwrap(), m.histogram(s).decode().unwrap());
        assert_eq!(hm.len(), ha.len() + hb.len(), "{s:?}");
        // Every bucket of either input, and of the merge: count(merged) = count(a) + count(b).
        let mut values: Vec<u64> =
            ha.iter_recorded().chain(hb.iter_recorded()).map(|v| v.value_iterated_to()).collect();
        values.extend(hm.iter_recorded().map(|v| v.value_iterated_to()));
        values.sort_unstable();
        values.dedup();
        for v in values {
            assert_eq!(hm.count_at(v), ha.count_at(v) + hb.count_at(v), "{s:?} at {v} us");
        }
        let mut sum = ha.clone();
        sum.add(&hb).unwrap();
        assert_eq!(hm, sum, "{s:?}");
    }
    assert!(a.latency().count > 0 && b.latency().count > 0);

    let mut counters = a.counters.clone();
    counters.add(&b.counters);
    assert_eq!(m.counters, counters);
    assert_eq!(m.config.connections, 50);
    assert_eq!(m.counters.connections_opened, 50);

    // The window is the intersection of the two.
    let ((a0, a1), (b0, b1)) = (a.window(), b.window());
    assert!(a0 < b1 && b0 < a1, "the two runs overlapped: {:?} {:?}", a.window(), b.window());
    assert_eq!(m.window(), (a0.max(b0), a1.min(b1)));
    let rate = a.throughput.received_msgs_per_s + b.throughput.received_msgs_per_s;
    assert!((m.throughput.received_msgs_per_s - rate).abs() < 1e-6 * rate);
    assert_eq!(m.merged_from.as_ref().map(Vec::len), Some(2));

    // A different scenario is refused, in one line, as a usage error.
    let mut other: serde_json::Value = serde_json::from_slice(&std::fs::read(&b_path).unwrap()).unwrap();
    other["scenario"] = "other".into();
    let other_path = dir.join("other.json");
    std::fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();
    let o = Command::new(BIN)
        .arg("merge")
        .arg(&a_path)
        .arg(&other_path)
        .arg("-o")
        .arg(dir.join("x.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("wsbench-loadgen: ") && err.lines().count() == 1 && err.contains("scenario"), "{err}");
    assert!(!dir.join("x.json").exists());
    rt.block_on(server.shutdown());
}
