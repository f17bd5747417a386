//! `suite` as a process: a small scenario file against the embedded server,
//! one result per scenario, named and set up as the file says, and read back
//! by `compare` against itself.

mod common;

use std::process::Command;

use common::{serial, temp_dir};
use wsbench_loadgen::results::schema::read_json;
use wsbench_loadgen::results::setup::LoadModel;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

#[test]
fn a_suite_writes_one_result_per_scenario() {
    let dir = temp_dir("suite");
    let file = dir.join("scenarios.toml");
    std::fs::write(
        &file,
        r#"
[[scenario]]
name = "tiny-closed"
connections = 8
pipeline = 2
size = 64
type = "binary"
mode = "echo"
duration = "0.8s"
warmup = 0.2
allow_loadgen_limit = true

[[scenario]]
name = "tiny-open"
connections = 4
rate = 400
size = 100
mode = "reply"
duration = "0.8s"
warmup = "200ms"
# On a busy machine the debug loadgen's send lag can pass its bound: this
# test is about the suite's files, not the verdict.
allow_loadgen_limit = true
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = {
        let _turn = serial();
        Command::new(BIN).arg("suite").arg("--scenarios").arg(&file).arg("--out").arg(&out).output().unwrap()
    };
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("suite: 2 scenario(s)") && stdout.contains("0 failed"), "{stdout}");

    let closed = read_json(&out.join("tiny-closed.json")).unwrap();
    assert_eq!(closed.scenario, "tiny-closed");
    assert_eq!((closed.config.connections, closed.config.size), (8, 64));
    assert_eq!(closed.config.load, LoadModel::Closed { pipeline: 2 });
    assert_eq!(closed.target.mode, "echo");
    assert!(closed.target.embedded && closed.outcome.passed);
    let open = read_json(&out.join("tiny-open.json")).unwrap();
    assert_eq!(open.config.load, LoadModel::Open { rate: 400.0, max_in_flight: None });
    assert_eq!(open.target.mode, "reply");
    assert!(open.latency().count > 0);
    for name in ["tiny-closed.hlog", "tiny-open.hlog"] {
        let log = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(log.contains("rtt_corrected"), "{name}");
    }

    // The directory is what compare reads.
    let o = Command::new(BIN).arg("compare").arg(&out).arg(&out).args(["--fail-if-worse", "0"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    // A bad file is refused before anything runs.
    std::fs::write(&file, "[[scenario]]\nname = \"x\"\nconnections = 0\n").unwrap();
    let o = Command::new(BIN)
        .arg("suite")
        .arg("--scenarios")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("none"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("scenario \"x\"") && err.contains("--connections") && err.lines().count() == 1, "{err}");
    assert!(!dir.join("none").exists());
}

/// Results left in --out by an earlier suite would be read by compare with
/// this run's: the suite says so.
#[test]
fn results_left_in_the_output_directory_are_named() {
    let dir = temp_dir("suite-stale");
    let file = dir.join("scenarios.toml");
    std::fs::write(
        &file,
        "[[scenario]]\nname = \"now\"\nconnections = 2\nmode = \"echo\"\nduration = \"0.3s\"\nwarmup = 0\nallow_loadgen_limit = true\n",
    )
    .unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let old = concat!(env!("CARGO_MANIFEST_DIR"), "/../results/v0.2.0/small-closed.json");
    std::fs::copy(old, out.join("small-closed.json")).unwrap();
    let o = {
        let _turn = serial();
        Command::new(BIN).arg("suite").arg("--scenarios").arg(&file).arg("--out").arg(&out).arg("-q").output().unwrap()
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("also holds results of scenarios not run now (small-closed)"), "{stderr}");
}
