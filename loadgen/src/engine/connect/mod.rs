//! Opening one connection: TCP connect (from a chosen source address),
//! TLS for `wss://`, and the WebSocket upgrade ([`upgrade`]), each failure
//! by its kind. Also what the run checks before it opens any: the target
//! ([`target`]), the TLS client ([`tls`]), and the descriptor and port
//! limits ([`limits`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};

use crate::results::counters::{ConnectErrorKind, ConnectErrors};

pub mod deflate;
pub mod limits;
pub mod target;
pub mod tls;
pub mod upgrade;

pub use target::Target;
pub use upgrade::{check_response, upgrade, RequestTemplate};

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectFailure {
    /// Nothing listens there.
    #[error("connection refused")]
    Refused,
    /// Past `--connect-timeout`, or the OS's own connect timeout.
    #[error("timed out")]
    Timeout,
    /// Out of source ports or addresses, or of descriptors.
    #[error("out of ports or descriptors: {0}")]
    Resources(#[source] io::Error),
    /// The TLS handshake failed (tokio-rustls carries the `rustls::Error`
    /// inside the `io::Error`).
    #[error("TLS handshake failed: {}", tls::handshake_words(.0))]
    Tls(#[source] io::Error),
    /// The host cannot be a TLS server name.
    #[error("TLS handshake failed: {0:?} is not a valid TLS server name")]
    ServerName(String),
    /// The upgrade was answered with this status (and reason phrase).
    #[error("the upgrade was refused with HTTP {0} {1}")]
    HttpStatus(u16, String),
    /// A malformed or wrong upgrade response, or a connection closed during it.
    #[error("bad WebSocket handshake: {0}")]
    BadHandshake(String),
    /// The server picked a subprotocol that was not offered (counted as a
    /// bad handshake; the probe lets it through, so the run counts it).
    #[error("bad WebSocket handshake: the server picked subprotocol {0:?}, which was not offered")]
    Subprotocol(String),
    /// The init exchange (`--init`, `--init-expect`) failed.
    #[error("init failed: {0}")]
    Init(String),
    /// Anything else the OS reported.
    #[error("{0}")]
    Other(#[source] io::Error),
}

impl ConnectFailure {
    pub(crate) fn from_io(e: io::Error) -> Self {
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

    /// The counter of this failure; `None` for an HTTP status, counted by status.
    pub fn kind(&self) -> Option<ConnectErrorKind> {
        Some(match self {
            ConnectFailure::Refused => ConnectErrorKind::Refused,
            ConnectFailure::Timeout => ConnectErrorKind::Timeout,
            ConnectFailure::Resources(_) => ConnectErrorKind::Resources,
            ConnectFailure::Tls(_) | ConnectFailure::ServerName(_) => ConnectErrorKind::Tls,
            ConnectFailure::HttpStatus(..) => return None,
            ConnectFailure::BadHandshake(_) | ConnectFailure::Subprotocol(_) => ConnectErrorKind::BadHandshake,
            ConnectFailure::Init(_) => ConnectErrorKind::Init,
            ConnectFailure::Other(_) => ConnectErrorKind::Other,
        })
    }

    /// Adds this failure to its counter.
    pub fn count(&self, errors: &mut ConnectErrors) {
        match (self, self.kind()) {
            (ConnectFailure::HttpStatus(code, _), _) => *errors.http_status.entry(*code).or_default() += 1,
            (_, Some(kind)) => errors[kind] += 1,
            (_, None) => unreachable!("only an HTTP status has no kind"),
        }
    }
}

/// A small fast PRNG (splitmix64): handshake keys and mask keys need to be
/// unpredictable to intermediaries, not cryptographically strong.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`, the time and the process id.
    pub fn new(seed: u64) -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Rng(seed ^ t ^ (std::process::id() as u64) << 32)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
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

/// Runs `f` until `deadline`, mapping the elapsed deadline to a timeout.
///
/// A plain function returning a named future, not an `async fn`: an
/// `async fn` keeps its argument `f` beside the timeout that `f` is moved
/// into (rust-lang/rust#62958), so every connecting phase's state was held
/// twice in the future of each connection being opened.
pub fn before<T, F>(deadline: tokio::time::Instant, f: F) -> Before<F>
where
    F: std::future::Future<Output = Result<T, ConnectFailure>>,
{
    Before { inner: tokio::time::timeout_at(deadline, f) }
}

pin_project_lite::pin_project! {
    /// The future of [`before`].
    pub struct Before<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
    }
}

impl<T, F> std::future::Future for Before<F>
where
    F: std::future::Future<Output = Result<T, ConnectFailure>>,
{
    type Output = Result<T, ConnectFailure>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.unwrap_or(Err(ConnectFailure::Timeout)))
    }
}

/// A duration in nanoseconds, saturating.
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connecting phase's state is held once, not twice: as an `async
    /// fn`, `before` kept its argument beside the timeout it was moved into
    /// (rust-lang/rust#62958), and each connection being opened held every
    /// phase's state twice.
    #[tokio::test]
    async fn a_deadline_holds_the_phase_it_bounds_once() {
        let phase = async {
            let state = [1u8; 512];
            tokio::task::yield_now().await;
            Ok::<u8, ConnectFailure>(state[511])
        };
        let alone = std::mem::size_of_val(&phase);
        let bounded = before(tokio::time::Instant::now() + std::time::Duration::from_secs(5), phase);
        let size = std::mem::size_of_val(&bounded);
        assert!(size < alone + 256, "{size} bytes for a {alone}-byte phase and its deadline");
        assert_eq!(bounded.await.ok(), Some(1), "it still runs the phase");
    }
}
