//! A connection's side of parking (see the server's `park` module): when it
//! may park, what of it lasts while parked, and how it ends wherever it ends.

use std::os::fd::{AsRawFd, RawFd};

use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::{Connection, Ending, Lasting, PlainIo, Served, ShutdownSignal};

/// A parked connection: its socket, off the reactor, and what lasts of it
/// (~230 bytes, against the ~1.6 KB of a connection in a task: the task,
/// its future with the buffers' handles, its timer, its reactor
/// registration).
pub(crate) struct Quiet {
    socket: std::net::TcpStream,
    lasting: Lasting,
}

impl Quiet {
    /// Its socket, to watch.
    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// When it must be resumed: its next ping or close.
    pub(crate) fn deadline(&self) -> Instant {
        self.lasting.clock.next_deadline(&self.lasting.limits)
    }

    /// Ends the connection where it is parked, as a read error would.
    pub(crate) fn abandon(self) {
        end(self.lasting, std::io::Error::other("its parking shard failed"));
    }

    /// The connection again, its socket on the reactor of the runtime this
    /// is called on, with a new shutdown signal. A socket that cannot go
    /// back ends the connection as a read error would: `None`.
    pub(crate) fn resume(self) -> Option<(Connection<PlainIo>, ShutdownSignal)> {
        let shutdown = match &self.lasting.registration {
            Some(registration) => ShutdownSignal::new(registration.signal()),
            None => ShutdownSignal::never(),
        };
        match TcpStream::from_std(self.socket) {
            Ok(stream) => Some((Connection::assemble(PlainIo::Live(stream), self.lasting), shutdown)),
            Err(e) => {
                end(self.lasting, e);
                None
            }
        }
    }
}

/// Ends a connection that has no socket any more, as a read error would.
fn end(lasting: Lasting, error: std::io::Error) {
    Connection::assemble(PlainIo::Gone, lasting).finish(Ending::ReadError(error));
}

impl<S> Connection<S> {
    /// Quiet, with nothing that needs its task: no bytes buffered, no
    /// message begun, no reply queued or in pieces, and no topic delivering
    /// to it (mode `broadcast`). Its deflate state, if any, parks with it.
    pub(super) fn can_park(&self) -> bool {
        !self.clock.is_active()
            && self.buf.is_empty()
            && !self.decoder.in_message()
            && self.out.is_empty()
            && self.json.is_none()
            && self.broadcast.is_none()
    }

    /// Logs how the connection ended, counts it and gives its place back.
    pub(crate) fn finish(&mut self, ending: Ending) -> Ending {
        let peer = self.peer;
        match &ending {
            Ending::ClosedByPeer(code) => debug!(%peer, ?code, "closed by peer"),
            Ending::Failed { code, reason } => warn!(%peer, code, reason, "failed the connection"),
            Ending::Shutdown => debug!(%peer, "closed for shutdown"),
            Ending::PeerGone => warn!(%peer, "peer went away without a close frame"),
            Ending::ReadError(e) => {
                self.budget.metrics.read_error();
                warn!(%peer, error = %e, "read failed")
            }
            Ending::WriteError(_) => self.budget.metrics.write_error(),
            Ending::WriteTimeout => {
                self.budget.metrics.write_timeout();
                warn!(%peer, timeout = ?self.limits.write_timeout, "peer did not read: dropped")
            }
        }
        // Counted closed before its place is given back: a shutdown
        // waiting for the last place then sees the metrics settled.
        if let Some(registration) = self.registration.take() {
            self.budget.metrics.connection_closed();
            drop(registration);
        }
        ending
    }
}

impl Connection<PlainIo> {
    /// What lasts of it once its socket is off the reactor, without its
    /// shutdown signal. A socket that cannot leave the reactor ends the
    /// connection as a read error would: `None`.
    pub(crate) fn into_quiet(mut self) -> Option<Quiet> {
        // Its buffers go (a keeper's too, with its slot), and its charge to
        // the memory budget comes down to what parks with it.
        self.go_idle();
        self.out.release();
        let socket = match std::mem::replace(&mut self.io, PlainIo::Gone).into_std() {
            Ok(socket) => socket,
            Err(e) => {
                self.finish(Ending::ReadError(e));
                return None;
            }
        };
        if let Some(registration) = &self.registration {
            registration.release_signal();
        }
        let Connection { peer, decoder, responder, limits, budget, clock, deflate, registration, .. } = self;
        let lasting = Lasting { peer, decoder, responder, limits, budget, clock, deflate, registration };
        Some(Quiet { socket, lasting })
    }

    /// Serves until the connection ends (`Some`, counted and logged), or
    /// until it is quiet and [can park](Self::can_park) (`None`).
    pub(crate) async fn serve_until_quiet(&mut self, shutdown: &mut ShutdownSignal) -> Option<Ending> {
        match self.serve(shutdown, true).await {
            Served::Ended(ending) => Some(self.finish(ending)),
            Served::Quiet => None,
        }
    }
}
