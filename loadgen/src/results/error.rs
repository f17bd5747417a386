//! Why results could not be read or written. Reading a file the user named
//! that is not a result is the user's mistake; failing to write one is the
//! run's: [`ResultsError::is_bad_input`] tells them apart, so that the binary
//! can map them to exit statuses 2 and 1.

use std::path::PathBuf;

use hdrhistogram::serialization::interval_log::IntervalLogWriterError;
use hdrhistogram::serialization::{DeserializeError, V2DeflateSerializeError};

use super::schema::{SCHEMA, SCHEMA_VERSION};

/// A failure to read or write a result (JSON) or an interval log (hlog).
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}: not JSON: {source}", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// Where the JSON breaks.
        source: serde_json::Error,
    },
    /// JSON, but not a result document.
    #[error("{}: not a {SCHEMA} document", path.display())]
    NotARun {
        /// The file.
        path: PathBuf,
    },
    /// A result of a schema version newer than this reader.
    #[error("{}: schema version {found}; this loadgen reads up to {SCHEMA_VERSION}", path.display())]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Its version, or "none".
        found: String,
    },
    /// A result document whose fields do not parse.
    #[error("{}: not a valid result: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field that does not parse.
        source: serde_json::Error,
    },
    /// A result that could not be turned into JSON.
    #[error("serializing the result: {0}")]
    Serialize(#[source] serde_json::Error),
    /// An encoded histogram that is not base64.
    #[error("histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// An encoded histogram that does not decode.
    #[error("histogram does not decode: {0:?}")]
    Decode(#[from] DeserializeError),
    /// An interval log's header that could not be written.
    #[error("interval log: {0}")]
    IntervalLogHeader(#[source] std::io::Error),
    /// An interval log that could not be written.
    #[error("interval log: {0}")]
    IntervalLogWrite(#[from] IntervalLogWriterError<V2DeflateSerializeError>),
    /// An interval log that does not parse.
    #[error("{}: not an interval log: {why}", path.display())]
    NotAnIntervalLog {
        /// The file.
        path: PathBuf,
        /// The parser's complaint (hdrhistogram's, which is not an `Error`).
        why: String,
    },
    /// An interval log whose histogram does not decode.
    #[error("{}: {source}", path.display())]
    BadInterval {
        /// The file.
        path: PathBuf,
        /// Why the histogram does not decode.
        source: Box<ResultsError>,
    },
    /// A result whose histogram does not decode.
    #[error("{}: {series}: {source}", path.display())]
    BadHistogram {
        /// The file.
        path: PathBuf,
        /// The series.
        series: &'static str,
        /// Why it does not decode.
        source: Box<ResultsError>,
    },
    /// An interval log without any interval.
    #[error("{}: no interval in this log", path.display())]
    EmptyIntervalLog {
        /// The file.
        path: PathBuf,
    },
}

impl ResultsError {
    /// Whether a file given to read is at fault (not found, not a result,
    /// too new): the caller's mistake rather than a failure of the program.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ResultsError::Read { .. }
                | ResultsError::NotJson { .. }
                | ResultsError::NotARun { .. }
                | ResultsError::NewerVersion { .. }
                | ResultsError::Invalid { .. }
                | ResultsError::NotAnIntervalLog { .. }
                | ResultsError::BadInterval { .. }
                | ResultsError::BadHistogram { .. }
                | ResultsError::EmptyIntervalLog { .. }
        )
    }
}
