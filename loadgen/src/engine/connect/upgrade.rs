//! The WebSocket upgrade, written by hand rather than through hyper: one
//! request write and one response parse (httparse), no task per
//! connection, and the bytes read past the response stay in the
//! connection's read buffer. The response is checked fully,
//! `Sec-WebSocket-Accept` included, which fastwebsockets' client does not do,
//! and so is the subprotocol the server picks: one of those offered
//! (`--subprotocol`), or none.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::deflate::{check_extensions, Agreed};
use super::target::Target;
use super::{ConnectFailure, Rng};
use crate::results::setup::RunConfig;
use wsbench_proto::handshake::{accept_key, client_key};

/// Largest upgrade response accepted.
const MAX_RESPONSE: usize = 16 << 10;

/// The fixed part of the upgrade request, built once per run.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    head: String,
    tail: String,
    /// The subprotocols offered, in order.
    offered: Vec<String>,
    /// The permessage-deflate offer, with `--deflate`.
    deflate: Option<wsbench_proto::deflate::DeflateParams>,
}

impl RequestTemplate {
    /// The request for `target`, with the headers `config` adds.
    pub fn new(target: &Target, config: &RunConfig) -> Self {
        // `-H Host` replaces the URL's (a server behind an ingress, reached
        // by address); a second Host header would be a bad request.
        let is_host = |name: &str| name.eq_ignore_ascii_case("host");
        let host = config.headers.iter().find(|(n, _)| is_host(n)).map_or(target.host_header.as_str(), |(_, v)| v);
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
            target.path_and_query
        );
        let mut tail = String::from("\r\n");
        if let Some(origin) = &config.origin {
            tail += &format!("Origin: {origin}\r\n");
        }
        if let Some(token) = &config.auth_token {
            tail += &format!("Authorization: Bearer {token}\r\n");
        }
        if !config.subprotocols.is_empty() {
            tail += &format!("Sec-WebSocket-Protocol: {}\r\n", config.subprotocols.join(", "));
        }
        let deflate = config.deflate.as_ref().map(|d| d.params());
        if let Some(offer) = &config.deflate {
            tail += &format!("Sec-WebSocket-Extensions: {}\r\n", offer.offer);
        }
        for (name, value) in config.headers.iter().filter(|(n, _)| !is_host(n)) {
            tail += &format!("{name}: {value}\r\n");
        }
        if !config.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("user-agent")) {
            tail += &format!("User-Agent: wsbench-loadgen/{}\r\n", crate::VERSION);
        }
        tail += "\r\n";
        RequestTemplate { head, tail, offered: config.subprotocols.clone(), deflate }
    }

    /// The same request with `name=value` added to its query (a broadcast
    /// connection's topic). `value` must need no escaping.
    pub fn with_query_param(&self, name: &str, value: &str) -> Self {
        let (line, rest) = self.head.split_once(" HTTP/1.1\r\n").expect("a request line");
        let sep = if line.contains('?') { '&' } else { '?' };
        let head = format!("{line}{sep}{name}={value} HTTP/1.1\r\n{rest}");
        RequestTemplate { head, ..self.clone() }
    }

    /// Whether subprotocols are offered (the server's pick is then recorded).
    pub fn offers_subprotocols(&self) -> bool {
        !self.offered.is_empty()
    }

    /// Whether permessage-deflate is offered (`--deflate`).
    pub fn offers_deflate(&self) -> bool {
        self.deflate.is_some()
    }

    fn request(&self, key: &str) -> String {
        [self.head.as_str(), key, self.tail.as_str()].concat()
    }
}

/// The WebSocket upgrade on an open stream. On success `rbuf` holds the
/// bytes read past the response (frames already sent by the server), and
/// the subprotocol the server picked is returned, with the
/// permessage-deflate it agreed to, if offered and accepted.
pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    template: &RequestTemplate,
    rng: &mut Rng,
    rbuf: &mut Vec<u8>,
) -> Result<(Option<String>, Option<Agreed>), ConnectFailure> {
    let key = send_request(io, template, rng).await?;
    read_response(io, template, &key, rbuf).await
}

/// The upgrade's first half: writes the request; returns its key, which
/// the response must answer ([`read_response`]).
pub async fn send_request<S: AsyncWrite + Unpin>(
    io: &mut S,
    template: &RequestTemplate,
    rng: &mut Rng,
) -> Result<String, ConnectFailure> {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
    let key = client_key(raw);
    io.write_all(template.request(&key).as_bytes()).await.map_err(ConnectFailure::from_io)?;
    io.flush().await.map_err(ConnectFailure::from_io)?;
    Ok(key)
}

/// The upgrade's second half: reads and checks the response to the
/// request of `key`. On success `rbuf` holds the bytes read past it.
pub async fn read_response<S: AsyncRead + Unpin>(
    io: &mut S,
    template: &RequestTemplate,
    key: &str,
    rbuf: &mut Vec<u8>,
) -> Result<(Option<String>, Option<Agreed>), ConnectFailure> {
    rbuf.clear();
    loop {
        let n = io.read_buf(rbuf).await.map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => {
                ConnectFailure::BadHandshake(format!("connection closed during the handshake ({e})"))
            }
            _ => ConnectFailure::from_io(e),
        })?;
        if n == 0 {
            return Err(ConnectFailure::BadHandshake("connection closed during the handshake".into()));
        }
        if let Some((len, picked, agreed)) = check_response(rbuf, key, &template.offered, template.deflate.as_ref())? {
            rbuf.drain(..len);
            return Ok((picked, agreed));
        }
        if rbuf.len() > MAX_RESPONSE {
            return Err(ConnectFailure::BadHandshake(format!("response headers longer than {MAX_RESPONSE} bytes")));
        }
    }
}

/// A whole, checked upgrade response: its length, the subprotocol picked
/// and the permessage-deflate agreed.
pub type ResponseHead = (usize, Option<String>, Option<Agreed>);

/// Parses and checks the upgrade response; `Ok(None)` until it is whole,
/// then the length of its head and the subprotocol picked, which must be
/// one of `offered` (RFC 6455 4.1: otherwise the client fails the connection),
/// and the permessage-deflate agreed, checked against the `deflate` offer.
pub fn check_response(
    buf: &[u8],
    key: &str,
    offered: &[String],
    deflate: Option<&wsbench_proto::deflate::DeflateParams>,
) -> Result<Option<ResponseHead>, ConnectFailure> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ConnectFailure::BadHandshake(format!("malformed HTTP response ({e})"))),
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(ConnectFailure::HttpStatus(code, response.reason.unwrap_or("").to_string()));
    }
    let header = |name: &str| {
        response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| String::from_utf8_lossy(h.value))
    };
    if !header("upgrade").is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket")) {
        return Err(ConnectFailure::BadHandshake("101 without `Upgrade: websocket`".into()));
    }
    if !header("connection").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"))) {
        return Err(ConnectFailure::BadHandshake("101 without `Connection: Upgrade`".into()));
    }
    match header("sec-websocket-accept") {
        Some(v) if v.trim() == accept_key(key) => {}
        Some(v) => return Err(ConnectFailure::BadHandshake(format!("wrong Sec-WebSocket-Accept {v:?}"))),
        None => return Err(ConnectFailure::BadHandshake("no Sec-WebSocket-Accept".into())),
    }
    let extensions: Vec<&str> = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .map_err(|_| ConnectFailure::BadHandshake("non-ASCII Sec-WebSocket-Extensions".into()))
        })
        .collect::<Result<_, _>>()?;
    let agreed = check_extensions(&extensions, deflate)?;
    let picked = header("sec-websocket-protocol").map(|v| v.trim().to_string());
    if let Some(p) = &picked {
        if !offered.iter().any(|o| o == p) {
            return Err(ConnectFailure::Subprotocol(p.clone()));
        }
    }
    Ok(Some((len, picked, agreed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x01\x00";
        assert_eq!(check_response(ok.as_bytes(), key, &[], None).unwrap(), Some((ok.len() - 2, None, None)));
        assert_eq!(check_response(&ok.as_bytes()[..20], key, &[], None).unwrap(), None);
        let wrong = ok.replace("s3pP", "AAAA");
        assert!(matches!(check_response(wrong.as_bytes(), key, &[], None), Err(ConnectFailure::BadHandshake(_))));
        let refused = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(check_response(refused.as_bytes(), key, &[], None), Err(ConnectFailure::HttpStatus(401, _))));
        assert!(matches!(
            check_response(b"SSH-2.0-OpenSSH\r\n\r\n", key, &[], None),
            Err(ConnectFailure::BadHandshake(_))
        ));
    }

    #[test]
    fn subprotocol_picks() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let offered = ["a".to_string(), "b".to_string()];
        let picked = format!("{ok}Sec-WebSocket-Protocol: b\r\n\r\n");
        assert_eq!(check_response(picked.as_bytes(), key, &offered, None).unwrap().unwrap().1.as_deref(), Some("b"));
        let none = format!("{ok}\r\n");
        assert_eq!(check_response(none.as_bytes(), key, &offered, None).unwrap().unwrap().1, None, "none picked");
        let other = format!("{ok}Sec-WebSocket-Protocol: c\r\n\r\n");
        let e = check_response(other.as_bytes(), key, &offered, None).unwrap_err();
        assert!(matches!(&e, ConnectFailure::Subprotocol(p) if p == "c"), "{e}");
        assert!(e.to_string().contains("not offered"));
        assert!(check_response(picked.as_bytes(), key, &[], None).is_err(), "none offered, one picked");
    }
}
