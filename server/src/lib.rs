//! wsbench-server: the WebSocket server that wsbench loads and measures.
//!
//! It upgrades `GET /upgradews` with [hyper] and [fastwebsockets] and runs a
//! strict RFC 6455 read/reply loop per connection ([`connection`]) on the
//! sans-IO protocol core [`wsbench_proto`], answering each message in the
//! connection's [reply mode](ReplyMode).
//!
//! Embed it with [`spawn`]:
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let config = wsbench_server::Config { listen: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
//! let server = wsbench_server::spawn(config).await?;
//! println!("ws://{}/upgradews", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The modules public besides the embedding API ([`Config`], [`spawn`],
//! [`Server`], [`ServerHandle`], [`metrics`]) are the parts of the frame
//! path that the benchmarks compose: [`connection`], [`outbox`], [`reply`]
//! and [`mode`].

#![warn(missing_docs, unreachable_pub)]

pub mod broadcast;
pub mod config;
pub mod connection;
mod deflate_handshake;
mod handshake;
mod json_pieces;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod mode;
pub mod outbox;
mod park;
mod registry;
pub mod reply;
mod server;
mod stream_writer;
pub mod tls;
mod trim;
mod upgraded;

pub use config::Config;
pub use mode::{ConnectionParams, ReplyMode};
pub use server::{spawn, Server, ServerHandle, ENDPOINTS};
pub use tls::Tls;
