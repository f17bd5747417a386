//! Parked connections: idle plain (ws://) connections off the runtime.
//!
//! Why: a tokio task and a reactor registration per connection cost ~1 KiB
//! of RSS before the connection holds anything (the raw tokio echo of
//! `scripts/peers.sh`, measured), and an idle connection's future with its
//! timer another ~760 bytes. A connection that has been quiet for a timer
//! tick (at most `ACTIVE_CHECK`, 500 ms) with nothing buffered, nothing
//! being written and no message begun gives up all three: what lasts of
//! it (`Quiet`) goes inline into the array of one of a few shards (one per
//! runtime thread), its socket moves from tokio's reactor to the shard's
//! own epoll, and its next deadline (the ping at half the idle timeout,
//! the close at all of it) joins the shard's heap, under the shard's one
//! timer.
//!
//! What wakes a parked connection: bytes or a hang-up on its socket, its
//! deadline, or the server's shutdown. Each gives it a task again
//! ([`resume`]), where the connection's own loop handles what happened: the
//! loop is the one piece of code that reads, pings and closes. Parking
//! costs four `epoll_ctl`s, a spawn and two registry locks per quiet
//! spell: a connection busy in the last tick never parks, one that sends
//! less often than about once a second pays it for every message.
//!
//! Limits: TLS connections, mode `broadcast` (its topic delivers to the
//! task) and connections holding a half-sent reply are never parked.

mod shard;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::watch;
use tracing::warn;

use self::shard::Shard;
use crate::connection::{Connection, PlainIo, Quiet, ShutdownSignal};
use crate::metrics::Metrics;

/// The server's parked connections, in shards.
pub(crate) struct Parking {
    shards: Box<[Arc<Shard>]>,
    /// Round robin over the shards.
    next: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl Parking {
    /// `shards` shards (one per runtime thread), each with its own epoll;
    /// they watch nothing until [`start`](Self::start).
    pub(crate) fn new(shards: usize, metrics: Arc<Metrics>) -> std::io::Result<Arc<Parking>> {
        let shards = (0..shards.max(1)).map(|_| Shard::new().map(Arc::new)).collect::<std::io::Result<_>>()?;
        Ok(Arc::new(Parking { shards, next: AtomicUsize::new(0), metrics }))
    }

    /// Spawns each shard's watcher on the current runtime. When `closing`
    /// turns true (or its sender is dropped) every parked connection is
    /// resumed, to see the shutdown, and nothing parks any more.
    pub(crate) fn start(self: &Arc<Self>, closing: watch::Receiver<bool>) {
        for shard in self.shards.iter() {
            match shard.watcher(self.clone(), closing.clone()) {
                Ok(watcher) => {
                    tokio::spawn(watcher);
                }
                Err(e) => {
                    // A closed shard resumes at once whatever would park in
                    // it: its connections then stay in their tasks.
                    warn!(error = %e, "a parking shard cannot watch its sockets: parking off");
                    drop(shard.close());
                }
            }
        }
    }

    /// Parks `quiet`, or, if it cannot be parked now (shutdown begun, or
    /// its socket cannot be watched), gives it a task again.
    pub(crate) fn park(self: &Arc<Self>, quiet: Quiet) {
        let shard = &self.shards[self.next.fetch_add(1, Relaxed) % self.shards.len()];
        shard.park(quiet, self);
    }
}

/// Runs `quiet` in a task of its own, its socket back on the reactor. A
/// socket that cannot go back ends the connection as a read error would.
pub(crate) fn resume(quiet: Quiet, parking: Arc<Parking>) {
    if let Some((conn, shutdown)) = quiet.resume() {
        spawn(conn, shutdown, parking);
    }
}

/// Runs `conn` in a task of its own until it ends or parks in `parking`.
/// The task holds a pointer to the future (tokio's smallest cell, 128
/// bytes), which holds the connection.
pub(crate) fn spawn(conn: Connection<PlainIo>, shutdown: ShutdownSignal, parking: Arc<Parking>) {
    tokio::spawn(Box::pin(run(conn, shutdown, parking)));
}

/// Not an `async fn`: one taking the connection by value keeps two copies
/// of it in its future (rust-lang/rust#62958); the `async move` block uses
/// the captured one in place.
#[allow(clippy::manual_async_fn)]
fn run(
    mut conn: Connection<PlainIo>,
    mut shutdown: ShutdownSignal,
    parking: Arc<Parking>,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        if conn.serve_until_quiet(&mut shutdown).await.is_none() {
            // A parked connection holds no signal: its shard resumes it at
            // shutdown, and it takes a new one then.
            drop(shutdown);
            if let Some(quiet) = conn.into_quiet() {
                parking.park(quiet);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::config::Config;
    use crate::connection::ConnectionLimits;
    use crate::mode::{ConnectionParams, ReplyMode};

    /// An echo connection's two ends: the server's, and a raw client.
    async fn pair(metrics: &Arc<Metrics>) -> (Connection<PlainIo>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let params = ConnectionParams::from_query(None, ReplyMode::Echo).unwrap();
        let limits = ConnectionLimits::from_config(&Config::default());
        (Connection::new(PlainIo::Live(server), peer, &[], params, limits, metrics.clone()), client)
    }

    /// A masked text frame of `payload` (under 126 bytes), mask 0.
    fn text(payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        frame
    }

    #[tokio::test]
    async fn what_parks_in_a_closed_shard_gets_a_task_again_at_once() {
        let metrics = Arc::new(Metrics::default());
        let parking = Parking::new(1, metrics.clone()).unwrap();
        drop(parking.shards[0].close());
        let (conn, mut client) = pair(&metrics).await;
        let quiet = conn.into_quiet().expect("its socket leaves the reactor");
        parking.park(quiet);
        assert_eq!(metrics.snapshot().connections_parked, 0);
        client.write_all(&text(b"still here")).await.unwrap();
        let mut reply = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut reply)).await.unwrap().unwrap();
        assert_eq!(&reply, b"\x81\x0astill here", "answered by the task it was given");
    }

    /// The task of a parkable connection holds this future (boxed): it was
    /// 800 bytes in a release build when written (the connection 456).
    #[tokio::test]
    async fn a_parkable_connection_future_holds_one_copy_of_the_connection() {
        let metrics = Arc::new(Metrics::default());
        let parking = Parking::new(1, metrics.clone()).unwrap();
        let (conn, _client) = pair(&metrics).await;
        let connection = std::mem::size_of_val(&conn);
        let size = std::mem::size_of_val(&run(conn, ShutdownSignal::never(), parking));
        assert!(size <= 832, "the parkable connection's future is {size} bytes (the connection {connection})");
        assert!(size < 2 * connection, "{size} bytes: more than one copy of the {connection}-byte connection");
    }
}
