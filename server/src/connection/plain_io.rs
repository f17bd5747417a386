//! A plain (ws://) connection's socket, which leaves the runtime's reactor
//! while its connection is parked.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The socket of a plain connection, which may leave it: a parked
/// connection's socket is a std one, watched by its shard's epoll instead
/// of tokio's reactor (whose registration is 256 bytes a socket). Reads and
/// writes of a connection whose socket is gone (moving, or lost in a failed
/// move) fail rather than hang.
#[derive(Debug)]
pub enum PlainIo {
    /// On the runtime's reactor.
    Live(TcpStream),
    /// Taken out, or lost.
    Gone,
}

impl PlainIo {
    /// The socket off the reactor, for parking; `Gone` is left behind.
    pub(crate) fn into_std(self) -> io::Result<std::net::TcpStream> {
        match self {
            PlainIo::Live(stream) => stream.into_std(),
            PlainIo::Gone => Err(gone()),
        }
    }

    fn live(self: Pin<&mut Self>) -> io::Result<Pin<&mut TcpStream>> {
        match self.get_mut() {
            PlainIo::Live(stream) => Ok(Pin::new(stream)),
            _ => Err(gone()),
        }
    }
}

/// The error of a socket used while parked, or lost in a move.
fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection's socket is not on the reactor")
}

impl AsyncRead for PlainIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.live()?.poll_read(cx, buf)
    }
}

impl AsyncWrite for PlainIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.live()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.live()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        matches!(self, PlainIo::Live(stream) if stream.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.live()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.live()?.poll_shutdown(cx)
    }
}
