//! The read/reply loop of one WebSocket connection (the seed's
//! `handleWebSocket`), strict to RFC 6455, and bounded against slow or
//! abusive peers (issue 9).
//!
//! The loop reads into one buffer, decodes the whole frames the read
//! brought with [`wsbench_proto::Decoder`], queues the replies in an
//! [`Outbox`] and writes them together before it waits for input again.
//! The decoder unmasks payloads in place as their bytes arrive, so that
//! invalid UTF-8 fails the connection (1007) at the byte that breaks it,
//! and single-frame messages are answered from where they were read. Only
//! fragmented messages are copied, to reassemble them. In mode `echo`, a run
//! of whole single-frame messages is echoed in one pass instead
//! (`dispatch`): each unmasked as it is moved right after the echo
//! before it, so that the run's echoes are one slice of the read buffer.
//!
//! Bounds, each set by [`ConnectionLimits`]:
//! - at most [`WAKE_BUDGET`] of work (256 frames, or 1,024 echoed) is done
//!   before the replies are written and the task yields, and decoding
//!   stops once the queued replies pass `max_backpressure`: the loop reads
//!   only when the outbox is empty, so TCP pushes back on a client that
//!   does not read;
//! - every write, and the close handshake, is bounded by `write_timeout`;
//! - the idle and message timeouts are in [`clock`];
//! - buffers and the memory budget are in [`buffers`];
//! - mode `broadcast` (publish, take the topic's frames) is in [`broadcast`].

mod answer;
mod broadcast;
mod buffers;
mod clock;
mod deflate;
mod dispatch;
mod limits;
mod output;
mod parkable;
mod plain_io;
mod shutdown;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use wsbench_proto::close;
use wsbench_proto::{Decoder, OpCode, Role};

use self::broadcast::Input;
use self::buffers::{Budget, MIN_READ, OUT_OF_MEMORY};
use self::clock::{Clock, Tick};
pub use self::limits::ConnectionLimits;
pub(crate) use self::parkable::Quiet;
pub use self::plain_io::PlainIo;
pub use self::shutdown::ShutdownSignal;
use crate::json_pieces::JsonPieces;
use crate::metrics::Metrics;
use crate::mode::ConnectionParams;
use crate::outbox::Outbox;
use crate::reply::Responder;

/// Work a connection does per wake-up before it writes and yields, so one
/// pipelining peer cannot hold a runtime thread: a frame decoded and
/// answered on its own costs [`DECODED_COST`], a frame of an echo run 1.
/// So 256 frames a wake-up, or 1,024 echoed. Each wake-up costs a `sendto`
/// and a yield: in a deep pipeline of 32 B echoes, 1,024 a wake-up took
/// 29-30 ns of server CPU per message against 39-43 with 256, while a
/// closed-loop neighbour's median round trip rose from 35-39 µs to 42 µs
/// (docs/performance.md, round 12).
pub const WAKE_BUDGET: usize = 1024;
/// What a frame decoded on its own costs of [`WAKE_BUDGET`]: about four
/// times an echoed one (~30-40 ns of user time against ~9 in the deep
/// pipeline's profiles, round 12), more in the modes that format a reply.
pub const DECODED_COST: usize = 4;
/// How long a closing connection waits for the peer to close its side
/// (within the write timeout).
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// How a connection ended.
#[derive(Debug)]
pub enum Ending {
    /// The peer closed; the server answered with the same code.
    ClosedByPeer(Option<u16>),
    /// The server failed the connection with this close code.
    Failed {
        /// The close code sent.
        code: u16,
        /// Why, as sent in the Close frame.
        reason: &'static str,
    },
    /// The server was shutting down (1001 sent).
    Shutdown,
    /// The peer went away without a close frame.
    PeerGone,
    /// Reading from the peer failed.
    ReadError(io::Error),
    /// Writing to the peer failed.
    WriteError(io::Error),
    /// The peer did not read the replies (or the close) within the write
    /// timeout: dropped without a close handshake.
    WriteTimeout,
}

/// Why the loop stops reading frames.
#[derive(Debug)]
enum Closing {
    /// A valid close arrived: answer it with its code (none for none).
    Answer(Option<u16>),
    /// Fail the connection with this code.
    Fail { code: u16, reason: &'static str },
}

/// Whether the loop must read before it can decode another frame.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// Every whole frame is answered.
    NeedInput,
    /// Stopped early (backpressure or fairness): write, yield, go on.
    More,
}

/// What of a connection outlives a quiet spell: all but its socket, its
/// buffers and what it was doing (a parked connection holds this).
struct Lasting {
    peer: SocketAddr,
    decoder: Decoder,
    responder: Responder,
    limits: Arc<ConnectionLimits>,
    budget: Budget,
    clock: Clock,
    deflate: Option<Box<deflate::Deflate>>,
    registration: Option<crate::registry::Registration>,
}

/// How the loop handed the connection back.
enum Served {
    /// The connection ended.
    Ended(Ending),
    /// Quiet and nothing pending: it may be parked (only asked for by
    /// [`Connection::serve_until_quiet`]).
    Quiet,
}

/// Where the message of a `json` reply in pieces lies.
#[derive(Debug)]
enum Source {
    /// In the read buffer (not drained before the reply is complete).
    Input(Range<usize>),
    /// In the reassembly buffer.
    Assembly,
}

/// Messages past this get their `json` reply in pieces.
const JSON_WHOLE: usize = 64 << 10;

/// One upgraded connection. It runs on a Tokio runtime with the time
/// driver enabled (`enable_time` or `enable_all`): its timeouts need it.
pub struct Connection<S> {
    io: S,
    peer: SocketAddr,
    /// Bytes read; `buf[..start]` is decoded and waits only for the outbox
    /// to be flushed, since queued replies may point into it.
    buf: Vec<u8>,
    start: usize,
    /// Decodes the frames from `start` on, in place.
    decoder: Decoder,
    /// The fragments of the message in progress.
    assembly: Vec<u8>,
    out: Outbox,
    responder: Responder,
    /// Shared by every connection of the server (72 bytes each, copied).
    limits: Arc<ConnectionLimits>,
    /// Its share of `--max-memory` and of the buffer keepers, given back
    /// when dropped.
    budget: Budget,
    /// A `json` reply to a large message, written a piece per flush
    /// (boxed: 8 bytes in every connection instead of 40, for a rare reply).
    json: Option<Box<(JsonPieces, Source)>>,
    clock: Clock,
    batch_messages: u64,
    batch_bytes_in: u64,
    /// The last message answered in this batch, for the error log of a
    /// failed write: (reassembled, range in `buf`).
    last_answered: Option<(bool, Range<usize>)>,
    /// Mode `broadcast`: the connection's topic. Boxed: 8 bytes in every
    /// other connection instead of the membership's ~90.
    broadcast: Option<Box<crate::broadcast::Membership>>,
    /// permessage-deflate, when negotiated (boxed: most connections have none).
    deflate: Option<Box<deflate::Deflate>>,
    /// The server's: the connection's place among `--max-connections` and
    /// its shutdown signal's, held for its life; its close is counted in
    /// the metrics when it ends. Here, not in a task wrapped around the
    /// connection's, which cost every idle connection ~96 bytes.
    registration: Option<crate::registry::Registration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// `already_read` holds bytes the HTTP layer read past the upgrade request.
    pub fn new(
        io: S,
        peer: SocketAddr,
        already_read: &[u8],
        params: ConnectionParams,
        limits: impl Into<Arc<ConnectionLimits>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let limits = limits.into();
        // No buffer until bytes arrive: the first read takes a pooled one.
        let mut buf = Vec::new();
        if !already_read.is_empty() {
            buf.reserve_exact(MIN_READ.max(already_read.len()));
            buf.extend_from_slice(already_read);
        }
        let lasting = Lasting {
            peer,
            decoder: Decoder::new(Role::Server, limits.max_message_size),
            responder: Responder::new(params),
            budget: Budget::new(metrics),
            limits,
            clock: Clock::new(),
            deflate: None,
            registration: None,
        };
        let mut conn = Connection::assemble(io, lasting);
        conn.batch_bytes_in = already_read.len() as u64;
        conn.buf = buf;
        conn
    }

    /// A connection of `lasting`, with nothing buffered, queued or begun.
    /// The one place that lists every field: [`new`](Self::new) and a
    /// parked connection's resumption both build through it.
    fn assemble(io: S, lasting: Lasting) -> Self {
        let Lasting { peer, decoder, responder, limits, budget, clock, deflate, registration } = lasting;
        Connection {
            io,
            peer,
            buf: Vec::new(),
            start: 0,
            decoder,
            assembly: Vec::new(),
            out: Outbox::new(),
            responder,
            limits,
            budget,
            json: None,
            clock,
            batch_messages: 0,
            batch_bytes_in: 0,
            last_answered: None,
            broadcast: None,
            deflate,
            registration,
        }
    }

    /// This connection, holding `registration` until it ends.
    pub(crate) fn with_registration(mut self, registration: crate::registry::Registration) -> Self {
        self.registration = Some(registration);
        self
    }

    /// Runs the loop until the connection ends, and logs how it ended.
    ///
    /// Not an `async fn`: one taking `mut self` keeps two copies of the
    /// connection in its future, the argument and the binding
    /// (rust-lang/rust#62958), 1,456 bytes instead of ~960. The `async move`
    /// block uses the captured connection in place (hence the clippy allow).
    #[allow(clippy::manual_async_fn)]
    pub fn run(mut self, mut shutdown: ShutdownSignal) -> impl Future<Output = Ending> + Send
    where
        S: Send,
    {
        async move {
            loop {
                // Never `Quiet` without `may_park`; were it, serving again is right.
                if let Served::Ended(ending) = self.serve(&mut shutdown, false).await {
                    return self.finish(ending);
                }
            }
        }
    }

    /// The loop. With `may_park`, it hands the connection back
    /// ([`Served::Quiet`]) once its timer has found it quiet and it
    /// [can park](Self::can_park).
    async fn serve(&mut self, shutdown: &mut ShutdownSignal, may_park: bool) -> Served {
        let timer = tokio::time::sleep_until(self.clock.first_deadline(&self.limits));
        tokio::pin!(timer);
        let mut quiet = false;
        loop {
            let progress = match self.process() {
                Ok(progress) => progress,
                Err(closing) => return Served::Ended(self.close(closing).await),
            };
            if let Err(closing) = self.charge_to(self.held()) {
                return Served::Ended(self.close(closing).await);
            }
            if let Err(ending) = self.flush_bounded(None).await {
                return Served::Ended(ending);
            }
            if progress == Progress::More {
                tokio::task::yield_now().await;
                continue;
            }
            if let Err(closing) = self.make_room() {
                return Served::Ended(self.close(closing).await);
            }
            if std::mem::take(&mut quiet) && may_park && self.can_park() {
                return Served::Quiet;
            }
            let in_progress = !self.buf.is_empty() || self.decoder.in_message();
            if let Some(deadline) = self.clock.message(in_progress, &self.limits) {
                if deadline < timer.deadline() {
                    timer.as_mut().reset(deadline);
                }
            }
            let read = tokio::select! {
                biased;
                input = std::future::poll_fn(|cx| self.poll_input(cx)) => match input {
                    Input::Read(read) => read,
                    Input::Broadcast(Ok(())) => continue,
                    Input::Broadcast(Err(closing)) => return Served::Ended(self.close(closing).await),
                },
                () = shutdown.fired() => {
                    self.close(Closing::Fail { code: close::GOING_AWAY, reason: "server shutting down" }).await;
                    return Served::Ended(Ending::Shutdown);
                }
                () = &mut timer => {
                    match self.clock.tick(&self.limits) {
                        Tick::Close(closing, idle) => {
                            if idle { self.budget.metrics.idle_timeout() } else { self.budget.metrics.message_timeout() }
                            return Served::Ended(self.close(closing).await);
                        }
                        Tick::Ping => self.out.frame(OpCode::Ping, b""),
                        Tick::Wait => self.quiet(),
                    }
                    quiet = true;
                    timer.as_mut().reset(self.clock.next_deadline(&self.limits));
                    continue;
                }
            };
            match read {
                Ok(0) => return Served::Ended(Ending::PeerGone),
                Ok(n) => {
                    self.batch_bytes_in += n as u64;
                    if let Some(deadline) = self.clock.received(&self.limits) {
                        timer.as_mut().reset(deadline);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    return Served::Ended(self.close(OUT_OF_MEMORY).await)
                }
                Err(e) => return Served::Ended(Ending::ReadError(e)),
            }
        }
    }
}

#[cfg(test)]
mod footprint;
