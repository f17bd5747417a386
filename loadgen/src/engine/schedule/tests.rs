use proptest::prelude::*;

use super::*;

const SECOND: u64 = 1_000_000_000;

/// Intended sends of the connections in `conns` within `[from, to)`,
/// counted through `first_index_at_or_after` (itself checked against brute
/// force below).
fn sends_between(s: &Train, conns: impl Iterator<Item = u32>, from: u64, to: u64) -> u64 {
    conns.map(|c| s.first_index_at_or_after(c, to) - s.first_index_at_or_after(c, from)).sum()
}

/// Sends per whole second of `[start, start + seconds)`, all connections.
fn per_second(s: &Train, start: u64, seconds: u64) -> Vec<u64> {
    let conns = s.connections();
    (0..seconds).map(|b| sends_between(s, 0..conns, start + b * SECOND, start + (b + 1) * SECOND)).collect()
}

/// The brief's tolerance: ±5 % of the rate, or ±1 message below 20 msg/s.
fn within_tolerance(count: u64, rate: f64) -> bool {
    let slack = if rate < 20.0 { 1.0 } else { 0.05 * rate };
    (count as f64 - rate).abs() <= slack
}

#[test]
fn reported_case_2000_connections_at_200_per_second_is_even() {
    let epoch = 123_456_789;
    let s = Train::new(200.0, 2_000, epoch).unwrap();
    assert_eq!(s.period_ns(), 10e9);
    let counts = per_second(&s, epoch, 30);
    assert!(counts.iter().all(|&n| (190..=210).contains(&n)), "{counts:?}");
    // Before the fix these were ~2,000 in one second of ten and 0 elsewhere.
    assert_eq!(counts.iter().sum::<u64>(), 6_000);
}

#[test]
fn reported_case_is_even_on_each_round_robin_thread_too() {
    let s = Train::new(200.0, 2_000, 0).unwrap();
    for threads in [2u32, 3] {
        for w in 0..threads {
            let mine = s.connections() / threads + u32::from(w < s.connections() % threads);
            let expected = 200.0 * f64::from(mine) / 2_000.0;
            for b in 0..30 {
                let n = sends_between(&s, (w..2_000).step_by(threads as usize), b * SECOND, (b + 1) * SECOND);
                assert!((n as f64 - expected).abs() <= (0.05 * expected).max(2.0), "thread {w}/{threads}: {n}");
            }
        }
    }
}

#[test]
fn one_connection_sends_every_period_from_the_epoch() {
    let s = Train::new(4.0, 1, 1_000).unwrap();
    let times: Vec<u64> = (0..5).map(|k| s.intended(0, k)).collect();
    assert_eq!(times, [1_000, 250_001_000, 500_001_000, 750_001_000, 1_000_001_000]);
}

#[test]
fn connections_are_offset_by_a_share_of_the_period() {
    // 4 connections at 2 msg/s: period 2 s, offsets 0, 0.5, 1, 1.5 s.
    let s = Train::new(2.0, 4, 0).unwrap();
    let firsts: Vec<u64> = (0..4).map(|c| s.intended(c, 0)).collect();
    assert_eq!(firsts, [0, 500_000_000, 1_000_000_000, 1_500_000_000]);
    assert_eq!(s.intended(1, 1), 2_500_000_000);
}

#[test]
fn no_drift_after_days() {
    // 3 msg/s: a gap of 333,333,333.3 ns that accumulation would round.
    let s = Train::new(3.0, 1, 0).unwrap();
    let k = 3 * 86_400 * 10; // ten days
    assert_eq!(s.intended(0, k), 10 * 86_400 * SECOND);
    assert_eq!(s.first_index_at_or_after(0, 10 * 86_400 * SECOND), k);
    assert_eq!(s.first_index_at_or_after(0, 10 * 86_400 * SECOND + 1), k + 1);
}

#[test]
fn a_late_connection_starts_at_the_present_not_the_past() {
    let s = Train::new(1_000.0, 10, 0).unwrap(); // period 10 ms
    let now = 5 * SECOND + 3;
    for c in 0..10 {
        let k = s.first_index_at_or_after(c, now);
        assert!(s.intended(c, k) >= now && s.intended(c, k) < now + 10_000_000);
        assert!(s.intended(c, k - 1) < now);
    }
    assert_eq!(s.first_index_at_or_after(3, 0), 0);
}

#[test]
fn rejects_what_cannot_be_scheduled() {
    assert_eq!(Train::new(0.0, 1, 0), Err(ScheduleError::BadRate(0.0)));
    assert_eq!(Train::new(-1.0, 1, 0), Err(ScheduleError::BadRate(-1.0)));
    assert!(matches!(Train::new(f64::NAN, 1, 0), Err(ScheduleError::BadRate(_))));
    assert_eq!(Train::new(f64::INFINITY, 1, 0), Err(ScheduleError::BadRate(f64::INFINITY)));
    assert_eq!(Train::new(1.0, 0, 0), Err(ScheduleError::NoConnections));
    assert!(matches!(Train::new(2e9, 1, 0), Err(ScheduleError::TooFast { .. })));
    assert!(Train::new(2e9, 2, 0).is_ok());
    assert!(ScheduleError::NoConnections.to_string().contains("at least one connection"));
}

#[test]
fn saturates_instead_of_wrapping_far_in_the_future() {
    let s = Train::new(1.0, 1, u64::MAX - SECOND).unwrap();
    assert_eq!(s.intended(0, 1), u64::MAX);
    assert_eq!(s.intended(0, 2), u64::MAX);
    assert_eq!(s.first_index_at_or_after(0, u64::MAX), 1);
}

/// Messages per second per connection (0.001 to 1,000, log-uniform), and
/// connections (1 to 20,000, log-uniform).
fn load() -> impl Strategy<Value = (f64, u32)> {
    (-3.0f64..=3.0, 0.0f64..=20_000f64.log10()).prop_map(|(per_conn, conns)| {
        let n = 10f64.powf(conns).round().clamp(1.0, 20_000.0) as u32;
        (10f64.powf(per_conn) * f64::from(n), n)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every whole second of any window after the epoch holds R ± 5 % sends
    /// (± 1 below 20 msg/s), at any ratio of rate to connections.
    #[test]
    fn every_second_holds_the_rate(
        (rate, conns) in load(),
        epoch in 0u64..1 << 40,
        after in 0u64..30 * 86_400 * SECOND,
    ) {
        let s = Train::new(rate, conns, epoch).unwrap();
        let counts = per_second(&s, epoch + after, 4);
        for n in counts {
            prop_assert!(within_tolerance(n, rate), "{n} sends in a second at {rate} msg/s over {conns}");
        }
    }

    #[test]
    fn times_strictly_increase_per_connection(
        (rate, conns) in load(),
        epoch in 0u64..1 << 40,
        conn_frac in 0.0f64..1.0,
        after in 0u64..100 * 86_400 * SECOND,
    ) {
        let s = Train::new(rate, conns, epoch).unwrap();
        let c = ((f64::from(conns) * conn_frac) as u32).min(conns - 1);
        // Within the documented range: up to 100 days after the epoch.
        let k = s.first_index_at_or_after(c, epoch + after);
        for k in k..k + 50 {
            prop_assert!(s.intended(c, k) < s.intended(c, k + 1));
        }
        prop_assert!(s.intended(c, 0) >= epoch);
    }

    /// `first_index_at_or_after` against a brute-force scan of `intended`.
    #[test]
    fn first_index_is_exact(
        rate in 0.01f64..5_000.0,
        conns in 1u32..50,
        epoch in 0u64..1 << 40,
        conn_frac in 0.0f64..1.0,
        t_after in 0u64..3 * SECOND,
        before_epoch in 0u64..SECOND,
    ) {
        let s = Train::new(rate, conns, epoch).unwrap();
        let c = ((f64::from(conns) * conn_frac) as u32).min(conns - 1);
        let t = (epoch + t_after).saturating_sub(before_epoch);
        let brute = (0u64..).find(|&k| s.intended(c, k) >= t).unwrap();
        prop_assert_eq!(s.first_index_at_or_after(c, t), brute);
        let t = s.intended(c, brute);
        prop_assert_eq!(s.first_index_at_or_after(c, t), brute);
        prop_assert_eq!(s.first_index_at_or_after(c, t + 1), brute + 1);
    }

    /// The union of all connections, enumerated without
    /// `first_index_at_or_after`, is one train of global gaps 1/R.
    #[test]
    fn union_is_one_even_train(rate in 1.0f64..2_000.0, conns in 1u32..200) {
        let s = Train::new(rate, conns, 0).unwrap();
        let end = 3 * SECOND;
        let mut all: Vec<u64> = (0..conns)
            .flat_map(|c| (0..).map(move |k| s.intended(c, k)).take_while(move |&t| t < end))
            .collect();
        all.sort_unstable();
        let gap = 1e9 / rate;
        for (g, &t) in all.iter().enumerate() {
            prop_assert!((t as f64 - g as f64 * gap).abs() <= 1.0, "send {g} at {t}");
        }
        prop_assert!((all.len() as f64 - 3.0 * rate).abs() <= 1.0);
    }
}

// The session's seam.

#[test]
fn closed_loop_has_no_schedule() {
    let s = Schedule::for_connection(&LoadModel::Closed { pipeline: 4 }, 10, 3, 5);
    assert_eq!(s, Schedule::Closed);
    assert_eq!(s.intended_ns(0), None);
    assert_eq!(s.first_index(1_000), 0);
    assert!(!s.is_open() && s.rate_per_s().is_none());
}

#[test]
fn connections_share_one_epoch_and_one_train() {
    // v0.1.0 started each connection's schedule at its own connect time
    // plus a phase clamped into the first second. Now connection i's
    // message k is message k*N + i of one train from the common epoch.
    let load = LoadModel::Open { rate: 40.0, max_in_flight: None };
    let epoch = 7;
    let all: Vec<Schedule> = (0..400).map(|i| Schedule::for_connection(&load, 400, i, epoch)).collect();
    assert_eq!(all[0].intended_ns(0), Some(epoch));
    assert_eq!(all[1].intended_ns(0), Some(epoch + 25_000_000), "offset by 1/R");
    assert_eq!(all[399].intended_ns(1), Some(epoch + 799 * 25_000_000));
    assert!((all[5].rate_per_s().unwrap() - 0.1).abs() < 1e-12);
    // Every second of the train holds 40 sends, not a burst every 10 s.
    for second in 0..20u64 {
        let (from, to) = (epoch + second * SECOND, epoch + (second + 1) * SECOND);
        let n: u64 = all.iter().map(|s| s.first_index(to) - s.first_index(from)).sum();
        assert_eq!(n, 40, "second {second}");
    }
}

#[test]
fn a_late_connection_takes_up_its_part_without_a_burst() {
    // 10 msg/s on one connection; it comes up 1.05 s after the epoch.
    let s = Schedule::for_connection(&LoadModel::Open { rate: 10.0, max_in_flight: None }, 1, 0, 0);
    let k = s.first_index(1_050_000_000);
    assert_eq!(k, 11, "the 11 messages intended before it existed are skipped");
    assert_eq!(s.intended_ns(k), Some(1_100_000_000));
    assert_eq!(s.first_index(1_100_000_000), 11, "at or after");
}

#[test]
fn an_absurd_rate_is_clamped_not_a_panic() {
    let s = Schedule::for_connection(&LoadModel::Open { rate: 1e12, max_in_flight: None }, 1, 0, 0);
    assert!(s.is_open());
    assert!(s.intended_ns(2).unwrap() > s.intended_ns(1).unwrap());
}
