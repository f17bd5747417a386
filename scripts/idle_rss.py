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
import os, socket, subprocess, sys, time, zlib

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")

def masked_text(payload, b0=0x81):
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    head = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big") if n >= 126 else bytes([b0, 0x80 | n])
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

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
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   + ("Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else "")
                   + "\r\n").encode()
        message = bytes(ord("a") + (i * 7919) % 26 for i in range(1024))
        if deflate:
            c = zlib.compressobj(wbits=-15)
            packed = c.compress(message) + c.flush(zlib.Z_SYNC_FLUSH)
            frame = masked_text(packed[:-4], 0xc1)
        else:
            frame = masked_text(message)
        socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101"), head[:80]
            assert deflate == (b"permessage-deflate" in head), head
            s.sendall(frame)
            got = head.split(b"\r\n\r\n", 1)[1]
            while len(got) < 2 or len(got) < frame_len(got):
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
