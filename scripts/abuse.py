#!/usr/bin/env python3
"""Issue 9's abuse cases against a wsbench-server binary: peak RSS and how
long slow clients are held. Not part of CI; figures go to docs/limits.md.

Usage: scripts/abuse.py SERVER_BIN [PORT]

Each case runs against a fresh server on 127.0.0.1:PORT (default 9320)
started with --max-memory 256 MiB, --idle-timeout 4, --message-timeout 2
and --write-timeout 2. The server's RSS is sampled every 20 ms; the goal is
a peak under --max-memory + 64 MiB, and every slow client dropped within
its timeout + 1 s. Loopback only; every case is bounded in time.
"""
import os, socket, subprocess, sys, threading, time

import wsraw
from wsraw import frame, rss_kib

MAX_MEMORY = 256 << 20
FLAGS = ["--max-memory", str(MAX_MEMORY), "--idle-timeout", "4", "--message-timeout", "2",
         "--write-timeout", "2", "--threads", "2", "--log", "error"]

def rss_mib(pid):
    return rss_kib(pid) / 1024

def upgrade(port, mode="echo"):
    # A byte read past the 101 head would be a frame the server sent unasked.
    s, rest = wsraw.upgrade(port, f"mode={mode}")
    assert rest == b"", rest
    return s

def wait_closed(s, limit):
    """Seconds until the server closes `s` (EOF or reset), reading nothing
    but the close; None if still open after `limit`."""
    start = time.time()
    s.settimeout(0.05)
    while time.time() - start < limit:
        try:
            if s.recv(1 << 20) == b"":
                return time.time() - start
        except socket.timeout:
            continue
        except OSError:
            return time.time() - start
    return None

def send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass

def run_case(binary, port, name, body):
    server = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}"] + FLAGS, stderr=subprocess.DEVNULL)
    peak = [0.0]
    stop = threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(server.pid))
            time.sleep(0.02)
    try:
        wsraw.wait_listening(port)
        threading.Thread(target=sample, daemon=True).start()
        note = body(port)
        stop.set()
        bound = MAX_MEMORY / (1 << 20) + 64
        print(f"| {name} | {peak[0]:.0f} MiB | {'yes' if peak[0] < bound else 'NO'} | {note} |", flush=True)
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=10)

def silent(port):
    socks = [upgrade(port) for _ in range(100)]
    times = [wait_closed(s, 8) for s in socks]
    return f"100 silent: dropped after {max(t or 99 for t in times):.1f} s (idle timeout 4 s)"

def huge_header(port):
    socks = [upgrade(port) for _ in range(200)]
    for s in socks:
        s.sendall(frame(0x82, b"", announce=16 << 20) + b"\0" * 10)
    times = [wait_closed(s, 6) for s in socks]
    return f"200 x 16 MiB header + 10 bytes: dropped after {max(t or 99 for t in times):.1f} s (message timeout 2 s)"

def no_reading(port):
    socks = [upgrade(port) for _ in range(20)]
    data = frame(0x82, b"p" * 65536) * 64
    threads = [threading.Thread(target=send_quietly, args=(s, data * 8), daemon=True) for s in socks]
    for t in threads:
        t.start()
    start = time.time()
    for t in threads:
        t.join(timeout=10)
    return f"20 pipelining 32 MiB, never reading: writes failed after {time.time() - start:.1f} s (write timeout 2 s)"

def json_amplification(port):
    socks = [upgrade(port, "json") for _ in range(3)]
    data = frame(0x81, b"\x01" * (16 << 20))
    threads = [threading.Thread(target=send_quietly, args=(s, data), daemon=True) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    times = [wait_closed(s, 8) for s in socks]
    return f"3 x 16 MiB json of control characters, not reading: dropped after {max(t or 99 for t in times):.1f} s"

def fragmented(port):
    message = b"f" * (15 << 20)
    parts = [message[i:i + (1 << 20)] for i in range(0, len(message), 1 << 20)]
    wire = b"".join(frame((0x80 if i == len(parts) - 1 else 0) | (2 if i == 0 else 0), p) for i, p in enumerate(parts))
    socks = [upgrade(port) for _ in range(40)]
    threads = [threading.Thread(target=send_quietly, args=(s, wire), daemon=True) for s in socks]
    for t in threads:
        t.start()
    got = [0] * len(socks)
    def drain(i, s):
        s.settimeout(10)
        try:
            while got[i] < len(message):
                chunk = s.recv(1 << 20)
                if not chunk:
                    return
                got[i] += len(chunk)
        except OSError:
            return
    readers = [threading.Thread(target=drain, args=(i, s), daemon=True) for i, s in enumerate(socks)]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=30)
    done = sum(1 for g in got if g >= len(message))
    return f"40 x 15 MiB fragmented echo: {done} echoed whole, the others refused with 1013"

def main():
    binary = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 9320
    print(f"| case ({os.path.basename(binary)}) | peak RSS | under --max-memory + 64 MiB | outcome |")
    print("|---|---|---|---|")
    for name, body in [("silent", silent), ("huge header", huge_header), ("not reading", no_reading),
                       ("json amplification", json_amplification), ("fragmented 15 MiB", fragmented)]:
        run_case(binary, port, name, body)

if __name__ == "__main__":
    main()
