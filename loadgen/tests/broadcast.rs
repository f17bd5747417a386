//! `--mode broadcast` as a process: against wsbench's own server (embedded
//! in the loadgen binary) every delivery is counted and checked, and the
//! result holds the two histograms; against an independent broadcast server
//! that drops or duplicates one delivery, the run fails and names it; bad
//! flags are refused in one line.

#[path = "broadcast_server/mod.rs"]
mod broadcast_server;
mod common;

use std::process::{Command, Output};

use broadcast_server::{spawn_broadcast, Fault};
use common::server_process::{free_addr, Server};
use common::{serial, temp_dir};

fn loadgen(args: &[&str]) -> (Output, String) {
    let _turn = serial();
    let out = Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen")).args(args).output().expect("the binary runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, said)
}

fn result(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the result is written")).unwrap()
}

fn count(v: &serde_json::Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(|x| x.as_u64()).unwrap_or_else(|| panic!("{pointer} in {v}"))
}

const QUICK: [&str; 8] = ["-w", "0", "-d", "1", "--drain-timeout", "1s", "--allow-loadgen-limit", "-q"];

#[test]
fn every_delivery_of_the_wsbench_server_is_counted_and_checked() {
    let dir = temp_dir("broadcast");
    // Closed loop, topics of 3: 6 connections, 2 topics, 2 in flight each.
    // Open loop, 7 connections in topics of 3, 3 and 1.
    for (name, load, connections, topics, members) in
        [("closed", &["-p", "2"][..], "6", 2, 6), ("open", &["--rate", "300"][..], "7", 3, 7)]
    {
        let json = dir.join(format!("{name}.json"));
        let mut args = vec!["run", "--mode", "broadcast", "--topic-size", "3", "-c", connections];
        args.extend(load);
        args.extend(QUICK);
        args.extend(["--json", json.to_str().unwrap()]);
        let (out, said) = loadgen(&args);
        assert!(matches!(out.status.code(), Some(0 | 3)), "{name}: {said}");
        assert!(said.contains("deliveries/s"), "{name}: the report gives the delivery rate\n{said}");
        let v = result(&json);
        let b = &v["broadcast"];
        assert_eq!((count(b, "/topic_size"), count(b, "/topics")), (3, topics), "{name}");
        let published = count(b, "/counts/published");
        assert!(published > 0, "{name}: {said}");
        assert_eq!(published, count(&v, "/counters/messages_sent"), "{name}: every message of the window published");
        // Each topic's messages owe its member count: here the published
        // messages are spread evenly, so the total is exact only per topic;
        // the book's own sum must hold, and every delivery owed came.
        let expected = count(b, "/counts/expected");
        assert!(expected >= published && expected <= published * 3, "{name}: {expected} for {published}");
        if name == "closed" {
            assert_eq!(expected, published * 3, "closed: every topic has 3 members");
        }
        assert_eq!(count(b, "/counts/delivered"), expected, "{name}: deliveries = publishes x members\n{said}");
        assert_eq!(count(b, "/counts/completed"), published, "{name}");
        for kind in ["missing", "duplicate", "out_of_order", "corrupt"] {
            assert_eq!(count(b, &format!("/counts/{kind}")), 0, "{name}: {kind}\n{said}");
        }
        assert_eq!(count(&v, "/outcome/errors"), 0, "{name}: {said}");
        assert_eq!(count(b, "/delivery_latency/count"), expected, "{name}");
        assert_eq!(count(b, "/completion_latency/count"), published, "{name}");
        assert!(b.pointer("/completion_latency/encoded").is_some_and(|e| e.as_str().is_some_and(|s| !s.is_empty())));
        assert_eq!(count(&v, "/counters/connections_opened"), members, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_server_binary_fans_out_to_every_member() {
    // The real wsbench-server as a process of its own (its default mode is
    // echo: the loadgen asks for broadcast in the query), two topics of 3.
    let server = Server::start(free_addr());
    let dir = temp_dir("broadcast-process");
    let json = dir.join("run.json");
    let url = server.url();
    let mut args = vec!["run", &url, "--mode", "broadcast", "--topic-size", "3", "-c", "6", "--rate", "300"];
    args.extend(QUICK);
    args.extend(["--json", json.to_str().unwrap()]);
    let (out, said) = loadgen(&args);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{said}");
    let v = result(&json);
    let b = &v["broadcast"];
    let published = count(b, "/counts/published");
    assert!(published > 100, "{said}");
    assert_eq!(count(b, "/counts/expected"), published * 3, "topics of 3: {said}");
    assert_eq!(count(b, "/counts/delivered"), published * 3, "{said}");
    for kind in ["missing", "duplicate", "out_of_order", "corrupt"] {
        assert_eq!(count(b, &format!("/counts/{kind}")), 0, "{kind}: {said}");
    }
    assert_eq!(count(&v, "/counters/connections_opened"), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dropped_or_duplicated_delivery_fails_the_run_and_is_named() {
    let dir = temp_dir("broadcast-faults");
    for (fault, names) in [
        (Fault::Drop { at: 20 }, ["missing 1", "deliveries missing"]),
        (Fault::Duplicate { at: 20 }, ["duplicate 1", "delivered again"]),
    ] {
        let addr = spawn_broadcast(fault);
        let url = format!("ws://{addr}/ws");
        let json = dir.join("fault.json");
        let mut args = vec!["run", &url, "--mode", "broadcast", "--topic-size", "3", "-c", "3"];
        // Without --allow-loadgen-limit: a loadgen at its limit (a busy
        // host) cannot tell its own errors from the server's, and says so
        // (exit 3) instead of failing the server. Either way the run must
        // not pass, and the fault is counted and named.
        args.extend(["-w", "0", "-d", "1", "--drain-timeout", "1s", "-q", "--rate", "300"]);
        args.extend(["--json", json.to_str().unwrap()]);
        let (out, said) = loadgen(&args);
        match out.status.code() {
            Some(1) => assert!(said.contains("result: FAIL"), "{said}"),
            Some(3) => assert!(said.contains("result: LOADGEN LIMIT"), "{said}"),
            other => panic!("{fault:?} must not pass (exit {other:?}):\n{said}"),
        }
        for name in names {
            assert!(said.contains(name), "{fault:?}: {name:?} should be said:\n{said}");
        }
        let v = result(&json);
        let kind = if matches!(fault, Fault::Drop { .. }) { "missing" } else { "duplicate" };
        assert_eq!(count(&v, &format!("/broadcast/counts/{kind}")), 1, "{said}");
    }
    // The same server without a fault passes: the failures were the faults'.
    let addr = spawn_broadcast(Fault::None);
    let url = format!("ws://{addr}/ws");
    let mut args = vec!["run", &url, "--mode", "broadcast", "--topic-size", "3", "-c", "3"];
    args.extend(QUICK);
    let (out, said) = loadgen(&args);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_broadcast_flags_are_refused_in_one_line() {
    for (args, names) in [
        (&["--mode", "broadcast", "--topic-size", "5", "-c", "4"][..], "--topic-size 5 is larger than --connections 4"),
        (&["--topic-size", "2", "-c", "4"][..], "--topic-size 2 needs --mode broadcast"),
        (&["--mode", "echo", "--topic-size", "2", "-c", "4"][..], "needs --mode broadcast"),
        (&["--mode", "broadcast", "--topic-size", "0"][..], "--topic-size"),
        (
            &["ws://127.0.0.1:9/x?mode=broadcast", "--message", "{\"id\":{{seq}}}", "--match", "json:/id"][..],
            "--message with mode broadcast",
        ),
        (&["--mode", "broadcast", "--deflate"][..], "--deflate with mode broadcast"),
        (&["--mode", "broadcast", "--messages-per-conn", "10"][..], "with mode broadcast"),
        (&["--mode", "broadcast", "--reconnect"][..], "with mode broadcast"),
    ] {
        let mut all = vec!["run"];
        all.extend(args);
        let (out, said) = loadgen(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(names), "{args:?}: {err}");
        if !args.contains(&"0") {
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        }
    }
}
