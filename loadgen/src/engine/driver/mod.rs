//! One run, start to end: limits, the embedded server if no URL, a probe
//! connection ([`probe`]), the worker threads, the collector ([`collect`]:
//! progress, the interval log written as the run goes, Ctrl-C, a silent
//! server), and the result with its verdict ([`verdict`], from
//! [`causes`]).
//!
//! How progress is shown is the caller's ([`Progress`]): the engine says
//! what happens each second, `commands::run` draws it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use super::api::ApiPlan;
use super::broadcast::BroadcastPlan;
use super::connect::{limits, nanos, tls, RequestTemplate, Target};
use super::plan::RunPlan;
use super::protocol::ReplyMode;
use super::worker;
use crate::error::Error;
use crate::results::broadcast::{BroadcastResult, BroadcastStats};
use crate::results::hlog::IntervalLog;
use crate::results::outcome::Status;
use crate::results::schema::RunResult;
use crate::results::setup::RunConfig;

mod causes;
mod churn;
mod collect;
#[cfg(feature = "embedded")]
mod embedded;
mod probe;
mod trim;
mod verdict;

use collect::collect;
pub use collect::{LiveFrame, Progress};
#[cfg(feature = "embedded")]
use embedded::EmbeddedServer;
#[cfg(not(feature = "embedded"))]
use no_embedded::EmbeddedServer;
use probe::probe;
use verdict::evaluate;

pub use causes::{BUSY_CPU, PUSHBACK_SHARE};

/// What a run produced. The interval log (`--hlog`) is not in it: it was
/// written to its file as the run went.
pub struct RunOutput {
    /// The result, verdict included.
    pub result: RunResult,
    /// When the run started (the hlog's start time).
    pub start_time: SystemTime,
}

/// Runs the load described by `config`, and measures it. Errors are for
/// runs that could not start; a run that started returns its result, with
/// the verdict in `result.outcome`.
pub fn run(config: RunConfig, progress: &mut dyn Progress) -> Result<RunOutput, Error> {
    let limit = limits::raise_nofile().map_err(|e| Error::failed(format!("cannot read the open-file limit: {e}")))?;
    let embedded = config.url.is_none();
    if embedded && !cfg!(feature = "embedded") {
        return Err(Error::usage(
            "no URL given, and this loadgen was built without the embedded server (cargo feature `embedded`): give a ws:// or wss:// URL",
        ));
    }
    limits::check_capacity(u64::from(config.connections), embedded, &config.local_addrs, limit)?;
    let mode = config.mode.as_deref().map(str::parse::<ReplyMode>).transpose().map_err(Error::usage)?;
    if let Some(url) = &config.url {
        Target::parse(url, mode, config.chunk)?;
    }
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the runtime: {e}")))?;

    // The embedded server, on runtime threads of its own.
    let mut server = None;
    let url = match &config.url {
        Some(url) => url.clone(),
        None => {
            let (embedded, url) = EmbeddedServer::start(&config)?;
            server = Some(embedded);
            url
        }
    };
    let target = Target::parse(&url, mode, config.chunk)?;
    let tls = if target.secure {
        Some(tokio_rustls::TlsConnector::from(tls::tls_config(config.insecure, config.ca.as_deref())?))
    } else {
        None
    };
    let addrs = control.block_on(target.resolve(config.connect_timeout))?;
    let addr = choose_address(&addrs, &config.local_addrs).ok_or_else(|| {
        Error::usage(format!(
            "--local-addr: no address of {} is of the same family as the source addresses",
            target.host
        ))
    })?;
    let request = RequestTemplate::new(&target, &config);
    control.block_on(probe(
        &target,
        addr,
        config.local_addrs.first().copied(),
        tls.as_ref(),
        &request,
        config.connect_timeout,
    ))?;

    let ramp = config.ramp();
    let measure_start = ramp + config.warmup;
    let measure_end = measure_start + config.duration;
    let start_time = SystemTime::now();
    let epoch = Instant::now();
    // Created before the first connection, so that a file that cannot be
    // written stops the run before it loads anything.
    let mut hlog = match &config.hlog {
        Some(path) => Some(
            IntervalLog::create(path, start_time, &target.url, &config.scenario)
                .map_err(|e| Error::failed(format!("--hlog: {e}")))?,
        ),
        None => None,
    };
    let api = config.api.as_ref().map(ApiPlan::compile).transpose().map_err(Error::usage)?;
    let broadcast = BroadcastPlan::of(&target, config.topic_size, config.connections)?;
    let plan = Arc::new(RunPlan {
        target: target.clone(),
        addr,
        local_addrs: config.local_addrs.clone(),
        tls,
        request,
        connections: config.connections,
        size: config.size,
        message_type: config.message_type,
        load: config.load,
        connect_timeout_ns: nanos(config.connect_timeout),
        drain_timeout_ns: nanos(config.drain_timeout),
        epoch,
        measure_start_ns: nanos(measure_start),
        measure_end_ns: nanos(measure_end),
        wrong_mode: Default::default(),
        open_now: Default::default(),
        random_payload: config.random_payload,
        api,
        churn: config.churn.as_ref().map(|c| super::churn::ChurnPlan::new(c, config.connect_rate)),
        broadcast,
    });

    // Connection i opens at i / connect-rate, on worker i % threads (a
    // broadcast run: its topic's worker, no more workers than topics).
    let units = plan.broadcast.as_ref().map_or(config.connections, BroadcastPlan::topics);
    let threads = config.threads.clamp(1, units as usize);
    let mut shares: Vec<Vec<(u32, u64)>> = vec![Vec::new(); threads];
    for i in 0..config.connections {
        let at = nanos(Duration::from_secs_f64(f64::from(i) / config.connect_rate));
        let worker = plan.broadcast.as_ref().map_or(i as usize % threads, |b| b.worker_of(i, threads));
        shares[worker].push((i, at));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut joins = Vec::new();
    for (w, share) in shares.into_iter().enumerate() {
        let join = worker::spawn(w, plan.clone(), share, tx.clone(), stop_rx.clone())
            .map_err(|e| Error::failed(format!("cannot start a worker thread: {e}")))?;
        joins.push(join);
    }
    drop(tx);

    progress.start(measure_end + config.drain_timeout.min(Duration::from_secs(1)));
    let reply_timeout_ns = nanos(config.reply_timeout);
    let collected = control.block_on(collect(&plan, threads, rx, stop_tx, &*progress, hlog.as_mut(), reply_timeout_ns));
    drop(hlog);
    progress.finish();
    for j in joins {
        let _ = j.join();
    }
    if let Some(server) = server {
        server.stop();
    }
    let collected = collected?;
    let churn = churn::total(&collected.results);
    let mut deliveries = BroadcastStats::default();
    collected.results.iter().for_each(|r| deliveries.add(&r.broadcast));
    let mut result = evaluate(&config, &target, embedded, start_time, epoch, collected, &churn.tally);
    churn::judge(&mut result, &plan, &churn);
    if let Some(b) = &plan.broadcast {
        let measured_s = result.timing.measured_s;
        result.broadcast = Some(BroadcastResult::of(&deliveries, b.topic_size, b.topics(), measured_s));
    }
    if let Some(wrong_mode) = plan.wrong_mode.get() {
        // The replies were not what this mode sends: nothing measured holds.
        result.outcome.passed = false;
        result.outcome.status = Some(Status::Fail);
        result.outcome.stopped_early.get_or_insert_with(|| "wrong mode".to_string());
        result.outcome.reasons.insert(0, wrong_mode.clone());
    }
    Ok(RunOutput { result, start_time })
}

/// The first address of the family of the source addresses.
fn choose_address(addrs: &[SocketAddr], local: &[std::net::IpAddr]) -> Option<SocketAddr> {
    match local.first() {
        None => addrs.first().copied(),
        Some(l) => addrs.iter().find(|a| a.is_ipv4() == l.is_ipv4()).copied(),
    }
}

/// Without the `embedded` feature there is no server to start: `run`
/// refuses a missing URL before it gets here.
#[cfg(not(feature = "embedded"))]
mod no_embedded {
    use crate::error::Error;
    use crate::results::setup::RunConfig;

    /// Never built: stands in for the embedded server's handle.
    pub enum EmbeddedServer {}

    impl EmbeddedServer {
        pub fn start(_: &RunConfig) -> Result<(EmbeddedServer, String), Error> {
            Err(Error::usage("this loadgen was built without the embedded server: give a URL"))
        }

        pub fn stop(self) {
            match self {}
        }
    }
}
