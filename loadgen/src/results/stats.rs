//! Histograms, and a worker's share of the counters. Each worker thread owns a [`WorkerStats`]
//! (behind a `RefCell`, as its connections share one thread) and records
//! into it with no lock or atomic; workers' results are merged at the end
//! with [`Histograms::add`] and [`Counters::add`], exactly.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::counters::Counters;

/// Histogram range: 1 µs to an hour, 3 significant digits.
pub const LOWEST_US: u64 = 1;
/// The largest value recorded (larger ones are clamped to it).
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant digits kept.
pub const SIGFIG: u8 = 3;

/// An empty histogram of the range above.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// The measured series, each a histogram in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// TCP connect.
    Connect,
    /// TLS (wss) and the WebSocket upgrade, after connect.
    Handshake,
    /// Reply time from the message's intended send time (wrk2's correction).
    RttCorrected,
    /// Reply time from the message's actual write.
    RttUncorrected,
    /// Queued time minus intended time (open loop): how late the loadgen
    /// got to a message; the loadgen's health.
    SendLag,
    /// Written time (the message's last byte taken by the socket) minus
    /// queued time: local send-queue time, long when the server does not
    /// read (TCP window full) or a message is large.
    WriteLag,
}

impl Series {
    /// Every series, in the report's order.
    pub const ALL: [Series; 6] = [
        Series::Connect,
        Series::Handshake,
        Series::RttCorrected,
        Series::RttUncorrected,
        Series::SendLag,
        Series::WriteLag,
    ];

    /// The name used in JSON keys and as the hlog tag.
    pub fn name(self) -> &'static str {
        match self {
            Series::Connect => "connect",
            Series::Handshake => "handshake",
            Series::RttCorrected => "rtt_corrected",
            Series::RttUncorrected => "rtt_uncorrected",
            Series::SendLag => "send_lag",
            Series::WriteLag => "write_lag",
        }
    }

    /// The series [`Series::name`] names.
    pub fn from_name(name: &str) -> Option<Series> {
        Series::ALL.into_iter().find(|s| s.name() == name)
    }

    /// How the summary names it.
    pub fn title(self) -> &'static str {
        match self {
            Series::Connect => "TCP connect",
            Series::Handshake => "WS handshake",
            Series::RttCorrected => "RTT corrected",
            Series::RttUncorrected => "RTT uncorrected",
            Series::SendLag => "send lag",
            Series::WriteLag => "write lag",
        }
    }
}

/// One histogram per series.
#[derive(Debug, Clone)]
pub struct Histograms([Histogram<u64>; Series::ALL.len()]);

impl Default for Histograms {
    fn default() -> Self {
        Histograms(std::array::from_fn(|_| new_histogram()))
    }
}

impl Histograms {
    /// Series `s`.
    pub fn get(&self, s: Series) -> &Histogram<u64> {
        &self.0[s as usize]
    }

    /// Series `s`, to record into.
    pub fn get_mut(&mut self, s: Series) -> &mut Histogram<u64> {
        &mut self.0[s as usize]
    }

    /// Records nanoseconds as microseconds (rounded), clamped to the range.
    #[inline]
    pub fn record_ns(&mut self, s: Series, ns: u64) {
        let us = (ns + 500) / 1000;
        self.0[s as usize].saturating_record(us.min(HIGHEST_US));
    }

    /// Adds `other`, bucket by bucket (exact).
    pub fn add(&mut self, other: &Histograms) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            a.add(b).expect("histograms of the same bounds merge");
        }
    }

    /// Empties every histogram.
    pub fn reset(&mut self) {
        for h in &mut self.0 {
            h.reset();
        }
    }
}

/// What the live view needs from one worker for one second.
#[derive(Debug, Clone, Default)]
pub struct LiveCounters {
    /// Messages sent.
    pub sent: u64,
    /// Replies received.
    pub received: u64,
    /// Errors of any kind.
    pub errors: u64,
}

/// A worker's histograms and counters. `interval` collects the current
/// second; each tick adds it to `total` and hands it to the collector (for
/// the live view and the interval log).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// The current second.
    pub interval: IntervalRecorder,
    /// The seconds before it.
    pub total: Histograms,
    /// Everything counted.
    pub counters: Counters,
    /// The current second, for the live view.
    pub live: LiveCounters,
    /// Connections open now.
    pub open: u64,
    /// The first few corrupt replies, described, for the report.
    pub samples: Vec<String>,
    /// The two RTT series are the same by construction (a closed loop: a
    /// message is meant to go when it goes): only the corrected one is
    /// recorded per reply, and copied into the uncorrected one when the
    /// interval closes. Recording both was 2.7 % of a pipelined run.
    pub rtt_alike: bool,
    /// `--mode broadcast`: deliveries and their latencies (whole run).
    pub broadcast: super::broadcast::BroadcastStats,
}

/// Corrupt replies described per worker, at most.
pub const MAX_SAMPLES: usize = 5;

impl WorkerStats {
    /// Closes the current interval: adds it to the total and returns it.
    pub fn take_interval(&mut self) -> (Histograms, LiveCounters) {
        let mut h = self.interval.take();
        if self.rtt_alike {
            // Once a second: the copy costs nothing beside a record per reply.
            let corrected = h.get(Series::RttCorrected).clone();
            h.get_mut(Series::RttUncorrected).add(&corrected).expect("histograms of the same bounds merge");
        }
        self.total.add(&h);
        (h, std::mem::take(&mut self.live))
    }

    /// Keeps `what` if fewer than [`MAX_SAMPLES`] are kept (built only then).
    pub fn sample(&mut self, what: impl FnOnce() -> String) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(what());
        }
    }
}

/// Values (µs) below this are counted exactly in the array.
pub const EXACT_BELOW: u64 = 2048;

/// A worker's current second of histograms, recorded per reply.
///
/// Why: `Histogram::record` was 11.6 % of the loadgen's cycles driving 12 M
/// msg/s (perf, `-c 4 -p 1024`): an index computed per value, with bounds
/// and resize checks. Values under [`EXACT_BELOW`] µs, which the histogram
/// keeps exactly at 3 significant digits (its sub-buckets are 2,048 wide
/// from 1 µs), are counted in a plain array instead, one add each, and
/// folded in with `record_n` when the second is taken: the same
/// histograms, bucket for bucket. Larger values go straight in. Limit:
/// 48 KiB per worker thread (six series of 2,048 `u32` counts; a count
/// cannot overflow in a second).
#[derive(Debug)]
pub struct IntervalRecorder {
    histograms: Histograms,
    small: Box<[[u32; EXACT_BELOW as usize]; Series::ALL.len()]>,
}

impl Default for IntervalRecorder {
    fn default() -> Self {
        IntervalRecorder {
            histograms: Histograms::default(),
            small: Box::new([[0; EXACT_BELOW as usize]; Series::ALL.len()]),
        }
    }
}

impl IntervalRecorder {
    /// Records nanoseconds as microseconds (rounded), clamped to the range,
    /// as [`Histograms::record_ns`] does.
    #[inline]
    pub fn record_ns(&mut self, s: Series, ns: u64) {
        let us = (ns + 500) / 1000;
        if us < EXACT_BELOW {
            self.small[s as usize][us as usize] += 1;
        } else {
            self.histograms.get_mut(s).saturating_record(us.min(HIGHEST_US));
        }
    }

    /// The second's histograms, small values folded in; starts the next.
    pub fn take(&mut self) -> Histograms {
        for s in Series::ALL {
            fold(&mut self.small[s as usize], self.histograms.get_mut(s));
        }
        std::mem::take(&mut self.histograms)
    }
}

/// Adds the counts to `h` and zeroes them.
fn fold(counts: &mut [u32; EXACT_BELOW as usize], h: &mut Histogram<u64>) {
    for (us, n) in counts.iter_mut().enumerate() {
        if *n > 0 {
            h.saturating_record_n(us as u64, u64::from(*n));
            *n = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_microseconds_and_merges() {
        let mut a = Histograms::default();
        a.record_ns(Series::RttCorrected, 1_499);
        a.record_ns(Series::RttCorrected, u64::MAX / 2);
        let mut b = Histograms::default();
        b.record_ns(Series::RttCorrected, 2_000_000);
        a.add(&b);
        let h = a.get(Series::RttCorrected);
        assert_eq!(h.len(), 3);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= HIGHEST_US / 2);
        let mut c = Counters::default();
        c.close_codes.insert(1000, 2);
        c.connect_errors.http_status.insert(503, 1);
        let mut d = c.clone();
        d.add(&c);
        assert_eq!(d.close_codes[&1000], 4);
        assert_eq!(d.errors(), 2);
    }

    #[test]
    fn a_closed_loop_records_one_rtt_and_reports_both() {
        let mut st = WorkerStats { rtt_alike: true, ..Default::default() };
        for ns in [1_000, 2_000, 3_000_000] {
            st.interval.record_ns(Series::RttCorrected, ns);
        }
        let (h, _) = st.take_interval();
        assert_eq!(h.get(Series::RttUncorrected), h.get(Series::RttCorrected));
        assert_eq!(h.get(Series::RttUncorrected).len(), 3);
        st.interval.record_ns(Series::RttCorrected, 5_000);
        st.take_interval();
        assert_eq!(st.total.get(Series::RttUncorrected).len(), 4);
        assert_eq!(st.total.get(Series::RttUncorrected), st.total.get(Series::RttCorrected));

        let mut open = WorkerStats::default();
        open.interval.record_ns(Series::RttCorrected, 1_000);
        let (h, _) = open.take_interval();
        assert_eq!(h.get(Series::RttUncorrected).len(), 0, "an open loop records each itself");
    }

    #[test]
    fn the_same_histograms_as_recording_each_value() {
        let values_ns = [0, 1, 499, 500, 1_499, 1_500, 2_047_499, 2_047_500, 2_048_000, 123_456_789, u64::MAX / 2];
        let mut recorder = IntervalRecorder::default();
        let mut direct = Histograms::default();
        for (i, &ns) in values_ns.iter().cycle().take(1000).enumerate() {
            let s = Series::ALL[i % Series::ALL.len()];
            recorder.record_ns(s, ns);
            direct.record_ns(s, ns);
        }
        let taken = recorder.take();
        for s in Series::ALL {
            assert_eq!(taken.get(s), direct.get(s), "{s:?}");
            assert_eq!(taken.get(s).len(), direct.get(s).len());
        }
        recorder.record_ns(Series::Connect, 5_000);
        let next = recorder.take();
        assert_eq!(next.get(Series::Connect).len(), 1, "the next second starts empty");
        assert_eq!(next.get(Series::RttCorrected).len(), 0);
    }
}
