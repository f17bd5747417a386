//! The engine layer: loading a server and measuring it.
//!
//! - [`connect`]: the target, TLS, descriptor and port limits, TCP and the
//!   WebSocket upgrade, failures by kind.
//! - [`session`]: one connection's I/O state machine; [`schedule`]: when
//!   each of its messages is meant to go; [`tracker`]: its messages in
//!   flight; [`payload`]: message stamps and reply checks; [`protocol`]:
//!   the reply modes shared with the server; [`api`]: any other API's
//!   messages, from templates, and its replies matched by id. Frames, the decoder, close
//!   frames and the handshake's keys come from `wsbench-proto`.
//! - [`worker`]: a thread of connections; [`plan`]: what they share;
//!   [`timer`]: the precise per-thread timer of the open loop.
//! - [`driver`]: one run, start to end, and its verdict; [`churn`]: what
//!   connections closed at a limit or dropped share (backoff, pace, outages).
//!
//! May import: `crate::results` (to record histograms and counters and
//! build the result) and `crate::error`; never the commands layer, and
//! nothing here knows the command line (clap): the engine takes a
//! [`RunConfig`](crate::results::setup::RunConfig), whoever made it.

pub mod api;
pub mod broadcast;
pub mod churn;
pub mod connect;
pub mod driver;
pub mod mode_guess;
pub mod payload;
pub mod plan;
pub mod protocol;
pub mod random_padding;
pub mod schedule;
pub mod session;
pub mod timer;
pub mod tracker;
pub mod waker;
pub mod worker;

pub use driver::{run, LiveFrame, Progress, RunOutput};
