"""Memory is given back (issue #15): after a queue holding hundreds of megabytes of messages is
deleted, the broker's resident memory returns to near its level before the load.

warrend with queue_memory_limit = 0 (every body stays in RAM). A pika publisher sends 150,000
1 KiB messages, 255 of every 256 to queue "big" and one to queue "keep" (so the heap cannot simply
shrink from its top: live messages sit between the dead ones, as on a real broker). RSS must
grow by more than 120 MB; after "big" is deleted it must fall back to within 20% of its level
before the load, within 10 s, plus 8 MiB: each of the 586 messages still in "keep" pins the
page or two its object and body sit on, and the allocator keeps some structures of its own. Without the resource
monitor's malloc_trim glibc keeps every freed page.

Then 1 MiB messages relayed through a queue with a consumer: few page faults per message (the
allocator keeps freed heap for reuse, base/process.h), and that kept heap is given back once
nothing is published for a resource-check interval.

Last, a flood of sockets: thousands of AMQP connections opened at once (each waits in its
handshake) and then closed. Without net/reactor_reserve.h each socket's Boost.Asio reactor
state, kept for reuse for the process's life, sat among that connection's freed memory and
pinned its pages: RSS stayed megabytes above its level before.
"""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}


def minor_faults(b):
    with open(f"/proc/{b.proc.pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])  # field 10, minflt


def rss_settled(b, before, seconds):
    """Polls RSS for up to `seconds` until it is within 20% + 8 MiB of `before`: (RSS, bound)."""
    bound = before * 1.2 + (8 << 20)
    deadline = time.monotonic() + seconds
    now = rss(b)
    while now > bound and time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss(b)
    return now, bound


def skip_if_sanitized():
    if os.environ.get("WARREN_SANITIZED") == "1":
        from harness import Skip
        raise Skip("ASan's allocator keeps its own memory")


def connect_unless_sanitized(b):
    skip_if_sanitized()
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port,
                                                             connection_attempts=1))


def rss(b):
    with open(f"/proc/{b.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_rss_returns_after_a_large_queue_is_deleted():
    b = B["b"]
    c = connect_unless_sanitized(b)
    ch = c.channel()
    ch.queue_declare("big")
    ch.queue_declare("keep")
    for i in range(1000):  # warm up: buffers, the channel, the store
        ch.basic_publish("", "keep", b"w" * 1024)
    ch.queue_purge("keep")
    time.sleep(1.5)
    before = rss(b)
    body = b"m" * 1024
    for i in range(150_000):
        ch.basic_publish("", "keep" if i % 256 == 0 else "big", body)
    assert ch.queue_declare("big", passive=True).method.message_count == 150_000 - 586
    full = rss(b)
    assert full > before + (120 << 20), f"RSS {before} -> {full}: the load did not stay in RAM"
    ch.queue_delete("big")
    now, bound = rss_settled(b, before, 10)
    print(f"  RSS before {before >> 20} MiB, loaded {full >> 20} MiB, "
          f"after delete {now >> 20} MiB (bound {int(bound) >> 20} MiB)")
    assert now <= bound, f"RSS stayed at {now >> 20} MiB after the delete (before: {before >> 20})"
    assert ch.queue_declare("keep", passive=True).method.message_count == 586
    c.close()


def relay(ch, n, body):
    """n messages through queue "relay" and back, ten in flight at a time."""
    for _ in range(n // 10):
        for _ in range(10):
            ch.basic_publish("", "relay", body)
        got = 0
        for method, _, data in ch.consume("relay", inactivity_timeout=5):
            assert method is not None, "a relayed message did not come back"
            assert len(data) == len(body)
            ch.basic_ack(method.delivery_tag)
            got += 1
            if got == 10:
                break
    ch.cancel()


def test_large_messages_reuse_memory_and_it_is_given_back_when_idle():
    """1 MiB bodies relayed through a queue: the broker reuses freed heap instead of faulting
    in fresh pages for every body (glibc's defaults gave it back after each), and once nothing
    is published for a second the kept heap is returned, although the queue never held much."""
    b = B["b"]
    c = connect_unless_sanitized(b)
    ch = c.channel()
    ch.queue_declare("relay")
    body = b"L" * (1 << 20)
    relay(ch, 10, b"w" * 1024)
    time.sleep(2.5)  # the idle give-back after the warm-up
    before = rss(b)
    relay(ch, 30, body)  # warm-up: the heap grows to what is in flight
    faults = minor_faults(b)
    relay(ch, 200, body)
    per_message = (minor_faults(b) - faults) / 200
    loaded = rss(b)
    # Fresh pages for each body are 256 faults (4 KiB pages) on the way in alone.
    print(f"  {per_message:.1f} page faults per relayed 1 MiB message; RSS {before >> 20} MiB "
          f"before, {loaded >> 20} MiB after the relay")
    assert per_message < 16, f"{per_message:.1f} page faults per 1 MiB message"
    now, bound = rss_settled(b, before, 6)
    print(f"  RSS {now >> 20} MiB once idle (bound {int(bound) >> 20} MiB)")
    assert loaded > bound, "the relay did not grow the heap: nothing to give back was tested"
    assert now <= bound, f"RSS stayed at {now >> 20} MiB once idle (before: {before >> 20})"
    c.close()


def open_sockets(b, n):
    """n AMQP sockets, each past the protocol header (the broker answered connection.start)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection((b.host, b.amqp_port), timeout=10)
        s.sendall(b"AMQP\x00\x00\x09\x01")
        socks.append(s)
    for s in socks:
        assert s.recv(7), "no connection.start"
    return socks


def test_rss_returns_after_a_flood_of_connections_closes():
    b = B["b"]
    skip_if_sanitized()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = min(6000, hard - 256)
    if soft < n + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    for s in open_sockets(b, 50):  # warm up: the listener, the first runs of state
        s.close()
    time.sleep(2.5)  # the idle give-back after the warm-up
    before = rss(b)
    socks = open_sockets(b, n)
    loaded = rss(b)
    for s in socks:
        s.close()
    bound = before * 1.2
    deadline = time.monotonic() + 8
    now = rss(b)
    while now > bound and time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss(b)
    print(f"  {n} sockets: RSS {before >> 20} MiB before, {loaded >> 20} MiB open, "
          f"{now / (1 << 20):.1f} MiB after they closed (bound {bound / (1 << 20):.1f} MiB)")
    assert loaded > bound + (4 << 20), "the sockets did not grow RSS: nothing was tested"
    assert now <= bound, f"RSS stayed at {now >> 20} MiB after the sockets closed"


if __name__ == "__main__":
    with broker(config_text="queue_memory_limit = 0\n") as b:
        B["b"] = b
        run_tests([test_rss_returns_after_a_large_queue_is_deleted,
                   test_large_messages_reuse_memory_and_it_is_given_back_when_idle,
                   test_rss_returns_after_a_flood_of_connections_closes])
