//! The server to load: its URL, with the query parameters the flags add,
//! and its addresses.

use std::net::SocketAddr;

use rustls::pki_types::ServerName;

use super::ConnectFailure;
use crate::engine::protocol::ReplyMode;
use crate::error::Error;

/// Why the target's host has no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveFailure {
    /// The resolver did not answer in time.
    #[error("cannot resolve {host}: no answer within {timeout:?}")]
    NoAnswer {
        /// The host looked up.
        host: String,
        /// How long it was given.
        timeout: std::time::Duration,
    },
    /// The resolver answered with an error.
    #[error("cannot resolve {host}: {source}")]
    Lookup {
        /// The host looked up.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The resolver found no address.
    #[error("{host} has no address")]
    NoAddress {
        /// The host looked up.
        host: String,
    },
}

/// A parsed `ws://` or `wss://` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL connected to, query parameters added.
    pub url: String,
    /// `wss://`.
    pub secure: bool,
    /// Host name or address, for DNS and TLS (no IPv6 brackets).
    pub host: String,
    /// The port, the scheme's default if the URL has none.
    pub port: u16,
    /// The `Host` header: the URL's authority.
    pub host_header: String,
    /// The request target of the upgrade.
    pub path_and_query: String,
    /// The reply mode replies are checked against: `--mode`, else the
    /// URL's `mode` parameter, else the wsbench server's default.
    pub mode: ReplyMode,
    /// The largest fragment of a reply in mode `stream`: `--chunk`, else
    /// the URL's `chunk` parameter, else the wsbench server's default.
    pub chunk: usize,
}

impl Target {
    /// Parses `url`; `mode` and `chunk` are added as query parameters,
    /// after any query the URL already carries.
    pub fn parse(url: &str, mode: Option<ReplyMode>, chunk: Option<u32>) -> Result<Target, Error> {
        let bad = |why: &str| Error::usage(format!("bad URL {url:?}: {why}"));
        let uri: http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            Some(other) => return Err(bad(&format!("scheme {other:?} is not ws or wss"))),
            None => return Err(bad("expected ws://host[:port]/path or wss://...")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info is not supported; use --auth-token or -H"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        // What follows the host: `http` reads a port it cannot hold as none,
        // which would load the scheme's default port instead.
        let port = match authority.as_str()[authority.host().len()..].trim_start_matches(':') {
            "" => {
                if secure {
                    443
                } else {
                    80
                }
            }
            text => match text.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(bad(&format!("port {text} is not in 1-65535"))),
            },
        };
        let path = if uri.path().is_empty() { "/" } else { uri.path() };
        let mut query: Vec<String> =
            uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()).map(String::from).collect();
        let existing = |query: &[String], name: &str| {
            query.iter().find_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k == name).then(|| v.to_string())
            })
        };
        let url_mode = existing(&query, "mode");
        let checked_mode = match (mode, &url_mode) {
            (Some(m), Some(u)) if m.as_str() != u => {
                return Err(Error::usage(format!("--mode {m} contradicts mode={u} in the URL")));
            }
            (Some(m), _) => m,
            (None, Some(u)) => u.parse().map_err(|e: String| bad(&e))?,
            (None, None) => ReplyMode::default(),
        };
        if let (Some(c), false) = (chunk, checked_mode == ReplyMode::Stream) {
            return Err(Error::usage(format!("--chunk {c} is for --mode stream, not {checked_mode}")));
        }
        if let (Some(m), None) = (mode, &url_mode) {
            query.push(format!("mode={m}"));
        }
        let url_chunk = existing(&query, "chunk").and_then(|c| c.parse::<usize>().ok());
        let checked_chunk = chunk.map(|c| c as usize).or(url_chunk).unwrap_or(wsbench_proto::DEFAULT_CHUNK);
        if let Some(c) = chunk {
            match existing(&query, "chunk") {
                Some(u) if u != c.to_string() => {
                    return Err(Error::usage(format!("--chunk {c} contradicts chunk={u} in the URL")));
                }
                Some(_) => {}
                None => query.push(format!("chunk={c}")),
            }
        }
        let path_and_query = if query.is_empty() { path.to_string() } else { format!("{path}?{}", query.join("&")) };
        let scheme = if secure { "wss" } else { "ws" };
        Ok(Target {
            url: format!("{scheme}://{}{path_and_query}", authority.as_str()),
            secure,
            host,
            port,
            host_header: authority.as_str().to_string(),
            path_and_query,
            mode: checked_mode,
            chunk: checked_chunk,
        })
    }

    /// Resolves the host once, before the run, within `timeout` (a resolver
    /// that never answers must not hang the loadgen).
    pub async fn resolve(&self, timeout: std::time::Duration) -> Result<Vec<SocketAddr>, Error> {
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        let host = self.host.clone();
        let unreachable =
            |reason: ResolveFailure| Error::Unreachable { url: self.url.clone(), reason: Box::new(reason) };
        let addrs: Vec<SocketAddr> = tokio::time::timeout(timeout, lookup)
            .await
            .map_err(|_| unreachable(ResolveFailure::NoAnswer { host: host.clone(), timeout }))?
            .map_err(|source| unreachable(ResolveFailure::Lookup { host: host.clone(), source }))?
            .collect();
        if addrs.is_empty() {
            return Err(unreachable(ResolveFailure::NoAddress { host }));
        }
        Ok(addrs)
    }

    /// The host as TLS names it (SNI and the certificate check).
    pub fn server_name(&self) -> Result<ServerName<'static>, ConnectFailure> {
        ServerName::try_from(self.host.clone()).map_err(|_| ConnectFailure::ServerName(self.host.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:9000/upgradews", Some(ReplyMode::Echo), None).unwrap();
        assert_eq!(t.url, "ws://127.0.0.1:9000/upgradews?mode=echo");
        assert_eq!((t.host.as_str(), t.port, t.secure, t.mode), ("127.0.0.1", 9000, false, ReplyMode::Echo));
        for (url, port) in
            [("ws://[::1]:9000/", 9000), ("ws://[::1]/", 80), ("wss://h:/", 443), ("ws://h:65535", 65535)]
        {
            let t = Target::parse(url, None, None).unwrap();
            assert_eq!(t.port, port, "{url}");
        }
        let t = Target::parse("wss://example.com/x?a=1", Some(ReplyMode::Stream), Some(7)).unwrap();
        assert_eq!(t.path_and_query, "/x?a=1&mode=stream&chunk=7");
        assert_eq!((t.port, t.host_header.as_str()), (443, "example.com"));
        let t = Target::parse("ws://[::1]:80?mode=json", None, None).unwrap();
        assert_eq!((t.host.as_str(), t.mode, t.path_and_query.as_str()), ("::1", ReplyMode::Json, "/?mode=json"));
        assert_eq!(Target::parse("ws://h/", None, None).unwrap().mode, ReplyMode::Reply);
    }

    #[test]
    fn bad_urls() {
        for bad in
            ["http://h/", "h:80", "ws://", "ws://u:p@h/", "not a url", "ws://h:99999/", "wss://h:65536/x", "ws://h:0/"]
        {
            let e = Target::parse(bad, None, None).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
        }
        assert!(Target::parse("ws://h/?mode=json", Some(ReplyMode::Echo), None).is_err());
        let e = Target::parse("ws://h/", Some(ReplyMode::Echo), Some(7)).unwrap_err().to_string();
        assert!(e.contains("--chunk 7 is for --mode stream"), "{e}");
        assert!(Target::parse("ws://h/?mode=stream", None, Some(7)).is_ok());
    }
}
