//! Results as data: the JSON document of one run (a versioned schema that
//! later subcommands, compare and merge, read back) and the HdrHistogram
//! interval log.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::Error;
use crate::stats::{Counters, Histograms, Series};

/// Names this kind of document.
pub const SCHEMA: &str = "wsbench-loadgen/run";
/// Bumped on any change that a reader of the previous version would misread.
pub const SCHEMA_VERSION: u32 = 1;
/// Percentiles reported for every histogram.
pub const PERCENTILES: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

/// One histogram: summary figures, and the histogram itself, exactly
/// (HdrHistogram V2 + DEFLATE, base64, as the Java tools exchange them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramData {
    pub unit: String,
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub stdev: f64,
    /// "50", "90", "99", "99.9", "99.99" to microseconds.
    pub percentiles: BTreeMap<String, u64>,
    pub encoded: String,
}

impl HistogramData {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let mut buf = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut buf).expect("serializing a histogram to memory");
        let percentiles = PERCENTILES.iter().map(|&p| (percentile_key(p), h.value_at_quantile(p / 100.0))).collect();
        let empty = h.is_empty();
        HistogramData {
            unit: "us".into(),
            count: h.len(),
            min: if empty { 0 } else { h.min() },
            max: h.max(),
            mean: if empty { 0.0 } else { h.mean() },
            stdev: if empty { 0.0 } else { h.stdev() },
            percentiles,
            encoded: base64::engine::general_purpose::STANDARD.encode(buf),
        }
    }

    /// The histogram back, exactly as recorded.
    pub fn decode(&self) -> Result<Histogram<u64>, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.encoded)
            .map_err(|e| Error::failed(format!("histogram is not base64: {e}")))?;
        Deserializer::new()
            .deserialize(&mut std::io::Cursor::new(bytes))
            .map_err(|e| Error::failed(format!("histogram does not decode: {e:?}")))
    }

    pub fn percentile(&self, p: f64) -> Option<u64> {
        self.percentiles.get(&percentile_key(p)).copied()
    }
}

pub fn percentile_key(p: f64) -> String {
    format!("{p}")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub url: String,
    /// The wsbench server ran in the loadgen's process.
    pub embedded: bool,
    /// The reply mode replies were checked against.
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub cores: usize,
    pub os: String,
    pub os_release: Option<String>,
    pub arch: String,
    pub hostname: Option<String>,
}

impl HostInfo {
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        HostInfo {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_string(),
            os_release: read("/proc/sys/kernel/osrelease"),
            arch: std::env::consts::ARCH.to_string(),
            hostname: read("/proc/sys/kernel/hostname"),
        }
    }
}

/// Seconds of each phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub ramp_s: f64,
    pub warmup_s: f64,
    /// The measured window as it was (shorter than `--duration` if stopped early).
    pub measured_s: f64,
    /// From the start of the ramp to the last connection's end.
    pub elapsed_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub sent_msgs_per_s: f64,
    pub received_msgs_per_s: f64,
    pub sent_bytes_per_s: f64,
    pub received_bytes_per_s: f64,
    /// The open loop's `--rate`.
    pub target_msgs_per_s: Option<f64>,
}

/// Whether the loadgen itself held the measurement back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadgenHealth {
    pub limited: bool,
    /// Plain statements of what was found; empty when all is well.
    pub findings: Vec<String>,
    /// Each worker thread's CPU time over its wall time.
    pub worker_cpu_busy: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub passed: bool,
    /// Why the run ended before its time, if it did: "interrupted", ...
    pub stopped_early: Option<String>,
    pub errors: u64,
    /// Errors over connection attempts plus messages sent.
    pub error_rate: f64,
    /// Why the run failed; empty when it passed.
    pub reasons: Vec<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: String,
    pub schema_version: u32,
    pub loadgen_version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub started_at_unix: f64,
    pub target: TargetInfo,
    pub host: HostInfo,
    pub config: RunConfig,
    pub timing: Timing,
    pub counters: Counters,
    pub throughput: Throughput,
    pub loadgen: LoadgenHealth,
    pub outcome: Outcome,
    /// The first few bad replies and failed handshakes, described.
    pub samples: Vec<String>,
    pub histograms: BTreeMap<Series, HistogramData>,
}

impl RunResult {
    pub fn histogram(&self, s: Series) -> &HistogramData {
        &self.histograms[&s]
    }

    pub fn histograms_from(h: &Histograms) -> BTreeMap<Series, HistogramData> {
        Series::ALL.into_iter().map(|s| (s, HistogramData::from_histogram(h.get(s)))).collect()
    }
}

/// Writes `result` as pretty JSON.
pub fn write_json(result: &RunResult, path: &Path) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(result).map_err(|e| Error::failed(format!("serializing the result: {e}")))?;
    std::fs::write(path, json).map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

/// Reads a result back, refusing other schemas and newer versions.
pub fn read_json(path: &Path) -> Result<RunResult, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    let head: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::failed(format!("{}: not JSON: {e}", path.display())))?;
    if head.get("schema").and_then(|v| v.as_str()) != Some(SCHEMA) {
        return Err(Error::failed(format!("{}: not a {SCHEMA} document", path.display())));
    }
    match head.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v <= u64::from(SCHEMA_VERSION) => {}
        other => {
            return Err(Error::failed(format!(
                "{}: schema version {other:?}; this loadgen reads up to {SCHEMA_VERSION}",
                path.display()
            )))
        }
    }
    serde_json::from_value(head).map_err(|e| Error::failed(format!("{}: {e}", path.display())))
}

/// An HdrHistogram interval log, built as the run goes and written at the
/// end. Each interval writes one line per series that recorded anything,
/// tagged with the series' name.
pub struct IntervalLog {
    body: Vec<u8>,
    serializer: V2DeflateSerializer,
}

impl Default for IntervalLog {
    fn default() -> Self {
        IntervalLog { body: Vec::new(), serializer: V2DeflateSerializer::new() }
    }
}

impl IntervalLog {
    /// Adds the interval `[start, start + length)`, relative to the start time.
    pub fn add(&mut self, start: Duration, length: Duration, h: &Histograms) -> Result<(), Error> {
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.body, &mut self.serializer)
            .map_err(|e| Error::failed(format!("interval log: {e}")))?;
        for s in Series::ALL {
            let hist = h.get(s);
            if !hist.is_empty() {
                writer
                    .write_histogram(hist, start, length, Tag::new(s.name()))
                    .map_err(|e| Error::failed(format!("interval log: {e}")))?;
            }
        }
        Ok(())
    }

    /// The whole log: the version line and the legend that the Java
    /// `HistogramLogReader`/`HistogramLogProcessor` expect (the Rust writer
    /// writes neither), the start and base times, then the intervals.
    pub fn to_bytes(&mut self, start: SystemTime, target: &str) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        writeln!(out, "#[Histogram log format version 1.3]").expect("writing to memory");
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("[wsbench-loadgen {} against {target}]", crate::VERSION))
            .add_comment("[Values in microseconds; tags: connect, handshake, rtt_corrected, rtt_uncorrected, send_lag]")
            .add_comment("[HistogramLogProcessor: pass -outputValueUnitRatio 1000 for milliseconds]")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(|e| Error::failed(format!("interval log: {e}")))?;
        writeln!(out, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")
            .expect("writing to memory");
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    pub fn write(&mut self, path: &Path, start: SystemTime, target: &str) -> Result<(), Error> {
        let bytes = self.to_bytes(start, target)?;
        std::fs::write(path, bytes).map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;

    #[test]
    fn histogram_data_round_trips() {
        let mut h = crate::stats::new_histogram();
        for v in [1u64, 10, 100, 1000, 123_456] {
            h.record(v).unwrap();
        }
        let d = HistogramData::from_histogram(&h);
        assert_eq!(d.count, 5);
        assert_eq!(d.percentile(50.0), Some(100));
        assert_eq!(d.decode().unwrap(), h);
    }

    #[test]
    fn interval_log_parses_back() {
        let mut log = IntervalLog::default();
        let mut h = Histograms::default();
        h.record_ns(Series::RttCorrected, 5_000);
        h.record_ns(Series::Connect, 50_000);
        log.add(Duration::ZERO, Duration::from_secs(1), &h).unwrap();
        log.add(Duration::from_secs(1), Duration::from_secs(1), &h).unwrap();
        let bytes = log.to_bytes(SystemTime::now(), "ws://x/").unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("#[Histogram log format version 1.3]\n"));
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));
        let entries: Vec<_> = IntervalLogIterator::new(&bytes).collect::<Result<_, _>>().unwrap();
        let intervals: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(intervals.len(), 4);
        assert_eq!(intervals[0].tag().unwrap().as_str(), "connect");
        assert!(entries.iter().any(|e| matches!(e, LogEntry::StartTime(_))));
    }
}
