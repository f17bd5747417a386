//! Broadcast fan-out figures (`--mode broadcast`, issue 13): what one
//! worker counts ([`BroadcastStats`]) and what a result records
//! ([`BroadcastResult`], the result's optional `broadcast` field).
//!
//! A *delivery* is one member's receipt of one published message; a
//! message published to a topic of N members owes N deliveries (the
//! publisher's own included). Two histograms, microseconds:
//! - `delivery_latency`: from the message's start to each receipt;
//! - `completion_latency`: from its start to the last of its N receipts.
//!
//! The start is the intended send time in an open loop (so both are
//! corrected for coordinated omission, as `rtt_corrected` is) and the
//! time the message was queued for its write in a closed loop. Only
//! messages whose start lies in the measured window are recorded and
//! counted (as for replies). The histograms are whole-run totals: they are
//! not in the interval log (`--hlog`).

use std::fmt::Write;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::format::{count, micros};
use super::schema::{HistogramData, PERCENTILES};
use super::stats::{new_histogram, HIGHEST_US};

/// The delivery counts of one worker, or of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Messages published in the window.
    pub published: u64,
    /// Deliveries those messages owe: each one's topic size.
    pub expected: u64,
    /// Deliveries received and checked, once each.
    pub delivered: u64,
    /// Messages every member of their topic received.
    pub completed: u64,
    /// Deliveries never received: the member never got the message before
    /// the drain timeout (or closed first).
    pub missing: u64,
    /// Deliveries received a second time.
    pub duplicate: u64,
    /// Deliveries that came after a later message of the same publisher.
    pub out_of_order: u64,
    /// Deliveries that failed their check (bytes, type, length, or from a
    /// connection outside the member's topic, or never sent).
    pub corrupt: u64,
}

impl DeliveryCounts {
    /// Adds `o`.
    pub fn add(&mut self, o: &DeliveryCounts) {
        self.published += o.published;
        self.expected += o.expected;
        self.delivered += o.delivered;
        self.completed += o.completed;
        self.missing += o.missing;
        self.duplicate += o.duplicate;
        self.out_of_order += o.out_of_order;
        self.corrupt += o.corrupt;
    }

    /// Deliveries that went wrong, of every kind.
    pub fn errors(&self) -> u64 {
        self.missing + self.duplicate + self.out_of_order + self.corrupt
    }
}

/// What one worker records of its topics.
#[derive(Debug, Clone)]
pub struct BroadcastStats {
    /// The counts.
    pub counts: DeliveryCounts,
    /// Start to each receipt, µs.
    pub delivery: Histogram<u64>,
    /// Start to the last receipt, µs.
    pub completion: Histogram<u64>,
}

impl Default for BroadcastStats {
    fn default() -> Self {
        BroadcastStats { counts: DeliveryCounts::default(), delivery: new_histogram(), completion: new_histogram() }
    }
}

impl BroadcastStats {
    /// Records nanoseconds as microseconds, as every series is.
    pub fn record(h: &mut Histogram<u64>, ns: u64) {
        h.saturating_record(((ns + 500) / 1000).min(HIGHEST_US));
    }

    /// Adds another worker's, exactly.
    pub fn add(&mut self, o: &BroadcastStats) {
        self.counts.add(&o.counts);
        self.delivery.add(&o.delivery).expect("histograms of the same bounds merge");
        self.completion.add(&o.completion).expect("histograms of the same bounds merge");
    }
}

/// The result's `broadcast` field: present only for `--mode broadcast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastResult {
    /// `--topic-size`: members per topic (the last topic may have fewer).
    pub topic_size: u32,
    /// Topics in the run.
    pub topics: u32,
    /// Deliveries per second over the window (the sum of each loadgen's
    /// rate, when merged).
    pub deliveries_per_s: f64,
    /// Every count.
    pub counts: DeliveryCounts,
    /// Start to each receipt.
    pub delivery_latency: HistogramData,
    /// Start to the last receipt of each message.
    pub completion_latency: HistogramData,
}

impl BroadcastResult {
    /// The result of a run's summed stats over `measured_s` seconds.
    pub fn of(stats: &BroadcastStats, topic_size: u32, topics: u32, measured_s: f64) -> Self {
        BroadcastResult {
            topic_size,
            topics,
            deliveries_per_s: if measured_s > 0.0 { stats.counts.delivered as f64 / measured_s } else { 0.0 },
            counts: stats.counts.clone(),
            delivery_latency: HistogramData::from_histogram(&stats.delivery),
            completion_latency: HistogramData::from_histogram(&stats.completion),
        }
    }

    /// The sum of several results of one scenario, histograms added bucket
    /// by bucket; `deliveries_per_s` is the caller's (rates add up for
    /// loadgens run at once, counts over time for runs one after another).
    /// `None` when none has broadcast figures; an error when only some do.
    pub fn sum(parts: &[Option<&BroadcastResult>], deliveries_per_s: f64) -> Result<Option<Self>, String> {
        let present: Vec<&BroadcastResult> = parts.iter().flatten().copied().collect();
        let Some(first) = present.first() else { return Ok(None) };
        if present.len() != parts.len() {
            return Err("only some inputs have broadcast figures".into());
        }
        let mut counts = DeliveryCounts::default();
        let mut topics = 0u32;
        for part in &present {
            if part.topic_size != first.topic_size {
                return Err(format!("topic sizes differ: {} and {}", first.topic_size, part.topic_size));
            }
            counts.add(&part.counts);
            topics = topics.saturating_add(part.topics);
        }
        let sum = |name: &str, pick: fn(&BroadcastResult) -> &HistogramData| {
            HistogramData::sum(present.iter().map(|p| pick(p))).map_err(|e| format!("{name}: {e}"))
        };
        Ok(Some(BroadcastResult {
            topic_size: first.topic_size,
            topics,
            deliveries_per_s,
            counts,
            delivery_latency: sum("delivery_latency", |p| &p.delivery_latency)?,
            completion_latency: sum("completion_latency", |p| &p.completion_latency)?,
        }))
    }

    /// The report's lines: the two histograms, the rate beside msg/s, and
    /// the counts.
    pub fn report(&self, s: &mut String, sent_msgs_per_s: f64) {
        let c = &self.counts;
        let _ = writeln!(
            s,
            // The last topic takes what is left: `--connections` need not
            // be a multiple of `--topic-size`.
            "\nbroadcast: {} topic(s) of at most {} members; {} msg/s published, {} deliveries/s",
            self.topics,
            self.topic_size,
            count(sent_msgs_per_s),
            count(self.deliveries_per_s)
        );
        for (title, h) in [("delivery", &self.delivery_latency), ("completion", &self.completion_latency)] {
            let _ = write!(s, "{title:<16} {:>9}", h.count);
            if h.count == 0 {
                let _ = writeln!(s, " (none)");
                continue;
            }
            for p in PERCENTILES {
                let _ = write!(s, " {:>8}", micros(h.percentile(p).unwrap_or(0)));
            }
            let _ = writeln!(s, " {:>8}", micros(h.max));
        }
        let _ = writeln!(
            s,
            "  {} published, {} of {} deliveries received, {} complete; missing {}, duplicate {}, out of order {}, corrupt {}",
            c.published, c.delivered, c.expected, c.completed, c.missing, c.duplicate, c.out_of_order, c.corrupt
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(delivered: u64, latencies_us: &[u64]) -> BroadcastResult {
        let mut stats = BroadcastStats::default();
        stats.counts.delivered = delivered;
        for &us in latencies_us {
            BroadcastStats::record(&mut stats.delivery, us * 1000);
            BroadcastStats::record(&mut stats.completion, us * 2000);
        }
        BroadcastResult::of(&stats, 4, 2, 1.0)
    }

    #[test]
    fn sums_are_exact_and_refuse_mixed_inputs() {
        let (a, b) = (part(10, &[100, 200]), part(20, &[300]));
        let sum = BroadcastResult::sum(&[Some(&a), Some(&b)], 30.0).unwrap().unwrap();
        assert_eq!((sum.counts.delivered, sum.topics, sum.deliveries_per_s), (30, 4, 30.0));
        let h = sum.delivery_latency.decode().unwrap();
        assert_eq!((h.len(), h.max() / 10, h.min() / 10), (3, 30, 10));
        assert_eq!(sum.completion_latency.count, 3);
        assert_eq!(BroadcastResult::sum(&[None, None], 0.0), Ok(None));
        assert!(BroadcastResult::sum(&[Some(&a), None], 0.0).is_err());
        let mut other = part(1, &[]);
        other.topic_size = 8;
        assert!(BroadcastResult::sum(&[Some(&a), Some(&other)], 0.0).unwrap_err().contains("topic sizes"));
    }
}
