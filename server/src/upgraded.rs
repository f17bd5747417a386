//! What runs an upgraded connection: its future, built from the stream
//! hyper hands over, with what the upgrade gave it (registration, topic,
//! deflate), as small as it can be in the task it lives in.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::broadcast::Membership;
use crate::connection::PlainIo;
use crate::connection::{Connection, ConnectionLimits, Ending, ShutdownSignal};
use crate::metrics::Metrics;
use crate::mode::ConnectionParams;
use crate::park::Parking;
use crate::registry::Registration;

/// Spawns the connection's task, its future boxed, built from the upgraded
/// stream. A plain function, not an `async fn`: the task then holds a
/// pointer, not a generator that keeps a slot for every `Connection` moved
/// out of its arms (rust-lang/rust#62958), which made each idle
/// connection's task 1,904 bytes instead of a few dozen. Each arm is boxed
/// apart from the others, so a plain connection is not as large as a TLS
/// one. Plain connections park when idle, given a `parking`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn_upgraded(
    upgraded: hyper::upgrade::Upgraded,
    peer: SocketAddr,
    params: ConnectionParams,
    extras: Extras,
    limits: Arc<ConnectionLimits>,
    metrics: Arc<Metrics>,
    shutdown: ShutdownSignal,
    parking: Option<Arc<Parking>>,
) {
    // The plain TcpStream, without hyper's boxed IO in the way of every read.
    // `read_buf` is a view of hyper's whole read buffer (8 KiB or more): it
    // is copied into the connection and dropped here, or every idle
    // connection would keep that buffer alive.
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(hyper::upgrade::Parts { io, read_buf, .. }) => {
            let io = PlainIo::Live(io.into_inner());
            let conn = extras.apply(Connection::new(io, peer, &read_buf, params, limits, metrics));
            match parking {
                Some(parking) => crate::park::spawn(conn, shutdown, parking),
                None => drop(tokio::spawn(OutputDropped(Box::pin(conn.run(shutdown))))),
            }
        }
        Err(upgraded) => match upgraded.downcast::<TokioIo<TlsStream<TcpStream>>>() {
            Ok(hyper::upgrade::Parts { io, read_buf, .. }) => {
                let conn = extras.apply(Connection::new(io.into_inner(), peer, &read_buf, params, limits, metrics));
                tokio::spawn(OutputDropped(Box::pin(conn.run(shutdown))));
            }
            Err(upgraded) => {
                let conn = extras.apply(Connection::new(TokioIo::new(upgraded), peer, &[], params, limits, metrics));
                tokio::spawn(OutputDropped(Box::pin(conn.run(shutdown))));
            }
        },
    }
}

/// A boxed connection's future, its output dropped (the connection has
/// logged and counted how it ended). Why: tokio's task cell holds the
/// future's output too, and with the `Ending` in it the cell is 256 bytes;
/// with `()`, 128 (measured with `-Zprint-type-sizes`).
pub(crate) struct OutputDropped(pub(crate) Pin<Box<dyn Future<Output = Ending> + Send>>);

impl Future for OutputDropped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx).map(drop)
    }
}

/// What a connection has besides its mode: its registration, its topic's
/// membership (mode `broadcast`) and its permessage-deflate agreement
/// (`--deflate`).
pub(crate) struct Extras {
    pub(crate) registration: Registration,
    pub(crate) membership: Option<Membership>,
    pub(crate) deflate: Option<wsbench_proto::deflate::Agreement>,
}

impl Extras {
    /// `conn` with them.
    fn apply<S: AsyncRead + AsyncWrite + Unpin>(self, conn: Connection<S>) -> Connection<S> {
        let conn = conn.with_deflate(self.deflate).with_registration(self.registration);
        match self.membership {
            Some(membership) => conn.with_membership(membership),
            None => conn,
        }
    }
}
