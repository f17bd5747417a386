#!/usr/bin/env bash
# scripts/peers.sh: wsbench-server beside its crates.io peers and a raw TCP
# echo, under the same pinned load (issue 10). Loopback only, bounded in time.
#
# Peers, all built in release into target/peers/bin:
#   wsbench  wsbench-server --default-mode echo (this workspace)
#   tt       tokio-tungstenite 0.24 examples/echo-server.rs, unchanged
#   fws      fastwebsockets 0.10 examples/echo_server.rs, its hard-coded
#            listen address "127.0.0.1:8080" replaced by a free port
#   raw      scripts/peers/raw_echo.rs: raw TCP echo, no framing (the ceiling)
#   uring    scripts/peers/uring_echo.rs: the raw echo on io_uring, one ring for
#            every connection: does batching the system calls lower the CPU
#            per message? (load runs only: not in the idle or handshake runs)
#   uws      scripts/peers/uws_echo.cpp: an echo server on uWebSockets v20
#            (C++), built with gcc/g++ -O3 -flto, without SSL or zlib, from
#            the uWebSockets and uSockets sources that the crates.io package
#            libuwebsockets-sys 0.0.10 carries (`cargo fetch` brings them).
#            Issue 10's goals are stated against uWS, with tokio-tungstenite
#            as its stand-in: the table judges them against uWS itself too.
#            Skipped, with a warning, where it cannot be fetched or built
#            (no g++); --uws BIN runs another build of it instead.
#            uWS's C load tool (benchmarks/load_test.c, unchanged) is the
#            loadgen's yardstick in the closed loop against it.
# The example sources are copied from the cargo registry (`cargo fetch` brings
# them) into a throwaway project under target/peers; nothing third-party is
# committed. env_logger, which the tokio-tungstenite example calls once at
# start-up, is replaced by a no-op stub crate (logging off either way).
#
# Load: every server pinned to core 1 (taskset -c 1), the load to core 0
# (wsbench-loadgen --threads 1 --mode echo, 32 B text messages). The raw echo
# cannot be loaded by the WebSocket loadgen (its masked frames would come back
# masked, which a client must refuse), so it is loaded by
# scripts/peers/tcp_load.rs: same connections, same messages in flight, same
# 32 B, every byte checked, but no framing, masking, stamps or histograms on
# the client side either. Its figure is a ceiling, not the same client cost.
#
# Pacing: the loadgen alone, open loop at --pace-rate against wsbench-server,
# on each connection count of --pace: its send lag and its core's busy share.
# At the end, peers_table.py sets every goal of issue 10 beside its figure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/target/peers
BIN=$OUT/bin

ROUNDS=3
DURATION=5
WARMUP=1
IDLE_NS="5000 9000"
HS_N=5000
PORT_BASE=19080
PEERS="wsbench tt fws raw uring uws"
PEERS_GIVEN=0
UWS_BIN=
DO_BUILD=1
DO_LOAD=1
DO_IDLE=1
DO_HS=1
DO_PACE=1
PACE_CS="4 10 100"
PACE_RATE=500000
LOADS="closed:100:1 pipelined:16:64 deep:4:1024"

usage() {
    cat <<EOF
Usage: scripts/peers.sh [OPTIONS]

Builds wsbench-server, the tokio-tungstenite 0.24 and fastwebsockets 0.10 echo
examples, an echo on uWebSockets v20 (C++, from the crates.io package
libuwebsockets-sys; needs g++) and a raw TCP echo into target/peers, loads
each the same way (server on core 1, load on core 0, 32 B echo), alternating
peers over rounds (and uWS's C load tool after the loadgen's closed loop
against uWS), and prints one table of medians: msg/s and ratios, server
CPU per message, RSS per idle upgraded connection, handshakes per second.
The loads: closed (-c 100 -p 1), pipelined (-c 16 -p 64) and deep (-c 4
-p 1024, where the loadgen writes 1,024 frames at a time). Then the
loadgen's open-loop pacing, and every goal of issue 10 beside its figure.

Options:
  --rounds N        rounds of alternating runs (default $ROUNDS)
  --duration S      measured seconds per load run (default $DURATION)
  --warmup S        warmup seconds per load run (default $WARMUP)
  --idle "N ..."    idle connection counts for the RSS figure (default "$IDLE_NS")
  --hs N            connections opened for the handshake figure (default $HS_N)
  --peers "P ..."   subset of: wsbench tt fws raw uring uws (default all)
  --uws BIN         the uws peer is BIN, a uWebSockets echo server built
                    elsewhere: started as 'BIN PORT', it answers
                    ws://127.0.0.1:PORT/ (any path) with each message echoed
  --port-base P     first of 6 loopback ports used (default $PORT_BASE)
  --pace "C ..."    connection counts of the open-loop pacing runs (default "$PACE_CS")
  --pace-rate R     their rate, msg/s in all (default $PACE_RATE)
  --no-build        use the binaries already in target/peers/bin
  --no-load         skip the msg/s runs
  --no-idle         skip the idle-memory runs
  --no-hs           skip the handshake runs
  --no-pace         skip the pacing runs
  -h, --help        this text
EOF
}

die() { echo "peers.sh: $*" >&2; exit 2; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) posint "$1" "${2-}"; ROUNDS=$2; shift 2 ;;
        --duration) posint "$1" "${2-}"; DURATION=$2; shift 2 ;;
        --warmup) [[ ${2-} =~ ^[0-9]+$ ]] || die "--warmup needs seconds, got '${2-}'"; WARMUP=$2; shift 2 ;;
        --idle) for n in ${2-}; do posint --idle "$n"; done; [[ -n ${2-} ]] || die "--idle needs counts"; IDLE_NS=$2; shift 2 ;;
        --hs) posint "$1" "${2-}"; HS_N=$2; shift 2 ;;
        --peers) for p in ${2-}; do [[ " wsbench tt fws raw uring uws " == *" $p "* ]] || die "--peers: unknown peer '$p'"; done
                 [[ -n ${2-} ]] || die "--peers needs names"; PEERS=$2; PEERS_GIVEN=1; shift 2 ;;
        --uws) [[ -n ${2-} && -x ${2-} && ! -d ${2-} ]] || die "--uws needs an executable file, got '${2-}'"
               UWS_BIN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --port-base) posint "$1" "${2-}"; PORT_BASE=$2; shift 2 ;;
        --no-build) DO_BUILD=0; shift ;;
        --no-load) DO_LOAD=0; shift ;;
        --no-idle) DO_IDLE=0; shift ;;
        --no-hs) DO_HS=0; shift ;;
        --no-pace) DO_PACE=0; shift ;;
        --pace) for n in ${2-}; do posint --pace "$n"; done; [[ -n ${2-} ]] || die "--pace needs counts"; PACE_CS=$2; shift 2 ;;
        --pace-rate) posint "$1" "${2-}"; PACE_RATE=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (server on core 1, load on core 0)"
for n in $IDLE_NS $HS_N; do
    (( n + 100 < $(ulimit -n) )) || die "--idle/--hs $n needs more open files than ulimit -n $(ulimit -n)"
done

# ---------------------------------------------------------------- build
# build, build_uws
source "$ROOT/scripts/peers/build.sh"

# ---------------------------------------------------------------- peers
port_of() {
    case $1 in wsbench) echo $PORT_BASE ;; tt) echo $((PORT_BASE + 1)) ;;
               fws) echo $((PORT_BASE + 2)) ;; raw) echo $((PORT_BASE + 3)) ;; uring) echo $((PORT_BASE + 4)) ;;
               uws) echo $((PORT_BASE + 5)) ;; esac
}
url_of() { echo "ws://127.0.0.1:$(port_of "$1")/upgradews"; }

PEER_PID=
start_peer() { # name -> PEER_PID, listening
    local p=$1 addr cmd i
    addr=127.0.0.1:$(port_of "$p")
    (exec 3<>"/dev/tcp/127.0.0.1/${addr##*:}") 2>/dev/null && die "port ${addr##*:} is in use (--port-base)"
    case $p in
        wsbench) cmd=("$BIN/wsbench-server" --listen "$addr" --default-mode echo --log warn) ;;
        tt) cmd=("$BIN/tt_echo" "$addr") ;;
        fws) cmd=("$BIN/fws_echo" "$addr") ;;
        raw) cmd=("$BIN/raw_echo" "$addr") ;;
        uring) cmd=("$BIN/uring_echo" "$addr") ;;
        uws) cmd=("${UWS_BIN:-$BIN/uws_echo}" "${addr##*:}") ;;
    esac
    # fws prints a line per connection: to /dev/null, as cheap as it gets.
    taskset -c 1 "${cmd[@]}" >/dev/null 2>"$OUT/$p.stderr" &
    PEER_PID=$!
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/${addr##*:}") 2>/dev/null && return 0
        kill -0 "$PEER_PID" 2>/dev/null || die "$p exited at start: $(tail -n 3 "$OUT/$p.stderr")"
        sleep 0.05
    done
    die "$p did not listen on $addr within 5 s"
}
stop_peer() {
    [[ -n $PEER_PID ]] || return 0
    kill "$PEER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PEER_PID" 2>/dev/null || true
    wait "$PEER_PID" 2>/dev/null || true
    PEER_PID=
}
LOAD_PID=
cleanup() {
    [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null
    stop_peer
}
trap cleanup EXIT INT TERM

# CPU time of every thread of PID in ns (schedstat: ns precision).
source "$ROOT/scripts/peers/proc.sh"
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
fds() { ls /proc/"$1"/fd 2>/dev/null | wc -l; }
now_ns() { date +%s%N; }

RES=$OUT/results.tsv   # kind peer key value: every sample, medians taken at the end
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$RES"; }

# ---------------------------------------------------------------- msg/s
load_once() { # peer loadname c p
    local p=$1 name=$2 c=$3 k=$4 c0 c1 t0 t1 rate json line
    start_peer "$p"
    c0=$(cpu_ns "$PEER_PID"); t0=$(now_ns)
    if [[ $p == raw || $p == uring ]]; then
        line=$(taskset -c 0 timeout $((WARMUP + DURATION + 30)) "$BIN/tcp_load" "127.0.0.1:$(port_of "$p")" \
            "$c" "$k" 32 "$WARMUP" "$DURATION") || die "tcp_load failed against $p"
        rate=$(sed -n 's/^msgs_per_s=\([0-9.]*\) errors=0$/\1/p' <<<"$line")
        [[ -n $rate ]] || die "tcp_load reported: $line"
    else
        json=$OUT/run-$p-$name.json
        rm -f "$json"
        taskset -c 0 timeout $((WARMUP + DURATION + 60)) "$BIN/wsbench-loadgen" run "$(url_of "$p")" \
            --mode echo -s 32 -c "$c" -p "$k" -t 1 -w "$WARMUP" -d "$DURATION" -q --json "$json" \
            >"$OUT/loadgen.out" 2>&1 || true
        [[ -s $json ]] || die "loadgen wrote no result against $p: $(tail -n 3 "$OUT/loadgen.out")"
        [[ $(jq -r .outcome.passed "$json") == true ]] ||
            echo "warning: run against $p ($name) failed its checks: $(jq -c .outcome.reasons "$json")" >&2
        rate=$(jq -r .throughput.received_msgs_per_s "$json")
        # 1 when the loadgen found itself the limit: msg/s is then a lower bound.
        record "$name" "$p" limited "$(jq -r 'if .loadgen.limited then 1 else 0 end' "$json")"
    fi
    c1=$(cpu_ns "$PEER_PID"); t1=$(now_ns)
    stop_peer
    record "$name" "$p" msgs "$rate"
    # Server CPU busy fraction over the whole run (ramp and drain included, so
    # slightly low), over the rate: server CPU ns per message.
    record "$name" "$p" ns_per_msg "$(awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v r="$rate" \
        'BEGIN {printf "%.0f", (c / t) / r * 1e9}')"
    printf '  %-9s %-5s %12.0f msg/s\n' "$name" "$p" "$rate" >&2
}

# ---------------------------------------------------------------- the C load tool
# uWS's C load tool in the loadgen's closed loop against uWS, just after it.
# It prints its rate every 4 s (uSockets' tick): the first is its warmup,
# the mean of the next ceil(DURATION / 4) its figure.
cload_once() {
    local n=$(( (DURATION + 3) / 4 )) out=$OUT/uws_load.out rate
    start_peer uws
    timeout $(( 4 * (n + 1) + 3 )) stdbuf -oL taskset -c 0 "$BIN/uws_load" 100 127.0.0.1 "$(port_of uws)" 0 0 32 \
        >"$out" 2>&1 || true
    stop_peer
    if grep -q -e ERROR -e 'Closed!' "$out"; then
        die "uWS's load tool reported: $(grep -m 1 -o -e 'ERROR[^!]*' -e 'Closed!' "$out")"
    fi
    rate=$(awk -v n="$n" '/^Msg\/sec: / { if (++k > 1 && k <= n + 1) { s += $2; m++ } }
        END { if (m == n) printf "%.0f", s / m }' "$out")
    [[ -n $rate ]] || die "uWS's load tool printed fewer than $((n + 1)) rates: $(tail -n 3 "$out")"
    record closed uws_load msgs "$rate"
    printf '  %-9s %-5s %12.0f msg/s (uWS load_test)\n' closed uws "$rate" >&2
}

# ---------------------------------------------------------------- idle RSS
idle_once() { # peer n
    local p=$1 n=$2 base loaded i lrss= lbase
    start_peer "$p"
    sleep 0.3
    base=$(rss_kb "$PEER_PID")
    if [[ $p == raw ]]; then
        taskset -c 0 "$BIN/tcp_load" "127.0.0.1:$(port_of raw)" "$n" 1 32 0 90 idle >/dev/null &
        LOAD_PID=$!
    else
        start_idle_loadgen "$p" "$n"
    fi
    for i in $(seq 600); do (( $(fds "$PEER_PID") >= n )) && break; sleep 0.1; done
    (( $(fds "$PEER_PID") >= n )) || echo "warning: $p holds only $(fds "$PEER_PID") fds of $n" >&2
    local opened; opened=$(now_ns)
    if [[ $p == wsbench ]]; then
        # The loadgen's own cost per connection: its RSS at n connections
        # less its RSS at 100 (threads, histograms, buffers: what any run
        # has), both taken the same time after its start (its per-second
        # results grow with the run).
        loadgen_settled_rss; lrss=$LRSS
    fi
    # The server settled, every peer alike: wsbench parks a connection
    # after a quiet timer tick (at most 1 s) and trims its heap after the
    # parking burst (at most 2 s later).
    while (( $(now_ns) - opened < 4000000000 )); do sleep 0.1; done
    loaded=$(rss_kb "$PEER_PID")
    if [[ $p == wsbench ]]; then
        stop_load
        start_idle_loadgen "$p" 100
        for i in $(seq 100); do (( $(fds "$LOAD_PID") >= 100 )) && break; sleep 0.1; done
        loadgen_settled_rss; lbase=$LRSS
    fi
    stop_load
    stop_peer
    record "idle$n" "$p" kb_per_conn "$(awk -v a="$base" -v b="$loaded" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')"
    if [[ -n $lrss ]]; then
        record "idle$n" loadgen kb_per_conn "$(awk -v a="$lbase" -v b="$lrss" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / (n - 100)}')"
    fi
    printf '  idle%-5s %-5s %8s KB -> %8s KB\n' "$n" "$p" "$base" "$loaded" >&2
}

# The loadgen holding N upgraded connections to peer P, practically idle (1
# msg/s in all), in the background (LOAD_PID), started at LOAD_T0. Source
# addresses 127.0.0.2..9 keep TIME_WAIT from exhausting ports. A warmup of
# 3 s: the loadgen gives its connect phase's memory back once every
# connection is open, at least 250 ms before its measured window.
LOAD_T0=0
start_idle_loadgen() { # peer n
    LOAD_T0=$(now_ns)
    taskset -c 0 "$BIN/wsbench-loadgen" run "$(url_of "$1")" --mode echo -c "$2" --connect-rate 20000 \
        --local-addr 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9 \
        -r 1 -t 1 -w 3 -d 90 -q >/dev/null 2>&1 &
    LOAD_PID=$!
}

# LRSS: the background loadgen's RSS in kB, 4 s after it started (past its
# warmup, so after the return of its connect phase's memory).
LRSS=
loadgen_settled_rss() {
    while (( $(now_ns) - LOAD_T0 < 4000000000 )); do sleep 0.1; done
    LRSS=$(rss_kb "$LOAD_PID" 2>/dev/null) || true
    [[ -n $LRSS ]] || die "the loadgen holding idle connections exited early"
}

stop_load() {
    [[ -n $LOAD_PID ]] || return 0
    kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; LOAD_PID=
}

# ---------------------------------------------------------------- pacing
pace_once() { # connections
    local c=$1 json
    start_peer wsbench
    json=$OUT/pace-$c.json
    rm -f "$json"
    taskset -c 0 timeout $((WARMUP + DURATION + 60)) "$BIN/wsbench-loadgen" run "$(url_of wsbench)" \
        --mode echo -s 32 -c "$c" -r "$PACE_RATE" -t 1 -w "$WARMUP" -d "$DURATION" -q --json "$json" \
        >"$OUT/loadgen.out" 2>&1 || true
    stop_peer
    [[ -s $json ]] || die "loadgen wrote no result (pacing, -c $c): $(tail -n 3 "$OUT/loadgen.out")"
    record "pace$c" loadgen sent "$(jq -r .throughput.sent_msgs_per_s "$json")"
    record "pace$c" loadgen lag_p50 "$(jq -r '.histograms.send_lag.percentiles["50"]' "$json")"
    record "pace$c" loadgen lag_p99 "$(jq -r '.histograms.send_lag.percentiles["99"]' "$json")"
    record "pace$c" loadgen busy "$(jq -r '.loadgen.worker_cpu_busy | max * 100' "$json")"
    printf '  pace      -c %-4s send lag p99 %s µs, worker %s %% busy\n' "$c" \
        "$(jq -r '.histograms.send_lag.percentiles["99"]' "$json")" \
        "$(jq -r '.loadgen.worker_cpu_busy | max * 100 | floor' "$json")" >&2
}

# ---------------------------------------------------------------- handshakes
hs_once() { # peer
    local p=$1 json c0 c1 t0 t1 base i opened
    start_peer "$p"
    json=$OUT/hs-$p.json
    rm -f "$json"
    base=$(fds "$PEER_PID")
    c0=$(cpu_ns "$PEER_PID"); t0=$(now_ns)
    taskset -c 0 timeout 60 "$BIN/wsbench-loadgen" run "$(url_of "$p")" --mode echo -c "$HS_N" \
        --connect-rate 1000000 --connect-timeout 10s \
        --local-addr 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9 \
        -r 1 -t 1 -w 0 -d 3 -q --json "$json" >"$OUT/loadgen.out" 2>&1 &
    LOAD_PID=$!
    # The loadgen's ramp_s is nominal (connections / --connect-rate), so the
    # connect phase is timed here: until the server holds all connections,
    # polled every 10 ms (the poll runs on the loadgen's core 0).
    for i in $(seq 1000); do (( $(fds "$PEER_PID") >= base + HS_N )) && break; sleep 0.01; done
    c1=$(cpu_ns "$PEER_PID"); t1=$(now_ns)
    wait "$LOAD_PID" || true; LOAD_PID=
    stop_peer
    [[ -s $json ]] || die "loadgen wrote no result against $p: $(tail -n 3 "$OUT/loadgen.out")"
    opened=$(jq -r .counters.connections_opened "$json")
    (( opened == HS_N )) || echo "warning: only $opened of $HS_N connections to $p opened" >&2
    # Wall rate: bounded by the single loadgen core as much as by the server.
    record hs "$p" per_s "$(awk -v o="$opened" -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", o / (t / 1e9)}')"
    # Server CPU over the connect phase: handshakes per fully busy server core-second.
    record hs "$p" per_core_s "$(awk -v o="$opened" -v c=$((c1 - c0)) 'BEGIN {printf "%.0f", o / (c / 1e9)}')"
    printf '  hs        %-5s %6s opened in %.3f s, server CPU %.3f s\n' "$p" "$opened" \
        "$(awk -v t=$((t1 - t0)) 'BEGIN {print t / 1e9}')" "$(awk -v c=$((c1 - c0)) 'BEGIN {print c / 1e9}')" >&2
}

# ---------------------------------------------------------------- main
[[ $DO_BUILD == 1 ]] && build
for b in wsbench-server wsbench-loadgen tt_echo fws_echo raw_echo uring_echo tcp_load; do
    [[ -x $BIN/$b ]] || die "$BIN/$b missing: run without --no-build"
done
# Named on the command line, uws is what the run is for; by default the
# other peers still tell their part without it.
if [[ " $PEERS " == *" uws "* && -z $UWS_BIN && ! -x $BIN/uws_echo ]]; then
    why="$BIN/uws_echo missing (its build failed, or --no-build before any build)"
    [[ $PEERS_GIVEN == 1 ]] && die "$why: give --uws BIN, or drop uws from --peers"
    echo "warning: uws skipped: $why" >&2
    PEERS=${PEERS/uws/}
fi
: > "$RES"
echo "peers.sh: rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s peers='$PEERS' $(date -u +%FT%TZ)" >&2
for r in $(seq "$ROUNDS"); do
    echo "round $r/$ROUNDS" >&2
    if [[ $DO_LOAD == 1 ]]; then
        for l in $LOADS; do
            IFS=: read -r name c k <<<"$l"
            for p in $PEERS; do
                load_once "$p" "$name" "$c" "$k"
                if [[ $name == closed && $p == uws && -x $BIN/uws_load ]]; then cload_once; fi
            done
        done
    fi
    if [[ $DO_HS == 1 ]]; then
        for p in $PEERS; do [[ $p == raw || $p == uring ]] || hs_once "$p"; done
    fi
    if [[ $DO_PACE == 1 ]]; then
        for c in $PACE_CS; do pace_once "$c"; done
    fi
done
if [[ $DO_IDLE == 1 ]]; then # memory moves little between runs: one round
    for n in $IDLE_NS; do for p in $PEERS; do [[ $p == uring ]] || idle_once "$p" "$n"; done; done
fi

python3 "$ROOT/scripts/peers_table.py" "$RES" "$ROUNDS" "$PEERS" "$PACE_RATE"
