//! One connection's life: connect, upgrade, load (open or closed loop),
//! drain, close. All of a worker's connections run on its thread and share
//! its [`WorkerCtx`]; nothing here takes a lock or touches an atomic per
//! message.
//!
//! Split by concern: this module opens the connection and holds the
//! session's state; [`phases`] drives it (running, draining, closing) and
//! sends on schedule; [`io_events`] moves bytes between the socket and the
//! buffers; [`input`] parses what was read and settles replies;
//! [`ending`] counts how it ended. [`lives`] runs a slot's connections
//! one after the other (churn, reconnects); [`churn`] is a connection's
//! limit.
//!
//! Sending: the connection's frames are prepared once in `wbuf` (`slots`
//! frames, masked with the connection's key); a send rewrites the 12
//! sequence digits of a slot, already masked, and writes the slots due in
//! one write. Receiving: wsbench-proto's [`Decoder`] (client role) checks
//! and decodes frames where they lie in `rbuf`; only fragmented replies
//! are copied, to reassemble them, and no reply longer than the longest
//! of any mode is buffered.
//!
//! The send and receive times of each message in flight are kept here, by
//! sequence number, not in the message.
//!
//! Timers: a session waits on one slot of the worker's
//! [`PreciseTimer`](super::timer::PreciseTimer) for the first of its next
//! intended send time (tokio's timer is only good to a millisecond, which
//! every send would add to the corrected RTT) and its coarse deadlines
//! (end of the run, a reply counted lost, drain and close timeouts).
//!
//! Memory: an idle session holds no read buffer (see
//! [`io_events::SessionIo`]) and no timer of its own.

use std::io;

use wsbench_proto::{
    encode_header, header_len, unmask_at, Decoder, MessageKind, ProtocolError, Reassembler, MAX_HEADER,
};

use super::payload::{Checker, SEQ_OFFSET};
use super::plan::{RunPlan, WorkerCtx};
use super::schedule::Schedule;
use super::timer::TimerSlot;
use super::tracker::InFlight;
use crate::results::setup::{LoadModel, MessageType};

mod api_io;
mod broadcast_io;
mod churn;
mod deflate;
mod ending;
mod input;
mod io_events;
mod lives;
mod open;
mod phases;

use churn::SessionChurn;
pub use lives::run_connection;
use lives::{Life, LifeEnd};
use open::connect_and_upgrade;

use api_io::ApiSession;

use io_events::{SessionIo, WriteSource};

/// Buffer for the upgrade's response (and an init exchange): a 101 is a
/// few hundred bytes, and the read grows it past this if need be. Taken
/// only once the response is readable, and freed when the session starts.
const INITIAL_READ_BUFFER: usize = 1 << 10;
/// Read buffer of a session: small, since an idle connection keeps it (4
/// KiB, zeroed, was 3.3 KB of the loadgen's 9.6 KB of RSS per idle
/// connection). It doubles to hold the largest frame, and after any read
/// that filled it, up to [`GROW_READS_UP_TO`], so that pipelined replies
/// are still read in large batches.
const SESSION_READ_BUFFER: usize = 512;
/// Reads that fill the buffer double it up to this size.
const GROW_READS_UP_TO: usize = 64 << 10;
/// Bytes of prepared frames per connection, at most.
const MAX_PREPARED_BYTES: usize = 256 << 10;
/// Frames written in one batch, at most (and [`MAX_PREPARED_BYTES`] in
/// all). The kernel's cost is per write more than per byte: at 64 frames a
/// write, one core drove 6.5 M msg/s of 32 B echo whatever the pipeline
/// depth; at 1,024, 10-13 M (docs/performance.md).
const MAX_SLOTS: usize = 1024;
/// How long the closing handshake may take at the end.
const CLOSE_TIMEOUT_NS: u64 = 1_000_000_000;

/// The wire type of messages of `t`.
fn message_kind(t: MessageType) -> MessageKind {
    match t {
        MessageType::Text => MessageKind::Text,
        MessageType::Binary => MessageKind::Binary,
    }
}

/// Opens one connection of slot `id` (its `life`) and runs it to its end:
/// counts everything that happens to it, and says how it ended.
async fn open_once(ctx: &WorkerCtx, id: u32, slot: usize, life: &mut Life) -> LifeEnd {
    life.attempting(ctx);
    // Connecting, then the session made, in a block of their own: what they
    // bind (the result, the stream, its record: 144 bytes), moved out but
    // still in scope at the session's await, would keep its slots in the
    // task for the connection's life (rust-lang/rust#62958).
    let run = {
        // Not boxed: a box per connection being opened (2.8 KB), freed once
        // it was open, left holes among the long-lived allocations made
        // meanwhile (tokio's ScheduledIo) that malloc_trim could not return:
        // 2.4-5.4 KB of RSS per connection at 9,000 opened at 20,000/s on a
        // slow host, against 1.65 KB now. Inline, its state (~580 B; TLS
        // and the init exchange are boxed apart) shares the task's bytes
        // with the session's (the task stays 920 B).
        let opened = tokio::select! {
            biased;
            () = ctx.stop.wait(slot) => return LifeEnd::Stopped,
            r = connect_and_upgrade(ctx, id, life) => r,
        };
        let opened = match opened {
            Ok(opened) => opened,
            Err(failure) => {
                life.failed(ctx, id, &failure);
                return LifeEnd::ConnectFailed;
            }
        };
        let (stream, agreed, rbuf) = opened.record(ctx, life);
        Session::new(stream, ctx, id, slot, rbuf, life).with_deflate(agreed).run()
    };
    let (end, next_index, api_sent) = run.await;
    life.resume_index = Some(next_index);
    life.api_sent = api_sent;
    ctx.stats.borrow_mut().open -= 1;
    ctx.plan.open_now.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    end
}

/// The connection under a session: plain, or TLS (boxed, as it is large:
/// inline, it would make every plain connection's task as large).
enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining { until_ns: u64 },
    Closing { until_ns: u64 },
}

/// How a session ended, when not by the closing handshake.
enum Ending {
    Done,
    ClosedByServer,
    Eof,
    Protocol(ProtocolError),
    Io(io::Error),
    CloseTimeout,
}

/// One open connection: its buffers, its messages in flight and its phase.
struct Session<'a, S> {
    io: S,
    ctx: &'a WorkerCtx,
    plan: &'a RunPlan,
    id: u32,
    stop_slot: u32,
    phase: Phase,

    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Bytes of the last read, not yet counted as received.
    fresh: usize,
    /// The server's frames, checked (client role, replies bounded).
    decoder: Decoder,
    assembly: Reassembler,
    checker: Checker,
    /// Mode `stream`: the largest fragment a reply may have.
    chunk: usize,
    /// The largest fragment over `chunk` of the reply being read (0: none).
    oversized_fragment: usize,

    /// `slots` prepared frames of `frame_len` bytes.
    wbuf: Vec<u8>,
    frame_len: usize,
    /// Offset of the sequence digits in a frame.
    seq_at: usize,
    slots: usize,
    mask: [u8; 4],
    /// Control frames waiting to go (pong, close).
    cbuf: Vec<u8>,
    writing: Option<WriteSource>,
    wpos: usize,
    wend: usize,
    /// Frames of the batch being written whose last byte is written.
    frames_written: u32,
    /// Where each frame of the batch ends in `wbuf`, when frames differ in
    /// length (`--message`, `--deflate`); `None`: `frame_len` each. Boxed:
    /// most sessions have none, and every byte here is in each task (a
    /// `Vec` inline is 24 bytes, this 8).
    #[allow(clippy::box_collection)]
    frame_ends: Option<Box<Vec<usize>>>,
    /// Since when the socket has refused the pending write; `NEVER` while
    /// it takes writes (not an `Option`: 8 bytes less in every task).
    blocked_since: u64,
    /// The session's clock came with nothing left to read: replies may be
    /// given up as missing on the next turn.
    read_all: bool,
    close_sent: bool,
    close_received: bool,
    /// The server sent a close frame first.
    server_closed: bool,

    inflight: InFlight,
    /// With `--message`: templated messages, replies matched by id, in
    /// place of the stamp and the reply mode's check.
    api: Option<Box<ApiSession<'a>>>,
    /// `--mode broadcast`: its place in its topic.
    broadcast: Option<Box<super::broadcast::Member>>,

    /// Cap on messages in flight (open loop: `u64::MAX` without `--pipeline`).
    cap: u64,
    /// When each message is meant to go; `next_index` is the next one's `k`.
    schedule: Schedule,
    next_index: u64,

    /// The next time to wake up for, or `NEVER`: an open loop's next
    /// intended send time, or the next coarse deadline (end of the run, a
    /// reply counted lost, drain and close timeouts), whichever is first.
    /// One slot of the worker's timer for both: a tokio `Sleep` as well was
    /// another 120 B of heap per connection.
    wake: TimerSlot,
    wake_at: u64,
    /// Its limit (`--conn-lifetime`, `--messages-per-conn`) and how it ended.
    churn: SessionChurn,
    /// permessage-deflate, when agreed (`--deflate`).
    deflate: Option<Box<deflate::SessionDeflate>>,
}

/// Nothing to wake up for.
const NEVER: u64 = u64::MAX;

impl<'a, S: SessionIo> Session<'a, S> {
    /// `life`: what the slot carries on from its previous connections (the
    /// next message index of an open loop, the messages `{{id}}` counts).
    fn new(io: S, ctx: &'a WorkerCtx, id: u32, stop_slot: usize, leftover: Vec<u8>, life: &mut Life) -> Self {
        let (rng, resume) = (&mut life.rng, life.resume_index);
        let plan = &*ctx.plan;
        // A fresh buffer: the upgrade's has 4 KiB.
        let rend = leftover.len();
        let mut rbuf = Vec::with_capacity(rend.max(SESSION_READ_BUFFER));
        rbuf.extend_from_slice(&leftover);
        drop(leftover);
        rbuf.resize(rbuf.capacity(), 0);
        let mask = (rng.next_u64() as u32).to_ne_bytes();
        let api = plan
            .api
            .as_ref()
            .map(|a| Box::new(ApiSession::new(a, message_kind(plan.message_type), rng, life.api_sent)));
        // Templated messages are rendered into `wbuf` as they go; slots are
        // counted from the shortest.
        let size = api.as_ref().map_or(plan.size, |a| a.min_len());
        let header_len = header_len(size, true);
        let frame_len = header_len + size;
        let (cap, wanted_slots) = match plan.load {
            LoadModel::Closed { pipeline } => (u64::from(pipeline), pipeline as usize),
            LoadModel::Open { rate, max_in_flight } => {
                let per_conn = rate / f64::from(plan.connections);
                // Enough slots for the messages due in 2 ms, should the thread fall behind.
                let wanted = (per_conn * 0.002).ceil() as usize + 1;
                let cap = max_in_flight.map_or(u64::MAX, u64::from);
                (cap, wanted.min(cap.min(MAX_SLOTS as u64) as usize))
            }
        };
        let slots = wanted_slots.clamp(1, MAX_SLOTS).min((MAX_PREPARED_BYTES / frame_len).max(1));
        let wbuf = if api.is_some() {
            Vec::with_capacity(slots * frame_len)
        } else {
            let kind = message_kind(plan.message_type);
            let mut one = vec![0u8; frame_len];
            let mut head = [0u8; MAX_HEADER];
            let n = encode_header(&mut head, true, kind.opcode(), plan.size, Some(mask));
            debug_assert_eq!(n, header_len);
            one[..n].copy_from_slice(&head[..n]);
            one[header_len..].copy_from_slice(&plan.message(id));
            unmask_at(&mut one[header_len..], mask, 0);
            one.repeat(slots)
        };
        // The run's one train, from the load's start (the run's epoch); a
        // connection ready late starts at its first message due from now,
        // one that replaces another where that one left off.
        let schedule = Schedule::for_connection(&plan.load, plan.connections, id, 0);
        let now = plan.now_ns();
        let next_index = resume.unwrap_or_else(|| schedule.first_index(now));
        let mode = plan.target.mode;
        let checker = Checker::new(mode, plan.message_type, id, plan.size).with_message(plan.message(id));
        Session {
            io,
            ctx,
            plan,
            id,
            // A slot per connection of the worker: fewer than `--connections`, a u32.
            stop_slot: stop_slot as u32,
            phase: Phase::Running,
            rbuf,
            rstart: 0,
            rend,
            fresh: rend,
            decoder: input::reply_decoder(&api, &checker),
            assembly: Reassembler::new(),
            checker,
            chunk: plan.target.chunk,
            oversized_fragment: 0,
            wbuf,
            frame_len,
            seq_at: header_len + SEQ_OFFSET,
            slots,
            mask,
            cbuf: Vec::new(),
            writing: None,
            wpos: 0,
            wend: 0,
            frames_written: 0,
            frame_ends: api.is_some().then(Box::default),
            blocked_since: NEVER,
            read_all: false,
            close_sent: false,
            close_received: false,
            server_closed: false,
            inflight: InFlight::default(),
            api,
            broadcast: broadcast_io::join_topic(ctx, id).map(Box::new),
            cap,
            schedule,
            next_index,
            wake: ctx.timer.slot(),
            wake_at: NEVER,
            churn: SessionChurn::new(plan, now),
            deflate: None,
        }
    }
}

#[cfg(test)]
mod footprint {
    use std::rc::Rc;

    use crate::engine::plan::WorkerCtx;

    /// Every open connection holds one session in its task: bytes here are
    /// megabytes at 10,000 connections (issue 10's goal is 2 KB per
    /// connection, heap included). Sizes fixed at compile time, not timings.
    const MAX_SESSION: usize = 624;
    /// A connection's task, `run_connection`'s future: tokio's task cell
    /// adds 104 bytes and rounds up to 128, so up to 920 bytes the cell is
    /// 1,024, and past it 1,152 (`-Zprint-type-sizes`). It was 1,048 while
    /// the connecting phase's bindings kept their slots. A debug build lays
    /// it out 8 bytes larger.
    const MAX_TASK_FUTURE: usize = if cfg!(debug_assertions) { 928 } else { 920 };

    #[test]
    fn a_session_stays_small() {
        let size = std::mem::size_of::<super::Session<'static, super::Stream>>();
        assert!(size <= MAX_SESSION, "a session is {size} bytes");
    }

    /// The size of what `f` returns, without calling it.
    fn output_size<F, R>(_: F) -> usize
    where
        F: FnOnce(Rc<WorkerCtx>, u32, u64) -> R,
    {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_connections_task_fits_a_1024_byte_cell() {
        let size = output_size(super::run_connection);
        assert!(size <= MAX_TASK_FUTURE, "run_connection's future is {size} bytes");
    }
}
