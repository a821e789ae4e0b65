"""Broker memory per idle connection: opens N idle AMQP 0-9-1 connections (full handshake over raw
sockets: header, start-ok PLAIN, tune-ok with heartbeat 60, open "/") and N idle STOMP
connections (CONNECT/CONNECTED), reads warrend's VmRSS before and after, and fails if the growth
per connection exceeds a bound. Issue #7 (scenario 7) measured 131 KiB per idle AMQP connection
before the read buffer became lazy; a well-built broker needs a few KiB.

    python3 idle_memory.py                       # as a test (N=1000, bound 32 KiB/conn)
    IDLE_N=2000 python3 idle_memory.py --report  # just print the figures (no bound)

Environment: IDLE_N (connections per protocol, default 1000), IDLE_BOUND_KIB (default 32).
Needs a warrend started by the harness (reads /proc/<pid>/status): skips with WARREN_EXTERNAL.
"""
import os
import resource
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import broker, run_tests  # noqa: E402

N = int(os.environ.get("IDLE_N", "1000"))
BOUND_KIB = float(os.environ.get("IDLE_BOUND_KIB", "32"))
REPORT = "--report" in sys.argv
if REPORT:
    sys.argv.remove("--report")


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# ---- AMQP 0-9-1 over a raw socket -----------------------------------------------------------

def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def method_frame(class_id, method_id, args):
    payload = struct.pack(">HH", class_id, method_id) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"


def read_frame(sock, buf):
    """Returns (class_id, method_id) of the next method frame on channel 0; buf is a bytearray of
    leftover input."""
    while True:
        while len(buf) < 7 or len(buf) < 7 + struct.unpack(">I", bytes(buf[3:7]))[0] + 1:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("connection closed during the handshake")
            buf += chunk
        ftype, _, size = struct.unpack(">BHI", bytes(buf[:7]))
        payload = bytes(buf[7:7 + size])
        del buf[:7 + size + 1]
        if ftype == 1:
            return struct.unpack(">HH", payload[:4])


def amqp_open(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = bytearray()
    s.sendall(b"AMQP\x00\x00\x09\x01")
    assert read_frame(s, buf) == (10, 10), "expected connection.start"
    s.sendall(method_frame(10, 11, struct.pack(">I", 0) + shortstr("PLAIN") +
                           longstr(b"\x00guest\x00guest") + shortstr("en_US")))
    assert read_frame(s, buf) == (10, 30), "expected connection.tune"
    s.sendall(method_frame(10, 31, struct.pack(">HIH", 2047, 131072, 60)) +
              method_frame(10, 40, shortstr("/") + shortstr("") + b"\x00"))
    assert read_frame(s, buf) == (10, 41), "expected connection.open-ok"
    return s


def stomp_open(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n"
              b"heart-beat:0,0\n\n\x00")
    data = b""
    while b"\x00" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("STOMP connection closed before CONNECTED")
        data += chunk
    assert data.startswith(b"CONNECTED"), data[:80]
    return s


def measure(b, opener, port, n):
    """Opens n idle connections with opener; returns (KiB per connection, seconds to open)."""
    pid = b.proc.pid
    # A warm-up connection, so one-time allocations (first accept, vhost structures) are not
    # charged to the idle connections.
    opener(port).close()
    time.sleep(0.3)
    before = rss_kib(pid)
    t0 = time.monotonic()
    socks = [opener(port) for _ in range(n)]
    opened = time.monotonic() - t0
    time.sleep(0.5)
    after = rss_kib(pid)
    per = (after - before) / n
    for s in socks:
        s.close()
    return per, opened, before, after


def check(kind, per, opened, before, after):
    print(f"{kind}: {N} idle connections, VmRSS {before} KiB -> {after} KiB, "
          f"{per:.2f} KiB per connection, opened in {opened:.2f} s", flush=True)
    if os.environ.get("WARREN_SANITIZED") == "1":
        # ASan's shadow memory and allocator make RSS meaningless here (make asan).
        print(f"{kind}: sanitizer build: bound not checked", flush=True)
    elif not REPORT:
        assert per <= BOUND_KIB, (f"{kind}: {per:.1f} KiB per idle connection, bound "
                                  f"{BOUND_KIB} KiB")


def test_idle_amqp_connection_memory():
    if os.environ.get("WARREN_EXTERNAL"):
        print("skipped: needs a warrend started by the harness")
        return
    with broker() as b:
        check("amqp", *measure(b, amqp_open, b.amqp_port, N))


def test_idle_stomp_connection_memory():
    if os.environ.get("WARREN_EXTERNAL"):
        print("skipped: needs a warrend started by the harness")
        return
    with broker() as b:
        check("stomp", *measure(b, stomp_open, b.stomp_port, N))


if __name__ == "__main__":
    # The broker inherits this limit: N client sockets here, N accepted sockets there.
    raise_fd_limit(N + 256)
    os.environ.setdefault("WARREN_LOG_LEVEL", "warn")
    run_tests([test_idle_amqp_connection_memory, test_idle_stomp_connection_memory])
