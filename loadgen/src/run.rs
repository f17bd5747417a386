//! One `run`, start to end: limits, the embedded server if no URL, a probe
//! connection, the worker threads, the collector (live view, interval log,
//! Ctrl-C), and the result with its verdict.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use wsbench_server::ReplyMode;

use crate::client::RunPlan;
use crate::config::{LoadModel, RunConfig};
use crate::connect::{self, ConnectFailure, RequestTemplate, Rng};
use crate::error::Error;
use crate::frame::{write_client_frame, OpCode};
use crate::live::{Live, LiveFrame};
use crate::output::{
    HostInfo, IntervalLog, LoadgenHealth, Outcome, RunResult, TargetInfo, Throughput, Timing, SCHEMA, SCHEMA_VERSION,
};
use crate::stats::{Counters, Histograms, LiveCounters, Series};
use crate::target::{tls_config, Target};
use crate::worker::{self, Report, WorkerResult};

/// A worker thread busier than this may have held the load back.
pub const BUSY_CPU: f64 = 0.95;

/// What a run produced: the result, and the interval log if asked for.
pub struct RunOutput {
    pub result: RunResult,
    pub hlog: Option<IntervalLog>,
    pub start_time: SystemTime,
}

/// Runs the load described by `config`, and measures it. Errors are for
/// runs that could not start; a run that started returns its result, with
/// the verdict in `result.outcome`.
pub fn run(config: RunConfig) -> Result<RunOutput, Error> {
    let limit =
        crate::limits::raise_nofile().map_err(|e| Error::failed(format!("cannot read the open-file limit: {e}")))?;
    let embedded = config.url.is_none();
    crate::limits::check_capacity(u64::from(config.connections), embedded, &config.local_addrs, limit)?;
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
            let threads = config.server_threads.unwrap_or(1);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("wsbench-server")
                .enable_all()
                .build()
                .map_err(|e| Error::failed(format!("cannot start the server runtime: {e}")))?;
            let server_config = wsbench_server::Config {
                listen: "127.0.0.1:0".parse().expect("valid address"),
                max_connections: (config.connections as usize + 16).max(100_000),
                shutdown_timeout: Duration::from_secs(1),
                ..Default::default()
            };
            let path = server_config.path.clone();
            let handle = rt
                .block_on(wsbench_server::spawn(server_config))
                .map_err(|e| Error::failed(format!("cannot start the embedded server: {e}")))?;
            let url = format!("ws://{}{path}", handle.local_addr());
            server = Some((rt, handle));
            url
        }
    };
    let target = Target::parse(&url, mode, config.chunk)?;
    let tls = if target.secure {
        Some(tokio_rustls::TlsConnector::from(tls_config(config.insecure, config.ca.as_deref())?))
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
        connect_timeout_ns: connect::nanos(config.connect_timeout),
        drain_timeout_ns: connect::nanos(config.drain_timeout),
        epoch,
        measure_start_ns: connect::nanos(measure_start),
        measure_end_ns: connect::nanos(measure_end),
    });

    // Connection i opens at i / connect-rate, on worker i % threads.
    let threads = config.threads.clamp(1, config.connections as usize);
    let mut shares: Vec<Vec<(u32, u64)>> = vec![Vec::new(); threads];
    for i in 0..config.connections {
        let at = connect::nanos(Duration::from_secs_f64(f64::from(i) / config.connect_rate));
        shares[i as usize % threads].push((i, at));
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

    let live = Live::new(config.quiet, measure_end + config.drain_timeout.min(Duration::from_secs(1)));
    let mut hlog = config.hlog.as_ref().map(|_| IntervalLog::default());
    let collected = control.block_on(collect(&plan, threads, rx, stop_tx, &live, hlog.as_mut()));
    live.finish();
    for j in joins {
        let _ = j.join();
    }
    if let Some((rt, handle)) = server {
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(3), handle.shutdown()).await;
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    }
    let collected = collected?;
    let result = evaluate(&config, &target, embedded, start_time, epoch, collected);
    Ok(RunOutput { result, hlog, start_time })
}

/// The first address of the family of the source addresses.
fn choose_address(addrs: &[SocketAddr], local: &[std::net::IpAddr]) -> Option<SocketAddr> {
    match local.first() {
        None => addrs.first().copied(),
        Some(l) => addrs.iter().find(|a| a.is_ipv4() == l.is_ipv4()).copied(),
    }
}

/// One connection before the run, so that an unreachable target is one
/// clear line, not a run of failures.
async fn probe(
    target: &Target,
    addr: SocketAddr,
    local: Option<std::net::IpAddr>,
    tls: Option<&tokio_rustls::TlsConnector>,
    request: &RequestTemplate,
    timeout: Duration,
) -> Result<(), Error> {
    let unreachable = |f: ConnectFailure| Error::Unreachable { url: target.url.clone(), reason: f.to_string() };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rng = Rng::new(0x5EED);
    let mut rbuf = Vec::new();
    let tcp = connect::before(deadline, connect::tcp_connect(addr, local)).await.map_err(unreachable)?;
    match tls {
        None => probe_upgrade(tcp, deadline, request, &mut rng, &mut rbuf).await.map_err(unreachable),
        Some(tls) => {
            let name = target.server_name()?;
            let s = connect::before(deadline, async {
                tls.connect(name, tcp).await.map_err(|e| ConnectFailure::Tls(e.to_string()))
            })
            .await
            .map_err(unreachable)?;
            probe_upgrade(s, deadline, request, &mut rng, &mut rbuf).await.map_err(unreachable)
        }
    }
}

async fn probe_upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    deadline: tokio::time::Instant,
    request: &RequestTemplate,
    rng: &mut Rng,
    rbuf: &mut Vec<u8>,
) -> Result<(), ConnectFailure> {
    connect::before(deadline, connect::upgrade(&mut s, request, rng, rbuf)).await?;
    let mut close = Vec::new();
    write_client_frame(&mut close, true, OpCode::Close, &1000u16.to_be_bytes(), [1, 2, 3, 4]);
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let _ = s.write_all(&close).await;
        let _ = s.flush().await;
        let _ = s.shutdown().await;
    })
    .await;
    Ok(())
}

/// What the collector gathered.
struct Collected {
    /// Worker threads started; a thread that ended without its result
    /// (a panic) leaves `results` short.
    workers: usize,
    results: Vec<WorkerResult>,
    interrupted_ns: Option<u64>,
    last_end_ns: u64,
}

#[derive(Default)]
struct Pending {
    reported: usize,
    histograms: Histograms,
    live: LiveCounters,
    open: u64,
    end_ns: u64,
}

/// Receives the workers' reports until all are done: merges each second,
/// updates the live view and the interval log, and turns Ctrl-C into a stop.
async fn collect(
    plan: &RunPlan,
    workers: usize,
    mut rx: mpsc::UnboundedReceiver<Report>,
    stop: watch::Sender<bool>,
    live: &Live,
    mut hlog: Option<&mut IntervalLog>,
) -> Result<Collected, Error> {
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut last_index: Vec<Option<u64>> = vec![None; workers];
    let mut done = vec![false; workers];
    let mut results = Vec::new();
    let mut errors_total = 0u64;
    let mut interrupted_ns = None;
    let mut last_end_ns = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            report = rx.recv() => match report {
                None => break,
                Some(Report::Interval(iv)) => {
                    let p = pending.entry(iv.index).or_default();
                    p.reported += 1;
                    p.histograms.add(&iv.histograms);
                    p.live.sent += iv.live.sent;
                    p.live.received += iv.live.received;
                    p.live.errors += iv.live.errors;
                    p.open += iv.open;
                    p.end_ns = p.end_ns.max(iv.end_ns);
                    last_index[iv.worker] = Some(last_index[iv.worker].map_or(iv.index, |i| i.max(iv.index)));
                }
                Some(Report::Done(result)) => {
                    done[result.worker] = true;
                    last_end_ns = last_end_ns.max(plan.now_ns());
                    results.push(*result);
                }
            },
            r = &mut ctrl_c, if interrupted_ns.is_none() => {
                if r.is_ok() {
                    interrupted_ns = Some(plan.now_ns());
                    let _ = stop.send(true);
                    live.println("wsbench-loadgen: interrupted; draining replies in flight, then reporting (Ctrl-C again to quit at once)");
                    // A second Ctrl-C: the default action.
                    tokio::spawn(async {
                        if tokio::signal::ctrl_c().await.is_ok() {
                            std::process::exit(130);
                        }
                    });
                }
            }
        }
        // Emit every second that all workers have reported.
        while let Some((&index, _)) = pending.first_key_value() {
            let complete = (0..workers).all(|w| done[w] || last_index[w].is_some_and(|i| i >= index));
            if !complete {
                break;
            }
            let p = pending.remove(&index).expect("present");
            errors_total += p.live.errors;
            let start_ns = index * 1_000_000_000;
            let length_ns = p.end_ns.saturating_sub(start_ns).clamp(1, 1_000_000_000);
            if let Some(log) = hlog.as_deref_mut() {
                log.add(Duration::from_nanos(start_ns), Duration::from_nanos(length_ns), &p.histograms)?;
            }
            let rtt = p.histograms.get(Series::RttCorrected);
            let secs = length_ns as f64 / 1e9;
            let phase = if p.end_ns <= plan.measure_start_ns {
                "warmup"
            } else if start_ns < plan.measure_end_ns {
                "measure"
            } else {
                "drain"
            };
            live.update(
                Duration::from_nanos(p.end_ns),
                &LiveFrame {
                    phase,
                    open: p.open,
                    target: plan.connections,
                    sent_per_s: p.live.sent as f64 / secs,
                    received_per_s: p.live.received as f64 / secs,
                    errors_total,
                    p50_us: (!rtt.is_empty()).then(|| rtt.value_at_quantile(0.5)),
                    p99_us: (!rtt.is_empty()).then(|| rtt.value_at_quantile(0.99)),
                },
            );
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    Ok(Collected { workers, results, interrupted_ns, last_end_ns })
}

/// Merges the workers' results and judges the run.
fn evaluate(
    config: &RunConfig,
    target: &Target,
    embedded: bool,
    start_time: SystemTime,
    epoch: Instant,
    collected: Collected,
) -> RunResult {
    let mut histograms = Histograms::default();
    let mut counters = Counters::default();
    let mut samples = Vec::new();
    let mut busy = Vec::new();
    let mut results = collected.results;
    results.sort_by_key(|r| r.worker);
    for r in &results {
        histograms.add(&r.histograms);
        counters.add(&r.counters);
        samples.extend(r.samples.iter().cloned());
        busy.push(if r.wall.is_zero() { 0.0 } else { r.cpu.as_secs_f64() / r.wall.as_secs_f64() });
    }
    let measure_start_ns = connect::nanos(config.ramp() + config.warmup);
    let measure_end_ns = measure_start_ns + connect::nanos(config.duration);
    let window_end_ns = measure_end_ns
        .min(collected.interrupted_ns.unwrap_or(u64::MAX))
        .min(collected.last_end_ns.max(measure_start_ns));
    let measured_s = window_end_ns.saturating_sub(measure_start_ns) as f64 / 1e9;
    let per_s = |v: u64| if measured_s > 0.0 { v as f64 / measured_s } else { 0.0 };
    let target_rate = match config.load {
        LoadModel::Open { rate, .. } => Some(rate),
        LoadModel::Closed { .. } => None,
    };
    let throughput = Throughput {
        sent_msgs_per_s: per_s(counters.messages_sent),
        received_msgs_per_s: per_s(counters.messages_received),
        sent_bytes_per_s: per_s(counters.bytes_sent),
        received_bytes_per_s: per_s(counters.bytes_received),
        target_msgs_per_s: target_rate,
    };

    // Was the loadgen the limit?
    let mut findings = Vec::new();
    if let LoadModel::Open { rate, max_in_flight } = config.load {
        let achieved = throughput.sent_msgs_per_s;
        if measured_s > 0.0 && achieved < rate * 0.99 {
            let short = 100.0 * (1.0 - achieved / rate);
            let why = match max_in_flight {
                Some(k) => format!(
                    " (with --pipeline {k} capping messages in flight, a slow server also holds sends back: see RTT)"
                ),
                None => String::new(),
            };
            findings.push(format!(
                "the loadgen sent {achieved:.0} msg/s of the {rate:.0} asked for, {short:.1}% short: the loadgen, not the server, was the limit{why}"
            ));
        }
        let lag = histograms.get(Series::SendLag);
        let bound = config.max_send_lag.as_micros() as u64;
        if !lag.is_empty() && lag.value_at_quantile(0.99) > bound {
            let p99 = lag.value_at_quantile(0.99);
            findings.push(format!(
                "send lag p99 is {} (bound {}): the loadgen could not send on schedule; the corrected RTTs include up to that much of its own delay",
                crate::live::micros(p99),
                crate::live::micros(bound)
            ));
        }
    }
    for (w, b) in busy.iter().enumerate() {
        if *b >= BUSY_CPU {
            findings.push(format!(
                "worker thread {w} was {:.0}% busy on its core: the loadgen may have been the limit; figures are a lower bound of what the server can do",
                b * 100.0
            ));
        }
    }
    let limited = !findings.is_empty();

    // The verdict.
    let errors = counters.errors();
    let error_rate = counters.error_rate();
    let mut reasons = Vec::new();
    let mut stopped_early = collected.interrupted_ns.map(|_| "interrupted".to_string());
    if stopped_early.is_none() && collected.last_end_ns < measure_end_ns && counters.connection_errors.total() > 0 {
        stopped_early = Some(format!(
            "connections lost after {:.1} s of {:.1} s (server gone?)",
            window_end_ns.saturating_sub(measure_start_ns) as f64 / 1e9,
            config.duration.as_secs_f64()
        ));
    }
    if error_rate > config.max_error_rate {
        reasons.push(format!(
            "error rate {:.4}% ({errors} errors) is above --max-error-rate {}%",
            error_rate * 100.0,
            config.max_error_rate * 100.0
        ));
    }
    if counters.messages_received == 0 {
        reasons.push("no reply was received in the measured window".to_string());
    }
    if let Some(why) = &stopped_early {
        reasons.push(format!("the run stopped early: {why}"));
    }
    if results.len() < collected.workers {
        reasons.push(format!(
            "{} of {} worker threads ended without their results (a panic): their connections' numbers are missing",
            collected.workers - results.len(),
            collected.workers
        ));
    }
    let elapsed_s = collected.last_end_ns.max(epoch.elapsed().as_nanos() as u64) as f64 / 1e9;
    let unix = start_time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    RunResult {
        schema: SCHEMA.to_string(),
        schema_version: SCHEMA_VERSION,
        scenario: config.scenario.clone(),
        loadgen_version: crate::VERSION.to_string(),
        started_at: humantime::format_rfc3339_millis(start_time).to_string(),
        started_at_unix: unix.as_secs_f64(),
        target: TargetInfo { url: target.url.clone(), embedded, mode: target.mode.to_string() },
        host: HostInfo::current(),
        config: config.clone(),
        timing: Timing {
            ramp_s: config.ramp().as_secs_f64(),
            warmup_s: config.warmup.as_secs_f64(),
            measured_s,
            elapsed_s,
            window_start_unix: Some(unix.as_secs_f64() + measure_start_ns as f64 / 1e9),
            window_end_unix: Some(unix.as_secs_f64() + window_end_ns.max(measure_start_ns) as f64 / 1e9),
        },
        counters,
        throughput,
        loadgen: LoadgenHealth { limited, findings, worker_cpu_busy: busy },
        outcome: Outcome { passed: reasons.is_empty(), stopped_early, errors, error_rate, reasons },
        samples,
        histograms: RunResult::histograms_from(&histograms),
        merged_from: None,
    }
}

/// `run`, then the summary on stdout, the files, and the exit status:
/// 0 passed, 1 failed, 130 interrupted.
pub fn execute(config: RunConfig) -> Result<u8, Error> {
    let json = config.json.clone();
    let hlog_path = config.hlog.clone();
    let mut out = run(config)?;
    print!("{}", crate::report::summary(&out.result));
    if let Some(path) = &json {
        crate::output::write_json(&out.result, path)?;
    }
    if let (Some(path), Some(log)) = (&hlog_path, out.hlog.as_mut()) {
        log.write(path, out.start_time, &out.result.target.url)?;
    }
    let o = &out.result.outcome;
    if o.passed {
        return Ok(0);
    }
    eprintln!("wsbench-loadgen: run failed: {}", o.reasons.join("; "));
    Ok(if o.stopped_early.as_deref() == Some("interrupted") { 130 } else { 1 })
}
