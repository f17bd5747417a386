//! `--deflate` against the real wsbench server: compressed both ways,
//! every reply checked, the ratio figures present and plausible; and a
//! server that declines it stops the run with one line (exit 2).

mod common;

use std::process::Command;

use common::{assert_clean, run};
use wsbench_proto::deflate::ServerPolicy;
use wsbench_server::Config;

const BIN: &str = env!("CARGO_BIN_EXE_wsbench-loadgen");

/// A real server on 127.0.0.1, on a runtime of its own kept by the caller.
fn server(deflate: Option<ServerPolicy>) -> (tokio::runtime::Runtime, wsbench_server::ServerHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let config = Config { listen: "127.0.0.1:0".parse().unwrap(), deflate, ..Config::default() };
    let handle = rt.block_on(wsbench_server::spawn(config)).expect("server binds");
    (rt, handle)
}

#[test]
fn compressible_messages_shrink_on_the_wire_both_ways() {
    for (takeover, query) in [(false, "?mode=echo"), (true, "?mode=reply")] {
        let (_rt, handle) = server(Some(ServerPolicy { context_takeover: takeover }));
        let url = format!("ws://{}/upgradews{query}", handle.local_addr());
        let r = run(&[&url, "--deflate", "-c", "2", "-d", "0.6s", "-w", "0.2s", "--size", "512"]);
        assert_clean(&r, 2);
        let d = r.counters.deflate.as_ref().expect("counters.deflate with --deflate");
        let expected = if takeover {
            "permessage-deflate"
        } else {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        };
        assert_eq!(d.agreed.get(expected), Some(&2), "{:?}", d.agreed);
        assert_eq!(d.sent_payload_bytes, 512 * r.counters.messages_sent, "every message counted, uncompressed");
        assert!(d.sent_wire_bytes > 0 && d.sent_wire_bytes < d.sent_payload_bytes / 2, "{d:?}");
        // Both counted in the window, by when they went or came: the replies
        // to the last messages of the window (one per connection) may come
        // after it, so received can fall short by that much (it did, once).
        assert!(d.received_payload_bytes + 2 * 512 >= d.sent_payload_bytes, "{d:?}");
        assert!(d.received_wire_bytes > 0 && d.received_wire_bytes < d.received_payload_bytes / 2, "{d:?}");
        assert!(d.loadgen_cpu_ns > 0);
        assert_eq!(
            r.config.deflate.as_ref().map(|o| o.offer.as_str()),
            Some("permessage-deflate; client_max_window_bits")
        );
    }
}

#[test]
fn random_binary_messages_do_not_shrink() {
    let (_rt, handle) = server(Some(ServerPolicy { context_takeover: false }));
    let url = format!("ws://{}/upgradews?mode=echo", handle.local_addr());
    let args = [
        "--deflate",
        "--payload",
        "random",
        "--type",
        "binary",
        "--size",
        "1024",
        "-c",
        "2",
        "-d",
        "0.5s",
        "-w",
        "0.1s",
    ];
    let r = run(&[&[url.as_str()][..], &args[..]].concat());
    assert_clean(&r, 2);
    assert!(r.config.random_payload);
    let d = r.counters.deflate.as_ref().expect("counters.deflate with --deflate");
    // Deflate stores incompressible bytes: a few bytes more per message.
    assert!(d.sent_wire_bytes >= d.sent_payload_bytes, "{d:?}");
    assert!(d.received_wire_bytes >= d.received_payload_bytes, "{d:?}");
    assert!(d.sent_wire_bytes < d.sent_payload_bytes * 11 / 10, "{d:?}");
}

#[test]
fn a_server_that_declines_stops_the_run_with_one_line() {
    let (_rt, handle) = server(None);
    let url = format!("ws://{}/upgradews", handle.local_addr());
    let out = Command::new(BIN).args(["run", &url, "--deflate", "-c", "1", "-d", "1s", "--quiet"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--deflate") && stderr.contains("declined permessage-deflate"), "{stderr}");
}
