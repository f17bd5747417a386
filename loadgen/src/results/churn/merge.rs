//! The `churn` sections of several results as one, exactly: counts and
//! histograms added, handshakes per second as the other rates are
//! (workers at once: the sum of their rates; repeats one after the other:
//! weighted by their measured time), outages listed in order of start.
//!
//! Limit: recovery is judged per loadgen. The outages of loadgens that ran
//! at once are listed side by side, not joined into one outage over all
//! of them (their clocks are their own): `longest_recovery_s` is the
//! longest of any one loadgen, and `not_recovered` holds if any loadgen
//! had connections not back.

use super::{ChurnResult, MAX_OUTAGES};
use crate::results::histogram_data::{HistogramData, SumError};

/// How the inputs ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Together {
    /// At the same time (the workers of a distributed run).
    AtOnce,
    /// One after the other (the repeats of a scenario).
    InTurn,
}

/// The sum of `parts`, each with its measured seconds; `None` when no part
/// has a churn section. A part without one while another has one is
/// refused: they were not run alike.
pub fn merge(parts: &[(Option<&ChurnResult>, f64)], together: Together) -> Result<Option<ChurnResult>, String> {
    let with: Vec<(&ChurnResult, f64)> = parts.iter().filter_map(|&(c, s)| c.map(|c| (c, s))).collect();
    if with.is_empty() {
        return Ok(None);
    }
    if with.len() != parts.len() {
        return Err("some results have a churn section and some do not: they were not run alike".into());
    }
    let first = with[0].0;
    let mut m = first.clone();
    m.outages.clear();
    let measured: f64 = with.iter().map(|(_, s)| s).sum();
    let mut weighted = 0.0;
    let mut rates = 0.0;
    for (k, &(c, s)) in with.iter().enumerate() {
        rates += c.handshakes_per_s;
        weighted += c.handshakes_per_s * s;
        m.outages.extend(c.outages.iter().cloned());
        if k == 0 {
            continue;
        }
        m.tally.add(&c.tally);
        m.outages_total += c.outages_total;
        m.longest_recovery_s = match (m.longest_recovery_s, c.longest_recovery_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        m.not_recovered |= c.not_recovered;
    }
    m.handshakes_per_s = match together {
        Together::AtOnce => rates,
        Together::InTurn if measured > 0.0 => weighted / measured,
        Together::InTurn => 0.0,
    };
    m.outages.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    m.outages.truncate(MAX_OUTAGES);
    let named = |e: SumError| format!("churn histogram: {e}");
    m.reconnect_connect = HistogramData::sum(with.iter().map(|(c, _)| &c.reconnect_connect)).map_err(named)?;
    m.reconnect_handshake = HistogramData::sum(with.iter().map(|(c, _)| &c.reconnect_handshake)).map_err(named)?;
    Ok(Some(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::churn::{ChurnCounts, ChurnTally, Outage};

    fn part(handshakes: u64, measured_s: f64, connect_us: &[u64], outage: Option<(f64, Option<f64>)>) -> ChurnResult {
        let tally = ChurnTally { handshakes_in_window: handshakes, reopened: handshakes, ..Default::default() };
        let mut c = ChurnCounts { tally, ..Default::default() };
        c.tally.drops.eof = 2;
        c.tally.drops.close_codes.insert(1001, 1);
        for &us in connect_us {
            c.connect.record(us).unwrap();
        }
        let outages =
            outage.map(|(start_s, recovery_s)| Outage { start_s, recovery_s, drops: 3 }).into_iter().collect();
        ChurnResult::new(&c, outages, measured_s)
    }

    #[test]
    fn workers_add_up_exactly_and_their_rates_sum() {
        let a = part(100, 10.0, &[10, 20], Some((5.0, Some(1.5))));
        let b = part(50, 5.0, &[30], Some((4.0, None)));
        let m = merge(&[(Some(&a), 10.0), (Some(&b), 5.0)], Together::AtOnce).unwrap().unwrap();
        assert_eq!((m.tally.handshakes_in_window, m.tally.reopened), (150, 150));
        assert_eq!(m.handshakes_per_s, 20.0, "10/s + 10/s");
        assert_eq!((m.tally.drops.eof, m.tally.drops.close_codes[&1001], m.tally.drops.total()), (4, 2, 6));
        assert_eq!(m.reconnect_connect.count, 3);
        assert_eq!(m.reconnect_connect.max, 30);
        assert_eq!(m.outages.iter().map(|o| o.start_s).collect::<Vec<_>>(), [4.0, 5.0], "in order of start");
        assert_eq!((m.outages_total, m.longest_recovery_s, m.not_recovered), (2, Some(1.5), true));
    }

    #[test]
    fn repeats_weigh_their_rates_by_time() {
        let a = part(100, 10.0, &[], None);
        let b = part(10, 10.0, &[], None);
        let m = merge(&[(Some(&a), 10.0), (Some(&b), 10.0)], Together::InTurn).unwrap().unwrap();
        assert_eq!(m.handshakes_per_s, 5.5);
        assert!(!m.not_recovered);
    }

    #[test]
    fn a_missing_section_is_refused_and_none_is_none() {
        let a = part(1, 1.0, &[], None);
        assert!(merge(&[(Some(&a), 1.0), (None, 1.0)], Together::AtOnce).is_err());
        assert_eq!(merge(&[(None, 1.0), (None, 1.0)], Together::AtOnce), Ok(None));
    }
}
