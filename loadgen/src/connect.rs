//! Opening one connection: TCP connect (from a chosen source address),
//! TLS for `wss://`, and the WebSocket upgrade, each failure by its kind.
//!
//! The upgrade is written by hand rather than through hyper: one request
//! write and one response parse (httparse), no task per connection, and
//! the bytes read past the response stay in the connection's read buffer.
//! The response is checked fully, `Sec-WebSocket-Accept` included, which
//! fastwebsockets' client does not do.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::config::RunConfig;
use crate::stats::ConnectErrors;
use crate::target::Target;

/// RFC 6455's GUID for `Sec-WebSocket-Accept`.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest upgrade response accepted.
const MAX_RESPONSE: usize = 16 << 10;

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectFailure {
    Refused,
    Timeout,
    /// Out of source ports or addresses, or of descriptors.
    Resources(io::Error),
    Tls(String),
    /// The upgrade was answered with this status (and reason phrase).
    HttpStatus(u16, String),
    BadHandshake(String),
    Other(io::Error),
}

impl ConnectFailure {
    fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
            io::ErrorKind::TimedOut => ConnectFailure::Timeout,
            _ => match e.raw_os_error() {
                Some(libc::EADDRNOTAVAIL | libc::EADDRINUSE | libc::EMFILE | libc::ENFILE | libc::ENOBUFS) => {
                    ConnectFailure::Resources(e)
                }
                _ => ConnectFailure::Other(e),
            },
        }
    }

    /// Adds this failure to its counter.
    pub fn count(&self, errors: &mut ConnectErrors) {
        match self {
            ConnectFailure::Refused => errors.refused += 1,
            ConnectFailure::Timeout => errors.timeout += 1,
            ConnectFailure::Resources(_) => errors.resources += 1,
            ConnectFailure::Tls(_) => errors.tls += 1,
            ConnectFailure::HttpStatus(code, _) => *errors.http_status.entry(*code).or_default() += 1,
            ConnectFailure::BadHandshake(_) => errors.bad_handshake += 1,
            ConnectFailure::Other(_) => errors.other += 1,
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Refused => f.write_str("connection refused"),
            ConnectFailure::Timeout => f.write_str("timed out"),
            ConnectFailure::Resources(e) => write!(f, "out of ports or descriptors: {e}"),
            ConnectFailure::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ConnectFailure::HttpStatus(code, reason) => write!(f, "the upgrade was refused with HTTP {code} {reason}"),
            ConnectFailure::BadHandshake(why) => write!(f, "bad WebSocket handshake: {why}"),
            ConnectFailure::Other(e) => write!(f, "{e}"),
        }
    }
}

/// The fixed part of the upgrade request, built once per run.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    head: String,
    tail: String,
}

impl RequestTemplate {
    pub fn new(target: &Target, config: &RunConfig) -> Self {
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
            target.path_and_query, target.host_header
        );
        let mut tail = String::from("\r\n");
        if let Some(origin) = &config.origin {
            tail += &format!("Origin: {origin}\r\n");
        }
        if let Some(token) = &config.auth_token {
            tail += &format!("Authorization: Bearer {token}\r\n");
        }
        for (name, value) in &config.headers {
            tail += &format!("{name}: {value}\r\n");
        }
        if !config.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("user-agent")) {
            tail += &format!("User-Agent: wsbench-loadgen/{}\r\n", crate::VERSION);
        }
        tail += "\r\n";
        RequestTemplate { head, tail }
    }

    fn request(&self, key: &str) -> String {
        [self.head.as_str(), key, self.tail.as_str()].concat()
    }
}

/// A small fast PRNG (splitmix64): handshake keys and mask keys need to be
/// unpredictable to intermediaries, not cryptographically strong.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Rng(seed ^ t ^ (std::process::id() as u64) << 32)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `Sec-WebSocket-Accept` for a key.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// TCP connect from `local` (port chosen by the kernel), with TCP_NODELAY:
/// latency is measured, so no message waits to fill a segment.
pub async fn tcp_connect(addr: SocketAddr, local: Option<IpAddr>) -> Result<TcpStream, ConnectFailure> {
    let stream = match local {
        None => TcpStream::connect(addr).await.map_err(ConnectFailure::from_io)?,
        Some(ip) => {
            let socket = if ip.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
                .map_err(ConnectFailure::from_io)?;
            bind_address_no_port(&socket);
            socket.bind(SocketAddr::new(ip, 0)).map_err(ConnectFailure::from_io)?;
            socket.connect(addr).await.map_err(ConnectFailure::from_io)?
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Lets the kernel pick the port at connect time (on Linux), so that one
/// source address serves many destinations.
fn bind_address_no_port(socket: &TcpSocket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and an int option of the right size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// The WebSocket upgrade on an open stream. On success `rbuf` holds the
/// bytes read past the response (frames already sent by the server).
pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    template: &RequestTemplate,
    rng: &mut Rng,
    rbuf: &mut Vec<u8>,
) -> Result<(), ConnectFailure> {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_ne_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_ne_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(raw);
    io.write_all(template.request(&key).as_bytes()).await.map_err(ConnectFailure::from_io)?;
    io.flush().await.map_err(ConnectFailure::from_io)?;
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
        if let Some(len) = check_response(rbuf, &key)? {
            rbuf.drain(..len);
            return Ok(());
        }
        if rbuf.len() > MAX_RESPONSE {
            return Err(ConnectFailure::BadHandshake(format!("response headers longer than {MAX_RESPONSE} bytes")));
        }
    }
}

/// Parses and checks the upgrade response; `Ok(None)` until it is whole,
/// then the length of its head.
pub fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, ConnectFailure> {
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
    if let Some(ext) = header("sec-websocket-extensions") {
        return Err(ConnectFailure::BadHandshake(format!("extension {ext:?} negotiated though none was offered")));
    }
    Ok(Some(len))
}

/// Runs `f` until `deadline`, mapping the elapsed deadline to a timeout.
pub async fn before<T>(
    deadline: tokio::time::Instant,
    f: impl std::future::Future<Output = Result<T, ConnectFailure>>,
) -> Result<T, ConnectFailure> {
    tokio::time::timeout_at(deadline, f).await.unwrap_or(Err(ConnectFailure::Timeout))
}

/// A duration in nanoseconds, saturating.
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn responses() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x01\x00";
        assert_eq!(check_response(ok.as_bytes(), key).unwrap(), Some(ok.len() - 2));
        assert_eq!(check_response(&ok.as_bytes()[..20], key).unwrap(), None);
        let wrong = ok.replace("s3pP", "AAAA");
        assert!(matches!(check_response(wrong.as_bytes(), key), Err(ConnectFailure::BadHandshake(_))));
        let refused = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(check_response(refused.as_bytes(), key), Err(ConnectFailure::HttpStatus(401, _))));
        assert!(matches!(check_response(b"SSH-2.0-OpenSSH\r\n\r\n", key), Err(ConnectFailure::BadHandshake(_))));
    }
}
