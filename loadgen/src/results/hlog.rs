//! The HdrHistogram interval log (`.hlog`), written and read in one place
//! so that what `run --hlog` writes and what `plot` reads cannot drift
//! apart. Each interval is one line per series that recorded anything,
//! tagged with the series' name; the header is what the Java
//! `HistogramLogReader`/`HistogramLogProcessor` expect.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::error::ResultsError;
use super::schema::decode_histogram;
use super::stats::{Histograms, Series};

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
    pub fn add(&mut self, start: Duration, length: Duration, h: &Histograms) -> Result<(), ResultsError> {
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.body, &mut self.serializer)
            .map_err(ResultsError::IntervalLogHeader)?;
        for s in Series::ALL {
            let hist = h.get(s);
            if !hist.is_empty() {
                writer.write_histogram(hist, start, length, Tag::new(s.name()))?;
            }
        }
        Ok(())
    }

    /// The whole log: the version line and the legend that the Java
    /// `HistogramLogReader`/`HistogramLogProcessor` expect (the Rust writer
    /// writes neither), the start and base times, then the intervals.
    pub fn to_bytes(&mut self, start: SystemTime, target: &str) -> Result<Vec<u8>, ResultsError> {
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
            .map_err(ResultsError::IntervalLogHeader)?;
        writeln!(out, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")
            .expect("writing to memory");
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// Writes the whole log to `path`.
    pub fn write(&mut self, path: &Path, start: SystemTime, target: &str) -> Result<(), ResultsError> {
        let bytes = self.to_bytes(start, target)?;
        std::fs::write(path, bytes).map_err(|source| ResultsError::Write { path: path.to_path_buf(), source })
    }
}

/// One second of one tag of an interval log, as `plot` draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// The series' tag (`rtt_corrected`, ...), or "untagged".
    pub tag: String,
    /// Seconds since the log's start, of the interval's end.
    pub end_s: f64,
    /// Values recorded per second of the interval.
    pub per_s: f64,
    /// The interval's p99, in milliseconds.
    pub p99_ms: f64,
}

/// The intervals of an hlog, decoded.
pub fn read_hlog(path: &Path) -> Result<Vec<Interval>, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Read { path: path.to_path_buf(), source })?;
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
            per_s: if len > 0.0 { h.len() as f64 / len } else { 0.0 },
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        });
    }
    if out.is_empty() {
        return Err(ResultsError::EmptyIntervalLog { path: path.to_path_buf() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn what_is_written_reads_back() {
        let mut log = IntervalLog::default();
        let mut h = Histograms::default();
        for _ in 0..10 {
            h.record_ns(Series::RttCorrected, 2_000_000);
        }
        log.add(Duration::ZERO, Duration::from_millis(500), &h).unwrap();
        let path = std::env::temp_dir().join(format!("wsbench-hlog-{}.hlog", std::process::id()));
        log.write(&path, SystemTime::now(), "ws://x/").unwrap();
        let intervals = read_hlog(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(intervals.len(), 1);
        let i = &intervals[0];
        assert_eq!((i.tag.as_str(), i.end_s, i.per_s), ("rtt_corrected", 0.5, 20.0));
        assert!((i.p99_ms - 2.0).abs() < 0.01, "{i:?}");
    }
}
