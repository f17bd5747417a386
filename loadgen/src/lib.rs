//! wsbench-loadgen: loads a WebSocket server with thousands of connections,
//! checks every reply, and reports latency histograms that do not hide
//! stalls (coordinated omission is corrected, as wrk2 does).
//!
//! Three layers, each a folder, with dependencies one way only:
//!
//! - [`commands`]: the command line (clap) and one module per subcommand
//!   (`run`, `compare`, `merge`, `plot`, `suite`); imports the other two.
//! - [`engine`]: connections, sessions, schedules, workers and the run
//!   itself, from a plain [`RunConfig`]; imports [`results`].
//! - [`results`]: histograms, counters, the JSON result and the hlog, read
//!   and written, the summary, merging; imports neither of the others, so
//!   results are readable without the code that made them.
//!
//! [`error`] is the errors that end a command, shared by all three. The
//! binary (`main.rs`) parses the command line, runs a command, and maps
//! errors and verdicts to exit statuses, in one place.

#![warn(missing_docs)]

pub mod commands;
pub mod engine;
pub mod error;
pub mod results;

pub use error::Error;
pub use results::setup::RunConfig;

/// The loadgen's version, recorded in every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
