//! The command line of the binary: clap lives here only, not in the
//! library.

mod deflate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::Parser;
use wsbench_server::config::{DEFAULT_LISTEN, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_PATH};
use wsbench_server::config::{DEFAULT_MAX_BACKPRESSURE, DEFAULT_MAX_MEMORY};
use wsbench_server::tls::TlsError;
use wsbench_server::{Config, ReplyMode, Tls};

/// wsbench-server: the WebSocket server that wsbench loads and measures.
///
/// Upgrades `GET /upgradews` and answers every message in the connection's
/// reply mode (query parameter `mode`: reply, echo, json or stream; `chunk`
/// sets the fragment size of stream). `GET /healthz` answers 200 and
/// `GET /metrics` gives counters in the Prometheus text format.
#[derive(Debug, Parser)]
#[command(name = "wsbench-server", version, about, long_about)]
pub(crate) struct ServerArgs {
    /// Address to listen on. Use 0.0.0.0:8081 (or [::]:8081) for all interfaces.
    #[arg(long, env = "WSBENCH_LISTEN", default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,

    /// Path of the WebSocket endpoint; must start with '/'.
    #[arg(long, default_value = DEFAULT_PATH, value_parser = parse_path)]
    pub(crate) path: String,

    /// An origin allowed to upgrade besides the request's own host, as
    /// scheme://host[:port]. Repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    pub(crate) allow_origin: Vec<String>,

    /// Allow any origin: turns off the cross-site request forgery check.
    #[arg(long, conflicts_with = "allow_origin")]
    pub(crate) allow_any_origin: bool,

    /// Require `Authorization: Bearer <TOKEN>` on upgrade.
    #[arg(long, env = "WSBENCH_AUTH_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub(crate) auth_token: Option<String>,

    /// Reply mode of connections whose URL has no `mode` parameter.
    #[arg(long, default_value_t = ReplyMode::Reply, value_parser = parse_mode())]
    pub(crate) default_mode: ReplyMode,

    /// Largest message accepted in bytes, counted across fragments; a larger
    /// one is closed with 1009.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..=(1u64 << 40)))]
    pub(crate) max_message_size: u64,

    /// Open WebSocket connections beyond which upgrades are refused with 503.
    /// Defaults to what fits in the open-file limit (raised to the hard
    /// limit at start), less 64 descriptors kept for accepting, /healthz
    /// and /metrics.
    #[arg(long, env = "WSBENCH_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_connections: Option<u64>,

    /// Seconds that shutdown (SIGINT/SIGTERM) waits for connections to
    /// close after telling them 1001 Going Away.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    pub(crate) shutdown_timeout: f64,

    // Per-connection limits (issue 9, part 1).
    /// Seconds without receiving anything after which the server closes the
    /// connection with 1001 Going Away; it pings at half of it.
    #[arg(long, env = "WSBENCH_IDLE_TIMEOUT", default_value_t = 60.0, value_parser = parse_timeout)]
    pub(crate) idle_timeout: f64,

    /// Seconds within which a frame or message that has begun must be
    /// complete, else the server closes with 1008 Policy Violation.
    #[arg(long, env = "WSBENCH_MESSAGE_TIMEOUT", default_value_t = 30.0, value_parser = parse_timeout)]
    pub(crate) message_timeout: f64,

    /// Seconds a reply, or the close handshake, may wait for the peer to
    /// read before the connection is dropped.
    #[arg(long, env = "WSBENCH_WRITE_TIMEOUT", default_value_t = 10.0, value_parser = parse_timeout)]
    pub(crate) write_timeout: f64,

    /// Bytes of replies queued for one connection past which it stops
    /// reading until they drain.
    #[arg(long, env = "WSBENCH_MAX_BACKPRESSURE", value_name = "BYTES", default_value_t = DEFAULT_MAX_BACKPRESSURE as u64, value_parser = clap::value_parser!(u64).range(1..=(1u64 << 40)))]
    pub(crate) max_backpressure: u64,

    /// Bytes held across all connections in partial messages and unsent
    /// replies; a message that would pass it is refused with 1013.
    #[arg(long, env = "WSBENCH_MAX_MEMORY", value_name = "BYTES", default_value_t = DEFAULT_MAX_MEMORY as u64, value_parser = clap::value_parser!(u64).range(1..=(1u64 << 50)))]
    pub(crate) max_memory: u64,

    /// Keep every idle ws:// connection in a task of its own instead of
    /// parking it (by default a connection quiet for a timer tick, at most
    /// 500 ms, gives up its task and timer until bytes, its ping or close
    /// deadline, or shutdown: ~0.6 KB of RSS each instead of ~1.6 KB).
    /// For A/B measurement.
    #[arg(long)]
    pub(crate) no_park: bool,

    /// Worker threads of the runtime; defaults to the number of cores.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,

    /// Serve wss:// with this certificate chain (PEM, leaf first); needs
    /// --tls-key.
    #[arg(long, env = "WSBENCH_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "WSBENCH_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Log filter, as RUST_LOG (e.g. `info`, `wsbench_server=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub(crate) log: String,

    /// Seconds per logging interval: past 10 warnings or errors of one
    /// reason in an interval, the rest are counted and logged as one
    /// summary line at its end.
    #[arg(long, env = "WSBENCH_LOG_INTERVAL", value_name = "SECS", default_value_t = 10.0, value_parser = parse_interval)]
    pub(crate) log_interval: f64,

    #[command(flatten)]
    pub(crate) deflate: deflate::DeflateArgs,
}

impl ServerArgs {
    /// The configuration; the error, one line naming the flag, is a bad
    /// certificate or key.
    pub(crate) fn to_config(&self) -> Result<Config, String> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(Tls::from_pem_files(cert, key).map_err(|e| {
                let flag = match &e {
                    TlsError::Pem { path, .. } if path == key => "--tls-key",
                    TlsError::Pem { .. } | TlsError::NoCertificate(_) => "--tls-cert",
                    TlsError::Rustls(_) => "--tls-cert/--tls-key",
                };
                format!("{flag}: {e}")
            })?),
            _ => None,
        };
        Ok(Config {
            listen: self.listen,
            path: self.path.clone(),
            allowed_origins: self.allow_origin.clone(),
            allow_any_origin: self.allow_any_origin,
            auth_token: self.auth_token.clone(),
            default_mode: self.default_mode,
            max_message_size: usize::try_from(self.max_message_size).unwrap_or(usize::MAX),
            max_connections: self.max_connections.map_or_else(wsbench_server::limits::default_max_connections, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
            shutdown_timeout: Duration::from_secs_f64(self.shutdown_timeout),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            message_timeout: Duration::from_secs_f64(self.message_timeout),
            write_timeout: Duration::from_secs_f64(self.write_timeout),
            max_backpressure: usize::try_from(self.max_backpressure).unwrap_or(usize::MAX),
            max_memory: usize::try_from(self.max_memory).unwrap_or(usize::MAX),
            tls,
            deflate: self.deflate.policy(),
            park_idle: !self.no_park,
        })
    }
}

/// A reply mode, its possible values listed in `--help` and in errors.
fn parse_mode() -> impl clap::builder::TypedValueParser<Value = ReplyMode> {
    let values = ReplyMode::ALL.map(|m| clap::builder::PossibleValue::new(m.as_str()).help(m.help()));
    clap::builder::PossibleValuesParser::new(values).map(|s| s.parse::<ReplyMode>().expect("a listed mode"))
}

fn parse_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') || s.contains(['?', '#', ' ']) {
        return Err(format!("{s:?} is not a path: it must start with '/' and hold no '?', '#' or space"));
    }
    if wsbench_server::ENDPOINTS.contains(&s) {
        return Err(format!("{s} is the server's own endpoint: choose another path for WebSocket upgrades"));
    }
    Ok(s.to_string())
}

/// An origin as a browser sends it, `scheme://host[:port]` (a trailing '/'
/// is let through): anything else could never match an Origin header.
fn parse_origin(s: &str) -> Result<String, String> {
    let host = s.trim_end_matches('/').split_once("://").and_then(|(scheme, host)| {
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        scheme_ok.then_some(host)
    });
    match host {
        Some(h) if !h.is_empty() && !h.contains(['/', '?', '#', '@']) && !h.contains(char::is_whitespace) => {
            Ok(s.to_string())
        }
        _ => Err(format!("{s:?} is not an origin: expected scheme://host[:port], such as https://app.example")),
    }
}

fn parse_token(s: &str) -> Result<String, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()) {
        Err("the token must be non-empty printable ASCII without spaces".to_string())
    } else {
        Ok(s.to_string())
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds from 0 to 3600")),
    }
}

/// A log interval: seconds from 0.01 to an hour.
fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.01..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds from 0.01 to 3600")),
    }
}

/// A timeout: a positive number of seconds, at most a day.
fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.001..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds from 0.001 to 86400")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_config_default() {
        let args = ServerArgs::try_parse_from(["wsbench-server"]).unwrap();
        let c = args.to_config().unwrap();
        let d = Config::default();
        assert_eq!(c.listen, d.listen);
        assert_eq!(c.path, d.path);
        assert_eq!(c.max_message_size, d.max_message_size);
        assert_eq!(c.default_mode, d.default_mode);
        assert_eq!(
            (c.idle_timeout, c.message_timeout, c.write_timeout),
            (d.idle_timeout, d.message_timeout, d.write_timeout)
        );
        assert_eq!((c.max_backpressure, c.max_memory), (d.max_backpressure, d.max_memory));
    }

    #[test]
    fn bad_flags_are_named() {
        for bad in [
            &["--listen", "nowhere"][..],
            &["--path", "upgradews"],
            &["--default-mode", "loud"],
            &["--max-message-size", "0"],
            &["--shutdown-timeout=-1"],
            &["--log-interval", "0"],
            &["--idle-timeout", "0"],
            &["--message-timeout", "soon"],
            &["--write-timeout=-3"],
            &["--max-backpressure", "0"],
            &["--max-memory", "lots"],
            &["--allow-any-origin", "--allow-origin", "http://a"],
            &["--path", "/metrics"],
            &["--path", "/healthz"],
            &["--allow-origin", "notanorigin"],
            &["--allow-origin", "http://x.com/path"],
            &["--allow-origin", "http://"],
        ] {
            let err = ServerArgs::try_parse_from(std::iter::once("wsbench-server").chain(bad.iter().copied()))
                .unwrap_err()
                .to_string();
            let flag = bad[0].split('=').next().unwrap();
            assert!(err.contains(flag) || err.contains("--allow-origin"), "{bad:?}: {err}");
        }
        let ok = ["--allow-origin", "https://app.example", "--allow-origin", "http://127.0.0.1:8080/"];
        let args = ServerArgs::try_parse_from(std::iter::once("wsbench-server").chain(ok)).unwrap();
        assert_eq!(args.allow_origin, ["https://app.example", "http://127.0.0.1:8080/"]);
    }
}
