//! The `churn` section's JSON: [`ChurnTally`] is flattened into it, so its
//! keys stay top-level keys of `churn`, as they were before it existed.

use super::{ChurnCounts, ChurnResult, ChurnTally, Outage};

/// A `churn` section as the loadgen wrote it before [`ChurnTally`]
/// (serialized by that code, every count non-zero, map keys included).
const BEFORE: &str = r#"{"closed_at_limit":1,"reopened":2,"handshakes_in_window":3,"handshakes_per_s":1.5,"drops":{"eof":8,"reset":9,"close_codes":{"1001":10}},"lost_to_drop":4,"reconnect_attempts":5,"reconnects":6,"reconnect_errors":{"refused":11,"timeout":0,"resources":0,"tls":0,"http_status":{"503":12},"bad_handshake":0,"init":0,"other":0},"sent_late_after_reopen":7,"outages":[{"start_s":1.5,"recovery_s":0.25,"drops":3},{"start_s":2.5,"recovery_s":null,"drops":1}],"outages_total":2,"longest_recovery_s":0.25,"not_recovered":true,"reconnect_connect":{"unit":"us","count":1,"min":100,"max":100,"mean":100.0,"stdev":0.0,"percentiles":{"50":100,"90":100,"99":100,"99.9":100,"99.99":100},"encoded":"HISTFAAAACJ4nJNpmSzMwMDAzAABMJoRRFybvITB/gNE4DgjEwBhNAVU"},"reconnect_handshake":{"unit":"us","count":1,"min":200,"max":200,"mean":200.0,"stdev":0.0,"percentiles":{"50":200,"90":200,"99":200,"99.9":200,"99.99":200},"encoded":"HISTFAAAACJ4nJNpmSzMwMDAzAABMJoRRFybvITB/gNEoJ+ZCQBgkAUe"}}"#;

/// The counts keys, each its own top-level key of `churn`.
const TALLY_KEYS: [&str; 9] = [
    "closed_at_limit",
    "reopened",
    "handshakes_in_window",
    "drops",
    "lost_to_drop",
    "reconnect_attempts",
    "reconnects",
    "reconnect_errors",
    "sent_late_after_reopen",
];

/// The section [`BEFORE`] holds, built by today's code.
fn section() -> ChurnResult {
    let tally = ChurnTally {
        closed_at_limit: 1,
        reopened: 2,
        handshakes_in_window: 3,
        lost_to_drop: 4,
        reconnect_attempts: 5,
        reconnects: 6,
        sent_late_after_reopen: 7,
        ..Default::default()
    };
    let mut c = ChurnCounts { tally, ..Default::default() };
    (c.tally.drops.eof, c.tally.drops.reset) = (8, 9);
    c.tally.drops.close_codes.insert(1001, 10);
    c.tally.reconnect_errors.refused = 11;
    c.tally.reconnect_errors.http_status.insert(503, 12);
    c.connect.record(100).unwrap();
    c.handshake.record(200).unwrap();
    let outages = vec![
        Outage { start_s: 1.5, recovery_s: Some(0.25), drops: 3 },
        Outage { start_s: 2.5, recovery_s: None, drops: 1 },
    ];
    ChurnResult::new(&c, outages, 2.0)
}

#[test]
fn the_counts_are_top_level_keys_of_churn() {
    let json = serde_json::to_value(section()).unwrap();
    let obj = json.as_object().unwrap();
    for key in TALLY_KEYS {
        assert!(obj.contains_key(key), "{key} at the top of churn: {json}");
    }
    assert!(!obj.contains_key("tally"), "{json}");
    assert_eq!(obj["drops"]["close_codes"]["1001"], 10);
}

#[test]
fn the_json_is_what_it_was_and_the_old_one_parses() {
    let before: serde_json::Value = serde_json::from_str(BEFORE).unwrap();
    assert_eq!(serde_json::to_value(section()).unwrap(), before, "the same object, key for key");
    let parsed: ChurnResult = serde_json::from_str(BEFORE).expect("a section written before parses");
    assert_eq!(parsed, section());
    // Results are read through a `serde_json::Value` (`schema::from_value`).
    let parsed: ChurnResult = serde_json::from_value(before.clone()).expect("and from a JSON value");
    assert_eq!(parsed, section());
    let again: ChurnResult = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(again, parsed, "round trip");
}

#[test]
fn a_code_key_that_is_not_a_number_is_refused() {
    let bad = BEFORE.replace(r#""close_codes":{"1001":10}"#, r#""close_codes":{"going away":10}"#);
    assert_ne!(bad, BEFORE);
    let e = serde_json::from_str::<ChurnResult>(&bad).unwrap_err().to_string();
    assert!(e.contains("not a code"), "{e}");
}
