//! wsbench-server: the WebSocket server that wsbench loads and measures.
//!
//! It upgrades `GET /upgradews` with [hyper] and [fastwebsockets] and runs a
//! strict RFC 6455 read/reply loop per connection ([`connection`]), answering
//! each message in the connection's [reply mode](mode::ReplyMode).
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

pub mod config;
pub mod connection;
pub mod frame;
pub mod handshake;
pub mod metrics;
pub mod mode;
pub mod outbox;
pub mod reply;
pub mod server;
pub mod stream_writer;
pub mod utf8;

pub use config::{Config, ServerArgs};
pub use mode::{ConnectionParams, ReplyMode};
pub use server::{spawn, Server, ServerHandle};
