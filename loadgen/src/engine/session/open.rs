//! Opening a session's connection: TCP connect, TLS, the upgrade and the
//! init exchange of `--message`, each within the connect timeout. Its
//! future is inline in the connection's task, overlapping the session's
//! bytes there; TLS and the init exchange, large, are boxed apart.

use std::time::{Duration, Instant};

use super::{message_kind, Life, Stream, INITIAL_READ_BUFFER};
use crate::engine::api;
use crate::engine::connect::deflate::Agreed;
use crate::engine::connect::{self, ConnectFailure};
use crate::engine::plan::WorkerCtx;
use crate::results::stats::Series;

/// A connection opened and upgraded, and what its opening took.
pub(super) struct Opened {
    pub stream: Stream,
    pub agreed: Option<Agreed>,
    /// What was read past the upgrade's response.
    pub rbuf: Vec<u8>,
    pub started_ns: u64,
    pub tcp_time: Duration,
    pub handshake_time: Duration,
}

impl Opened {
    /// Records the connection's opening (its connect and handshake times,
    /// an open connection more) and hands over what the session needs.
    pub fn record(self, ctx: &WorkerCtx, life: &mut Life) -> (Stream, Option<Agreed>, Vec<u8>) {
        {
            let mut st = ctx.stats.borrow_mut();
            st.interval.record_ns(Series::Connect, connect::nanos(self.tcp_time));
            st.interval.record_ns(Series::Handshake, connect::nanos(self.handshake_time));
            st.open += 1;
        }
        ctx.plan.open_now.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        life.opened(ctx, self.started_ns, self.tcp_time, self.handshake_time);
        (self.stream, self.agreed, self.rbuf)
    }
}

/// Connects slot `id`'s next connection, upgrades it, and runs the init
/// exchange of `--message`, within the connect timeout.
pub(super) async fn connect_and_upgrade(ctx: &WorkerCtx, id: u32, life: &mut Life) -> Result<Opened, ConnectFailure> {
    let plan = &*ctx.plan;
    let rng = &mut life.rng;
    // No buffer until the response is there: while the server answers, a
    // connection being opened holds as little as it can (at 20,000
    // connections a second, thousands may be waiting at once).
    let mut rbuf = Vec::new();
    let started_ns = plan.now_ns();
    let deadline = plan.instant(started_ns + plan.connect_timeout_ns);
    // Round robin over the source addresses; each new connection of the slot takes the next.
    let local = (!plan.local_addrs.is_empty())
        .then(|| plan.local_addrs[(id as usize).wrapping_add(life.number) % plan.local_addrs.len()]);
    let request = crate::engine::broadcast::request_for(&plan.broadcast, &plan.request, id);
    let t0 = Instant::now();
    let mut tcp = connect::before(deadline, connect::tcp_connect(plan.addr, local)).await?;
    let t1 = Instant::now();
    let (mut stream, (picked, agreed)) = match &plan.tls {
        None => {
            let picked = connect::before(deadline, async {
                let key = connect::upgrade::send_request(&mut tcp, &request, rng).await?;
                tcp.readable().await.map_err(ConnectFailure::from_io)?;
                rbuf.reserve(INITIAL_READ_BUFFER);
                connect::upgrade::read_response(&mut tcp, &request, &key, &mut rbuf).await
            })
            .await?;
            (Stream::Plain(tcp), picked)
        }
        Some(tls) => {
            // Boxed apart: the TLS handshake's state (rustls' connection)
            // would otherwise size the future of every plain connection.
            let (s, picked) = Box::pin(tls_upgrade(plan, tls, tcp, &request, rng, &mut rbuf, deadline)).await?;
            (Stream::Tls(s), picked)
        }
    };
    let t2 = Instant::now();
    if plan.request.offers_subprotocols() {
        let mut st = ctx.stats.borrow_mut();
        *st.counters.subprotocols.entry(picked.unwrap_or_default()).or_default() += 1;
    }
    if let Some(api) = &plan.api {
        // Boxed apart too, for the same reason.
        let opcode = message_kind(plan.message_type).opcode();
        Box::pin(async {
            match &mut stream {
                Stream::Plain(s) => api::init::exchange(s, api, id, opcode, rng, &mut rbuf, deadline).await,
                Stream::Tls(s) => api::init::exchange(&mut **s, api, id, opcode, rng, &mut rbuf, deadline).await,
            }
        })
        .await?;
    }
    Ok(Opened { stream, agreed, rbuf, started_ns, tcp_time: t1 - t0, handshake_time: t2 - t1 })
}

/// TLS over `tcp`, then the upgrade.
async fn tls_upgrade(
    plan: &crate::engine::plan::RunPlan,
    tls: &tokio_rustls::TlsConnector,
    tcp: tokio::net::TcpStream,
    request: &connect::RequestTemplate,
    rng: &mut crate::engine::connect::Rng,
    rbuf: &mut Vec<u8>,
    deadline: tokio::time::Instant,
) -> Result<
    (Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>, (Option<String>, Option<Agreed>)),
    ConnectFailure,
> {
    let name = plan.target.server_name()?;
    let mut s = connect::before(deadline, async { tls.connect(name, tcp).await.map_err(ConnectFailure::Tls) }).await?;
    rbuf.reserve(INITIAL_READ_BUFFER);
    let picked = connect::before(deadline, connect::upgrade(&mut s, request, rng, rbuf)).await?;
    Ok((Box::new(s), picked))
}
