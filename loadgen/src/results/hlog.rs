//! The HdrHistogram interval log (`.hlog`), written and read in one place
//! so that what `run --hlog` writes and what `plot` reads cannot drift
//! apart. Each interval is one line per series that recorded anything,
//! tagged with the series' name; the header is what the Java
//! `HistogramLogReader`/`HistogramLogProcessor` expect.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::error::ResultsError;
use super::schema::decode_histogram;
use super::stats::{Histograms, Series};

/// An HdrHistogram interval log, written as the run goes: the header when
/// it is created, then each interval appended and flushed as it is added,
/// so that a reader sees every second so far and memory stays constant
/// however long the run. Each interval writes one line per series that
/// recorded anything, tagged with the series' name.
pub struct IntervalLog {
    out: BufWriter<File>,
    path: PathBuf,
    serializer: V2DeflateSerializer,
}

impl IntervalLog {
    /// Creates (or truncates) `path` and writes the header: the version
    /// line and the legend that the Java `HistogramLogReader` and
    /// `HistogramLogProcessor` expect (the Rust writer writes neither), the
    /// scenario, the start and base times.
    pub fn create(path: &Path, start: SystemTime, target: &str, scenario: &str) -> Result<Self, ResultsError> {
        let write_err = |source| ResultsError::Write { path: path.to_path_buf(), source };
        let file = File::create(path).map_err(write_err)?;
        let mut out = BufWriter::new(file);
        writeln!(out, "#[Histogram log format version 1.3]").map_err(write_err)?;
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("[wsbench-loadgen {} against {target}]", crate::VERSION))
            .add_comment(&format!("[{SCENARIO_COMMENT}{scenario}]"))
            .add_comment(&format!("[Values in microseconds; tags: {}]", Series::ALL.map(Series::name).join(", ")))
            .add_comment("[HistogramLogProcessor: pass -outputValueUnitRatio 1000 for milliseconds]")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(ResultsError::IntervalLogHeader)?;
        writeln!(out, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")
            .map_err(write_err)?;
        out.flush().map_err(write_err)?;
        Ok(IntervalLog { out, path: path.to_path_buf(), serializer })
    }

    /// Appends the interval `[start, start + length)`, relative to the
    /// start time, and flushes it to the file.
    pub fn add(&mut self, start: Duration, length: Duration, h: &Histograms) -> Result<(), ResultsError> {
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.serializer)
            .map_err(ResultsError::IntervalLogHeader)?;
        for s in Series::ALL {
            let hist = h.get(s);
            if !hist.is_empty() {
                writer.write_histogram(hist, start, length, Tag::new(s.name()))?;
            }
        }
        self.out.flush().map_err(|source| ResultsError::Write { path: self.path.clone(), source })
    }
}

/// The header comment that names the scenario: `#[Scenario: NAME]`.
const SCENARIO_COMMENT: &str = "Scenario: ";

/// One second of one tag of an interval log, as `plot` draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// The series' tag (`rtt_corrected`, ...), or "untagged".
    pub tag: String,
    /// Seconds since the log's start, of the interval's end.
    pub end_s: f64,
    /// The interval's length, seconds: under 1 for the partial last one.
    pub length_s: f64,
    /// Values recorded per second of the interval.
    pub per_s: f64,
    /// The interval's p99, in milliseconds.
    pub p99_ms: f64,
}

/// An interval log, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalLogData {
    /// The scenario its header names (logs written before it: none).
    pub scenario: Option<String>,
    /// Its intervals, decoded, in file order.
    pub intervals: Vec<Interval>,
}

/// The intervals of an hlog, decoded, and the scenario it names.
pub fn read_hlog(path: &Path) -> Result<IntervalLogData, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Read { path: path.to_path_buf(), source })?;
    let scenario = String::from_utf8_lossy(&bytes)
        .lines()
        .take_while(|l| l.starts_with('#') || l.starts_with('"'))
        .find_map(|l| l.strip_prefix("#[")?.strip_prefix(SCENARIO_COMMENT)?.strip_suffix(']').map(String::from));
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry =
            entry.map_err(|e| ResultsError::NotAnIntervalLog { path: path.to_path_buf(), why: format!("{e:?}") })?;
        let LogEntry::Interval(i) = entry else { continue };
        let h = decode_histogram(i.encoded_histogram())
            .map_err(|e| ResultsError::BadInterval { path: path.to_path_buf(), source: Box::new(e) })?;
        let len = i.duration().as_secs_f64();
        out.push(Interval {
            tag: i.tag().map_or("untagged".to_string(), |t| t.as_str().to_string()),
            end_s: i.start_timestamp().as_secs_f64() + len,
            length_s: len,
            per_s: if len > 0.0 { h.len() as f64 / len } else { 0.0 },
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        });
    }
    if out.is_empty() {
        return Err(ResultsError::EmptyIntervalLog { path: path.to_path_buf() });
    }
    Ok(IntervalLogData { scenario, intervals: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("wsbench-hlog-{}-{name}.hlog", std::process::id()))
    }

    #[test]
    fn interval_log_parses_back() {
        let path = temp("parse");
        let mut log = IntervalLog::create(&path, SystemTime::now(), "ws://x/", "tiny").unwrap();
        let mut h = Histograms::default();
        h.record_ns(Series::RttCorrected, 5_000);
        h.record_ns(Series::Connect, 50_000);
        log.add(Duration::ZERO, Duration::from_secs(1), &h).unwrap();
        log.add(Duration::from_secs(1), Duration::from_secs(1), &h).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("#[Histogram log format version 1.3]\n"));
        assert!(text.contains("\"StartTimestamp\",\"Interval_Length\""));
        // The header names every tag the log may hold (write_lag was left out).
        let header = text.lines().find(|l| l.contains("tags: ")).expect("the tags comment");
        for series in Series::ALL {
            assert!(header.contains(series.name()), "{} not in {header}", series.name());
        }
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
    fn each_interval_is_on_disk_once_added() {
        let path = temp("stream");
        let mut log = IntervalLog::create(&path, SystemTime::now(), "ws://x/", "s").unwrap();
        let header = std::fs::read(&path).unwrap().len();
        assert!(header > 0, "the header is written at once");
        let mut h = Histograms::default();
        h.record_ns(Series::RttCorrected, 5_000);
        log.add(Duration::ZERO, Duration::from_secs(1), &h).unwrap();
        // Read while the log is still open: the interval is there.
        let data = read_hlog(&path).unwrap();
        assert_eq!(data.intervals.len(), 1);
        drop(log);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn what_is_written_reads_back() {
        let path = temp("back");
        let mut log = IntervalLog::create(&path, SystemTime::now(), "ws://x/", "open-2k").unwrap();
        let mut h = Histograms::default();
        for _ in 0..10 {
            h.record_ns(Series::RttCorrected, 2_000_000);
        }
        log.add(Duration::ZERO, Duration::from_millis(500), &h).unwrap();
        drop(log);
        let data = read_hlog(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(data.scenario.as_deref(), Some("open-2k"));
        assert_eq!(data.intervals.len(), 1);
        let i = &data.intervals[0];
        assert_eq!((i.tag.as_str(), i.end_s, i.length_s, i.per_s), ("rtt_corrected", 0.5, 0.5, 20.0));
        assert!((i.p99_ms - 2.0).abs() < 0.01, "{i:?}");
    }
}
