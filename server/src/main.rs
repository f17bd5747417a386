//! The wsbench-server binary: parses the command line, sets up logging and
//! the runtime, and serves until SIGINT or SIGTERM.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use std::time::Duration;
use tracing::{info, warn};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;
use wsbench_server::logging::{EscapingFields, SummaryLayer};
use wsbench_server::Server;

use crate::cli::ServerArgs;

/// Log lines queued for the writer thread before more are dropped.
const LOG_QUEUE_LINES: usize = 8_192;

fn main() -> ExitCode {
    // Before the flags: the default --max-connections is what fits in the
    // raised limit.
    let files = wsbench_server::limits::raise_nofile();
    let args = ServerArgs::parse();
    let filter = match EnvFilter::try_new(&args.log) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("wsbench-server: bad --log filter {:?}: {e}", args.log);
            return ExitCode::from(2);
        }
    };
    // Lines go to stderr from a thread of their own: a slow stderr drops
    // lines instead of stalling the threads that log. Its queue holds
    // LOG_QUEUE_LINES lines: the default (128,000) is a 4 MiB array,
    // resident from the start, for bursts the summary layer already folds.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(std::io::stderr());
    let (summary, summaries) = SummaryLayer::new();
    tracing_subscriber::registry()
        .with(filter)
        .with(summary)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(std::io::stderr().is_terminal())
                .fmt_fields(EscapingFields),
        )
        .init();

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.into());
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wsbench-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("wsbench-server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(files) = files {
        if config.max_connections as u64 > files.connections() {
            warn!(
                "--max-connections {} is more than the open-file limit allows ({} files, {} kept for accepting and /healthz): \
                 upgrades past {} will fail to be accepted instead of getting 503",
                config.max_connections,
                files.soft,
                wsbench_server::limits::RESERVED_DESCRIPTORS,
                files.connections()
            );
        }
    }
    runtime.block_on(async {
        let server = match Server::bind(config.clone()).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("wsbench-server: cannot listen on {}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        info!(
            "listening on {}://{}{} (default mode {}, max message {} bytes)",
            if config.tls.is_some() { "wss" } else { "ws" },
            server.local_addr(),
            config.path,
            config.default_mode,
            config.max_message_size
        );
        let interval = Duration::from_secs_f64(args.log_interval);
        let summarizing = {
            let summaries = summaries.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                loop {
                    ticks.tick().await;
                    summaries.flush();
                }
            })
        };
        server.serve(shutdown_signal()).await;
        summarizing.abort();
        summaries.flush();
        info!("stopped");
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
