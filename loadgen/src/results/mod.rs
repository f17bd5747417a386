//! The results layer: what a run measured, as data that outlives the run.
//!
//! Histograms and counters ([`stats`], [`counters`]), the settings a result
//! records ([`setup`]), the versioned JSON document ([`schema`]) and the
//! interval log ([`hlog`]), each written and read back in one module; the
//! verdict ([`outcome`]); connection churn and reconnects ([`churn`]); the text summary ([`report`]), the sum of several
//! loadgens' results or of a scenario's repeated runs ([`merge`],
//! [`repeats`]), and number formatting shared by every printed figure
//! ([`format`]).
//!
//! May import: `crate::error` only, never the engine or the commands
//! layer: a result must be readable (by `compare`, `merge`,
//! `plot`) without the code that produced it, so the dependency runs one
//! way, from the engine and the commands to here.

pub mod broadcast;
pub mod churn;
pub mod counters;
pub mod deflate;
pub mod error;
pub mod format;
pub mod histogram_data;
pub mod hlog;
pub mod merge;
pub mod noise;
pub mod outcome;
pub mod repeats;
pub mod report;
pub mod schema;
pub mod setup;
pub mod stats;

pub use counters::Counters;
pub use error::ResultsError;
pub use schema::RunResult;
pub use setup::{LoadModel, MessageType, RunConfig};
pub use stats::{Histograms, Series};
