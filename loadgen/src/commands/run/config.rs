//! `run`'s flags checked against each other into the engine's
//! [`RunConfig`]: every refusal is a usage error naming the flag.

use std::path::Path;

use super::{api_args, broadcast_args, churn_args, deflate_args, RunArgs};
use crate::commands::args::check_writable;
use crate::engine::payload::STAMP_LEN;
use crate::error::Error;
use crate::results::setup::{LoadModel, RunConfig};

/// `--size` when not given.
pub const DEFAULT_SIZE: usize = 32;

/// Largest message accepted by `--size`: the wsbench server's default limit.
pub const MAX_SIZE: usize = 16 << 20;

/// Headers the handshake writes itself; `-H` may not replace them.
const RESERVED_HEADERS: [&str; 6] =
    ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "content-length", "sec-websocket-protocol"];

/// Builds a [`RunConfig`] from `run`'s flags. A trait, because the config
/// is a plain type of the results layer, which must not know clap; import
/// it to call `RunConfig::from_args`.
pub trait FromRunArgs: Sized {
    /// Checks the flags against each other; a failure is a usage error.
    fn from_args(args: &RunArgs) -> Result<Self, Error>;
}

impl FromRunArgs for RunConfig {
    fn from_args(args: &RunArgs) -> Result<RunConfig, Error> {
        let size = args.size.unwrap_or(DEFAULT_SIZE);
        if size < STAMP_LEN {
            return Err(Error::usage(format!(
                "--size {size} is too small: a message carries a {STAMP_LEN}-byte stamp (connection id and sequence number)"
            )));
        }
        if size > MAX_SIZE {
            return Err(Error::usage(format!("--size {size} is larger than {MAX_SIZE} bytes")));
        }
        if args.duration.is_zero() {
            return Err(Error::usage("--duration must be more than 0"));
        }
        let load = match args.rate {
            Some(rate) => {
                if rate / f64::from(args.connections) > 1_000_000.0 {
                    return Err(Error::usage(format!(
                        "--rate {rate} over {} connections is more than 1,000,000 messages/s per connection",
                        args.connections
                    )));
                }
                LoadModel::Open { rate, max_in_flight: args.pipeline }
            }
            None => LoadModel::Closed { pipeline: args.pipeline.unwrap_or(1) },
        };
        // At 0 every connection or reply would fail at once.
        for (flag, d) in [
            ("--connect-timeout", args.connect_timeout),
            ("--drain-timeout", args.drain_timeout),
            ("--reply-timeout", args.reply_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::usage(format!("{flag} must be more than 0")));
            }
        }
        for (flag, path) in [("--json", &args.json), ("--hlog", &args.hlog)] {
            if let Some(path) = path {
                check_writable(flag, path)?;
            }
        }
        if let (Some(json), Some(hlog)) = (&args.json, &args.hlog) {
            if same_file(json, hlog) {
                return Err(Error::usage(format!(
                    "--hlog {} is the --json file: one would overwrite the other",
                    hlog.display()
                )));
            }
        }
        check_url_flags(args)?;
        for &ip in &args.local_addr {
            // An address not of this host fails every connect with "cannot
            // assign requested address", which reads as out of ports.
            if let Err(e) = std::net::TcpListener::bind((ip, 0)) {
                return Err(Error::usage(format!("--local-addr {ip}: not usable as a source address here: {e}")));
            }
        }
        let headers = args.headers.iter().map(|h| parse_header(h)).collect::<Result<Vec<_>, _>>()?;
        if headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("host")).count() > 1 {
            return Err(Error::usage("-H Host is given more than once"));
        }
        if let Some(origin) = &args.origin {
            check_header_value("--origin", origin)?;
        }
        if let Some(token) = &args.auth_token {
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::usage("--auth-token must be non-empty printable ASCII without spaces"));
            }
        }
        if let Some(ca) = &args.ca {
            if !ca.is_file() {
                return Err(Error::usage(format!("--ca {}: no such file", ca.display())));
            }
        }
        let api = api_args::api_config(args)?;
        let subprotocols = api_args::subprotocols(args)?;
        let deflate = args.deflate.offer(api.is_some())?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let embedded = args.url.is_none();
        let default_threads = if embedded { (cores / 2).max(1) } else { cores };
        let threads = args.threads.map_or(default_threads, usize::from).min(args.connections as usize).max(1);
        let topic_size = broadcast_args::topic_size(args)?;
        let threads = broadcast_args::threads(threads, topic_size, args.connections);
        let server_threads = embedded.then(|| args.server_threads.map_or((cores - cores / 2).max(1), usize::from));
        Ok(RunConfig {
            scenario: args.scenario.clone(),
            url: args.url.clone(),
            connections: args.connections,
            connect_rate: args.connect_rate,
            connect_timeout: args.connect_timeout,
            local_addrs: args.local_addr.clone(),
            duration: args.duration,
            warmup: args.warmup,
            size,
            message_type: args.message_type.into(),
            load,
            mode: args.mode.map(|m| m.to_string()),
            chunk: args.chunk,
            headers,
            auth_token: args.auth_token.clone(),
            auth_token_set: args.auth_token.is_some(),
            origin: args.origin.clone(),
            insecure: args.insecure,
            ca: args.ca.clone(),
            threads,
            server_threads,
            drain_timeout: args.drain_timeout,
            max_error_rate: args.max_error_rate,
            max_connect_errors: args.max_connect_errors,
            allow_loadgen_limit: args.allow_loadgen_limit,
            reply_timeout: args.reply_timeout,
            max_send_lag: args.max_send_lag,
            json: args.json.clone(),
            hlog: args.hlog.clone(),
            quiet: args.quiet,
            api,
            subprotocols,
            churn: churn_args::churn_config(&args.churn)?,
            topic_size,
            deflate,
            random_payload: args.deflate.payload == deflate_args::PayloadArg::Random,
        })
    }
}

/// Flags that mean something only for some URLs: refused for the others,
/// rather than ignored.
fn check_url_flags(args: &RunArgs) -> Result<(), Error> {
    let secure = args.url.as_deref().is_some_and(|u| u.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("wss://")));
    if !secure {
        if args.insecure {
            return Err(Error::usage("--insecure is for wss:// URLs (TLS)"));
        }
        if args.ca.is_some() {
            return Err(Error::usage("--ca is for wss:// URLs (TLS)"));
        }
    }
    if args.url.is_some() && args.server_threads.is_some() {
        return Err(Error::usage("--server-threads is for the embedded server, which runs only without a URL"));
    }
    Ok(())
}

/// Whether two paths name one file: the same path, or (once it exists)
/// the same file by another name.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

fn parse_header(h: &str) -> Result<(String, String), Error> {
    let Some((name, value)) = h.split_once(':') else {
        return Err(Error::usage(format!("-H {h:?}: expected 'Name: value'")));
    };
    let (name, value) = (name.trim(), value.trim());
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(Error::usage(format!("-H {h:?}: {name:?} is not a header name")));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(Error::usage(format!("-H {h:?}: the handshake sets {name} itself")));
    }
    check_header_value(&format!("-H {name}"), value)?;
    Ok((name.to_string(), value.to_string()))
}

fn check_header_value(what: &str, value: &str) -> Result<(), Error> {
    if http::HeaderValue::from_str(value).is_err() {
        return Err(Error::usage(format!("{what}: {value:?} is not a valid header value")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::commands::{Cli, Command};

    fn config(args: &[&str]) -> Result<RunConfig, Error> {
        let cli = Cli::try_parse_from(["wsbench-loadgen", "run"].iter().chain(args)).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        RunConfig::from_args(&run)
    }

    #[test]
    fn load_models() {
        assert_eq!(config(&[]).unwrap().load, LoadModel::Closed { pipeline: 1 });
        assert_eq!(config(&["-p", "8"]).unwrap().load, LoadModel::Closed { pipeline: 8 });
        assert_eq!(config(&["--rate", "100"]).unwrap().load, LoadModel::Open { rate: 100.0, max_in_flight: None });
    }

    #[test]
    fn refusals_name_the_flag() {
        for (args, flag) in [
            (&["--size", "4"][..], "--size"),
            (&["--message", "{\"id\":{{seq}}}", "--match", "json:/id", "-s", "100"], "--size 100"),
            (&["-H", "nocolon"], "-H"),
            (&["-H", "Upgrade: h2c"], "-H"),
            (&["--auth-token", "a b"], "--auth-token"),
            (&["--ca", "/nonexistent.pem"], "--ca"),
            (&["--json", "/nonexistent-dir/x/out.json"], "--json"),
            (&["--hlog", "/nonexistent-dir/out.hlog"], "--hlog"),
            (&["--json", "/"], "--json"),
            (&["--reply-timeout", "0"], "--reply-timeout"),
            (&["--drain-timeout", "0s"], "--drain-timeout"),
            (&["--connect-timeout", "0"], "--connect-timeout"),
            (&["--json", "/tmp/wsbench-same.out", "--hlog", "/tmp/wsbench-same.out"], "--hlog"),
            (&["-H", "Host: a", "-H", "host: b"], "-H Host"),
            (&["--insecure"], "--insecure"),
            (&["ws://h/", "--ca", "/etc/hostname"], "--ca"),
            (&["ws://h/", "--server-threads", "2"], "--server-threads"),
            (&["--local-addr", "127.0.0.2,192.0.2.1"], "--local-addr 192.0.2.1"),
        ] {
            let err = config(args).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{args:?}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn a_writable_output_is_left_as_it_was() {
        let dir = std::env::temp_dir().join(format!("wsbench-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new.json");
        config(&["--json", new.to_str().unwrap()]).unwrap();
        assert!(!new.exists(), "checked, not left behind");
        let old = dir.join("old.hlog");
        std::fs::write(&old, "kept").unwrap();
        config(&["--hlog", old.to_str().unwrap()]).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "kept", "not truncated");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_is_not_serialized() {
        let c = config(&["--auth-token", "s3cret"]).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("s3cret"));
        assert!(json.contains("\"auth_token_set\":true"));
    }
}
