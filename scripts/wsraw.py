"""Raw-socket WebSocket helpers shared by the measurement scripts
(abuse.py, idle_rss.py): they speak the protocol byte by byte on purpose,
so that they can send what no client library would (a 16 MiB header with
no body, a client that never reads) and cost the server nothing extra.
Loopback only."""
import socket, time

MASK = b"\x11\x22\x33\x44"

def rss_kib(pid):
    """The process's resident set size, KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")

def frame(b0, payload=b"", announce=None):
    """A masked client frame: first byte `b0` (FIN, opcode), `payload`, and
    a length field that says `announce` bytes if given (to lie about it)."""
    n = len(payload) if announce is None else announce
    if n < 126:
        head = bytes([b0, 0x80 | n])
    elif n < 65536:
        head = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + MASK + masked(payload)

def masked(payload):
    """`payload` XORed with MASK: byte by byte when short, as one big
    integer when long (Python's loop would take seconds on MiBs)."""
    if len(payload) < 4096:
        return bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    key = int.from_bytes(MASK * (len(payload) // 4 + 1), "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(len(payload) + 4, "little")[:len(payload)]

def wait_listening(port, tries=100):
    """Waits (at most tries x 50 ms) until 127.0.0.1:port accepts."""
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")

def upgrade(port, query="mode=echo", headers=""):
    """An upgraded connection to /upgradews?QUERY, with extra `headers`
    (each ending in CRLF), and the bytes read past the 101 response's head;
    `upgrade_head` also returns the head."""
    s, rest, _ = upgrade_head(port, query, headers)
    return s, rest

def upgrade_head(port, query="mode=echo", headers=""):
    """[`upgrade`], and the 101 response's head too."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall((f"GET /upgradews?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n"
               "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{headers}\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the upgrade")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    head, rest = head.split(b"\r\n\r\n", 1)
    return s, rest, head
