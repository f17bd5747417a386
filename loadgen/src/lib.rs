//! wsbench-loadgen: loads a WebSocket server with thousands of connections,
//! checks every reply, and reports latency histograms that do not hide
//! stalls (coordinated omission is corrected, as wrk2 does).
//!
//! The binary is a thin layer over this library: [`cli`] parses the command
//! line, [`config`] validates it into a [`config::RunConfig`], and
//! [`run::run`] drives the load and returns a [`output::RunResult`] that
//! [`report`] prints and [`output`] writes as JSON and `.hlog`.
//!
//! Layout, one job per module:
//! - [`target`]: the URL and the TLS connector; [`connect`]: TCP, TLS and the
//!   WebSocket upgrade, with failures by kind; [`limits`]: descriptors and ports.
//! - [`frame`]: the client's own frame codec (masking once per connection);
//!   [`payload`]: message stamps and the per-mode reply check.
//! - [`client`]: one connection's open or closed loop; [`worker`]: a thread of
//!   connections with its own histograms; [`stats`]: histograms and counters.
//! - [`timer`]: a precise per-thread timer (timerfd) for the open loop's schedule.
//! - [`live`]: the progress line; [`report`]: the summary; [`output`]: JSON and hlog.
//! - Results read back: [`merge`] adds up the workers of a distributed run;
//!   [`compare`] holds them against a baseline; [`suite`] runs named scenarios;
//!   [`plot`] draws them.

pub mod cli;
pub mod client;
pub mod compare;
pub mod config;
pub mod connect;
pub mod error;
pub mod frame;
pub mod limits;
pub mod live;
pub mod merge;
pub mod mode_guess;
pub mod noise;
pub mod output;
pub mod payload;
pub mod plot;
pub mod report;
pub mod run;
pub mod schedule;
pub mod stats;
pub mod suite;
pub mod target;
pub mod timer;
pub mod tracker;
pub mod worker;

pub use config::RunConfig;
pub use error::Error;

/// The loadgen's version, recorded in every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
