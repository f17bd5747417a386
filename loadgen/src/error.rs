//! Errors that end a command, each printed as one line. Shared by every
//! layer (it imports none of them): the engine refuses a configuration or
//! an unreachable target with it, the results layer a set of results that
//! cannot be merged, the commands a bad input.

use std::fmt;

/// What went wrong, in the user's terms: bad usage (exit 2) or a failure
/// (exit 1). The binary prints `wsbench-loadgen: <Display>`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or a configuration that cannot run: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The target could not be reached before the run started: exit 1.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL, as connected to.
        url: String,
        /// Why: the engine's typed failure (a connect or resolve failure),
        /// boxed because this module may not name the engine's types.
        #[source]
        reason: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Something failed while running, or writing results: exit 1.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// A usage error: the user's to fix.
    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::Usage(msg.to_string())
    }

    /// A failure of the program or the run.
    pub fn failed(msg: impl fmt::Display) -> Self {
        Error::Failed(msg.to_string())
    }

    /// 2 for usage and configuration errors, 1 for everything else. The
    /// binary's exit status for this error (it maps every error there).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
