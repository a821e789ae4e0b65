"""Helpers shared by the queue-feature interop tests (on top of ../amqp/amqp_util.py)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

from amqp_util import uniq  # noqa: E402
from harness import scaled  # noqa: E402


def fresh(ch, base, **args):
    q = uniq(base)
    ch.queue_delete(q)
    ch.queue_declare(q, arguments=args or None)
    return q


def count(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def bodies(ch, q):
    out = []
    while True:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is None:
            return out
        out.append(b.decode())


def get_one(ch, q, timeout=5.0):
    timeout = scaled(timeout)  # harness.scaled: longer on a sanitizer build
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is not None:
            return m, p, b
        time.sleep(0.02)
    raise AssertionError(f"nothing arrived in {q}")
