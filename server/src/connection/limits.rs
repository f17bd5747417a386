//! The limits a connection enforces, from the server's [`Config`].

use std::time::Duration;

use crate::config::{self, Config};

/// Limits of one connection (issue 9): sizes, timeouts and its share of
/// the server's memory budget.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Largest message, counted across fragments.
    pub max_message_size: usize,
    /// Nothing received for half of it: ping; for all of it: close 1001.
    pub idle_timeout: Duration,
    /// A frame or message begun must be complete within it: else close 1008.
    pub message_timeout: Duration,
    /// A flush (or the close handshake) that takes longer drops the
    /// connection.
    pub write_timeout: Duration,
    /// Queued reply bytes past which the connection stops decoding (and so
    /// reading) until they are written.
    pub max_backpressure: usize,
    /// The server-wide budget of bytes held, shared through
    /// [`Metrics`](crate::metrics::Metrics).
    pub max_memory: usize,
}

impl ConnectionLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Self {
        ConnectionLimits {
            max_message_size: config.max_message_size,
            idle_timeout: config.idle_timeout,
            message_timeout: config.message_timeout,
            write_timeout: config.write_timeout,
            max_backpressure: config.max_backpressure,
            max_memory: config.max_memory,
        }
    }
}

impl Default for ConnectionLimits {
    /// The binary's defaults.
    fn default() -> Self {
        ConnectionLimits {
            max_message_size: config::DEFAULT_MAX_MESSAGE_SIZE,
            idle_timeout: config::DEFAULT_IDLE_TIMEOUT,
            message_timeout: config::DEFAULT_MESSAGE_TIMEOUT,
            write_timeout: config::DEFAULT_WRITE_TIMEOUT,
            max_backpressure: config::DEFAULT_MAX_BACKPRESSURE,
            max_memory: config::DEFAULT_MAX_MEMORY,
        }
    }
}
