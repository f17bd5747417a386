//! What comes before an API's load, through the real binary: the
//! subprotocol negotiation (accepted, refused, one never offered), the
//! init exchange (`--init`, `--init-expect`: a subscription, then pushes
//! counted as unsolicited; a failed one as a connection failure), and bad
//! templates and patterns refused before the run.

mod api_server;
mod common;

use std::process::{Command, Output};
use std::time::Duration;

use api_server::{Counts, Pick, Rpc};
use common::{serial, temp_dir};
use wsbench_loadgen::results::schema::{read_json, RunResult, Status};

const PING: &str = r#"{"jsonrpc":"2.0","id":{{seq}},"method":"ping"}"#;

fn loadgen(args: &[&str]) -> Output {
    let _turn = serial();
    Command::new(env!("CARGO_BIN_EXE_wsbench-loadgen")).args(args).output().expect("the binary runs")
}

/// Runs `run -q --json` with `args` against a server picking `pick`.
fn run(name: &str, rpc: Rpc, args: &[&str]) -> (Output, RunResult, api_server::RpcServer) {
    let server = api_server::spawn(rpc);
    let json = temp_dir(name).join("run.json");
    let url = server.url();
    let base = ["run", &url, "-q", "--json", json.to_str().unwrap(), "-c", "3", "-d", "1s", "-w", "0s"];
    let o = loadgen(&[&base[..], &["--message", PING, "--match", "json:/id"], args].concat());
    let r = read_json(&json).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o, r, server)
}

#[test]
fn a_subprotocol_offered_and_picked_is_recorded() {
    let rpc = Rpc { pick: Pick::LastOffered, ..Rpc::default() };
    let (o, r, _s) = run("sub-accepted", rpc, &["--subprotocol", "graphql-ws", "--subprotocol", "jsonrpc.v2"]);
    assert!(o.status.success(), "{:?}", r.outcome);
    assert_eq!(r.counters.subprotocols.get("jsonrpc.v2"), Some(&3), "{:?}", r.counters.subprotocols);
    assert_eq!(r.config.subprotocols, ["graphql-ws", "jsonrpc.v2"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("subprotocol picked by the server: jsonrpc.v2 x3"));
}

#[test]
fn no_subprotocol_picked_is_recorded_not_failed() {
    let (o, r, _s) = run("sub-refused", Rpc { pick: Pick::Nothing, ..Rpc::default() }, &["--subprotocol", "v1"]);
    assert!(o.status.success(), "{:?}", r.outcome);
    assert_eq!(r.counters.subprotocols.get(""), Some(&3), "{:?}", r.counters.subprotocols);
    assert!(String::from_utf8_lossy(&o.stdout).contains("(none) x3"));
}

#[test]
fn a_subprotocol_never_offered_fails_the_connection() {
    let rpc = Rpc { pick: Pick::This("evil"), ..Rpc::default() };
    let (o, r, _s) = run("sub-not-offered", rpc, &["--subprotocol", "v1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r.outcome.status(), Status::Fail);
    assert_eq!(r.counters.connect_errors.bad_handshake, 3);
    assert!(r.samples.iter().any(|s| s.contains("\"evil\", which was not offered")), "{:?}", r.samples);
}

#[test]
fn subscribe_then_listen_counts_the_pushes() {
    let rpc = Rpc { tick: Duration::from_millis(10), ..Rpc::default() };
    let (o, r, s) = run(
        "init-subscribe",
        rpc,
        &["--init", r#"{"jsonrpc":"2.0","id":0,"method":"subscribe"}"#, "--init-expect", "json:/result=subscribed"],
    );
    assert!(o.status.success(), "{:?} {:?}", r.outcome, r.samples);
    assert_eq!(r.counters.connect_errors.total(), 0);
    let ticks = Counts::get(&s.counts.ticks);
    assert!(ticks >= 3 * 50, "about 100/s for each of 3 connections: {ticks}");
    // Every push counted, none an error; a tick queued as a connection
    // closes may not reach it (one per connection at most).
    let got = r.counters.unsolicited_total;
    assert!(got <= ticks && got + 3 >= ticks, "{got} of {ticks} pushes counted");
    assert_eq!(r.counters.errors(), 0);
}

#[test]
fn an_init_that_fails_fails_the_connection_with_its_reason() {
    let (o, r, _s) = run(
        "init-fails",
        Rpc::default(),
        &[
            "--init",
            r#"{"jsonrpc":"2.0","id":0,"method":"subscribe"}"#,
            "--init-expect",
            "json:/result=welcome",
            "--connect-timeout",
            "1s",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(r.counters.connect_errors.init, 3);
    let sample = r.samples.iter().find(|s| s.contains("init failed")).expect("a sample");
    assert!(sample.contains("/result is \"subscribed\", not \"welcome\""), "{sample}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("init failed 3"), "{stdout}");
}

#[test]
fn bad_templates_and_patterns_are_refused_in_one_line() {
    for (args, flag, why) in [
        (&["--message", "{{nope}}", "--match", "json:/id"][..], "--message", "unknown placeholder {{nope}}"),
        (&["--message", PING, "--match", "regex:(unclosed"], "--match", "invalid regex"),
        (&["--message", PING, "--match", "json:id"], "--match", "must start with '/'"),
        (&["--message", PING, "--match", r"regex:\d+"], "--match", "0 capture groups"),
        (&["--message", &format!("1.5:{PING}"), "--match", "json:/id"], "--message", "not a whole number"),
        (&["--message", PING, "--match", "json:/id", "--expect", "regex:["], "--expect", "invalid regex"),
        (&["--message", PING], "--message", "needs --match"),
        (&["--match", "json:/id"], "--match", "needs --message"),
        (&["--message", "{\"a\":1}", "--match", "json:/id"], "--message", "no {{seq}}"),
        (&["--message", PING, "--match", "json:/id", "--subprotocol", "a b"], "--subprotocol", "not a token"),
    ] {
        let o = loadgen(&[&["run", "ws://127.0.0.1:9/none"][..], args].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        assert!(err.contains(flag) && err.contains(why), "{args:?}: {err:?}");
    }
}
