//! The wsbench server in this process, for `run` without a URL: on runtime
//! threads of its own, on 127.0.0.1 at a free port. The only code of the
//! loadgen that needs `wsbench_server` beyond the protocol types
//! (`engine::protocol`), behind the `embedded` cargo feature.

use std::time::Duration;

use crate::error::Error;
use crate::results::setup::RunConfig;

/// The embedded server and the runtime it runs on.
pub struct EmbeddedServer {
    runtime: tokio::runtime::Runtime,
    handle: wsbench_server::ServerHandle,
}

impl EmbeddedServer {
    /// Starts the server sized for `config`; returns it and the URL to load.
    pub fn start(config: &RunConfig) -> Result<(EmbeddedServer, String), Error> {
        let threads = config.server_threads.unwrap_or(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("wsbench-server")
            .enable_all()
            .build()
            .map_err(|e| Error::failed(format!("cannot start the server runtime: {e}")))?;
        let server_config = wsbench_server::Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            max_connections: (config.connections as usize + 16).max(100_000),
            shutdown_timeout: Duration::from_secs(1),
            // --deflate: the server's --deflate, with its defaults.
            deflate: config.deflate.as_ref().map(|_| wsbench_proto::deflate::ServerPolicy { context_takeover: false }),
            ..Default::default()
        };
        let path = server_config.path.clone();
        let handle = runtime
            .block_on(wsbench_server::spawn(server_config))
            .map_err(|e| Error::failed(format!("cannot start the embedded server: {e}")))?;
        let url = format!("ws://{}{path}", handle.local_addr());
        Ok((EmbeddedServer { runtime, handle }, url))
    }

    /// Shuts the server down (its connections are closed by then), waiting
    /// a few seconds at most.
    pub fn stop(self) {
        let EmbeddedServer { runtime, handle } = self;
        runtime.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(3), handle.shutdown()).await;
        });
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
