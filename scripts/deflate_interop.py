#!/usr/bin/env python3
"""permessage-deflate against an independent implementation: Python's
`websockets` library (its own negotiation, its own zlib streams), both ways.

Usage: scripts/deflate_interop.py SERVER_BIN LOADGEN_BIN

1. websockets' client against `SERVER_BIN --deflate`, with and without
   `--deflate-context-takeover`: the extension is agreed, and text and
   binary messages, small and large, compressible and random, come back
   as each reply mode says.
2. `LOADGEN_BIN run --deflate` against a websockets echo server that
   compresses (its default): the run passes, every reply checked, and its
   result says deflate was agreed and shrank the wire bytes.

Needs `pip install websockets` (15.x; .ci/run installs it in a venv).
Loopback only; every step is bounded in time. Exits non-zero with one line
naming the first check that failed.
"""
import json, os, random, socket, subprocess, sys, tempfile, threading, time

from websockets.sync.client import connect
from websockets.sync.server import serve

SEED = "接收到消息：{}，我做出回复"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def wait_listening(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"deflate_interop: nothing listens on 127.0.0.1:{port}")

def check(ok, what):
    if not ok:
        sys.exit(f"deflate_interop: FAILED: {what}")

def client_against_server(server_bin, flags):
    port = free_port()
    server = subprocess.Popen([server_bin, "--listen", f"127.0.0.1:{port}", "--log", "error", "--deflate"] + flags)
    try:
        wait_listening(port)
        rng = random.Random(7)
        messages = ["hello", "x" * 100_000, "abc" * 5000, bytes(rng.randrange(256) for _ in range(50_000)),
                    b"\x00" * 70_000, "é" * 3000]
        for mode in ["echo", "reply"]:
            with connect(f"ws://127.0.0.1:{port}/upgradews?mode={mode}", open_timeout=5, close_timeout=5,
                         max_size=1 << 22) as ws:
                names = [type(e).__name__ for e in ws.protocol.extensions]
                check(names == ["PerMessageDeflate"], f"{flags}: mode {mode}: extensions agreed {names}")
                for m in messages:
                    ws.send(m)
                    got = ws.recv(timeout=5)
                    if mode == "echo":
                        check(got == m, f"{flags}: echo of a {len(m)}-byte {type(m).__name__} differs")
                    else:
                        # The seed's reply, same type: a binary one carries the bytes as they came.
                        head, tail = SEED.split("{}")
                        want = SEED.format(m) if isinstance(m, str) else head.encode() + m + tail.encode()
                        check(got == want, f"{flags}: reply to a {len(m)}-byte {type(m).__name__} differs")
        print(f"ok: websockets {ws.protocol.extensions[0].name} client against wsbench-server --deflate {' '.join(flags)}")
    finally:
        server.terminate()
        server.wait(timeout=10)

def loadgen_against_websockets(loadgen_bin):
    port = free_port()
    def echo(ws):
        for m in ws:
            ws.send(m)
    # serve() has bound and listens when it returns.
    with serve(echo, "127.0.0.1", port, max_size=1 << 22) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "run.json")
            run = subprocess.run([loadgen_bin, "run", f"ws://127.0.0.1:{port}/", "--mode", "echo", "--deflate",
                                  "-c", "4", "-d", "1s", "-w", "0s", "-s", "512", "-q", "--allow-loadgen-limit",
                                  "--json", out], capture_output=True, text=True, timeout=60)
            check(run.returncode == 0, f"loadgen --deflate against websockets exited {run.returncode}: "
                  f"{run.stdout[-600:]} {run.stderr[-300:]}")
            r = json.load(open(out))
        srv.shutdown()
    d = r["counters"]["deflate"]
    check(sum(d["agreed"].values()) == 4 and not d.get("declined"), f"agreements {d['agreed']}")
    check(r["counters"]["messages_received"] > 100, f"{r['counters']['messages_received']} replies")
    check(d["sent_wire_bytes"] < d["sent_payload_bytes"], f"sent {d['sent_wire_bytes']} of {d['sent_payload_bytes']}")
    check(d["received_wire_bytes"] < d["received_payload_bytes"], "received wire bytes not smaller")
    print(f"ok: wsbench-loadgen --deflate against a websockets echo server: {r['counters']['messages_received']} "
          f"replies checked, agreed {d['agreed']}, wire/payload sent "
          f"{d['sent_wire_bytes'] / d['sent_payload_bytes']:.3f}")

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    server_bin, loadgen_bin = sys.argv[1], sys.argv[2]
    client_against_server(server_bin, [])
    client_against_server(server_bin, ["--deflate-context-takeover"])
    loadgen_against_websockets(loadgen_bin)

if __name__ == "__main__":
    main()
