//! `scripts/peers.sh` reads each server's CPU time from /proc; a figure
//! past 2^31 ns (2.15 s, any busy run) once came out clamped there by
//! mawk's `printf "%d"`, and every CPU-per-message figure with it.

use std::path::PathBuf;
use std::process::Command;

/// `cpu_ns PID` of scripts/peers/proc.sh against a made-up /proc.
fn cpu_ns(proc_root: &std::path::Path, pid: u32) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers/proc.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source '{}' && cpu_ns {pid}", script.display()))
        .env("PROC", proc_root)
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn cpu_time_past_two_seconds_is_summed_exactly() {
    let root = std::env::temp_dir().join(format!("wsbench-peers-proc-{}", std::process::id()));
    for (tid, ns) in [(7, "3000000000 12 40"), (8, "1500000001 3 9"), (9, "0 0 0")] {
        let dir = root.join(format!("7/task/{tid}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("schedstat"), format!("{ns}\n")).unwrap();
    }
    assert_eq!(cpu_ns(&root, 7), "4500000001", "threads' CPU summed");
    assert_eq!(cpu_ns(&root, 8), "0", "a process that is gone has used nothing");
    std::fs::remove_dir_all(&root).unwrap();
}
