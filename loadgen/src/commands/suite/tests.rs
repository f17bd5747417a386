//! Scenario files: parsing, refusals, the shipped matrix.

use super::*;

fn parsed(text: &str) -> Result<Vec<Scenario>, Error> {
    parse(Path::new("s.toml"), text)
}

#[test]
fn a_scenario_is_run_flags() {
    let s = parsed(
        r#"
        [[scenario]]
        name = "open"
        connections = 10
        rate = 500
        size = 1024
        type = "binary"
        mode = "echo"
        duration = "3s"
        warmup = 0.5
        "#,
    )
    .unwrap();
    let c = s[0].config(Path::new("s.toml"), Some("ws://127.0.0.1:1/ws")).unwrap();
    assert_eq!(c.scenario, "open");
    assert_eq!(c.connections, 10);
    assert_eq!(c.load, crate::results::setup::LoadModel::Open { rate: 500.0, max_in_flight: None });
    assert_eq!(c.size, 1024);
    assert_eq!(c.mode.as_deref(), Some("echo"));
    assert_eq!(c.duration, std::time::Duration::from_secs(3));
    assert_eq!(c.warmup, std::time::Duration::from_millis(500));
    assert_eq!(c.url.as_deref(), Some("ws://127.0.0.1:1/ws"));
}

#[test]
fn the_verdict_keys_reach_the_run() {
    let s = parsed(
        r#"
        [[scenario]]
        name = "closed"
        max_connect_errors = 3
        reply_timeout = "4s"
        allow_loadgen_limit = true
        "#,
    )
    .unwrap();
    let c = s[0].config(Path::new("s.toml"), Some("ws://127.0.0.1:1/ws")).unwrap();
    assert_eq!(c.max_connect_errors, 3);
    assert_eq!(c.reply_timeout, std::time::Duration::from_secs(4));
    assert!(c.allow_loadgen_limit);
    let c = parsed("[[scenario]]\nname = \"strict\"").unwrap()[0].config(Path::new("s.toml"), None).unwrap();
    assert!(!c.allow_loadgen_limit, "a loadgen limit voids a run unless a scenario says otherwise");
}

#[test]
fn the_churn_and_broadcast_keys_reach_the_run() {
    let s = parsed(
        r#"
        [[scenario]]
        name = "churn"
        messages_per_conn = 50
        reconnect = true
        reconnect_max_delay = "2s"

        [[scenario]]
        name = "short-lived"
        conn_lifetime = 0.5

        [[scenario]]
        name = "fan-out"
        connections = 8
        mode = "broadcast"
        topic_size = 4
        "#,
    )
    .unwrap();
    let at = Path::new("s.toml");
    let url = Some("ws://127.0.0.1:1/ws");
    let churn = s[0].config(at, url).unwrap().churn.expect("a churn config");
    assert_eq!(churn.limit, Some(crate::results::churn::ConnLimit::Messages(50)));
    assert!(churn.reconnect);
    assert_eq!(churn.reconnect_max_delay, std::time::Duration::from_secs(2));
    let churn = s[1].config(at, url).unwrap().churn.expect("a churn config");
    assert_eq!(churn.limit, Some(crate::results::churn::ConnLimit::Lifetime(std::time::Duration::from_millis(500))));
    assert!(!churn.reconnect);
    assert_eq!(s[2].config(at, url).unwrap().topic_size, Some(4));
    // And run's own refusals, naming the scenario.
    let bad = parsed("[[scenario]]\nname = \"z\"\nconn_lifetime = 0\n").unwrap();
    let err = bad[0].config(at, url).unwrap_err().to_string();
    assert!(err.contains("scenario \"z\"") && err.contains("--conn-lifetime"), "{err}");
}

#[test]
fn refusals_name_the_scenario_and_the_key() {
    for (text, want) in [
        ("[[scenario]]\nname = \"a\"\nconections = 5\n", "unknown field `conections`"),
        ("[[scenario]]\nname = \"a\"\nsize = 4\n", "scenario \"a\": --size 4 is too small"),
        ("[[scenario]]\nname = \"a\"\nmode = \"loud\"\n", "scenario \"a\": invalid value 'loud'"),
        ("[[scenario]]\nname = \"a\"\nduration = \"soon\"\n", "scenario \"a\": invalid value 'soon'"),
        ("[[scenario]]\nname = \"a b\"\n", "not a scenario name"),
        ("[[scenario]]\nname = \"a\"\n[[scenario]]\nname = \"a\"\n", "named twice"),
        ("[[scenario]]\nconnections = 5\n", "missing field `name`"),
        ("[[scenarios]]\nname = \"a\"\n", "unknown field `scenarios`"),
        ("", "no [[scenario]]"),
        ("[[scenario]\n", "s.toml: "),
        ("[[scenario]]\nname = \"a\"\nconnections = -1\n", "s.toml: connections: invalid value: integer `-1`"),
        (
            "[[scenario]]\nname = \"a\"\ndeflate_no_context_takeover = true\n",
            "the following required arguments were not provided: --deflate",
        ),
    ] {
        let e = parsed(text).and_then(|s| s.iter().try_for_each(|s| s.config(Path::new("s.toml"), None).map(drop)));
        let e = e.expect_err(text);
        assert!(matches!(e, Error::Usage(_)), "{text}: {e}");
        assert!(e.to_string().contains(want), "{text:?}: {e}");
        assert_eq!(e.to_string().lines().count(), 1, "one line: {e}");
    }
}

#[test]
fn the_shipped_matrix_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/scenarios.toml");
    let scenarios = load(&path).unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 9, "{names:?}");
    for s in &scenarios {
        let config = s.config(&path, None).unwrap();
        assert_eq!(config.deflate.is_some(), s.name.ends_with("-deflate"), "{}", s.name);
        assert_eq!(config.random_payload, s.name.contains("-random-"), "{}", s.name);
    }
}

#[test]
fn an_api_scenario_is_run_flags() {
    let dir = std::env::temp_dir().join(format!("wsbench-suite-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("calls.txt"), "{\"id\":{{seq}},\"m\":\"b\"}\n").unwrap();
    let file = dir.join("s.toml");
    let s = parsed(
        r#"
        [[scenario]]
        name = "rpc"
        message = ['3:{"id":{{seq}},"m":"a"}']
        message_file = "calls.txt"
        init = '{"op":"auth"}'
        init_expect = "json:/ok=true"
        subprotocol = ["v2", "v1"]
        match = "json:/id"
        expect = "json:/error"
        unsolicited = "error"
        "#,
    )
    .unwrap();
    let c = s[0].config(&file, Some("ws://127.0.0.1:1/ws")).unwrap();
    let api = c.api.unwrap();
    assert_eq!(api.messages, [r#"3:{"id":{{seq}},"m":"a"}"#, r#"{"id":{{seq}},"m":"b"}"#]);
    assert_eq!(api.init, [r#"{"op":"auth"}"#]);
    assert_eq!(api.init_expect.as_deref(), Some("json:/ok=true"));
    assert_eq!((api.match_rule.as_str(), api.expect.as_deref()), ("json:/id", Some("json:/error")));
    assert_eq!(api.unsolicited, crate::results::setup::Unsolicited::Error);
    assert_eq!(c.subprotocols, ["v2", "v1"]);
    let bad = parsed("[[scenario]]\nname = \"a\"\nmessage = \"{{nope}}\"\nmatch = \"json:/id\"\n").unwrap();
    let e = bad[0].config(&file, None).unwrap_err().to_string();
    assert!(e.contains("scenario \"a\"") && e.contains("--message") && e.contains("{{nope}}"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
