//! The read/reply loop of one WebSocket connection (the seed's
//! `handleWebSocket`), strict to RFC 6455.
//!
//! The loop reads into one buffer, decodes every whole frame the read
//! brought with [`wsbench_proto::Decoder`], queues the replies in an
//! [`Outbox`] and writes them together before it waits for input again.
//! The decoder unmasks payloads in place as their bytes arrive, so that
//! invalid UTF-8 fails the connection (1007) at the byte that breaks it,
//! and single-frame messages are answered from where they were read. Only
//! fragmented messages are copied, to reassemble them.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tracing::{debug, error, warn};

use wsbench_proto::close;
use wsbench_proto::{echo_in_place, Decoder, Event, MessageKind, OpCode, Reassembler, Role};

use crate::metrics::Metrics;
use crate::mode::{ConnectionParams, ReplyMode};
use crate::outbox::Outbox;
use crate::reply::{Payload, Responder};

/// Read buffer of a fresh connection; it grows to hold the largest frame.
const INITIAL_READ_BUFFER: usize = 4 << 10;
/// Free space ensured before each read.
const MIN_READ: usize = 4 << 10;
/// A read buffer grown past this is released once it is empty.
const RETAINED_READ_BUFFER: usize = 64 << 10;
/// How long a closing connection waits for the peer to close its side.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Limits of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Largest message, counted across fragments.
    pub max_message_size: usize,
}

/// Tells a connection the server is shutting down; it then closes with 1001.
#[derive(Debug, Default)]
pub struct ShutdownSignal(Option<oneshot::Receiver<()>>);

impl ShutdownSignal {
    /// A signal that fires when `rx` receives.
    pub fn new(rx: oneshot::Receiver<()>) -> Self {
        ShutdownSignal(Some(rx))
    }

    /// A signal that never fires.
    pub fn never() -> Self {
        ShutdownSignal(None)
    }

    /// Cancel-safe: resolves once shutdown is asked for. A dropped sender
    /// means nobody will ever ask, not that shutdown began.
    async fn fired(&mut self) {
        if let Some(rx) = &mut self.0 {
            if rx.await.is_ok() {
                return;
            }
            self.0 = None;
        }
        std::future::pending().await
    }
}

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
}

/// Why the loop stops reading frames.
#[derive(Debug)]
enum Closing {
    /// A valid close arrived: answer it with its code (none for none).
    Answer(Option<u16>),
    /// Fail the connection with this code.
    Fail { code: u16, reason: &'static str },
}

/// One upgraded connection.
pub struct Connection<S> {
    io: S,
    peer: SocketAddr,
    /// Bytes read; `buf[..start]` is decoded and waits only for the outbox
    /// to be flushed, since queued replies may point into it.
    buf: BytesMut,
    start: usize,
    /// Decodes the frames from `start` on, in place.
    decoder: Decoder,
    /// The fragments of the message in progress (reused from message to
    /// message).
    assembly: Reassembler,
    out: Outbox,
    responder: Responder,
    metrics: Arc<Metrics>,
    batch_messages: u64,
    batch_bytes_in: u64,
    /// The last message answered in this batch, for the error log of a
    /// failed write: (reassembled, range in `buf`).
    last_answered: Option<(bool, Range<usize>)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// `already_read` holds bytes the HTTP layer read past the upgrade request.
    pub fn new(
        io: S,
        peer: SocketAddr,
        already_read: &[u8],
        params: ConnectionParams,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut buf = BytesMut::with_capacity(INITIAL_READ_BUFFER.max(already_read.len()));
        buf.extend_from_slice(already_read);
        Connection {
            io,
            peer,
            batch_bytes_in: already_read.len() as u64,
            buf,
            start: 0,
            decoder: Decoder::new(Role::Server, limits.max_message_size),
            assembly: Reassembler::new(),
            out: Outbox::new(),
            responder: Responder::new(params),
            metrics,
            batch_messages: 0,
            last_answered: None,
        }
    }

    /// Runs the loop until the connection ends, and logs how it ended.
    pub async fn run(mut self, mut shutdown: ShutdownSignal) -> Ending {
        let ending = self.serve(&mut shutdown).await;
        let peer = self.peer;
        match &ending {
            Ending::ClosedByPeer(code) => debug!(%peer, ?code, "closed by peer"),
            Ending::Failed { code, reason } => warn!(%peer, code, reason, "failed the connection"),
            Ending::Shutdown => debug!(%peer, "closed for shutdown"),
            Ending::PeerGone => warn!(%peer, "peer went away without a close frame"),
            Ending::ReadError(e) => {
                self.metrics.read_error();
                warn!(%peer, error = %e, "read failed")
            }
            Ending::WriteError(_) => self.metrics.write_error(),
        }
        ending
    }

    async fn serve(&mut self, shutdown: &mut ShutdownSignal) -> Ending {
        loop {
            if let Err(closing) = self.process() {
                return self.close(closing).await;
            }
            if let Err(e) = self.flush().await {
                return Ending::WriteError(e);
            }
            self.make_room();
            let read = tokio::select! {
                biased;
                read = self.io.read_buf(&mut self.buf) => read,
                () = shutdown.fired() => {
                    self.close(Closing::Fail { code: close::GOING_AWAY, reason: "server shutting down" }).await;
                    return Ending::Shutdown;
                }
            };
            match read {
                Ok(0) => return Ending::PeerGone,
                Ok(n) => self.batch_bytes_in += n as u64,
                Err(e) => return Ending::ReadError(e),
            }
        }
    }

    /// Handles every whole frame in the buffer, and lets the decoder check
    /// what has arrived of the incomplete one after them. `Err` ends the
    /// reading.
    fn process(&mut self) -> Result<(), Closing> {
        loop {
            let frame = match self.decoder.decode(&mut self.buf[self.start..]) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Closing::Fail { code: e.close_code(), reason: e.reason() }),
            };
            let frame_start = self.start;
            let payload = frame_start + frame.payload.start..frame_start + frame.payload.end;
            self.start += frame.len;
            match frame.event {
                Event::Data { kind, first: true, fin: true } => self.on_message(kind, frame_start, payload),
                Event::Data { kind, first, fin } => {
                    if let Some(message) = self.assembly.push(first, fin, &self.buf[payload]) {
                        self.responder.respond(&mut self.out, kind, Payload::Detached(message));
                        let len = message.len();
                        self.answered(true, 0..len);
                    }
                }
                Event::Ping => self.out.frame(OpCode::Pong, &self.buf[payload]),
                Event::Pong => {}
                Event::Close { code, .. } => return Err(Closing::Answer(code)),
            }
        }
    }

    /// Answers a single-frame message, from where it lies in the read buffer.
    fn on_message(&mut self, kind: MessageKind, frame_start: usize, payload: Range<usize>) {
        // Echo: the frame read becomes the frame sent, header and payload
        // one contiguous slice of the read buffer.
        let echoed = (self.responder.mode() == ReplyMode::Echo)
            .then(|| echo_in_place(&mut self.buf, frame_start, payload.clone()))
            .flatten();
        match echoed {
            Some(frame) => self.out.input_frame(frame),
            None => {
                let bytes = &self.buf[payload.clone()];
                self.responder.respond(&mut self.out, kind, Payload::Input { bytes, range: payload.clone() });
            }
        }
        self.answered(false, payload);
    }

    fn answered(&mut self, reassembled: bool, range: Range<usize>) {
        self.batch_messages += 1;
        self.last_answered = Some((reassembled, range));
    }

    /// Writes the queued replies, and counts the batch.
    async fn flush(&mut self) -> io::Result<()> {
        let (frames, bytes_out) = (self.out.frames(), self.out.len() as u64);
        let result = if self.out.is_empty() { Ok(()) } else { self.out.flush(&mut self.io, &self.buf).await };
        if let Err(e) = &result {
            let message = match &self.last_answered {
                Some((false, range)) => String::from_utf8_lossy(&self.buf[range.clone()]).into_owned(),
                Some((true, range)) => String::from_utf8_lossy(&self.assembly.message()[range.clone()]).into_owned(),
                None => "(no message: a control frame)".to_string(),
            };
            let message: String = message.chars().take(80).collect();
            error!(peer = %self.peer, error = %e, replies = self.batch_messages, %message, "write failed");
        }
        self.metrics.add_batch(self.batch_messages, self.batch_bytes_in, frames, bytes_out);
        self.batch_messages = 0;
        self.batch_bytes_in = 0;
        self.last_answered = None;
        result
    }

    /// Drops decoded bytes (the outbox no longer needs them) and makes room
    /// for the next read: at least the rest of a pending frame.
    ///
    /// The decoder reserves nothing; this is the server's policy. It trusts
    /// an announced length once the decoder has checked it against the
    /// message size limit: growing the buffer only with what has arrived
    /// (doubling) made 64 KiB and 1 MiB echoes 20-25% slower
    /// (`full_path/wsbench`), since the buffer is released after each.
    fn make_room(&mut self) {
        self.buf.advance(self.start);
        self.start = 0;
        if self.buf.is_empty() && self.buf.capacity() > RETAINED_READ_BUFFER {
            self.buf = BytesMut::with_capacity(INITIAL_READ_BUFFER);
        }
        if !self.decoder.in_message() {
            self.assembly.shrink(RETAINED_READ_BUFFER);
        }
        let rest = self.decoder.pending_frame_len().unwrap_or(0).saturating_sub(self.buf.len());
        let wanted = rest.max(MIN_READ);
        self.buf.reserve(wanted);
    }

    /// Sends the close frame after any queued replies, shuts down the
    /// write side and waits, bounded, for the peer to close its side.
    async fn close(&mut self, closing: Closing) -> Ending {
        let (code, ending) = match closing {
            Closing::Answer(code) => (code, Ending::ClosedByPeer(code)),
            Closing::Fail { code, reason } => (Some(code), Ending::Failed { code, reason }),
        };
        match (code, &ending) {
            (Some(code), Ending::Failed { reason, .. }) => self.out.close(code, reason),
            (Some(code), _) => self.out.close(code, ""),
            (None, _) => self.out.frame(OpCode::Close, &[]),
        }
        if let Some(code) = code {
            self.metrics.close_sent(code);
        }
        if let Err(e) = self.flush().await {
            return Ending::WriteError(e);
        }
        let _ = self.io.shutdown().await;
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            loop {
                self.buf.clear();
                match self.io.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        ending
    }
}
