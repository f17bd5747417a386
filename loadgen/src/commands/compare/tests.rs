//! The pairing, the figures and the gate, on made-up results.

use super::*;
use crate::commands::testing::synthetic;

fn side(dir: bool, results: Vec<RunResult>) -> Side {
    let results = results.into_iter().map(|r| (PathBuf::from(format!("{}.json", r.scenario)), r)).collect();
    Side { path: PathBuf::from(if dir { "dir" } else { "file.json" }), is_dir: dir, results }
}

/// 100 messages over 10 s, their RTTs `scale` times 1..=100 µs.
fn result(scenario: &str, scale: u64, messages: usize) -> RunResult {
    let lat: Vec<u64> = (1..=100u64).cycle().take(messages).map(|v| v * scale).collect();
    synthetic(scenario, &["-d", "10"], (0.0, 10.0), &lat)
}

#[test]
fn regressions_are_found_past_the_threshold_only() {
    let base = side(true, vec![result("a", 10, 1000)]);
    // p99 +20% (12 vs 10 per unit), throughput -15%, p50 about +15% (850
    // messages of 1..=100 cycling lean low).
    let new = side(true, vec![result("a", 12, 850)]);
    let m = pair(&base, &new).unwrap();
    let (_, fails) = report(&m, Some(25.0));
    assert!(fails.is_empty(), "{fails:?}");
    let (_, fails) = report(&m, Some(18.0));
    assert_eq!(fails.len(), 1, "only p99: {fails:?}");
    assert!(fails[0].contains("p99"), "{fails:?}");
    let (text, fails) = report(&m, Some(10.0));
    assert_eq!(fails.len(), 3, "{fails:?}");
    assert!(fails.iter().any(|f| f.starts_with("a: throughput msg/s")), "{fails:?}");
    assert_eq!(text.matches("WORSE").count(), 3, "{text}");
    let (text, fails) = report(&m, None);
    assert!(fails.is_empty() && !text.contains("WORSE"));
    // Better is never worse, however much.
    let m = pair(&new, &base).unwrap();
    assert!(report(&m, Some(0.0)).1.is_empty());
}

#[test]
fn table_has_every_figure_with_deltas() {
    let (base, new) = (side(false, vec![result("a", 10, 1000)]), side(false, vec![result("a", 12, 1000)]));
    let (text, _) = report(&pair(&base, &new).unwrap(), None);
    for needed in
        ["BASE (1)", "NEW (1)", "change", "throughput msg/s", "p50", "p99", "p99.9", "max", "error rate", "+20.0%"]
    {
        assert!(text.contains(needed), "{needed:?} in\n{text}");
    }
    assert!(text.contains("noise unknown +20.0%") && text.contains("note: noise unknown"), "{text}");
    let rows = rows(&base.results[0].1, &new.results[0].1);
    assert_eq!(rows[2].name, "p99");
    assert_eq!((rows[2].base.clone(), rows[2].new.clone()), (vec![990.0], vec![1188.0]));
    assert_eq!(rows[0].call(10.0).judgement.change, Some(0.0));
}

/// A repeated result of runs whose RTTs are `scales` times 1..=100 µs, one each.
fn repeated(scenario: &str, scales: &[u64]) -> RunResult {
    let runs: Vec<RunResult> = scales.iter().map(|&s| result(scenario, s, 1000)).collect();
    crate::results::merge::merge_repeats(&runs).unwrap()
}

#[test]
fn with_repeats_a_change_inside_the_noise_is_not_a_regression() {
    // Runs that spread over 2x: NEW's median p99 is 20% above BASE's, past a
    // 10% threshold, but BASE's own runs span more than that.
    let base = side(true, vec![repeated("a", &[10, 20, 11, 18, 10])]);
    let new = side(true, vec![repeated("a", &[12, 21, 10, 19, 13])]);
    let m = pair(&base, &new).unwrap();
    let (text, fails) = report(&m, Some(10.0));
    assert!(fails.is_empty(), "{fails:?}\n{text}");
    assert!(text.contains("BASE (5)") && text.contains("NEW (5)"), "{text}");
    let p99 = text.lines().find(|l| l.trim_start().starts_with("p99 ")).unwrap();
    assert!(p99.contains("within noise +") && p99.contains('['), "{p99}");
    assert!(!text.contains("noise unknown"), "{text}");

    // The same runs made twice as slow: worse, with its interval, and gated.
    let slow = side(true, vec![repeated("a", &[24, 42, 20, 38, 26])]);
    let (text, fails) = report(&pair(&base, &slow).unwrap(), Some(10.0));
    assert_eq!(fails.len(), 2, "{fails:?}\n{text}");
    assert!(fails[0].starts_with("a: p50") && fails[1].starts_with("a: p99"), "{fails:?}");
    assert!(fails[1].contains("worse +"), "{fails:?}");
    assert!(text.contains("WORSE") && text.contains("(not gated)"), "p99.9 worse too, shown only: {text}");
    // Faster: improved, never a failure.
    let (text, fails) = report(&pair(&slow, &base).unwrap(), Some(10.0));
    assert!(fails.is_empty() && text.contains("improved -"), "{text}");
}

#[test]
fn a_single_run_against_repeats_falls_back_to_the_plain_threshold() {
    let base = side(true, vec![result("a", 10, 1000)]);
    let new = side(true, vec![repeated("a", &[12, 13, 12])]);
    let (text, fails) = report(&pair(&base, &new).unwrap(), Some(10.0));
    assert!(text.contains("note: noise unknown: BASE has 1 run(s), NEW 3"), "{text}");
    assert!(fails.iter().any(|f| f.contains("p99") && f.contains("plain threshold")), "{fails:?}");
    let (_, fails) = report(&pair(&base, &new).unwrap(), Some(30.0));
    assert!(fails.is_empty(), "{fails:?}");
    // A v1 result beside a v2 one is compared.
    let mut old = result("a", 10, 1000);
    old.schema_version = 1;
    assert!(pair(&side(true, vec![old]), &new).is_ok());
}

#[test]
fn refusals() {
    let e = pair(&side(false, vec![result("a", 1, 10)]), &side(false, vec![result("b", 1, 10)])).unwrap_err();
    assert!(matches!(e, Error::Usage(_)) && e.to_string().contains("scenario"), "{e}");
    let mut old = result("a", 1, 10);
    old.schema_version = 0;
    let e = pair(&side(true, vec![old]), &side(true, vec![result("a", 1, 10)])).unwrap_err();
    assert!(e.to_string().contains("schema version"), "{e}");
    let e = pair(&side(true, vec![result("a", 1, 10)]), &side(true, vec![result("b", 1, 10)])).unwrap_err();
    assert!(e.to_string().contains("no scenario in common"), "{e}");
}

#[test]
fn a_missing_scenario_or_a_failed_run_fails_the_gate() {
    let base = side(true, vec![result("a", 1, 10), result("b", 1, 10)]);
    let mut failed = result("a", 1, 10);
    failed.outcome.passed = false;
    failed.outcome.status = Some(Status::Fail);
    failed.outcome.reasons = vec!["error rate 1%".into()];
    let new = side(true, vec![failed, result("c", 1, 10)]);
    let m = pair(&base, &new).unwrap();
    assert_eq!((m.only_base.clone(), m.only_new.clone()), (vec!["b"], vec!["c"]));
    let (text, fails) = report(&m, Some(10.0));
    assert!(fails.iter().any(|f| f == "b: missing from NEW"), "{fails:?}");
    assert!(fails.iter().any(|f| f.contains("NEW run failed")), "{fails:?}");
    assert!(text.contains("only in NEW (no baseline): c"), "{text}");
    assert!(report(&m, None).1.is_empty(), "without a gate, notes only");
}

/// Another load is refused (a halved rate would hide a slower server);
/// compared anyway on request, the differences are noted. The duration
/// may differ.
#[test]
fn setup_changes_are_refused_or_noted() {
    let base = side(false, vec![result("a", 1, 10)]);
    for (args, change) in [
        (&["-d", "10", "-c", "7"][..], "connections 100 -> 7"),
        (&["-d", "10", "--rate", "500"], "rate none -> 500 msg/s"),
        (&["-d", "10", "--deflate"], "deflate off -> permessage-deflate"),
        (&["-d", "10", "--messages-per-conn", "5"], "churn none -> 5 messages per connection"),
    ] {
        let new = side(false, vec![synthetic("a", args, (0.0, 10.0), &[1])]);
        let m = pair(&base, &new).unwrap();
        let e = check_setups(&m).unwrap_err();
        assert!(matches!(e, Error::Usage(_)) && e.to_string().contains(change), "{args:?}: {e}");
        let (text, _) = report(&m, None);
        assert!(text.contains("set up differently: ") && text.contains(change), "{text}");
    }
    let longer = side(false, vec![synthetic("a", &["-d", "20"], (0.0, 20.0), &[1])]);
    assert!(check_setups(&pair(&base, &longer).unwrap()).is_ok());
}

/// A scenario without a baseline has nothing to be held against, but its
/// failed run fails the gate.
#[test]
fn a_failed_run_without_a_baseline_fails_the_gate() {
    let mut failed = result("c", 1, 10);
    failed.outcome.status = Some(Status::Fail);
    failed.outcome.reasons = vec!["10 of 20 connections failed".into()];
    let (base, new) = (side(true, vec![result("a", 1, 10)]), side(true, vec![result("a", 1, 10), failed]));
    let (text, fails) = report(&pair(&base, &new).unwrap(), Some(100.0));
    assert_eq!(fails, ["c: the NEW run failed: 10 of 20 connections failed"], "{text}");
}

/// A run the loadgen limited did not fail: held against itself, unchanged,
/// it passes the gate, with its figures noted as a lower bound (it was
/// "failed", and the gate refused an unchanged build).
#[test]
fn a_loadgen_limited_run_is_no_failed_run() {
    let mut limited = result("a", 1, 10);
    limited.outcome.passed = false;
    limited.outcome.status = Some(Status::LoadgenLimit);
    limited.outcome.reasons = vec!["the loadgen, not the server, was the limit".into()];
    limited.loadgen.limited = true;
    let (base, new) = (side(false, vec![limited.clone()]), side(false, vec![limited]));
    let m = pair(&base, &new).unwrap();
    let (text, fails) = report(&m, Some(10.0));
    assert!(fails.is_empty(), "{fails:?}");
    assert!(!text.contains("run failed"), "{text}");
    assert!(
        text.contains("NEW's loadgen was the limit: its throughput is a lower bound of the server's, its latencies an upper bound"),
        "{text}"
    );
}

/// A NEW run allowed more errors than BASE passed its own verdict, and its
/// errors, shown but not gated, passed the gate with it.
#[test]
fn errors_past_the_baselines_allowance_fail_the_gate() {
    let base = side(false, vec![result("a", 1, 10)]);
    let mut lax =
        synthetic("a", &["-d", "10", "--max-error-rate", "0.5", "--max-connect-errors", "5"], (0.0, 10.0), &[1; 10]);
    lax.counters.reply_errors.missing = 4;
    lax.counters.connect_errors.refused = 3;
    let new = side(false, vec![lax]);
    let m = pair(&base, &new).unwrap();
    let (text, fails) = report(&m, Some(100.0));
    assert_eq!(fails.len(), 2, "{fails:?}");
    assert!(fails[0].contains("message error rate 40.0000 % is over BASE's allowance 0.0000 %"), "{fails:?}");
    assert!(fails[1].contains("3 failed connections, over BASE's allowance of 0"), "{fails:?}");
    assert!(text.contains("note: NEW's message error rate"), "{text}");
    // Within BASE's allowances: nothing to say.
    let (_, fails) = report(&pair(&base, &base).unwrap(), Some(100.0));
    assert!(fails.is_empty(), "{fails:?}");
}

/// Three runs a side: an unchanged build lands wholly on one side 1 time
/// in 20 per figure, and the table says so; five a side it does not.
#[test]
fn few_runs_are_said_to_be_few() {
    assert!((by_chance(3, 3) - 0.05).abs() < 1e-12);
    assert!((by_chance(5, 5) - 1.0 / 252.0).abs() < 1e-12);
    let three = |s| side(false, vec![repeated("a", &[s, s, s])]);
    let (text, _) = report(&pair(&three(10), &three(10)).unwrap(), Some(10.0));
    assert!(text.contains("with 3 and 3 runs, every NEW run lands past every BASE run by chance 5.0 %"), "{text}");
    let five = |s| side(false, vec![repeated("a", &[s, s, s, s, s])]);
    let (text, _) = report(&pair(&five(10), &five(10)).unwrap(), Some(10.0));
    assert!(!text.contains("by chance"), "{text}");
}
