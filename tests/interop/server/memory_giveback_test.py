"""Memory is given back (issue #15): after a queue holding hundreds of megabytes of messages is
deleted, the broker's resident memory returns to near its level before the load.

warrend with queue_memory_limit = 0 (every body stays in RAM). A pika publisher sends 150,000
1 KiB messages, 255 of every 256 to queue "big" and one to queue "keep" (so the heap cannot simply
shrink from its top: live messages sit between the dead ones, as on a real broker). RSS must
grow by more than 120 MB; after "big" is deleted it must fall back to within 20% of its level
before the load, within 10 s, plus 8 MiB: each of the 586 messages still in "keep" pins the
page or two its object and body sit on, and the allocator keeps some structures of its own. Without the resource
monitor's malloc_trim glibc keeps every freed page.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}


def rss(b):
    with open(f"/proc/{b.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_rss_returns_after_a_large_queue_is_deleted():
    b = B["b"]
    if os.environ.get("WARREN_SANITIZED") == "1":
        from harness import Skip
        raise Skip("ASan's allocator keeps its own memory")
    c = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port,
                                                          connection_attempts=1))
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
    bound = before * 1.2 + (8 << 20)
    deadline = time.monotonic() + 10
    now = rss(b)
    while now > bound and time.monotonic() < deadline:
        time.sleep(0.2)
        now = rss(b)
    print(f"  RSS before {before >> 20} MiB, loaded {full >> 20} MiB, "
          f"after delete {now >> 20} MiB (bound {int(bound) >> 20} MiB)")
    assert now <= bound, f"RSS stayed at {now >> 20} MiB after the delete (before: {before >> 20})"
    assert ch.queue_declare("keep", passive=True).method.message_count == 586
    c.close()


if __name__ == "__main__":
    with broker(config_text="queue_memory_limit = 0\n") as b:
        B["b"] = b
        run_tests([test_rss_returns_after_a_large_queue_is_deleted])
