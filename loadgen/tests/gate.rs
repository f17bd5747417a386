//! The release gate as CI runs it, with real processes: `suite --repeat`
//! against a test server, twice, then `compare --fail-if-worse`. An
//! unchanged build (the same echo server both times) must pass; a server
//! made 2 ms slower must fail. The full ten-times-each-way check is
//! `scripts/gate-check.sh` (the ignored test below); here, one trial each
//! way, sharing BASE, keeps CI short (three suites, ~30 s).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{serial, spawn_server, temp_dir, Behavior, TestServer};
use wsbench_loadgen::results::merge::merge_repeats;
use wsbench_loadgen::results::schema::{read_json, write_json, SCHEMA_VERSION};

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

/// The gate's threshold in these tests, in percent: 2x worse. On this
/// shared 2-core VM, while other builds run, whole suites move by up to 2x
/// (p50 38 µs in one, 75 µs in the next), a drift the runs of one suite
/// cannot show (results/README.md); the 2 ms slower server is 10x worse
/// and more.
const PCT: &str = "100";

/// Runs per side: with 3, the interval of a median spans the runs' whole
/// range, and an unchanged build fails a figure 1 time in 20 by chance
/// alone (the NEW runs all above the BASE runs); with 5 gated figures, too
/// often.
const REPEAT: u32 = 5;

/// Two short closed loops, 1 s measured each. Closed, because a short open
/// loop's p99 hangs on its few slowest messages (at 400 msg/s for 0.6 s,
/// the 3rd slowest of 240), which moved 3.5x between unchanged suites here;
/// 1 s, not 0.5, because one scheduling stall of a few ms moved a 0.5 s
/// run's p99 by 4x in 1 of 10 unchanged trials (results/README.md).
const SCENARIOS: &str = r#"
[[scenario]]
name = "small"
connections = 4
pipeline = 1
size = 64
type = "binary"
mode = "echo"
duration = "1s"
warmup = "0.2s"
allow_loadgen_limit = true

[[scenario]]
name = "pipelined"
connections = 4
pipeline = 4
size = 1024
type = "binary"
mode = "echo"
duration = "1s"
warmup = "0.2s"
allow_loadgen_limit = true
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

    // As results/README.md says to: a failed gate is run again before it
    // is believed (the machine may have been busier for one whole suite:
    // in a debug build, while other builds ran, p99 moved 3x once in two
    // attempts). A gate that fails an unchanged build three times running
    // is broken.
    let (mut passed, mut out) = trial(&dir, &fast, &fast, REPEAT, PCT);
    for _ in 0..2 {
        if passed {
            break;
        }
        eprintln!("the unchanged build failed the gate; again:\n{out}");
        (passed, out) = trial(&dir, &fast, &fast, REPEAT, PCT);
    }
    assert!(passed, "the unchanged build failed the gate three times:\n{out}");
    assert!(out.contains("BASE (5)") && out.contains("NEW (5)") && !out.contains("noise unknown"), "{out}");
    // What the suite wrote: every run in the result, one log per run, no leftovers.
    let base = dir.join("base");
    let r = read_json(&base.join("small.json")).unwrap();
    assert_eq!((r.schema_version, r.repeat_count()), (SCHEMA_VERSION, 5));
    let runs = r.runs();
    let received: u64 = runs.iter().map(|x| x.counters.messages_received).sum();
    assert_eq!(r.counters.messages_received, received, "the top level adds the runs up");
    let mut names: Vec<String> =
        std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut want: Vec<String> = ["small", "pipelined"]
        .iter()
        .flat_map(|s| std::iter::once(format!("{s}.json")).chain((1..=5).map(move |k| format!("{s}.r{k}.hlog"))))
        .collect();
    want.sort();
    assert_eq!(names, want);
    // Interleaved: small's second run started after pipelined's first, before its second.
    let other = read_json(&base.join("pipelined.json")).unwrap().runs();
    assert!(other[0].started_at_unix < runs[1].started_at_unix && runs[1].started_at_unix < other[1].started_at_unix);

    // The same BASE against a server 2 ms slower.
    let new = dir.join("slow");
    suite(&slow, &scenario_file(&dir), &new, REPEAT);
    let o = compare(&base, &new, &["--fail-if-worse", PCT]);
    let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "a 2 ms slower server passed the gate:\n{out}");
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
    let (trials, repeat) = (env("GATE_TRIALS", 10), env("GATE_REPEAT", REPEAT));
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
