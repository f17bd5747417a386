//! One connection's life: connect, upgrade, load (open or closed loop),
//! drain, close. All of a worker's connections run on its thread and share
//! its [`WorkerCtx`]; nothing here takes a lock or touches an atomic per
//! message.
//!
//! Sending: the connection's frames are prepared once in `wbuf` (`slots`
//! frames, masked with the connection's key); a send rewrites the 12
//! sequence digits of a slot, already masked, and writes the slots due in
//! one write. Receiving: frames are parsed where they lie in `rbuf`; only
//! fragmented replies are copied, to reassemble them.
//!
//! The send and receive times of each message in flight are kept here, by
//! sequence number, not in the message.
//!
//! Timers: an open loop waits for each message's intended time on the
//! worker's [`PreciseTimer`] (tokio's timer is only good to a millisecond,
//! which every send would add to the corrected RTT); the coarse deadlines
//! (end of the run, drain and close timeouts) stay on tokio's timer.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::cli::MessageType;
use crate::config::LoadModel;
use crate::connect::{self, ConnectFailure, RequestTemplate, Rng};
use crate::frame::{self, apply_mask, encode_client_header, parse_header, OpCode};
use crate::payload::{message_template, write_seq, Checker, SEQ_OFFSET, STAMP_LEN};
use crate::stats::{Series, WorkerStats};
use crate::target::Target;
use crate::timer::{PreciseTimer, TimerSlot};
use crate::tracker::{InFlight, Matched};

/// Read buffer of a new connection; it grows to hold the largest frame.
const INITIAL_READ_BUFFER: usize = 4 << 10;
/// Bytes of prepared frames per connection, at most.
const MAX_PREPARED_BYTES: usize = 256 << 10;
/// Frames written in one batch, at most.
const MAX_SLOTS: usize = 64;
/// How long the closing handshake may take at the end.
const CLOSE_TIMEOUT_NS: u64 = 1_000_000_000;

/// Everything about the run that connections share, across threads.
pub struct RunPlan {
    pub target: Target,
    pub addr: std::net::SocketAddr,
    pub local_addrs: Vec<std::net::IpAddr>,
    pub tls: Option<tokio_rustls::TlsConnector>,
    pub request: RequestTemplate,
    pub connections: u32,
    pub size: usize,
    pub message_type: MessageType,
    pub load: LoadModel,
    pub connect_timeout_ns: u64,
    pub drain_timeout_ns: u64,
    /// Time zero of the run: all times below are nanoseconds after it.
    pub epoch: Instant,
    pub measure_start_ns: u64,
    pub measure_end_ns: u64,
}

impl RunPlan {
    #[inline]
    pub fn now_ns(&self) -> u64 {
        Instant::now().saturating_duration_since(self.epoch).as_nanos() as u64
    }

    #[inline]
    pub fn in_window(&self, t_ns: u64) -> bool {
        t_ns >= self.measure_start_ns && t_ns < self.measure_end_ns
    }

    pub fn instant(&self, ns: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + std::time::Duration::from_nanos(ns))
    }
}

/// Tells a worker's connections to stop sending and wind down. Each
/// connection owns a slot for its task's waker, refreshed only when the
/// waker changes: checking costs a `Cell` read per poll.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Cell<bool>,
    wakers: RefCell<Vec<Option<Waker>>>,
}

impl StopSignal {
    pub fn slot(&self) -> usize {
        let mut w = self.wakers.borrow_mut();
        w.push(None);
        w.len() - 1
    }

    pub fn release(&self, slot: usize) {
        self.wakers.borrow_mut()[slot] = None;
    }

    /// True once stopped; otherwise remembers who to wake.
    #[inline]
    pub fn check(&self, slot: usize, waker: &Waker) -> bool {
        if self.stopped.get() {
            return true;
        }
        let mut w = self.wakers.borrow_mut();
        match &w[slot] {
            Some(old) if old.will_wake(waker) => {}
            _ => w[slot] = Some(waker.clone()),
        }
        false
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    pub fn stop(&self) {
        self.stopped.set(true);
        for w in self.wakers.borrow_mut().iter_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }

    /// Resolves once stopped (for the connect phase).
    pub async fn wait(&self, slot: usize) {
        poll_fn(|cx| if self.check(slot, cx.waker()) { Poll::Ready(()) } else { Poll::Pending }).await
    }
}

/// What a worker's connections share on its thread.
pub struct WorkerCtx {
    pub plan: Arc<RunPlan>,
    pub stats: RefCell<WorkerStats>,
    pub stop: StopSignal,
    /// The open loop's send times; driven by a task of the worker.
    pub timer: Rc<PreciseTimer>,
}

/// Opens connection `id` at `start_ns`, loads it until the end of the run,
/// and counts everything that happens to it.
pub async fn run_connection(ctx: Rc<WorkerCtx>, id: u32, start_ns: u64) {
    let slot = ctx.stop.slot();
    tokio::select! {
        biased;
        () = ctx.stop.wait(slot) => { ctx.stop.release(slot); return; }
        () = tokio::time::sleep_until(ctx.plan.instant(start_ns)) => {}
    }
    let plan = ctx.plan.clone();
    if plan.now_ns() >= plan.measure_end_ns {
        ctx.stop.release(slot);
        return;
    }
    ctx.stats.borrow_mut().counters.connections_attempted += 1;
    let mut rng = Rng::new(u64::from(id).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut rbuf = Vec::with_capacity(INITIAL_READ_BUFFER);
    let deadline = plan.instant(plan.now_ns() + plan.connect_timeout_ns);
    let local = (!plan.local_addrs.is_empty()).then(|| plan.local_addrs[id as usize % plan.local_addrs.len()]);

    let opened = async {
        let t0 = Instant::now();
        let mut tcp = connect::before(deadline, connect::tcp_connect(plan.addr, local)).await?;
        let t1 = Instant::now();
        let result = match &plan.tls {
            None => {
                connect::before(deadline, connect::upgrade(&mut tcp, &plan.request, &mut rng, &mut rbuf)).await?;
                Ok::<_, ConnectFailure>(Stream::Plain(tcp))
            }
            Some(tls) => {
                let name = plan.target.server_name().map_err(|e| ConnectFailure::Tls(e.to_string()))?;
                let mut s = connect::before(deadline, async {
                    tls.connect(name, tcp).await.map_err(|e| ConnectFailure::Tls(e.to_string()))
                })
                .await?;
                connect::before(deadline, connect::upgrade(&mut s, &plan.request, &mut rng, &mut rbuf)).await?;
                Ok(Stream::Tls(Box::new(s)))
            }
        }?;
        let t2 = Instant::now();
        Ok::<_, ConnectFailure>((result, t1 - t0, t2 - t1))
    };
    let opened = tokio::select! {
        biased;
        () = ctx.stop.wait(slot) => None,
        r = opened => Some(r),
    };
    let Some(opened) = opened else {
        ctx.stop.release(slot);
        return;
    };
    match opened {
        Err(failure) => {
            let mut st = ctx.stats.borrow_mut();
            failure.count(&mut st.counters.connect_errors);
            st.live.errors += 1;
            if matches!(
                failure,
                ConnectFailure::HttpStatus(..) | ConnectFailure::BadHandshake(_) | ConnectFailure::Tls(_)
            ) {
                st.sample(|| format!("connection {id}: {failure}"));
            }
        }
        Ok((stream, tcp_time, handshake_time)) => {
            {
                let mut st = ctx.stats.borrow_mut();
                st.interval.record_ns(Series::Connect, connect::nanos(tcp_time));
                st.interval.record_ns(Series::Handshake, connect::nanos(handshake_time));
                st.counters.connections_opened += 1;
                st.open += 1;
            }
            match stream {
                Stream::Plain(s) => Session::new(s, &ctx, id, slot, rbuf, &mut rng).run().await,
                Stream::Tls(s) => Session::new(*s, &ctx, id, slot, rbuf, &mut rng).run().await,
            }
            ctx.stats.borrow_mut().open -= 1;
        }
    }
    ctx.stop.release(slot);
}

enum Stream {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// A message in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Draining { until_ns: u64 },
    Closing { until_ns: u64 },
}

enum Event {
    Read,
    Wrote,
    Timer,
    Stop,
    Eof,
    Error(io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteSource {
    Batch,
    Control,
}

/// How a session ended, when not by the closing handshake.
enum Ending {
    Done,
    ClosedByServer,
    Eof,
    Protocol(String),
    Io(io::Error),
    CloseTimeout,
}

struct Session<'a, S> {
    io: S,
    ctx: &'a WorkerCtx,
    plan: &'a RunPlan,
    id: u32,
    stop_slot: usize,
    phase: Phase,

    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Bytes of the last read, not yet counted as received.
    fresh: usize,
    fragmented: Option<OpCode>,
    assembly: Vec<u8>,
    checker: Checker,

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
    close_sent: bool,
    close_received: bool,
    /// The server sent a close frame first.
    server_closed: bool,

    inflight: InFlight,

    /// Open loop: cap on messages in flight, period and schedule start.
    cap: u64,
    period_ns: f64,
    schedule_start_ns: u64,
    next_index: u64,

    sleep: Pin<Box<Sleep>>,
    sleep_at: u64,
    /// The next intended send time being waited for, or `NO_PACE`.
    pace: TimerSlot,
    pace_at: u64,
}

/// No send time waited for.
const NO_PACE: u64 = u64::MAX;

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    fn new(io: S, ctx: &'a WorkerCtx, id: u32, stop_slot: usize, leftover: Vec<u8>, rng: &mut Rng) -> Self {
        let plan = &*ctx.plan;
        let mut rbuf = leftover;
        let rend = rbuf.len();
        rbuf.resize(rend.max(INITIAL_READ_BUFFER), 0);
        let mask = (rng.next_u64() as u32).to_ne_bytes();
        let header_len = frame::client_header_len(plan.size);
        let frame_len = header_len + plan.size;
        let (cap, period_ns, wanted_slots) = match plan.load {
            LoadModel::Closed { pipeline } => (u64::from(pipeline), 0.0, pipeline as usize),
            LoadModel::Open { rate, max_in_flight } => {
                let per_conn = rate / f64::from(plan.connections);
                // Enough slots for the messages due in 2 ms, should the thread fall behind.
                let wanted = (per_conn * 0.002).ceil() as usize + 1;
                let cap = max_in_flight.map_or(u64::MAX, u64::from);
                (cap, 1e9 / per_conn, wanted.min(cap.min(MAX_SLOTS as u64) as usize))
            }
        };
        let slots = wanted_slots.clamp(1, MAX_SLOTS).min((MAX_PREPARED_BYTES / frame_len).max(1));
        let opcode = match plan.message_type {
            MessageType::Text => OpCode::Text,
            MessageType::Binary => OpCode::Binary,
        };
        let mut one = vec![0u8; frame_len];
        let n = encode_client_header(&mut one, true, opcode, plan.size, mask);
        debug_assert_eq!(n, header_len);
        one[header_len..].copy_from_slice(&message_template(id, plan.message_type, plan.size));
        apply_mask(&mut one[header_len..], mask, 0);
        let wbuf = one.repeat(slots);
        let schedule_start_ns = plan.now_ns() + (rng.next_u64() % (period_ns.max(1.0) as u64)).min(1_000_000_000);
        let mode = plan.target.mode;
        Session {
            io,
            ctx,
            plan,
            id,
            stop_slot,
            phase: Phase::Running,
            rbuf,
            rstart: 0,
            rend,
            fresh: rend,
            fragmented: None,
            assembly: Vec::new(),
            checker: Checker::new(mode, plan.message_type, id, plan.size),
            wbuf,
            frame_len,
            seq_at: header_len + SEQ_OFFSET,
            slots,
            mask,
            cbuf: Vec::new(),
            writing: None,
            wpos: 0,
            wend: 0,
            close_sent: false,
            close_received: false,
            server_closed: false,
            inflight: InFlight::default(),
            cap,
            period_ns,
            schedule_start_ns,
            next_index: 0,
            sleep: Box::pin(tokio::time::sleep_until(plan.instant(plan.measure_end_ns))),
            sleep_at: plan.measure_end_ns,
            pace: ctx.timer.slot(),
            pace_at: NO_PACE,
        }
    }

    async fn run(mut self) {
        let ending = self.drive().await;
        let mut st = self.ctx.stats.borrow_mut();
        let missing = self.inflight.abandon();
        st.counters.reply_errors.missing += missing;
        st.live.errors += missing;
        let e = &mut st.counters.connection_errors;
        let error = match ending {
            Ending::Done => false,
            Ending::ClosedByServer => {
                e.closed_by_server += 1;
                true
            }
            Ending::Eof => {
                e.eof += 1;
                true
            }
            Ending::Protocol(why) => {
                e.protocol += 1;
                let id = self.id;
                st.sample(|| format!("connection {id}: protocol error from the server: {why}"));
                true
            }
            Ending::Io(err) => {
                e.io += 1;
                let id = self.id;
                st.sample(|| format!("connection {id}: I/O error: {err}"));
                true
            }
            Ending::CloseTimeout => {
                e.close_timeout += 1;
                true
            }
        };
        if error {
            st.live.errors += 1;
        }
    }

    async fn drive(&mut self) -> Ending {
        // Frames that came with the handshake response (a close right after
        // the 101, say) are handled now, not at the next read.
        if self.rend > self.rstart {
            if let Err(ending) = self.process_input() {
                return ending;
            }
        }
        loop {
            let now = self.plan.now_ns();
            if self.phase == Phase::Running {
                self.expire_lost(now);
            }
            // Phase changes. An open loop first sends, late, every message
            // whose intended time fell in the window.
            if self.phase == Phase::Running {
                let end = self.plan.measure_end_ns;
                let behind = self.plan.load.is_open() && self.intended(self.next_index) < end;
                let stopped = self.ctx.stop.is_stopped();
                if stopped || now >= end + self.plan.drain_timeout_ns || (now >= end && !behind) {
                    if behind && !stopped {
                        self.count_unsent(end);
                    }
                    let from = if stopped { now } else { now.max(end) };
                    self.phase = Phase::Draining { until_ns: from + self.plan.drain_timeout_ns };
                }
            }
            if let Phase::Draining { until_ns } = self.phase {
                if self.inflight.outstanding() == 0 || now >= until_ns {
                    self.queue_close(1000);
                    self.phase = Phase::Closing { until_ns: now + CLOSE_TIMEOUT_NS };
                }
            }
            if let Phase::Closing { until_ns } = self.phase {
                if self.close_received && self.writing.is_none() && self.cbuf.is_empty() {
                    return if self.server_closed { Ending::ClosedByServer } else { Ending::Done };
                }
                if now >= until_ns {
                    return Ending::CloseTimeout;
                }
            }
            // Sends.
            if self.writing.is_none() {
                if self.phase == Phase::Running {
                    self.send_due(now);
                }
                if self.writing.is_none() && !self.cbuf.is_empty() {
                    self.writing = Some(WriteSource::Control);
                    self.wpos = 0;
                    self.wend = self.cbuf.len();
                }
            }
            // The next things to wake up for: the next send time of an open
            // loop, to the microsecond; the rest, to tokio's millisecond.
            let (deadline, pace_at) = match self.phase {
                Phase::Running => {
                    let end = self.plan.measure_end_ns;
                    let can_send = self.writing.is_none() && self.inflight.outstanding() < self.cap;
                    let next = self.intended(self.next_index);
                    // Waiting on a write or on replies, which wake us, once past the end.
                    let coarse = if now < end { end } else { end + self.plan.drain_timeout_ns };
                    // And when the oldest reply awaited counts as lost.
                    let coarse = self
                        .inflight
                        .oldest_unanswered_ns()
                        .map_or(coarse, |sent| coarse.min(sent + self.plan.drain_timeout_ns + 1));
                    let pace = self.plan.load.is_open() && can_send && next < end;
                    (coarse, if pace { next } else { NO_PACE })
                }
                Phase::Draining { until_ns } | Phase::Closing { until_ns } => (until_ns, NO_PACE),
            };
            if deadline != self.sleep_at {
                self.sleep_at = deadline;
                self.sleep.as_mut().reset(self.plan.instant(deadline));
            }
            if pace_at != self.pace_at {
                self.pace_at = pace_at;
                // A time already past fires at once: a late connection sends at once.
                self.pace.set((pace_at != NO_PACE).then(|| self.plan.epoch + Duration::from_nanos(pace_at)));
            }
            match poll_fn(|cx| self.poll_io(cx)).await {
                Event::Read => {
                    if let Err(ending) = self.process_input() {
                        return ending;
                    }
                }
                Event::Wrote | Event::Timer | Event::Stop => {}
                Event::Eof if self.server_closed => return Ending::ClosedByServer,
                Event::Eof if self.close_received => return Ending::Done,
                Event::Eof => return Ending::Eof,
                Event::Error(_) if self.server_closed => return Ending::ClosedByServer,
                Event::Error(_) if self.close_received => return Ending::Done,
                Event::Error(e) => return Ending::Io(e),
            }
        }
    }

    /// Counts replies awaited past the drain timeout as missing and frees
    /// their slots, even when no other reply comes to trigger it.
    fn expire_lost(&mut self, now: u64) {
        let expired = self.inflight.expire(now.saturating_sub(self.plan.drain_timeout_ns));
        if expired > 0 {
            let mut st = self.ctx.stats.borrow_mut();
            st.counters.reply_errors.missing += expired;
            st.live.errors += expired;
        }
    }

    /// Counts the messages of the schedule due before `end` that were never
    /// sent, and those of the window among them.
    fn count_unsent(&mut self, end: u64) {
        let mut unsent = 0;
        while self.intended(self.next_index) < end {
            if self.plan.in_window(self.intended(self.next_index)) {
                unsent += 1;
            }
            self.next_index += 1;
        }
        if unsent > 0 {
            let mut st = self.ctx.stats.borrow_mut();
            st.counters.reply_errors.unsent += unsent;
            st.live.errors += unsent;
        }
    }

    #[inline]
    fn intended(&self, index: u64) -> u64 {
        self.schedule_start_ns + (index as f64 * self.period_ns) as u64
    }

    /// Prepares the messages due now in their slots and starts writing them.
    fn send_due(&mut self, now: u64) {
        let room = self.cap.saturating_sub(self.inflight.outstanding()).min(self.slots as u64) as usize;
        if room == 0 {
            return;
        }
        let open = self.plan.load.is_open();
        let mut st = self.ctx.stats.borrow_mut();
        let mut n = 0;
        while n < room {
            let intended = if open {
                let t = self.intended(self.next_index);
                if t > now || t >= self.plan.measure_end_ns {
                    break;
                }
                self.next_index += 1;
                t
            } else {
                now
            };
            let seq = self.inflight.push(intended, now);
            let at = n * self.frame_len + self.seq_at;
            let digits = &mut self.wbuf[at..at + STAMP_LEN - SEQ_OFFSET];
            write_seq(digits, seq);
            // SEQ_OFFSET is a multiple of 4: the digits are masked from key byte 0.
            apply_mask(digits, self.mask, 0);
            st.counters.messages_sent_total += 1;
            st.live.sent += 1;
            if self.plan.in_window(intended) {
                st.counters.messages_sent += 1;
                if open {
                    st.interval.record_ns(Series::SendLag, now - intended);
                }
            }
            n += 1;
        }
        if n > 0 {
            if self.plan.in_window(now) {
                st.counters.bytes_sent += (n * self.frame_len) as u64;
            }
            self.writing = Some(WriteSource::Batch);
            self.wpos = 0;
            self.wend = n * self.frame_len;
        }
    }

    fn queue_close(&mut self, code: u16) {
        if !self.close_sent {
            self.close_sent = true;
            frame::write_client_frame(&mut self.cbuf, true, OpCode::Close, &code.to_be_bytes(), self.mask);
        }
    }

    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.phase == Phase::Running && self.ctx.stop.check(self.stop_slot, cx.waker()) {
            return Poll::Ready(Event::Stop);
        }
        if let Some(source) = self.writing {
            while self.wpos < self.wend {
                let buf = match source {
                    WriteSource::Batch => &self.wbuf[self.wpos..self.wend],
                    WriteSource::Control => &self.cbuf[self.wpos..self.wend],
                };
                match Pin::new(&mut self.io).poll_write(cx, buf) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Event::Error(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => self.wpos += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
                    Poll::Pending => break,
                }
            }
            if self.wpos == self.wend {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.writing = None;
                        if source == WriteSource::Control {
                            self.cbuf.clear();
                        }
                        return Poll::Ready(Event::Wrote);
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
                    Poll::Pending => {}
                }
            }
        }
        // Room to read: move a partial frame to the front, or grow for it.
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else {
                let len = self.rbuf.len() * 2;
                self.rbuf.resize(len, 0);
            }
        }
        let mut rb = ReadBuf::new(&mut self.rbuf[self.rend..]);
        match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Event::Eof);
                }
                self.rend += n;
                self.fresh += n;
                return Poll::Ready(Event::Read);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Event::Error(e)),
            Poll::Pending => {}
        }
        if self.pace_at != NO_PACE && self.pace.poll_expired(cx).is_ready() {
            // Set again on the next turn, whatever it is.
            self.pace_at = NO_PACE;
            return Poll::Ready(Event::Timer);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Timer);
        }
        Poll::Pending
    }

    /// Handles every whole frame read so far.
    fn process_input(&mut self) -> Result<(), Ending> {
        let now = self.plan.now_ns();
        let plan = self.plan;
        let mut st = self.ctx.stats.borrow_mut();
        if plan.in_window(now) {
            st.counters.bytes_received += self.fresh as u64;
        }
        self.fresh = 0;
        let max_reply = self.checker.max_reply_len();
        loop {
            let avail = &self.rbuf[self.rstart..self.rend];
            let header = match parse_header(avail) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(Ending::Protocol(e.to_string())),
            };
            // No reply to these messages is this long: refuse it before
            // allocating for it (a header alone must not cost gigabytes).
            let assembled = if header.opcode == OpCode::Continuation { self.assembly.len() } else { 0 };
            if header.payload_len > (max_reply - assembled.min(max_reply)) as u64 {
                return Err(Ending::Protocol(format!(
                    "a frame of {} bytes, longer than any reply to these messages ({max_reply} bytes at most)",
                    header.payload_len
                )));
            }
            let frame_len = header.header_len + header.payload_len as usize;
            if avail.len() < frame_len {
                // Make sure the whole frame will fit.
                if frame_len > self.rbuf.len() - self.rstart {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                    if frame_len > self.rbuf.len() {
                        self.rbuf.resize(frame_len.next_power_of_two(), 0);
                    }
                }
                break;
            }
            let payload_range = self.rstart + header.header_len..self.rstart + frame_len;
            self.rstart += frame_len;
            match header.opcode {
                OpCode::Text | OpCode::Binary => {
                    if self.fragmented.is_some() {
                        return Err(Ending::Protocol("a new message inside a fragmented one".into()));
                    }
                    if header.fin {
                        let payload = &self.rbuf[payload_range];
                        let reply = Reply { id: self.id, opcode: header.opcode, payload, now };
                        on_reply(&mut self.checker, &mut self.inflight, &mut st, plan, reply);
                    } else {
                        self.assembly.clear();
                        self.assembly.extend_from_slice(&self.rbuf[payload_range]);
                        self.fragmented = Some(header.opcode);
                    }
                }
                OpCode::Continuation => {
                    let Some(opcode) = self.fragmented else {
                        return Err(Ending::Protocol("a continuation frame without a message".into()));
                    };
                    self.assembly.extend_from_slice(&self.rbuf[payload_range]);
                    if header.fin {
                        self.fragmented = None;
                        let reply = Reply { id: self.id, opcode, payload: &self.assembly, now };
                        on_reply(&mut self.checker, &mut self.inflight, &mut st, plan, reply);
                        if self.assembly.capacity() > 1 << 20 {
                            self.assembly = Vec::new();
                        }
                    }
                }
                OpCode::Ping => {
                    let payload = self.rbuf[payload_range].to_vec();
                    frame::write_client_frame(&mut self.cbuf, true, OpCode::Pong, &payload, self.mask);
                }
                OpCode::Pong => {}
                OpCode::Close => {
                    let payload = &self.rbuf[payload_range];
                    let code = if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 };
                    *st.counters.close_codes.entry(code).or_default() += 1;
                    self.close_received = true;
                    if !self.close_sent {
                        // The server closed first: answer with its code, then end.
                        self.server_closed = true;
                        let echo = if code == 1005 { 1000 } else { code };
                        if !self.close_sent {
                            self.close_sent = true;
                            frame::write_client_frame(
                                &mut self.cbuf,
                                true,
                                OpCode::Close,
                                &echo.to_be_bytes(),
                                self.mask,
                            );
                        }
                        self.phase = Phase::Closing { until_ns: now + CLOSE_TIMEOUT_NS };
                    }
                }
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        Ok(())
    }
}

/// One whole reply message, as read.
struct Reply<'p> {
    id: u32,
    opcode: OpCode,
    payload: &'p [u8],
    now: u64,
}

/// Checks a reply, settles its message and records what it shows.
#[inline]
fn on_reply(checker: &mut Checker, inflight: &mut InFlight, st: &mut WorkerStats, plan: &RunPlan, r: Reply<'_>) {
    st.counters.replies_received_total += 1;
    st.live.received += 1;
    let checked = checker.check(r.opcode, r.payload);
    if let Err(why) = &checked {
        st.counters.reply_errors.corrupt += 1;
        st.live.errors += 1;
        st.sample(|| format!("connection {}: corrupt reply ({}): {}", r.id, why.0, preview(r.payload)));
    }
    // A corrupt reply whose stamp still reads settles its message (counted
    // corrupt, not also missing); its RTT is not recorded.
    let Some(seq) = checked.as_ref().map_or_else(|why| why.seq(), |&seq| Some(seq)) else { return };
    let matched = inflight.answer(seq);
    if checked.is_err() {
        return;
    }
    match matched {
        Matched::Answer { sent, overtaken } => {
            if overtaken {
                st.counters.reply_errors.out_of_order += 1;
                st.live.errors += 1;
            }
            if plan.in_window(sent.intended_ns) {
                st.counters.messages_received += 1;
                st.interval.record_ns(Series::RttCorrected, r.now.saturating_sub(sent.intended_ns));
                st.interval.record_ns(Series::RttUncorrected, r.now.saturating_sub(sent.sent_ns));
            }
        }
        // Answered before, or given up as missing after the drain timeout.
        Matched::Duplicate => {
            st.counters.reply_errors.duplicate += 1;
            st.live.errors += 1;
        }
        Matched::NeverSent => {
            st.counters.reply_errors.corrupt += 1;
            st.live.errors += 1;
            st.sample(|| format!("connection {}: reply to message {seq}, never sent", r.id));
        }
    }
}

fn preview(payload: &[u8]) -> String {
    let s = String::from_utf8_lossy(&payload[..payload.len().min(60)]);
    format!("{s:?}{}", if payload.len() > 60 { "..." } else { "" })
}
