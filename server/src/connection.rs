//! The read/reply loop of one WebSocket connection (the seed's
//! `handleWebSocket`), strict to RFC 6455.
//!
//! The loop reads into one buffer, parses every whole frame the read
//! brought, queues the replies in an [`Outbox`] and writes them together
//! before it waits for input again. Payloads are unmasked in place as their
//! bytes arrive, so that invalid UTF-8 fails the connection (1007) at the
//! byte that breaks it, and single-frame messages are answered from where
//! they were read. Only fragmented messages are copied, to reassemble them.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tracing::{debug, error, warn};

use crate::frame::{close_code, echo_in_place, is_control, parse_client_header, unmask_at, OpCode};
use crate::metrics::Metrics;
use crate::mode::{ConnectionParams, ReplyMode};
use crate::outbox::Outbox;
use crate::reply::{MessageKind, Payload, Responder};
use crate::utf8::Utf8Validator;

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
        code: u16,
        reason: &'static str,
    },
    /// The server was shutting down (1001 sent).
    Shutdown,
    /// The peer went away without a close frame.
    PeerGone,
    ReadError(io::Error),
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

impl Closing {
    fn protocol(reason: &'static str) -> Self {
        Closing::Fail { code: close_code::PROTOCOL_ERROR, reason }
    }
}

/// One upgraded connection.
pub struct Connection<S> {
    io: S,
    peer: SocketAddr,
    /// Bytes read; `buf[..start]` is parsed and waits only for the outbox
    /// to be flushed, since queued replies may point into it.
    buf: BytesMut,
    start: usize,
    /// Payload bytes of the frame at `start` already unmasked and checked.
    done: usize,
    /// Length of the incomplete frame at `start`, once its header is known.
    pending_frame: usize,
    /// Type of the message being reassembled from fragments, if any.
    fragmented: Option<MessageKind>,
    /// Its fragments so far (reused from message to message).
    assembly: Vec<u8>,
    utf8: Utf8Validator,
    out: Outbox,
    responder: Responder,
    limits: ConnectionLimits,
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
            done: 0,
            pending_frame: 0,
            fragmented: None,
            assembly: Vec::new(),
            utf8: Utf8Validator::new(),
            out: Outbox::new(),
            responder: Responder::new(params),
            limits,
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
                    self.close(Closing::Fail { code: close_code::GOING_AWAY, reason: "server shutting down" }).await;
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

    /// Handles every whole frame in the buffer, and checks what has arrived
    /// of the incomplete one after them. `Err` ends the reading.
    fn process(&mut self) -> Result<(), Closing> {
        loop {
            let header = match parse_client_header(&self.buf[self.start..]) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Closing::protocol(e.reason())),
            };
            let text = match (header.opcode, &self.fragmented) {
                (OpCode::Continuation, None) => return Err(Closing::protocol("continuation frame without a message")),
                (OpCode::Text | OpCode::Binary, Some(_)) => {
                    return Err(Closing::protocol("new message inside a fragmented message"))
                }
                (OpCode::Continuation, Some(kind)) => *kind == MessageKind::Text,
                (opcode, _) => opcode == OpCode::Text,
            };
            if !is_control(header.opcode) {
                let so_far = if self.fragmented.is_some() { self.assembly.len() } else { 0 };
                if header.payload_len > (self.limits.max_message_size - so_far) as u64 {
                    return Err(Closing::Fail { code: close_code::MESSAGE_TOO_BIG, reason: "message too big" });
                }
            }
            // Within the limit, so it fits in memory and in usize.
            let frame_len = header.frame_len() as usize;
            let payload_start = self.start + header.header_len;
            let frame_end = self.start + frame_len;
            let arrived_end = frame_end.min(self.buf.len());

            if self.done == 0 && header.opcode == OpCode::Text {
                self.utf8.reset();
            }
            let from = payload_start + self.done;
            if arrived_end > from {
                let fresh = &mut self.buf[from..arrived_end];
                unmask_at(fresh, header.mask, self.done);
                if text && self.utf8.feed(fresh).is_err() {
                    return Err(Closing::Fail { code: close_code::INVALID_PAYLOAD, reason: "invalid UTF-8 in text" });
                }
                self.done = arrived_end - payload_start;
            }
            if frame_end > self.buf.len() {
                self.pending_frame = frame_len;
                return Ok(());
            }
            self.start = frame_end;
            self.done = 0;
            self.pending_frame = 0;
            self.on_frame(header.opcode, header.fin, frame_end - frame_len, payload_start..frame_end)?;
        }
    }

    /// Acts on one whole, unmasked, checked frame starting at `frame_start`.
    fn on_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        frame_start: usize,
        payload: Range<usize>,
    ) -> Result<(), Closing> {
        let invalid_text = Closing::Fail { code: close_code::INVALID_PAYLOAD, reason: "text ends inside a code point" };
        match opcode {
            OpCode::Text | OpCode::Binary => {
                let kind = if opcode == OpCode::Text { MessageKind::Text } else { MessageKind::Binary };
                if fin {
                    if kind == MessageKind::Text {
                        self.utf8.finish().map_err(|_| invalid_text)?;
                    }
                    // Echo: the frame read becomes the frame sent, header and
                    // payload one contiguous slice of the read buffer.
                    let echoed = (self.responder.mode() == ReplyMode::Echo)
                        .then(|| echo_in_place(&mut self.buf, frame_start, payload.clone()))
                        .flatten();
                    match echoed {
                        Some(frame) => self.out.input_frame(frame),
                        None => {
                            let bytes = &self.buf[payload.clone()];
                            self.responder.respond(
                                &mut self.out,
                                kind,
                                Payload::Input { bytes, range: payload.clone() },
                            );
                        }
                    }
                    self.answered(false, payload);
                } else {
                    self.assembly.clear();
                    self.assembly.extend_from_slice(&self.buf[payload]);
                    self.fragmented = Some(kind);
                }
            }
            OpCode::Continuation => {
                let kind = self.fragmented.expect("checked by process");
                self.assembly.extend_from_slice(&self.buf[payload]);
                if fin {
                    if kind == MessageKind::Text {
                        self.utf8.finish().map_err(|_| invalid_text)?;
                    }
                    self.responder.respond(&mut self.out, kind, Payload::Detached(&self.assembly));
                    self.answered(true, 0..self.assembly.len());
                    self.fragmented = None;
                }
            }
            OpCode::Ping => self.out.frame(OpCode::Pong, &self.buf[payload]),
            OpCode::Pong => {}
            OpCode::Close => return Err(close_reply(&self.buf[payload])),
        }
        Ok(())
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
                Some((true, range)) => String::from_utf8_lossy(&self.assembly[range.clone()]).into_owned(),
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

    /// Drops parsed bytes (the outbox no longer needs them) and makes room
    /// for the next read: at least the rest of a pending frame.
    fn make_room(&mut self) {
        self.buf.advance(self.start);
        self.start = 0;
        if self.buf.is_empty() && self.buf.capacity() > RETAINED_READ_BUFFER {
            self.buf = BytesMut::with_capacity(INITIAL_READ_BUFFER);
        }
        if self.fragmented.is_none() && self.assembly.capacity() > RETAINED_READ_BUFFER {
            self.assembly = Vec::new();
        }
        let wanted = self.pending_frame.saturating_sub(self.buf.len()).max(MIN_READ);
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

/// The answer to a Close frame's payload (RFC 6455, 5.5.1 and 7.4).
fn close_reply(payload: &[u8]) -> Closing {
    match payload {
        [] => Closing::Answer(None),
        [_] => Closing::protocol("close frame with a one-byte payload"),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code::is_valid_on_wire(code) {
                Closing::protocol("invalid close code")
            } else if std::str::from_utf8(reason).is_err() {
                Closing::Fail { code: close_code::INVALID_PAYLOAD, reason: "close reason is not UTF-8" }
            } else {
                Closing::Answer(Some(code))
            }
        }
    }
}
