//! Errors that end the program, each printed as one line.

use std::fmt;

/// What went wrong, in the user's terms. `main` prints
/// `wsbench-loadgen: <Display>` and exits with [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or a configuration that cannot run: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The target could not be reached before the run started: exit 1.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Something failed while running, or writing results: exit 1.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::Usage(msg.to_string())
    }

    pub fn failed(msg: impl fmt::Display) -> Self {
        Error::Failed(msg.to_string())
    }

    /// 2 for usage and configuration errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
