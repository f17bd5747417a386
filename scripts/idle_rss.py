#!/usr/bin/env python3
"""RSS per idle WebSocket connection of a wsbench-server binary.

Usage: scripts/idle_rss.py SERVER_BIN [CONNECTIONS] [PORT]

Starts SERVER_BIN on 127.0.0.1:PORT (default 9310) with --threads 2, reads
its RSS, opens CONNECTIONS (default 3000) WebSocket connections that each
send one 1 KiB echo message, read the echo and then stay silent, reads the
RSS again, and prints (after - before) / CONNECTIONS. Loopback only,
bounded: everything is closed and the server stopped at the end.
"""
import os, socket, subprocess, sys, time

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")

def masked_text(payload):
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    head = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big") if n >= 126 else bytes([0x81, 0x80 | n])
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 9310
    server = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--threads", "2",
                               "--default-mode", "echo", "--log", "error"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        before = rss_kib(server.pid)
        request = (f"GET /upgradews HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n"
                   "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode()
        frame = masked_text(b"x" * 1024)
        socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101"), head[:80]
            s.sendall(frame)
            got = head.split(b"\r\n\r\n", 1)[1]
            while len(got) < 4 + 1024:
                got += s.recv(65536)
            socks.append(s)
        time.sleep(1.0)
        after = rss_kib(server.pid)
        print(f"{binary}: {count} idle connections: RSS {before} -> {after} KiB, "
              f"{(after - before) * 1024 / count:.0f} bytes per connection")
        for s in socks:
            s.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

if __name__ == "__main__":
    main()
