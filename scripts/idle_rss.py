#!/usr/bin/env python3
"""RSS per idle WebSocket connection of a wsbench-server binary.

Usage: scripts/idle_rss.py SERVER_BIN [CONNECTIONS] [PORT]

Starts SERVER_BIN on 127.0.0.1:PORT (default 9310) with --threads 2, reads
its RSS, opens CONNECTIONS (default 3000) WebSocket connections that each
send one 1 KiB echo message, read the echo and then stay silent, reads the
RSS again, and prints (after - before) / CONNECTIONS. Loopback only,
bounded: everything is closed and the server stopped at the end.
"""
import subprocess, sys, time

from wsraw import frame as ws_frame, rss_kib, upgrade, wait_listening

def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 9310
    server = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--threads", "2",
                               "--default-mode", "echo", "--log", "error"], stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        time.sleep(0.3)
        before = rss_kib(server.pid)
        frame = ws_frame(0x81, b"x" * 1024)
        socks = []
        for _ in range(count):
            s, got = upgrade(port, "")
            s.sendall(frame)
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
