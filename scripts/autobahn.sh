#!/usr/bin/env bash
# Autobahn|Testsuite conformance run for wsbench-server (cases 1.* to 10.*;
# the permessage-deflate groups 12.* and 13.* are excluded: 301 cases).
#
# Usage:  scripts/autobahn.sh            (from anywhere inside the repo)
#         scripts/autobahn.sh --deflate  (cases 12.* and 13.* only, 216,
#                                         against a server run with --deflate;
#                                         AUTOBAHN_DEFLATE_FLAGS adds flags,
#                                         e.g. --deflate-context-takeover)
#
# Steps: installs autobahntestsuite 0.8.2 on Python 2.7 (pyenv 2.7.18) into
# $AUTOBAHN_VENV once; builds wsbench-server (release) unless
# WSBENCH_SERVER_BIN names a binary; starts it in echo mode on 127.0.0.1:PORT;
# runs `wstest -m fuzzingclient` against ws://127.0.0.1:PORT/upgradews; then
# scripts/autobahn_summary.py prints a per-group summary of
# target/autobahn/reports/index.json. Exit code is the summary's: 0 only if
# all 301 cases pass strictly (behavior and behaviorClose OK/INFORMATIONAL).
#
# Environment:
#   AUTOBAHN_PORT       server port (default 9001)
#   AUTOBAHN_VENV       install dir for the Python 2.7 packages
#                       (default target/autobahn/venv)
#   AUTOBAHN_TIMEOUT    seconds allowed for the fuzzingclient (default 600;
#                       2400 with --deflate)
#   WSBENCH_SERVER_BIN  server binary to use instead of building one
#   AUTOBAHN_NO_SERVER  if 1, do not start a server (one already listens)
set -euo pipefail

DEFLATE=0
case "${1:-}" in
  "") ;;
  --deflate) DEFLATE=1 ;;
  *) echo "autobahn.sh: unknown argument $1 (the only one is --deflate)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${AUTOBAHN_PORT:-9001}"
VENV="${AUTOBAHN_VENV:-$ROOT/target/autobahn/venv}"
TIMEOUT="${AUTOBAHN_TIMEOUT:-600}"
WORK="$ROOT/target/autobahn"
REPORTS="$WORK/reports"
SERVER_FLAGS=(--default-mode echo)
CASES='["*"]'; EXCLUDE='["12.*", "13.*"]'; EXPECT=301
if [[ "$DEFLATE" == 1 ]]; then
  # shellcheck disable=SC2206 # flags are words
  SERVER_FLAGS+=(--deflate ${AUTOBAHN_DEFLATE_FLAGS:-})
  CASES='["12.*", "13.*"]'; EXCLUDE='[]'; EXPECT=216
  REPORTS="$WORK/reports-deflate"
  TIMEOUT="${AUTOBAHN_TIMEOUT:-2400}"   # about 20 minutes of cases here
fi
SPEC="$WORK/fuzzingclient.json"
PY2=(env PYENV_VERSION=2.7.18 python2.7)

log() { echo "autobahn.sh: $*" >&2; }

# --- 1. Install the pinned suite (once) --------------------------------------
PINNED=(
  attrs==21.4.0 autobahn==0.10.9 autobahntestsuite==0.8.2 Automat==22.10.0
  cffi==1.15.1 constantly==15.1.0 cryptography==3.3.2 enum34==1.1.10
  hyperlink==21.0.0 idna==2.10 incremental==22.10.0 ipaddress==1.0.23
  Jinja2==2.11.3 klein==20.6.0 linecache2==1.0.0 MarkupSafe==1.1.1
  pyasn1==0.5.1 pyasn1-modules==0.3.0 pycparser==2.21 PyHamcrest==1.10.1
  pyOpenSSL==21.0.0 service-identity==21.1.0 six==1.17.0 traceback2==1.4.0
  Tubes==0.2.1 Twisted==20.3.0 txaio==2.1.0 typing==3.10.0.0 ujson==2.0.3
  unittest2==1.1.0 Werkzeug==1.0.1 wsaccel==0.6.6 zope.interface==5.5.2
  setuptools==44.1.1
)
MARKER="$VENV/.wsbench-installed"
if [[ ! -f "$MARKER" ]] || [[ "$(cat "$MARKER")" != "${PINNED[*]}" ]]; then
  log "installing autobahntestsuite 0.8.2 into $VENV"
  rm -rf "$VENV"
  mkdir -p "$VENV"
  "${PY2[@]}" -m pip install --quiet --no-warn-script-location \
    --target "$VENV" "${PINNED[@]}"
  echo "${PINNED[*]}" >"$MARKER"
fi

# --- 2. Build / locate the server ---------------------------------------------
if [[ "${AUTOBAHN_NO_SERVER:-0}" != 1 ]]; then
  if [[ -n "${WSBENCH_SERVER_BIN:-}" ]]; then
    SERVER_BIN="$WSBENCH_SERVER_BIN"
  else
    log "building wsbench-server (release)"
    cargo build --release -p wsbench-server
    SERVER_BIN="$(cargo metadata --format-version 1 --no-deps \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/wsbench-server"
  fi
  [[ -x "$SERVER_BIN" ]] || { log "server binary not found: $SERVER_BIN"; exit 2; }
fi

# --- 3. Start the server, stop it on exit --------------------------------------
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for ((j = 0; j < 50; j++)); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

healthy() {
  if command -v curl >/dev/null; then
    [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" == 200 ]]
  else
    # Plain bash fallback: one HTTP/1.0 request over /dev/tcp, in a subshell.
    ( exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
      printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
      read -r -t 2 _ status _ <&3 || exit 1
      [[ "$status" == 200 ]] ) 2>/dev/null
  fi
}

mkdir -p "$WORK"
if [[ "${AUTOBAHN_NO_SERVER:-0}" != 1 ]]; then
  if healthy; then log "something already answers on port $PORT; stop it or set AUTOBAHN_PORT"; exit 2; fi
  log "starting $SERVER_BIN on 127.0.0.1:$PORT"
  "$SERVER_BIN" --listen "127.0.0.1:$PORT" "${SERVER_FLAGS[@]}" \
    >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for ((i = 0; i < 300; i++)); do          # 300 x 0.1 s = 30 s at most
    healthy && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server exited early; log follows"; cat "$WORK/server.log" >&2; exit 2
    fi
    sleep 0.1
  done
  healthy || { log "server not healthy on :$PORT after 30 s; log follows"
               cat "$WORK/server.log" >&2; exit 2; }
fi

# --- 4. Run the fuzzingclient ---------------------------------------------------
rm -rf "$REPORTS"
cat >"$SPEC" <<EOF
{
  "outdir": "$REPORTS",
  "servers": [{"agent": "wsbench", "url": "ws://127.0.0.1:$PORT/upgradews"}],
  "cases": $CASES,
  "exclude-cases": $EXCLUDE,
  "exclude-agent-cases": {}
}
EOF
log "running fuzzingclient (timeout ${TIMEOUT}s); output in $WORK/wstest.log"
(cd "$WORK" && timeout "$TIMEOUT" "${PY2[@]}" -c '
import site, sys
site.addsitedir(sys.argv[1])
sys.argv = ["wstest", "-m", "fuzzingclient", "-s", sys.argv[2]]
from autobahntestsuite.wstest import run
run()
' "$VENV" "$SPEC") >"$WORK/wstest.log" 2>&1 || {
  rc=$?; log "fuzzingclient failed (exit $rc); last lines:"
  tail -n 30 "$WORK/wstest.log" >&2; exit "$rc"; }

# --- 5. Summarize ----------------------------------------------------------------
# (not exec: the EXIT trap must still stop the server)
rc=0
python3 "$ROOT/scripts/autobahn_summary.py" "$REPORTS/index.json" "$EXPECT" || rc=$?
exit "$rc"
