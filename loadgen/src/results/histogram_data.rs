//! One histogram as a result carries it: summary figures, and the
//! histogram itself, exactly (HdrHistogram V2 + DEFLATE, base64).

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::{AdditionError, Histogram};
use serde::{Deserialize, Serialize};

use super::error::ResultsError;
use super::stats::new_histogram;

/// Percentiles reported for every histogram.
pub const PERCENTILES: [f64; 5] = [50.0, 90.0, 99.0, 99.9, 99.99];

/// One histogram: summary figures, and the histogram itself, exactly
/// (HdrHistogram V2 + DEFLATE, base64, as the Java tools exchange them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramData {
    /// Always "us": microseconds.
    pub unit: String,
    /// Values recorded.
    pub count: u64,
    /// Smallest (0 when empty).
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Mean (0 when empty).
    pub mean: f64,
    /// Standard deviation (0 when empty).
    pub stdev: f64,
    /// "50", "90", "99", "99.9", "99.99" to microseconds.
    pub percentiles: BTreeMap<String, u64>,
    /// The histogram, V2 + DEFLATE, base64.
    pub encoded: String,
}

impl HistogramData {
    /// The figures and the encoding of `h`.
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
    pub fn decode(&self) -> Result<Histogram<u64>, ResultsError> {
        decode_histogram(&self.encoded)
    }

    /// The sum of `all`, bucket by bucket: exact, as one histogram of
    /// everything they recorded (no inputs: an empty histogram). The one
    /// place results' histograms are added up, for merged workers, repeats,
    /// churn and broadcast alike. The error says which input failed, by its
    /// position, so that the caller can name it (its label, its series).
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a HistogramData>) -> Result<HistogramData, SumError> {
        let mut sum = new_histogram();
        for (index, data) in all.into_iter().enumerate() {
            let h = data.decode().map_err(|e| SumError { index, cause: SumCause::Decode(e) })?;
            sum.add(&h).map_err(|e| SumError { index, cause: SumCause::Add(e) })?;
        }
        Ok(HistogramData::from_histogram(&sum))
    }

    /// Percentile `p` (one of [`PERCENTILES`]), µs.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        self.percentiles.get(&percentile_key(p)).copied()
    }
}

/// Why [`HistogramData::sum`] stopped; it reads as its cause, for the
/// caller to put behind the failing input's name.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct SumError {
    /// The failing input's position among those given, from 0.
    pub index: usize,
    /// What was wrong with it.
    pub cause: SumCause,
}

/// What was wrong with an input of [`HistogramData::sum`].
#[derive(Debug, thiserror::Error)]
pub enum SumCause {
    /// Its encoding does not decode.
    #[error("{0}")]
    Decode(ResultsError),
    /// It decoded but does not fit the sum's range (a value past the
    /// loadgen's highest).
    #[error("cannot add: {0:?}")]
    Add(AdditionError),
}

/// A histogram from its base64 V2 (DEFLATE) encoding, as results and
/// interval logs carry it.
pub fn decode_histogram(encoded: &str) -> Result<Histogram<u64>, ResultsError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded)?;
    Ok(Deserializer::new().deserialize(&mut std::io::Cursor::new(bytes))?)
}

/// The key of percentile `p` in [`HistogramData::percentiles`].
pub fn percentile_key(p: f64) -> String {
    format!("{p}")
}
