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
}

/// Address the binary listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// Path of the WebSocket endpoint by default.
pub const DEFAULT_PATH: &str = "/upgradews";
/// Largest message accepted by default (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

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
        }
    }
}
