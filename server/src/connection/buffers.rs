//! The buffers of one connection and their share of the memory budget.
//!
//! - The read buffer grows with what has arrived, never with what a header
//!   announces: to hold the rest of a pending frame it at most doubles
//!   what it holds, so a header announcing 16 MiB followed by 10 bytes
//!   costs 8 KiB, not 16 MiB.
//! - An idle connection holds no read buffer: once a read would wait with
//!   nothing buffered, the buffer goes back to a small per-thread pool, and
//!   the next read takes one from it. Only a connection with an incomplete
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
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::{Closing, Connection};

/// Free space ensured before a read into the connection's own buffer.
pub(super) const MIN_READ: usize = 4 << 10;
/// A read or reassembly buffer grown past this is released once empty.
pub(super) const RETAINED: usize = 64 << 10;
/// Bytes a connection may hold without charging the budget.
const FREE_BYTES: usize = 16 << 10;
/// Unit of the budget's charges and refunds.
const GRAIN: usize = 64 << 10;
/// Capacity of the pooled read buffers: under [`FREE_BYTES`], so taking
/// and returning one never touches the budget.
const POOLED: usize = 8 << 10;
/// Buffers each thread's pool keeps.
const POOL_SIZE: usize = 32;
/// Close code of a message refused for memory: 1013 Try Again Later.
pub(super) const TRY_AGAIN_LATER: u16 = 1013;

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

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads what has arrived, into the read buffer, taken from the
    /// thread's pool if the connection was idle.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() == 0 {
            self.buf = take_buffer();
        }
        let poll = pin!(self.io.read_buf(&mut self.buf)).poll(cx);
        // Given back at once, not when the connection falls quiet: kept
        // while busy, every connection active within half a second held
        // 8 KiB, and the allocator keeps the peak resident (3,000
        // connections sending one message each: 10.1 KB RSS each against
        // 4.4 KB). The pool's take and give cost about 4 % of a
        // one-message round trip (`full_path`).
        if poll.is_pending() && self.buf.is_empty() {
            self.go_idle();
        }
        poll
    }

    /// Nothing buffered and nothing arriving: give back what the connection
    /// holds, so an idle connection costs its task and socket only (and an
    /// outbox of a few hundred bytes at most).
    fn go_idle(&mut self) {
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
                if rest > GRAIN && self.metrics.memory_held().saturating_add(rest) > self.limits.max_memory {
                    self.metrics.memory_refused();
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
        self.buf.capacity() + self.assembly.capacity() + self.out.capacity()
    }

    /// Adjusts this connection's charge to the budget to cover `bytes`.
    pub(super) fn charge_to(&mut self, bytes: usize) -> Result<(), Closing> {
        let wanted = if bytes <= FREE_BYTES { 0 } else { bytes.next_multiple_of(GRAIN) };
        if wanted > self.charged {
            if !self.metrics.try_hold(wanted - self.charged, self.limits.max_memory) {
                self.metrics.memory_refused();
                return Err(OUT_OF_MEMORY);
            }
        } else {
            self.metrics.release(self.charged - wanted);
        }
        self.charged = wanted;
        Ok(())
    }

    /// Reads and discards until EOF or an error (a closing connection
    /// waiting for the peer to close).
    pub(super) async fn drain(&mut self) {
        let mut buf = take_buffer();
        loop {
            buf.clear();
            if !matches!(self.io.read_buf(&mut buf).await, Ok(n) if n > 0) {
                break;
            }
        }
        return_buffer(buf);
    }
}
