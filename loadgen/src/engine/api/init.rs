//! The init exchange of one connection, after the upgrade and before its
//! load: the `--init` messages sent in order, then, with `--init-expect`,
//! the server's messages read until one meets it (others before it, a
//! welcome banner say, are passed over). Pings are answered. Its failure
//! is the connection's ([`ConnectFailure::Init`]), with its reason, and so
//! is a reply not met by `deadline` (`--connect-timeout`, counted from the
//! connect: connect, upgrade and init together).
//!
//! Frames are decoded by wsbench-proto as strictly as in the load; bytes
//! read past the awaited message stay in `rbuf` for the session.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsbench_proto::{Decoder, Event, OpCode, Reassembler, Role};

use super::{write_frame, ApiPlan, Parsed, Vars};
use crate::engine::connect::{ConnectFailure, Rng};
use crate::engine::payload::preview;

/// The largest message read during init.
pub const MAX_INIT_MESSAGE: usize = 1 << 20;

/// Runs the init exchange of connection `conn` on `io`.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    api: &ApiPlan,
    conn: u32,
    opcode: OpCode,
    rng: &mut Rng,
    rbuf: &mut Vec<u8>,
    deadline: tokio::time::Instant,
) -> Result<(), ConnectFailure> {
    let fail = |why: String| ConnectFailure::Init(why);
    let mask = (rng.next_u64() as u32).to_ne_bytes();
    if !api.init.is_empty() {
        let mut out = Vec::new();
        let vars = Vars { conn, seq: 0, id: 0 };
        for t in &api.init {
            let now = if t.has_now() { super::template::unix_ms() } else { 0 };
            write_frame(&mut out, t, &vars, now, opcode, mask, rng);
        }
        io.write_all(&out).await.map_err(|e| fail(format!("sending --init: {e}")))?;
        io.flush().await.map_err(|e| fail(format!("sending --init: {e}")))?;
    }
    let Some(expect) = &api.init_expect else { return Ok(()) };
    let mut decoder = Decoder::new(Role::Client, MAX_INIT_MESSAGE);
    let mut assembly = Reassembler::new();
    let mut last_miss = None;
    loop {
        while let Some(frame) = decoder.decode(rbuf).map_err(|e| fail(format!("protocol error during init: {e}")))? {
            let payload = rbuf[frame.payload.clone()].to_vec();
            rbuf.drain(..frame.len);
            match frame.event {
                Event::Data { first, fin, .. } => {
                    let Some(message) = assembly.push(first, fin, &payload) else { continue };
                    match expect.check(&mut Parsed::new(message)) {
                        Ok(()) => return Ok(()),
                        Err(why) => last_miss = Some(format!("{why}: {}", preview(message))),
                    }
                }
                Event::Ping => {
                    let mut pong = Vec::new();
                    wsbench_proto::write_frame(&mut pong, true, OpCode::Pong, &payload, Some(mask));
                    io.write_all(&pong).await.map_err(|e| fail(format!("answering a ping: {e}")))?;
                }
                Event::Pong => {}
                Event::Close { code, .. } => {
                    return Err(fail(format!(
                        "the server closed ({}) before a reply met --init-expect",
                        code.map_or("no code".to_string(), |c| c.to_string())
                    )));
                }
            }
        }
        let before = rbuf.len();
        rbuf.reserve(4096);
        let last = || last_miss.as_ref().map_or(String::new(), |m| format!("; last message: {m}"));
        let n = match tokio::time::timeout_at(deadline, io.read_buf(rbuf)).await {
            Err(_) => return Err(fail(format!("no reply met --init-expect within --connect-timeout{}", last()))),
            Ok(read) => read.map_err(|e| fail(format!("reading the init reply: {e}")))?,
        };
        if n == 0 || rbuf.len() == before {
            return Err(fail(format!("connection closed before a reply met --init-expect{}", last())));
        }
    }
}
