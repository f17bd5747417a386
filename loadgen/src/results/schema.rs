//! The result of one run as data: the JSON document (a versioned schema
//! that `compare`, `merge`, `plot` and `suite` read back), written and read
//! here.
//!
//! Versions: **1**, one run; **2** adds `repeats`, the runs of
//! `suite --repeat N`, whose sum the top-level figures then are (see
//! [`super::repeats`], which also says why this needed a new version).
//! v1 files read as they are, as a v2 result of one run: nothing to
//! migrate, and v1 and v2 results are compared together ([`comparable`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use super::repeats::Repeat;

use super::counters::Counters;
use super::error::ResultsError;
pub use super::histogram_data::{decode_histogram, percentile_key, HistogramData, PERCENTILES};
pub use super::outcome::{ErrorRatios, Outcome, Status};
use super::setup::{LoadModel, RunConfig};
use super::stats::{Histograms, Series};

/// Names this kind of document.
pub const SCHEMA: &str = "wsbench-loadgen/run";
/// Bumped on any change that a reader of the previous version would misread.
/// Fields added with a default (`scenario`, the window's absolute times,
/// `merged`) are not such a change: a v1 reader ignores them, and this
/// reader fills them in for v1 files written before them.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest version this reader compares and merges with the current one
/// (see the module's notes on migration).
pub const OLDEST_COMPARABLE_VERSION: u32 = 1;
/// The scenario name of a run not given one (`run` without `--scenario`,
/// and results written before the field existed).
pub const DEFAULT_SCENARIO: &str = "default";
/// What was loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The URL connected to, query parameters added.
    pub url: String,
    /// The wsbench server ran in the loadgen's process.
    pub embedded: bool,
    /// The reply mode replies were checked against.
    pub mode: String,
}

/// Where the loadgen ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// CPUs available to it.
    pub cores: usize,
    /// `linux`, ...
    pub os: String,
    /// The kernel release.
    pub os_release: Option<String>,
    /// `x86_64`, ...
    pub arch: String,
    /// The host's name.
    pub hostname: Option<String>,
}

impl HostInfo {
    /// This host.
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
    /// Opening the connections.
    pub ramp_s: f64,
    /// Load applied, not recorded.
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
    /// See `window_start_unix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_unix: Option<f64>,
}

/// Rates over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Messages sent.
    pub sent_msgs_per_s: f64,
    /// Replies received and checked, by their arrival in the window: a
    /// reply that came in the drain is not in it (before 0.3, it was).
    pub received_msgs_per_s: f64,
    /// Wire bytes written.
    pub sent_bytes_per_s: f64,
    /// Wire bytes read.
    pub received_bytes_per_s: f64,
    /// The open loop's `--rate`.
    pub target_msgs_per_s: Option<f64>,
    /// With `--message`: `counters.unsolicited` per second; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsolicited_msgs_per_s: Option<f64>,
}

impl Throughput {
    /// The unsolicited rate, 0 without one (merge adds them up).
    pub fn unsolicited(&self) -> f64 {
        self.unsolicited_msgs_per_s.unwrap_or(0.0)
    }
}

/// Whether the loadgen itself held the measurement back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadgenHealth {
    /// Whether the loadgen may have held the load back (see `findings`).
    pub limited: bool,
    /// Plain statements of what was found; empty when all is well.
    pub findings: Vec<String>,
    /// Each worker thread's CPU time over its wall time.
    pub worker_cpu_busy: Vec<f64>,
    /// Why the load fell short when it was not the loadgen's doing (server
    /// pushback, failed connections): not findings against the loadgen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<String>,
    /// Of the connections' time, the share spent with a write the socket
    /// would not take (`counters.send_blocked_ns` over connections x run
    /// length; an estimate, as connections open at different times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_blocked_share: Option<f64>,
}

/// Where a merged result came from: one entry per worker's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    /// The worker's result file.
    pub file: String,
    /// Where it ran.
    pub host: HostInfo,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// Its measured window, Unix seconds.
    pub window_start_unix: f64,
    /// See `window_start_unix`.
    pub window_end_unix: f64,
    /// Its connections.
    pub connections: u32,
    /// Its replies in its window.
    pub messages_received: u64,
    /// Whether it passed.
    pub passed: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA`].
    pub schema: String,
    /// [`SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// What was run, by name: compare and suite match results on it.
    #[serde(default = "default_scenario")]
    pub scenario: String,
    /// The loadgen that wrote it.
    pub loadgen_version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `started_at`, Unix seconds.
    pub started_at_unix: f64,
    /// What was loaded.
    pub target: TargetInfo,
    /// Where the loadgen ran.
    pub host: HostInfo,
    /// How the run was set up.
    pub config: RunConfig,
    /// How long each phase took.
    pub timing: Timing,
    /// Everything counted.
    pub counters: Counters,
    /// Rates over the window.
    pub throughput: Throughput,
    /// Whether the loadgen kept up.
    pub loadgen: LoadgenHealth,
    /// The verdict.
    pub outcome: Outcome,
    /// The first few bad replies and failed handshakes, described.
    pub samples: Vec<String>,
    /// One histogram per series.
    pub histograms: BTreeMap<Series, HistogramData>,
    /// Set by `merge`: the workers' results this one adds up. `host` and
    /// `started_at` above are then the first worker's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<MergedFrom>>,
    /// Set by `suite --repeat N` (N > 1, schema v2): each run, in order; the
    /// figures above are then their exact sum. Absent: the result is one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Vec<Repeat>>,
    /// With `--conn-lifetime`, `--messages-per-conn` or `--reconnect`: [`super::churn`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<super::churn::ChurnResult>,
    /// `--mode broadcast`: deliveries, their checks and latencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<super::broadcast::BroadcastResult>,
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
            LoadModel::Closed { pipeline } => (format!("closed loop, pipeline {pipeline}"), None),
            LoadModel::Open { rate, max_in_flight } => {
                let cap = max_in_flight.map_or("no cap".to_string(), |k| format!("at most {k} in flight"));
                (format!("open loop, {cap}"), Some(rate))
            }
        };
        vec![
            ("target", self.target.url.clone()),
            ("embedded server", self.target.embedded.to_string()),
            ("mode", self.target.mode.clone()),
            ("size", c.size.to_string()),
            ("type", c.message_type.name().to_string()),
            ("chunk", c.chunk.map_or("none".into(), |v| v.to_string())),
            ("load model", load),
            ("rate", rate.map_or("none".into(), |r| format!("{r} msg/s"))),
            ("messages", c.api.as_ref().map_or("stamped".into(), |a| a.messages.join("\n"))),
            ("connections", c.connections.to_string()),
            ("duration", format!("{}s", c.duration.as_secs_f64())),
            (
                "replies matched by",
                c.api.as_ref().map_or("stamp".into(), |a| format!("{} {:?}", a.match_rule, a.expect)),
            ),
            ("deflate", c.deflate.as_ref().map_or("off".into(), |d| d.offer.clone())),
            ("topic size", c.topic_size.map_or("none".into(), |t| t.to_string())),
            ("churn", c.churn.as_ref().map_or("none".into(), |ch| ch.describe())),
        ]
    }

    /// The latency that the figures of a run stand for: RTT from each
    /// message's intended send time (in a closed loop, its send time, so
    /// the two RTTs are equal there).
    pub fn latency(&self) -> &HistogramData {
        self.histogram(Series::RttCorrected)
    }

    /// Series `s`'s histogram.
    pub fn histogram(&self, s: Series) -> &HistogramData {
        &self.histograms[&s]
    }

    /// The histograms as the document holds them.
    pub fn histograms_from(h: &Histograms) -> BTreeMap<Series, HistogramData> {
        Series::ALL.into_iter().map(|s| (s, HistogramData::from_histogram(h.get(s)))).collect()
    }
}

/// Writes `result` as pretty JSON.
pub fn write_json(result: &RunResult, path: &Path) -> Result<(), ResultsError> {
    let json = serde_json::to_vec_pretty(result).map_err(ResultsError::Serialize)?;
    std::fs::write(path, json).map_err(|source| ResultsError::Write { path: path.to_path_buf(), source })
}

/// Reads a result back, refusing other schemas and newer versions. A file
/// that is not a result is the caller's mistake
/// ([`ResultsError::is_bad_input`]: exit 2).
pub fn read_json(path: &Path) -> Result<RunResult, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Read { path: path.to_path_buf(), source })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| ResultsError::NotJson { path: path.to_path_buf(), source })?;
    from_value(path, value)
}

/// Whether a JSON document claims to be a run result (whatever its version):
/// a directory of results may hold other JSON (benches.json) to pass over.
pub fn is_run_document(value: &serde_json::Value) -> bool {
    value.get("schema").and_then(|v| v.as_str()) == Some(SCHEMA)
}

/// Whether results of schema versions `a` and `b` can be compared or merged:
/// both from [`OLDEST_COMPARABLE_VERSION`] to [`SCHEMA_VERSION`] (a v1
/// result reads as a v2 result of one run), or the same version.
pub fn comparable(a: u32, b: u32) -> bool {
    let known = OLDEST_COMPARABLE_VERSION..=SCHEMA_VERSION;
    a == b || (known.contains(&a) && known.contains(&b))
}

/// A parsed document as a result; `path` names it in errors.
pub fn from_value(path: &Path, value: serde_json::Value) -> Result<RunResult, ResultsError> {
    if !is_run_document(&value) {
        return Err(ResultsError::NotARun { path: path.to_path_buf() });
    }
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v <= u64::from(SCHEMA_VERSION) => {}
        other => {
            let found = other.map_or("none".to_string(), |v| v.to_string());
            return Err(ResultsError::NewerVersion { path: path.to_path_buf(), found });
        }
    }
    let mut result: RunResult =
        serde_json::from_value(value).map_err(|source| ResultsError::Invalid { path: path.to_path_buf(), source })?;
    // Every histogram decodes, or the file is refused here, named, for
    // every command alike: not in the middle of a plot, nor passed over by
    // a comparison that reads only percentiles.
    for (&series, h) in &result.histograms {
        h.decode().map_err(|e| ResultsError::BadHistogram {
            path: path.to_path_buf(),
            series: series.name(),
            source: Box::new(e),
        })?;
    }
    // Series added since (write_lag) are empty in older results.
    for s in Series::ALL {
        result
            .histograms
            .entry(s)
            .or_insert_with(|| HistogramData::from_histogram(&crate::results::stats::new_histogram()));
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
