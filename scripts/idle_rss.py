#!/usr/bin/env python3
"""RSS per idle WebSocket connection of a wsbench-server binary.

Usage: scripts/idle_rss.py SERVER_BIN [CONNECTIONS] [PORT] [SERVER_FLAG...]

Starts SERVER_BIN on 127.0.0.1:PORT (default 9310) with --threads 2, reads
its RSS, opens CONNECTIONS (default 3000) WebSocket connections that each
send one 1 KiB echo message, read the echo and then stay silent, reads the
RSS again, and prints (after - before) / CONNECTIONS. Loopback only,
bounded: everything is closed and the server stopped at the end.

SERVER_FLAGs go to the server; with --deflate the connections offer
permessage-deflate, send their message compressed (RSV1) and read the
compressed echo, so each holds what a deflate connection holds once it
has compressed and inflated a message.
"""
import subprocess, sys, time, zlib

from wsraw import frame as ws_frame, rss_kib, upgrade_head, wait_listening

def frame_len(buf):
    """Whole length of the unmasked server frame at the start of buf."""
    n = buf[1] & 0x7F
    if n == 126:
        return 4 + int.from_bytes(buf[2:4], "big") if len(buf) >= 4 else 1 << 30
    return 2 + n

def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 9310
    flags = sys.argv[4:]
    deflate = "--deflate" in flags
    server = subprocess.Popen([binary, "--listen", f"127.0.0.1:{port}", "--threads", "2",
                               "--default-mode", "echo", "--log", "error"] + flags, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        time.sleep(0.3)
        before = rss_kib(server.pid)
        message = bytes(ord("a") + (i * 7919) % 26 for i in range(1024))
        if deflate:
            c = zlib.compressobj(wbits=-15)
            packed = c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH)
            frame = ws_frame(0xc1, packed[:-4])
        else:
            frame = ws_frame(0x81, message)
        offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
        socks = []
        for _ in range(count):
            s, got, head = upgrade_head(port, "", offer)
            assert deflate == (b"permessage-deflate" in head), head
            s.sendall(frame)
            while len(got) < 2 or len(got) < frame_len(got):
                got += s.recv(65536)
            socks.append(s)
        # Settled: the server parks a connection after a quiet timer tick
        # (at most 1 s) and trims its heap after the parking burst.
        time.sleep(4.0)
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
