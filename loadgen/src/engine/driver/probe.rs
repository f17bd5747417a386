//! One connection before the run, so that an unreachable target is one
//! clear line, not a run of failures. A server that answers "busy" (429,
//! 503) is reachable: the run goes on and counts its refusals.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::engine::connect::deflate::Agreed;
use crate::engine::connect::{before, tcp_connect, upgrade, ConnectFailure, RequestTemplate, Rng, Target};
use crate::error::Error;
use wsbench_proto::{write_frame, OpCode};

/// Opens, upgrades and closes one connection within `timeout`.
pub(super) async fn probe(
    target: &Target,
    addr: SocketAddr,
    local: Option<std::net::IpAddr>,
    tls: Option<&tokio_rustls::TlsConnector>,
    request: &RequestTemplate,
    timeout: Duration,
) -> Result<(), Error> {
    let unreachable = |f: ConnectFailure| Error::Unreachable { url: target.url.clone(), reason: Box::new(f) };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rng = Rng::new(0x5EED);
    let mut rbuf = Vec::new();
    let tcp = before(deadline, tcp_connect(addr, local)).await.map_err(unreachable)?;
    let upgraded = match tls {
        None => probe_upgrade(tcp, deadline, request, &mut rng, &mut rbuf).await,
        Some(tls) => {
            let name = target
                .server_name()
                .map_err(|_| Error::usage(format!("{:?} is not a valid TLS server name", target.host)))?;
            let s = before(deadline, async { tls.connect(name, tcp).await.map_err(ConnectFailure::Tls) })
                .await
                .map_err(unreachable)?;
            probe_upgrade(s, deadline, request, &mut rng, &mut rbuf).await
        }
    };
    match upgraded {
        Ok(None) if request.offers_deflate() => Err(Error::usage(format!(
            "--deflate: the server at {} declined permessage-deflate (its 101 carries no Sec-WebSocket-Extensions)",
            target.url
        ))),
        Ok(_) => Ok(()),
        // Busy, not unreachable: the server is up and answers HTTP. The
        // run goes on; its connections' refusals are counted and judged
        // (--max-connect-errors), as a measurement of the server.
        Err(ConnectFailure::HttpStatus(code, _)) if BUSY_STATUSES.contains(&code) => Ok(()),
        // A subprotocol not offered: the server is there; its connections'
        // failures are counted and judged like any handshake's.
        Err(ConnectFailure::Subprotocol(_)) => Ok(()),
        Err(other) => Err(unreachable(other)),
    }
}

/// Statuses that say "not now" rather than "not here": 429 Too Many
/// Requests, 503 Service Unavailable.
const BUSY_STATUSES: [u16; 2] = [429, 503];

async fn probe_upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    deadline: tokio::time::Instant,
    request: &RequestTemplate,
    rng: &mut Rng,
    rbuf: &mut Vec<u8>,
) -> Result<Option<Agreed>, ConnectFailure> {
    let (_, agreed) = before(deadline, upgrade(&mut s, request, rng, rbuf)).await?;
    let mut close = Vec::new();
    write_frame(&mut close, true, OpCode::Close, &1000u16.to_be_bytes(), Some([1, 2, 3, 4]));
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let _ = s.write_all(&close).await;
        let _ = s.flush().await;
        let _ = s.shutdown().await;
    })
    .await;
    Ok(agreed)
}
