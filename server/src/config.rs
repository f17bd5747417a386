//! Server configuration (the binary's command line, in `src/cli.rs`,
//! fills it).

use std::net::SocketAddr;
use std::time::Duration;

use wsbench_proto::ReplyMode;

use crate::tls::Tls;

/// Everything the server needs to run; `Config::default()` is what the
/// binary runs with no flags, except that it listens on 127.0.0.1:8081.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Path of the WebSocket endpoint.
    pub path: String,
    /// Origins allowed besides the request's own host.
    pub allowed_origins: Vec<String>,
    /// Skip the origin check (the seed's `CheckOrigin` returning true).
    pub allow_any_origin: bool,
    /// Bearer token required on upgrade, if any.
    pub auth_token: Option<String>,
    /// Reply mode of connections that do not ask for one.
    pub default_mode: ReplyMode,
    /// Largest message accepted, counted across fragments.
    pub max_message_size: usize,
    /// Open WebSocket connections beyond which upgrades get 503. The check
    /// and the registration are one step, so concurrent upgrades cannot
    /// overshoot it. By default what fits in the open-file limit, less
    /// [`RESERVED_DESCRIPTORS`](crate::limits::RESERVED_DESCRIPTORS) kept for
    /// `/healthz`, `/metrics` and accepting.
    pub max_connections: usize,
    /// How long shutdown waits for connections to close after 1001.
    pub shutdown_timeout: Duration,
    /// Serve wss:// with this certificate instead of ws://.
    pub tls: Option<Tls>,

    // Per-connection limits against slow or abusive peers (issue 9, part 1).
    /// Nothing received for half of it: the server pings; for all of it:
    /// the server closes with 1001.
    pub idle_timeout: Duration,
    /// A frame or message that has begun must be complete within it, else
    /// the server closes with 1008.
    pub message_timeout: Duration,
    /// Longest a reply (or the close handshake) may wait for the peer to
    /// read; past it the connection is dropped.
    pub write_timeout: Duration,
    /// Replies queued for one connection past which it stops reading.
    pub max_backpressure: usize,
    /// Bytes held across all connections in partial messages and unsent
    /// replies; a message that would pass it is refused with 1013.
    pub max_memory: usize,
    /// Accept permessage-deflate offers with this policy; `None`: decline
    /// them all (the default).
    pub deflate: Option<wsbench_proto::deflate::ServerPolicy>,
    /// Park idle plain (ws://) connections: after a quiet timer tick (at
    /// most 500 ms) with nothing pending, a connection gives up its task,
    /// its timer and its reactor registration until bytes, its next
    /// deadline or shutdown come (`park`). Off: every connection keeps its
    /// task (for A/B measurement).
    pub park_idle: bool,
}

/// Address the binary listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// Path of the WebSocket endpoint by default.
pub const DEFAULT_PATH: &str = "/upgradews";
/// Largest message accepted by default (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

// Defaults of the per-connection limits (issue 9, part 1): they suit a
// public server, as uWebSockets' idleTimeout and maxBackpressure do.
/// `--idle-timeout` by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `--message-timeout` by default.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// `--write-timeout` by default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// `--max-backpressure` by default (1 MiB).
pub const DEFAULT_MAX_BACKPRESSURE: usize = 1 << 20;
/// `--max-memory` by default (1 GiB).
pub const DEFAULT_MAX_MEMORY: usize = 1 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            path: DEFAULT_PATH.to_string(),
            allowed_origins: Vec::new(),
            allow_any_origin: false,
            auth_token: None,
            default_mode: ReplyMode::Reply,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_connections: crate::limits::default_max_connections(),
            shutdown_timeout: Duration::from_secs(5),
            tls: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_backpressure: DEFAULT_MAX_BACKPRESSURE,
            max_memory: DEFAULT_MAX_MEMORY,
            deflate: None,
            park_idle: true,
        }
    }
}
