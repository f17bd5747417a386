//! The release gate as CI runs it, with real processes: `suite --repeat`
//! against a test server, twice, then `compare --fail-if-worse`. An
//! unchanged build (the same echo server both times) must pass; a server
//! made 2 ms slower must fail. The full ten-times-each-way check is
//! `scripts/gate-check.sh` (the ignored test below); here, one trial each
//! way keeps CI short.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{serial, spawn_server, temp_dir, Behavior, TestServer};
use wsbench_loadgen::results::merge::merge_repeats;
use wsbench_loadgen::results::schema::{read_json, write_json, SCHEMA_VERSION};

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

/// The gate's threshold in these tests, in percent.
const PCT: &str = "10";

/// Two short scenarios, a closed loop and an open one, each 0.6 s measured.
const SCENARIOS: &str = r#"
[[scenario]]
name = "closed"
connections = 4
pipeline = 1
size = 64
type = "binary"
mode = "echo"
duration = "0.6s"
warmup = "0.2s"

[[scenario]]
name = "open"
connections = 4
rate = 400
size = 64
type = "binary"
mode = "echo"
duration = "0.6s"
warmup = "0.2s"
"#;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scenario_file(dir: &Path) -> PathBuf {
    let file = dir.join("gate.toml");
    std::fs::write(&file, SCENARIOS).unwrap();
    file
}

/// `suite --repeat N` against `server`, into `out`; asserts it passed.
fn suite(server: &TestServer, file: &Path, out: &Path, repeat: u32) {
    let o = Command::new(BIN)
        .arg("suite")
        .arg(server.url())
        .arg("--scenarios")
        .arg(file)
        .arg("--out")
        .arg(out)
        .args(["--repeat", &repeat.to_string(), "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
}

fn compare(base: &Path, new: &Path, extra: &[&str]) -> Output {
    Command::new(BIN).arg("compare").arg(base).arg(new).args(extra).output().unwrap()
}

/// One trial: BASE and NEW suites (NEW against `new_server`), then the
/// gate. Returns whether the gate passed, and its output.
fn trial(dir: &Path, base_server: &TestServer, new_server: &TestServer, repeat: u32, pct: &str) -> (bool, String) {
    let file = scenario_file(dir);
    let (base, new) = (dir.join("base"), dir.join("new"));
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(&new);
    suite(base_server, &file, &base, repeat);
    suite(new_server, &file, &new, repeat);
    let o = compare(&base, &new, &["--fail-if-worse", pct]);
    let code = o.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", text(&o.stderr));
    (code == Some(0), format!("{}{}", text(&o.stdout), text(&o.stderr)))
}

#[test]
fn an_unchanged_build_passes_the_gate_and_a_2ms_slower_server_fails_it() {
    let _turn = serial();
    let fast = spawn_server(Behavior::Echo { delay: Duration::ZERO });
    let slow = spawn_server(Behavior::Echo { delay: Duration::from_millis(2) });
    let dir = temp_dir("gate");

    let (passed, out) = trial(&dir, &fast, &fast, 3, PCT);
    assert!(passed, "the unchanged build failed the gate:\n{out}");
    assert!(out.contains("BASE (3)") && out.contains("NEW (3)") && !out.contains("noise unknown"), "{out}");
    // What the suite wrote: every run in the result, one log per run, no leftovers.
    let base = dir.join("base");
    let r = read_json(&base.join("closed.json")).unwrap();
    assert_eq!((r.schema_version, r.repeat_count()), (SCHEMA_VERSION, 3));
    let runs = r.runs();
    let received: u64 = runs.iter().map(|x| x.counters.messages_received).sum();
    assert_eq!(r.counters.messages_received, received, "the top level adds the runs up");
    assert!(runs.windows(2).all(|w| w[0].started_at_unix < w[1].started_at_unix));
    let mut names: Vec<String> =
        std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "closed.json",
            "closed.r1.hlog",
            "closed.r2.hlog",
            "closed.r3.hlog",
            "open.json",
            "open.r1.hlog",
            "open.r2.hlog",
            "open.r3.hlog"
        ]
    );
    // Interleaved: closed's second run started after open's first.
    let open = read_json(&base.join("open.json")).unwrap().runs();
    assert!(open[0].started_at_unix < runs[1].started_at_unix && runs[1].started_at_unix < open[1].started_at_unix);

    let (passed, out) = trial(&dir, &fast, &slow, 3, PCT);
    assert!(!passed, "a 2 ms slower server passed the gate:\n{out}");
    assert!(out.contains("worse +") && out.contains("WORSE"), "{out}");
}

#[test]
fn v1_results_still_load_and_compare_with_the_noise_unknown() {
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/v0.1.0");
    let old = read_json(&v1.join("small-closed.json")).unwrap();
    assert_eq!((old.schema_version, old.repeat_count()), (1, 1));
    let o = compare(&v1, &v1, &["--fail-if-worse", PCT]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("noise unknown") && out.contains("BASE (1)"), "{out}");

    // A v1 baseline against a v2 result of repeats: compared, noise unknown,
    // the plain threshold decides.
    let dir = temp_dir("gate-v1");
    let repeated = merge_repeats(&[old.clone(), old.clone(), old]).unwrap();
    let new = dir.join("small-closed.json");
    write_json(&repeated, &new).unwrap();
    let o = compare(&v1.join("small-closed.json"), &new, &["--fail-if-worse", PCT]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("NEW (3)") && out.contains("note: noise unknown: BASE has 1 run(s), NEW 3"), "{out}");
}

#[test]
fn a_repeat_of_zero_is_refused_in_one_line() {
    let dir = temp_dir("gate-repeat0");
    let file = scenario_file(&dir);
    let o = Command::new(BIN)
        .arg("suite")
        .arg("--scenarios")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .args(["--repeat", "0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("--repeat") && err.trim_end().lines().count() == 1, "{err}");
    assert!(!dir.join("out").exists());
}

/// The issue's check: the unchanged build passes 10 times out of 10, the
/// 2 ms slower server fails 10 times out of 10 (`GATE_TRIALS` to change
/// the count, `GATE_REPEAT` the repeats, `GATE_PCT` the threshold; every
/// comparison is printed). Minutes long: run by `scripts/gate-check.sh`,
/// not in CI.
#[test]
#[ignore]
fn gate_check_ten_times_each_way() {
    let _turn = serial();
    let env = |k: &str, d: u32| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (trials, repeat) = (env("GATE_TRIALS", 10), env("GATE_REPEAT", 3));
    let pct = std::env::var("GATE_PCT").unwrap_or_else(|_| PCT.to_string());
    let fast = spawn_server(Behavior::Echo { delay: Duration::ZERO });
    let slow = spawn_server(Behavior::Echo { delay: Duration::from_millis(2) });
    let dir = temp_dir("gate-check");
    let (mut passed, mut caught) = (0, 0);
    for i in 1..=trials {
        let (ok, out) = trial(&dir, &fast, &fast, repeat, &pct);
        passed += u32::from(ok);
        eprintln!("\n#### trial {i}/{trials}, unchanged: {}\n{out}", if ok { "passed" } else { "FAILED" });
        let (ok, out) = trial(&dir, &fast, &slow, repeat, &pct);
        caught += u32::from(!ok);
        eprintln!(
            "\n#### trial {i}/{trials}, 2 ms slower: {}\n{out}",
            if ok { "PASSED (missed)" } else { "failed (caught)" }
        );
    }
    println!(
        "gate-check: --repeat {repeat}, --fail-if-worse {pct}: unchanged build passed {passed}/{trials}; 2 ms slower server failed {caught}/{trials}"
    );
    assert_eq!((passed, caught), (trials, trials));
}
