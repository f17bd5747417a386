//! The listener: accepts TCP connections, serves HTTP on them, upgrades the
//! WebSocket path, and shuts down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

use crate::broadcast::{topic_from_query, Topics};
use crate::config::Config;
use crate::connection::{ConnectionLimits, ShutdownSignal};
use crate::handshake::{check_upgrade, text_response, Refusal};
use crate::metrics::Metrics;
use crate::mode::ReplyMode;
use crate::park::Parking;
use crate::registry::Registry;
use crate::tls::TLS_HANDSHAKE_TIMEOUT;
use crate::upgraded::{spawn_upgraded, Extras};

/// Pending connections the kernel may queue (it caps this at somaxconn).
const LISTEN_BACKLOG: u32 = 8192;

/// The first pause after a failed accept; it doubles while accepts keep
/// failing, up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause after a failed accept: short enough that /healthz
/// waits at most this long once a descriptor is free again.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    /// Every connection's limits, from `config`, shared.
    limits: Arc<ConnectionLimits>,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
    /// Mode `broadcast`'s topics.
    topics: Arc<Topics>,
    /// Idle plain connections without a task (`--no-park`: none).
    parking: Option<Arc<Parking>>,
    /// Tells HTTP connections not yet upgraded to finish up.
    http_shutdown: watch::Receiver<bool>,
    http_shutdown_tx: watch::Sender<bool>,
}

impl Server {
    /// Binds the listening socket; port 0 picks a free port.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = listen(config.listen)?;
        let (http_shutdown_tx, http_shutdown) = watch::channel(false);
        let metrics = Arc::new(Metrics::default());
        let topics = Arc::new(Topics::new(metrics.clone(), config.max_backpressure, config.max_memory));
        // A shard per runtime thread, so that parking spreads like the tasks.
        let threads = tokio::runtime::Handle::current().metrics().num_workers();
        let parking = if config.park_idle { Some(Parking::new(threads, metrics.clone())?) } else { None };
        let shared = Arc::new(Shared {
            parking,
            limits: Arc::new(ConnectionLimits::from_config(&config)),
            config,
            metrics,
            registry: Arc::new(Registry::default()),
            topics,
            http_shutdown,
            http_shutdown_tx,
        });
        Ok(Server { listener, shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Its counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting, tells every
    /// WebSocket connection 1001 Going Away and waits for them to close, at
    /// most the configured shutdown timeout.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Server { listener, shared } = self;
        let trimmer = tokio::spawn(crate::trim::after_bursts(shared.metrics.clone()));
        if let Some(parking) = &shared.parking {
            parking.start(shared.http_shutdown.clone());
        }
        tokio::pin!(shutdown);
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    // Latency is what is measured here: never wait to fill a segment.
                    let _ = stream.set_nodelay(true);
                    match &shared.config.tls {
                        None => tokio::spawn(serve_http(stream, peer, shared.clone())),
                        Some(tls) => tokio::spawn(serve_tls(stream, peer, tls.acceptor().clone(), shared.clone())),
                    };
                }
                Err(e) => {
                    // Out of descriptors, most likely (EMFILE): back off, longer
                    // each time it fails again, instead of spinning; the
                    // connections wait in the backlog. The log summarizes a
                    // burst of these (see `logging`).
                    error!(error = %e, retry_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
        drop(listener);
        let open = shared.registry.shutdown_all();
        let _ = shared.http_shutdown_tx.send(true);
        info!(open, "shutting down: closing connections with 1001");
        let timeout = shared.config.shutdown_timeout;
        if tokio::time::timeout(timeout, shared.registry.wait_idle()).await.is_err() {
            warn!(left = shared.registry.open(), "shutdown timeout passed with connections still open");
        }
        trimmer.abort();
    }

    /// Serves on the current runtime in a task of its own.
    pub fn spawn(self) -> ServerHandle {
        let addr = self.local_addr();
        let metrics = self.metrics();
        let (trigger, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(async move {
            let _ = stop.await;
        }));
        ServerHandle { addr, metrics, trigger: Some(trigger), task }
    }
}

/// A listening socket with a backlog sized for load tests: thousands of
/// clients connecting at once must queue, not see their SYNs dropped
/// (std's and tokio's `bind` use 128 and 1024).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // A restarted server can take its port back while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Binds and serves in the background: how the loadgen and the tests embed
/// the server.
pub async fn spawn(config: Config) -> io::Result<ServerHandle> {
    Ok(Server::bind(config).await?.spawn())
}

/// A server running in a background task.
pub struct ServerHandle {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    trigger: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Shuts down gracefully and waits until the server has stopped.
    pub async fn shutdown(mut self) {
        if let Some(trigger) = self.trigger.take() {
            let _ = trigger.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.trigger.is_some() {
            self.task.abort();
        }
    }
}

/// Completes the TLS handshake, within [`TLS_HANDSHAKE_TIMEOUT`], then
/// serves HTTP on the encrypted stream.
async fn serve_tls(stream: TcpStream, peer: SocketAddr, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve_http(tls, peer, shared).await,
        Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => debug!(%peer, "TLS handshake timed out"),
    }
}

async fn serve_http<I>(stream: I, peer: SocketAddr, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut http_shutdown = shared.http_shutdown.clone();
    let service = {
        let shared = shared.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(route(req, peer, &shared)) }
        })
    };
    // A client that never finishes its request head must not hold a
    // connection (and a descriptor) forever.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = async { let _ = http_shutdown.wait_for(|stop| *stop).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// The server's own endpoints, beside the WebSocket path (which may not be
/// one of them).
pub const ENDPOINTS: [&str; 2] = ["/healthz", "/metrics"];

fn route(mut req: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == shared.config.path {
        return match upgrade(&mut req, peer, shared) {
            Ok(response) => response,
            Err(refusal) => {
                shared.metrics.upgrade_refused();
                debug!(%peer, status = %refusal.status(), reason = %refusal.message(), "upgrade refused");
                refusal.into_response()
            }
        };
    }
    // HEAD as GET: hyper sends the head alone.
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    match (read, path) {
        (true, "/healthz") => text_response(StatusCode::OK, "ok"),
        (true, "/metrics") => {
            let mut r = text_response(StatusCode::OK, shared.metrics.snapshot().to_prometheus());
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        (false, p) if ENDPOINTS.contains(&p) => {
            let mut r = text_response(StatusCode::METHOD_NOT_ALLOWED, format!("{p} takes GET or HEAD"));
            r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
            r
        }
        _ => text_response(
            StatusCode::NOT_FOUND,
            format!("no such endpoint; WebSocket upgrades go to {}", shared.config.path),
        ),
    }
}

fn upgrade(req: &mut Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Result<Response<Full<Bytes>>, Refusal> {
    let params = check_upgrade(req, &shared.config)?;
    let topic = match params.mode {
        ReplyMode::Broadcast => Some(topic_from_query(req.uri().query()).map_err(Refusal::BadParam)?),
        _ => None,
    };
    // The slot is taken before the 101 and given back when the registration
    // drops, whether the upgrade completes or not.
    let Some((registration, shutdown)) = shared.registry.register(shared.config.max_connections) else {
        return Err(Refusal::Overloaded);
    };
    // A broadcast frame is encoded once and the same bytes go to every
    // member: its connections do not compress (the offer is declined).
    let deflate = shared
        .config
        .deflate
        .filter(|_| params.mode != ReplyMode::Broadcast)
        .and_then(|policy| crate::deflate_handshake::negotiate(req.headers(), policy));
    let (mut response, upgrade) = fastwebsockets::upgrade::upgrade(&mut *req).map_err(|_| Refusal::BadKey)?;
    let deflate = deflate.map(|(header, agreement)| {
        response.headers_mut().insert(hyper::header::SEC_WEBSOCKET_EXTENSIONS, header);
        agreement
    });
    let metrics = shared.metrics.clone();
    let limits = shared.limits.clone();
    let parking = shared.parking.clone();
    // Joined before the 101: a client with its 101 gets every message
    // published from then on.
    let extras = Extras { registration, membership: topic.map(|topic| shared.topics.join(topic)), deflate };
    tokio::spawn(async move {
        metrics.connection_opened();
        match upgrade.await {
            Ok(ws) => {
                let io = ws.into_inner().into_inner();
                // A task of its own for the connection's life: this task's
                // future holds the upgrade's state (hyper's `OnUpgrade`, the
                // parameters), 640 bytes that an idle connection would
                // otherwise keep. The connection's task holds a pointer to
                // its future (tokio's smallest cell), which holds the
                // registration and counts the close.
                let shutdown = ShutdownSignal::new(shutdown);
                spawn_upgraded(io, peer, params, extras, limits, metrics, shutdown, parking);
            }
            Err(e) => {
                warn!(%peer, error = %e, "upgrade failed");
                metrics.connection_closed();
            }
        }
    });
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, Full::new(Bytes::new())))
}
