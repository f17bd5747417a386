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
/// Fields added with a default (`scenario`, the window's absolute times,
/// `merged`) are not such a change: a v1 reader ignores them, and this
/// reader fills them in for v1 files written before them.
pub const SCHEMA_VERSION: u32 = 1;
/// The scenario name of a run not given one (`run` without `--scenario`,
/// and results written before the field existed).
pub const DEFAULT_SCENARIO: &str = "default";
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
    /// The measured window in Unix seconds, so that results of loadgens
    /// that ran at the same time can be lined up (merge). Absent from
    /// results written before these fields: see [`RunResult::window`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_unix: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_unix: Option<f64>,
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

/// Where a merged result came from: one entry per worker's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    pub file: String,
    pub host: HostInfo,
    pub started_at: String,
    pub window_start_unix: f64,
    pub window_end_unix: f64,
    pub connections: u32,
    pub messages_received: u64,
    pub passed: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: String,
    pub schema_version: u32,
    /// What was run, by name: compare and suite match results on it.
    #[serde(default = "default_scenario")]
    pub scenario: String,
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
    /// Set by `merge`: the workers' results this one adds up. `host` and
    /// `started_at` above are then the first worker's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<MergedFrom>>,
}

fn default_scenario() -> String {
    DEFAULT_SCENARIO.to_string()
}

impl RunResult {
    /// The measured window, `(start, end)` in Unix seconds. For results
    /// written before the explicit fields, derived from the run's start and
    /// phases: the same instants, as `run` computes them.
    pub fn window(&self) -> (f64, f64) {
        let t = &self.timing;
        let start = t.window_start_unix.unwrap_or(self.started_at_unix + t.ramp_s + t.warmup_s);
        let end = t.window_end_unix.unwrap_or(start + t.measured_s);
        (start, end)
    }

    /// How the run was set up, as `(field, value)` pairs, for readers that
    /// must decide whether two results measured the same thing: merge
    /// (which lets connections and rate differ: a worker's share) and
    /// compare (which lets the target URL differ: an embedded server's port).
    pub fn setup(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let (load, rate) = match c.load {
            crate::config::LoadModel::Closed { pipeline } => (format!("closed loop, pipeline {pipeline}"), None),
            crate::config::LoadModel::Open { rate, max_in_flight } => {
                let cap = max_in_flight.map_or("no cap".to_string(), |k| format!("at most {k} in flight"));
                (format!("open loop, {cap}"), Some(rate))
            }
        };
        vec![
            ("target", self.target.url.clone()),
            ("embedded server", self.target.embedded.to_string()),
            ("mode", self.target.mode.clone()),
            ("size", c.size.to_string()),
            ("type", format!("{:?}", c.message_type).to_lowercase()),
            ("chunk", c.chunk.map_or("none".into(), |v| v.to_string())),
            ("load model", load),
            ("rate", rate.map_or("none".into(), |r| format!("{r} msg/s"))),
            ("connections", c.connections.to_string()),
            ("duration", format!("{}s", c.duration.as_secs_f64())),
        ]
    }

    /// The latency that the figures of a run stand for: RTT from each
    /// message's intended send time (in a closed loop, its send time, so
    /// the two RTTs are equal there).
    pub fn latency(&self) -> &HistogramData {
        self.histogram(Series::RttCorrected)
    }

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

/// Reads a result back, refusing other schemas and newer versions. A file
/// that is not a result is the caller's mistake: a usage error (exit 2).
pub fn read_json(path: &Path) -> Result<RunResult, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::usage(format!("{}: not JSON: {e}", path.display())))?;
    from_value(path, value)
}

/// Whether a JSON document claims to be a run result (whatever its version):
/// a directory of results may hold other JSON (benches.json) to pass over.
pub fn is_run_document(value: &serde_json::Value) -> bool {
    value.get("schema").and_then(|v| v.as_str()) == Some(SCHEMA)
}

/// A parsed document as a result; `path` names it in errors.
pub fn from_value(path: &Path, value: serde_json::Value) -> Result<RunResult, Error> {
    if !is_run_document(&value) {
        return Err(Error::usage(format!("{}: not a {SCHEMA} document", path.display())));
    }
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v <= u64::from(SCHEMA_VERSION) => {}
        other => {
            let found = other.map_or("none".to_string(), |v| v.to_string());
            return Err(Error::usage(format!(
                "{}: schema version {found}; this loadgen reads up to {SCHEMA_VERSION}",
                path.display()
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| Error::usage(format!("{}: not a valid result: {e}", path.display())))
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

/// Results made up for unit tests of the readers (merge, compare, plot).
#[cfg(test)]
pub(crate) mod testing {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::stats::Counters;

    /// A result of `scenario` that measured `window` (Unix seconds), with
    /// `latencies_us` as its RTTs and one received message per latency.
    pub fn synthetic(scenario: &str, run_args: &[&str], window: (f64, f64), latencies_us: &[u64]) -> RunResult {
        let cli = Cli::try_parse_from(["wsbench-loadgen", "run"].iter().chain(run_args)).unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        let config = RunConfig::from_args(&args).unwrap();
        let mut h = Histograms::default();
        for &us in latencies_us {
            h.record_ns(Series::RttCorrected, us * 1000);
            h.record_ns(Series::RttUncorrected, us * 1000);
        }
        h.record_ns(Series::Connect, 100_000);
        let n = latencies_us.len() as u64;
        let counters = Counters {
            connections_attempted: u64::from(config.connections),
            connections_opened: u64::from(config.connections),
            messages_sent: n,
            messages_received: n,
            messages_sent_total: n,
            replies_received_total: n,
            bytes_sent: n * config.size as u64,
            bytes_received: n * config.size as u64,
            ..Default::default()
        };
        let measured_s = window.1 - window.0;
        let per_s = |v: u64| v as f64 / measured_s;
        RunResult {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            scenario: scenario.into(),
            loadgen_version: crate::VERSION.into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            started_at_unix: window.0 - 1.0,
            target: TargetInfo { url: "ws://127.0.0.1:9/ws".into(), embedded: false, mode: "reply".into() },
            host: HostInfo::current(),
            timing: Timing {
                ramp_s: 0.0,
                warmup_s: 1.0,
                measured_s,
                elapsed_s: measured_s + 1.0,
                window_start_unix: Some(window.0),
                window_end_unix: Some(window.1),
            },
            throughput: Throughput {
                sent_msgs_per_s: per_s(n),
                received_msgs_per_s: per_s(n),
                sent_bytes_per_s: per_s(counters.bytes_sent),
                received_bytes_per_s: per_s(counters.bytes_received),
                target_msgs_per_s: None,
            },
            config,
            counters,
            loadgen: LoadgenHealth { limited: false, findings: vec![], worker_cpu_busy: vec![0.5] },
            outcome: Outcome { passed: true, stopped_early: None, errors: 0, error_rate: 0.0, reasons: vec![] },
            samples: vec![],
            histograms: RunResult::histograms_from(&h),
            merged_from: None,
        }
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

    #[test]
    fn older_v1_results_read_with_defaults() {
        // A v1 result written before `scenario` and the window's absolute times.
        let r = testing::synthetic("x", &["-d", "10"], (1000.0, 1010.0), &[5, 6]);
        let mut v = serde_json::to_value(&r).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("scenario");
        let t = o["timing"].as_object_mut().unwrap();
        t.remove("window_start_unix");
        t.remove("window_end_unix");
        let old = from_value(Path::new("old.json"), v).unwrap();
        assert_eq!(old.scenario, DEFAULT_SCENARIO);
        // started 999, no ramp, 1 s warmup, 10 s measured.
        assert_eq!(old.window(), (1000.0, 1010.0));
    }

    #[test]
    fn newer_versions_and_other_documents_are_refused() {
        let r = testing::synthetic("x", &[], (0.0, 1.0), &[5]);
        let mut v = serde_json::to_value(&r).unwrap();
        v["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
        let e = from_value(Path::new("new.json"), v).unwrap_err();
        assert!(matches!(e, Error::Usage(_)) && e.to_string().contains("reads up to"), "{e}");
        let e = from_value(Path::new("b.json"), serde_json::json!({"schema": 1})).unwrap_err();
        assert!(e.to_string().contains("not a wsbench-loadgen/run document"), "{e}");
    }
}
