//! Raw TCP echo on io_uring: what `scripts/peers.sh` measures to tell
//! whether fewer system calls per message would lower the server's CPU per
//! message under the closed loop (issue 10 asks it to measure io_uring
//! before using it). No framing, like `raw_echo.rs`, and one thread: every
//! connection's receive and send are submitted to one ring, and one
//! `io_uring_enter` submits the batch and waits for the next completions,
//! where an epoll server makes a `recvfrom` and a `sendto` per message.
//!
//! Each connection has one 64 KiB buffer and one operation in flight at a
//! time (a receive, or the send of what it received): memory is not what
//! this peer measures.
//!
//! Usage: uring_echo ADDR   (e.g. 127.0.0.1:19094)

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

const BUF: usize = 64 * 1024;
const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;

struct Conn {
    fd: RawFd,
    buf: Box<[u8]>,
    /// Bytes received and not yet sent back: `buf[sent..len]`.
    len: usize,
    sent: usize,
}

struct Echo {
    ring: IoUring,
    listener: RawFd,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
}

impl Echo {
    /// Queues `sqe`, submitting the queue first if it is full.
    fn push(&mut self, sqe: squeue::Entry) -> io::Result<()> {
        // SAFETY: the buffers an entry points to belong to a connection that
        // is neither dropped nor used by another operation until the
        // entry's completion arrives (one operation in flight each).
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            self.ring.submit()?;
        }
        Ok(())
    }

    fn accept(&mut self) -> io::Result<()> {
        let sqe = opcode::Accept::new(types::Fd(self.listener), std::ptr::null_mut(), std::ptr::null_mut()).build();
        self.push(sqe.user_data(ACCEPT))
    }

    fn recv(&mut self, slot: usize) -> io::Result<()> {
        let conn = self.conns[slot].as_mut().expect("a live slot");
        let sqe = opcode::Recv::new(types::Fd(conn.fd), conn.buf.as_mut_ptr(), BUF as u32).build();
        self.push(sqe.user_data((slot as u64) << 2 | RECV))
    }

    fn send(&mut self, slot: usize) -> io::Result<()> {
        let conn = self.conns[slot].as_mut().expect("a live slot");
        let rest = &conn.buf[conn.sent..conn.len];
        let sqe = opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), rest.len() as u32).build();
        self.push(sqe.user_data((slot as u64) << 2 | SEND))
    }

    fn close(&mut self, slot: usize) {
        if let Some(conn) = self.conns[slot].take() {
            // SAFETY: the descriptor is this connection's, closed once.
            drop(unsafe { TcpStream::from_raw_fd(conn.fd) });
            self.free.push(slot);
        }
    }

    fn on_completion(&mut self, user_data: u64, result: i32) -> io::Result<()> {
        let slot = (user_data >> 2) as usize;
        match user_data & 3 {
            ACCEPT => {
                if result >= 0 {
                    // SAFETY: a descriptor the kernel just gave us.
                    let stream = unsafe { TcpStream::from_raw_fd(result) };
                    let _ = stream.set_nodelay(true);
                    let conn = Conn { fd: stream.into_raw_fd(), buf: vec![0; BUF].into(), len: 0, sent: 0 };
                    let slot = match self.free.pop() {
                        Some(slot) => {
                            self.conns[slot] = Some(conn);
                            slot
                        }
                        None => {
                            self.conns.push(Some(conn));
                            self.conns.len() - 1
                        }
                    };
                    self.recv(slot)?;
                }
                self.accept()
            }
            RECV if result <= 0 => {
                self.close(slot);
                Ok(())
            }
            RECV => {
                let conn = self.conns[slot].as_mut().expect("a live slot");
                (conn.len, conn.sent) = (result as usize, 0);
                self.send(slot)
            }
            _ if result < 0 => {
                self.close(slot);
                Ok(())
            }
            _ => {
                let conn = self.conns[slot].as_mut().expect("a live slot");
                conn.sent += result as usize;
                if conn.sent < conn.len {
                    self.send(slot)
                } else {
                    self.recv(slot)
                }
            }
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:19094".to_string());
    let listener = TcpListener::bind(&addr)?;
    let mut echo =
        Echo { ring: IoUring::new(4096)?, listener: listener.as_raw_fd(), conns: Vec::new(), free: Vec::new() };
    echo.accept()?;
    let mut done: Vec<(u64, i32)> = Vec::with_capacity(4096);
    loop {
        echo.ring.submit_and_wait(1)?;
        done.extend(echo.ring.completion().map(|c: cqueue::Entry| (c.user_data(), c.result())));
        for (user_data, result) in done.drain(..) {
            echo.on_completion(user_data, result)?;
        }
    }
}
