//! Outages over all connections of the run: one starts with a drop while
//! no dropped connection is down, and ends when every dropped connection
//! is back; its recovery time is that span. A lock, taken once per drop
//! and per re-connection (never per message), joins the worker threads.
//!
//! Limits: "back" is a re-connection of the slot that was dropped (its
//! upgrade and `--init` done); connections that failed to open at their
//! start, or are between planned connections (`--conn-lifetime`), are not
//! down. A slot that stops trying (the run's end, Ctrl-C) stays down: its
//! outage is not recovered.

use std::sync::Mutex;

use crate::results::churn::Outage;

/// The outages so far.
#[derive(Debug, Default)]
pub struct Outages(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// Slots dropped and not back.
    down: u64,
    /// The outage under way: its start and its drops.
    current: Option<(u64, u64)>,
    /// Outages over, `(start, end, drops)`, ns after the epoch.
    over: Vec<(u64, u64, u64)>,
}

impl Outages {
    /// A slot was dropped at `now_ns`.
    pub fn dropped(&self, now_ns: u64) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.down += 1;
        let current = s.current.get_or_insert((now_ns, 0));
        current.1 += 1;
    }

    /// A dropped slot is back at `now_ns`.
    pub fn back(&self, now_ns: u64) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.down = s.down.saturating_sub(1);
        if s.down == 0 {
            if let Some((start, drops)) = s.current.take() {
                s.over.push((start, now_ns.max(start), drops));
            }
        }
    }

    /// Every outage, in order; one still under way is not recovered.
    pub fn report(&self) -> Vec<Outage> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let secs = |ns: u64| ns as f64 / 1e9;
        let mut all: Vec<Outage> = s
            .over
            .iter()
            .map(|&(start, end, drops)| Outage { start_s: secs(start), recovery_s: Some(secs(end - start)), drops })
            .collect();
        if let Some((start, drops)) = s.current {
            all.push(Outage { start_s: secs(start), recovery_s: None, drops });
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn an_outage_lasts_from_the_first_drop_until_all_are_back() {
        let o = Outages::default();
        o.dropped(S);
        o.dropped(S + S / 10);
        o.back(2 * S);
        assert!(o.report()[0].recovery_s.is_none(), "one still down");
        o.back(3 * S);
        o.dropped(10 * S);
        o.back(10 * S + S / 2);
        o.dropped(20 * S);
        let r = o.report();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].start_s, r[0].recovery_s, r[0].drops), (1.0, Some(2.0), 2));
        assert_eq!((r[1].start_s, r[1].recovery_s, r[1].drops), (10.0, Some(0.5), 1));
        assert_eq!((r[2].start_s, r[2].recovery_s), (20.0, None), "not recovered by the end");
    }
}
