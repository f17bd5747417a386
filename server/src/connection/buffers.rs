//! The buffers of one connection and their share of the memory budget.
//!
//! - The read buffer grows with what has arrived, never with what a header
//!   announces: to hold the rest of a pending frame it at most doubles
//!   what it holds, so a header announcing 16 MiB followed by 10 bytes
//!   costs 8 KiB, not 16 MiB.
//! - An idle connection holds no read buffer: once a read would wait with
//!   nothing buffered, the buffer goes back to a small per-thread pool, and
//!   the next read takes one from it. Only a bounded number of busy
//!   connections keep theirs between messages (`keep_buffer`). Only a connection with an incomplete
//!   frame keeps its buffer. A pool rather than one scratch buffer copied
//!   out of: a closed-loop echo then costs neither an allocation nor a copy
//!   per message.
//! - Every growth a peer drives uses `try_reserve`: a failed allocation
//!   fails the connection (1013), never the process.
//! - What a connection holds (read buffer, reassembly, queued replies) is charged to the server-wide `--max-memory` budget in
//!   64 KiB units, and only past the first 16 KiB: the shared atomic is
//!   touched when a connection crosses a 64 KiB step, not per message.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::{Closing, Connection};
use crate::metrics::Metrics;

/// Free space ensured before a read into the connection's own buffer.
pub(super) const MIN_READ: usize = 4 << 10;
/// A read or reassembly buffer grown past this is released once empty.
pub(super) const RETAINED: usize = 64 << 10;
/// Bytes a connection may hold without charging the budget.
const FREE_BYTES: usize = 16 << 10;
/// Unit of the budget's charges and refunds.
pub(super) const GRAIN: usize = 64 << 10;
/// Capacity of the pooled read buffers: under [`FREE_BYTES`], so taking
/// and returning one never touches the budget.
const POOLED: usize = 8 << 10;
/// Buffers each thread's pool keeps.
const POOL_SIZE: usize = 32;
/// Busy connections that may keep an empty read buffer while they wait
/// (see [`Connection::keep_buffer`]): at most 64 × 8 KiB held this way.
const BUSY_KEEPERS: usize = 64;
/// Connections keeping one now.
static KEEPERS: AtomicUsize = AtomicUsize::new(0);
/// Close code of a message refused for memory: 1013 Try Again Later.
pub(super) use wsbench_proto::close::TRY_AGAIN_LATER;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer from this thread's pool, or a new one.
fn take_buffer() -> Vec<u8> {
    POOL.with(|pool| pool.borrow_mut().pop()).unwrap_or_else(|| Vec::with_capacity(POOLED))
}

/// Returns an empty buffer to this thread's pool (if it is of pool size
/// and the pool has room), else frees it.
fn return_buffer(mut buf: Vec<u8>) {
    if (POOLED..=RETAINED).contains(&buf.capacity()) {
        buf.clear();
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < POOL_SIZE {
                pool.push(buf);
            }
        });
    }
}

/// The refusal of a message that would pass the memory budget.
pub(super) const OUT_OF_MEMORY: Closing =
    Closing::Fail { code: TRY_AGAIN_LATER, reason: "server memory budget exhausted" };

/// What a connection has of the shared budgets: the bytes charged to
/// `--max-memory`, and a keeper's slot. Given back when dropped, wherever
/// the connection ends: in its task, or parked.
#[derive(Debug)]
pub(super) struct Budget {
    /// The server's counters (the connection's only handle on them).
    pub(super) metrics: Arc<Metrics>,
    /// Bytes charged to the server's memory budget.
    charged: usize,
    /// Keeps its empty read buffer while it waits (a busy connection).
    keeps_buffer: bool,
}

impl Budget {
    pub(super) fn new(metrics: Arc<Metrics>) -> Self {
        Budget { metrics, charged: 0, keeps_buffer: false }
    }

    /// Gives back the right to keep a buffer while waiting.
    pub(super) fn stop_keeping(&mut self) {
        if std::mem::take(&mut self.keeps_buffer) {
            KEEPERS.fetch_sub(1, Relaxed);
        }
    }
}

impl Drop for Budget {
    /// Refunds the charge and the keeper's slot.
    fn drop(&mut self) {
        self.stop_keeping();
        self.metrics.release(self.charged);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads what has arrived, into the read buffer, taken from the
    /// thread's pool if the connection was idle.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() == 0 {
            self.buf = take_buffer();
        }
        let poll = pin!(self.io.read_buf(&mut self.buf)).poll(cx);
        match &poll {
            Poll::Pending if self.buf.is_empty() && !self.keep_buffer() => self.go_idle(),
            Poll::Ready(Ok(n)) if *n > 0 && self.buf.len() == self.buf.capacity() => self.grow_after_full_read(),
            _ => {}
        }
        poll
    }

    /// A read filled the buffer: the peer is sending faster than 8 KiB a
    /// read, so the next read may take twice as much (up to [`RETAINED`]).
    /// A deep pipeline then costs a read per ~1,700 frames of 38 bytes
    /// instead of one per ~215; the system call, not the frame, was most of
    /// a message's cost there. The grown buffer is given back like any
    /// other: to the pool once empty (it holds at most [`POOL_SIZE`]), or
    /// freed past [`RETAINED`]. Within the memory budget, or not at all.
    fn grow_after_full_read(&mut self) {
        let more = self.buf.capacity().min(RETAINED.saturating_sub(self.buf.capacity()));
        if more > 0 && self.charge_to(self.held() + more).is_ok() {
            let _ = self.buf.try_reserve_exact(more);
        }
    }

    /// Whether a busy connection keeps its empty buffer while it waits:
    /// the pool's take and give cost about 5 % of a one-message round trip
    /// (`full_path`). At most [`BUSY_KEEPERS`] connections do, process
    /// wide: when every busy connection kept one, all those active in the
    /// last half second held 8 KiB each and the allocator kept that peak
    /// resident (3,000 connections sending one message each: 10.1 KB RSS
    /// each, against 4.5 KB). A keeper gives its slot back when its clock
    /// finds it quiet, or when it closes.
    fn keep_buffer(&mut self) -> bool {
        let budget = &mut self.budget;
        if !budget.keeps_buffer && self.clock.is_active() {
            budget.keeps_buffer =
                KEEPERS.fetch_update(Relaxed, Relaxed, |n| (n < BUSY_KEEPERS).then_some(n + 1)).is_ok();
        }
        budget.keeps_buffer
    }

    /// The timer found the connection quiet: a keeper gives its buffer back,
    /// and any connection its outbox's small buffers (~100 bytes kept after
    /// the first reply; [`go_idle`](Self::go_idle) keeps them between
    /// messages, where freeing them would cost two allocations a message).
    pub(super) fn quiet(&mut self) {
        if self.clock.is_active() || !self.buf.is_empty() {
            return;
        }
        if self.budget.keeps_buffer {
            self.go_idle();
        }
        self.out.release();
    }

    /// Nothing buffered and nothing arriving: give back what the connection
    /// holds, so an idle connection costs its task and socket only (and an
    /// outbox of a few hundred bytes at most).
    pub(super) fn go_idle(&mut self) {
        self.budget.stop_keeping();
        return_buffer(std::mem::take(&mut self.buf));
        if self.out.capacity() > 1 << 10 {
            self.out.release();
        }
        if !self.decoder.in_message() {
            self.assembly = Vec::new();
        }
        let _ = self.charge_to(self.held());
    }

    /// Drops decoded bytes (the outbox no longer needs them), releases
    /// grown buffers, and makes room for the next read within the budget.
    pub(super) fn make_room(&mut self) -> Result<(), Closing> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if !self.decoder.in_message() && self.assembly.capacity() > RETAINED {
            self.assembly = Vec::new();
        }
        if self.buf.is_empty() {
            if self.buf.capacity() > RETAINED {
                self.buf = Vec::new();
            }
            return self.charge_to(self.held());
        }
        let len = self.buf.len();
        let rest = match self.decoder.pending_frame_len() {
            Some(total) => {
                let rest = total.saturating_sub(len);
                // Refused before it is buffered: the rest of this frame
                // would take the server past its budget.
                if rest > GRAIN && self.budget.metrics.memory_held().saturating_add(rest) > self.limits.max_memory {
                    self.budget.metrics.memory_refused();
                    return Err(OUT_OF_MEMORY);
                }
                rest
            }
            None => MIN_READ,
        };
        // Grow by at most what has arrived (doubling), at least MIN_READ.
        let wanted = rest.min(len.max(MIN_READ));
        let spare = self.buf.capacity() - len;
        if spare >= wanted {
            return self.charge_to(self.held());
        }
        self.charge_to(self.held() + wanted)?;
        self.buf.try_reserve_exact(wanted).map_err(|_| OUT_OF_MEMORY)
    }

    /// Bytes this connection holds in its buffers.
    pub(super) fn held(&self) -> usize {
        self.buf.capacity() + self.assembly.capacity() + self.out.capacity() + self.deflate_held()
    }

    /// Adjusts this connection's charge to the budget to cover `bytes`.
    pub(super) fn charge_to(&mut self, bytes: usize) -> Result<(), Closing> {
        let wanted = if bytes <= FREE_BYTES { 0 } else { bytes.next_multiple_of(GRAIN) };
        let charged = self.budget.charged;
        if wanted > charged {
            if !self.budget.metrics.try_hold(wanted - charged, self.limits.max_memory) {
                self.budget.metrics.memory_refused();
                return Err(OUT_OF_MEMORY);
            }
        } else {
            self.budget.metrics.release(charged - wanted);
        }
        self.budget.charged = wanted;
        Ok(())
    }

    /// Reads and discards until EOF or an error (a closing connection
    /// waiting for the peer to close); `heard` is set once the peer sent
    /// anything (its close frame, mostly).
    pub(super) async fn drain(&mut self, heard: &mut bool) {
        let mut buf = take_buffer();
        loop {
            buf.clear();
            if !matches!(self.io.read_buf(&mut buf).await, Ok(n) if n > 0) {
                break;
            }
            *heard = true;
        }
        return_buffer(buf);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{BUSY_KEEPERS, KEEPERS, POOLED, RETAINED};
    use crate::connection::{Connection, ConnectionLimits, ShutdownSignal};
    use crate::metrics::Metrics;
    use crate::mode::{ConnectionParams, ReplyMode};

    /// A masked text frame "hi".
    const HI: [u8; 8] = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];

    #[tokio::test]
    async fn busy_connections_keeping_a_buffer_are_bounded_and_give_it_back() {
        let params = ConnectionParams::from_query(None, ReplyMode::Echo).unwrap();
        let metrics = Arc::new(Metrics::default());
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..BUSY_KEEPERS + 36 {
            let (mut client, server) = tokio::io::duplex(1 << 10);
            let conn = Connection::new(
                server,
                "127.0.0.1:9".parse().unwrap(),
                &[],
                params,
                ConnectionLimits::default(),
                metrics.clone(),
            );
            tasks.push(tokio::spawn(conn.run(ShutdownSignal::never())));
            client.write_all(&HI).await.unwrap();
            let mut echo = [0u8; 4];
            client.read_exact(&mut echo).await.unwrap();
            assert_eq!(echo, [0x81, 2, b'h', b'i']);
            clients.push(client);
        }
        // Every connection is busy (it just answered), so each would keep one.
        assert_eq!(KEEPERS.load(super::Relaxed), BUSY_KEEPERS);
        // Quiet for more than one sample of their clocks (500 ms): given back.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(KEEPERS.load(super::Relaxed), 0, "quiet connections gave their buffers back");
        let mut client = clients.pop().unwrap();
        client.write_all(&HI).await.unwrap();
        let mut echo = [0u8; 4];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(KEEPERS.load(super::Relaxed), 1, "busy again");
        clients.push(client);
        drop(clients);
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        }
        assert_eq!(KEEPERS.load(super::Relaxed), 0, "every keeper gave its slot back");
    }

    #[tokio::test]
    async fn a_read_that_fills_the_buffer_makes_the_next_one_larger_up_to_retained() {
        let params = ConnectionParams::from_query(None, ReplyMode::Echo).unwrap();
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let addr = "127.0.0.1:9".parse().unwrap();
        let mut conn = Connection::new(server, addr, &[], params, ConnectionLimits::default(), Default::default());
        client.write_all(&vec![0u8; 512 << 10]).await.unwrap();
        let mut reads = Vec::new();
        for _ in 0..5 {
            reads.push(std::future::poll_fn(|cx| conn.poll_fill(cx)).await.unwrap());
            conn.buf.clear();
        }
        assert_eq!(reads, [POOLED, 2 * POOLED, 4 * POOLED, RETAINED, RETAINED]);
        assert_eq!(conn.buf.capacity(), RETAINED, "and no larger");
    }
}
