//! The engine measures the server's pushback (issue 11.5): a server that
//! upgrades and then never reads fills the TCP window, and the time the
//! loadgen's writes wait on it is counted as `send_blocked_ns`, with the
//! messages' write lag (queued to written) apart from the send lag.

#[path = "truth_servers/mod.rs"]
mod truth_servers;

use std::process::Command;

use truth_servers::{spawn, Kind};

#[test]
fn a_server_that_does_not_read_shows_as_blocked_writes() {
    let server = spawn(Kind::NoRead);
    let url = server.url();
    let dir = std::env::temp_dir().join(format!("wsbench-pushback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("pushback.json");
    // 64 KiB at 500 msg/s on one connection: 32 MB/s into a socket nobody
    // reads, far more than loopback's buffers hold within the second.
    let ran = Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen"))
        .args(["run", &url, "--mode", "echo", "-c", "1", "--rate", "500", "-s", "65536", "-w", "0", "-d", "1"])
        .args(["--drain-timeout", "1s", "-q", "--json", out.to_str().unwrap()])
        .output()
        .expect("the binary starts");
    let said = format!("{}{}", String::from_utf8_lossy(&ran.stdout), String::from_utf8_lossy(&ran.stderr));
    assert!(!ran.status.success(), "no reply came back:\n{said}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let blocked = v.pointer("/counters/send_blocked_ns").and_then(|x| x.as_u64()).expect("the counter is written");
    assert!(blocked > 100_000_000, "the connection waited on a full socket for most of the run: {blocked} ns\n{said}");
    assert!(v.pointer("/histograms/write_lag").is_some(), "the write lag is its own series: {v}");
    let _ = std::fs::remove_dir_all(&dir);
}
