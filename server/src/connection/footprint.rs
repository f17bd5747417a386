//! What an idle connection's future weighs: each idle connection holds one,
//! so a few hundred bytes here are megabytes at 10,000 connections
//! (`scripts/idle_rss.py` measures the whole). The bounds are sizes, fixed
//! at compile time, not timings.

use tokio::net::{TcpListener, TcpStream};

use super::{Connection, ConnectionLimits, ShutdownSignal};
use crate::config::Config;
use crate::mode::{ConnectionParams, ReplyMode};

/// The connection's whole future (`Connection` is ~450 bytes of it). Taking
/// `mut self` in an `async fn` made it 1,456 (rust-lang/rust#62958: the
/// argument and its binding each kept a copy); the flush as an `async fn`
/// (248 bytes), copied limits (72) and an inline `json` state (40) made it
/// ~950.
const MAX_RUN_FUTURE: usize = 768;

#[tokio::test]
async fn a_connection_future_holds_one_copy_of_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let params = ConnectionParams::from_query(None, ReplyMode::Echo).unwrap();
    let limits = ConnectionLimits::from_config(&Config::default());
    let conn = Connection::new(stream, addr, &[], params, limits, Default::default());
    let connection = std::mem::size_of_val(&conn);
    let run = conn.run(ShutdownSignal::never());
    let size = std::mem::size_of_val(&run);
    assert!(size <= MAX_RUN_FUTURE, "the connection's future is {size} bytes (the connection {connection})");
    assert!(size < 2 * connection, "{size} bytes: more than one copy of the {connection}-byte connection");
}

/// A parked connection (`park`): what lasts of it, inline in its shard's
/// array (216 bytes when written; the whole of a connection in a task,
/// its future, timer, task and reactor registration, was ~1.6 KB of RSS).
const MAX_QUIET: usize = 224;

#[test]
fn a_parked_connection_keeps_only_what_lasts() {
    let size = std::mem::size_of::<super::Quiet>();
    assert!(size <= MAX_QUIET, "a parked connection is {size} bytes");
}
