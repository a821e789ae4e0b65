"""STOMP and durability through stomp.py: a RECEIPT for a persistent SEND (or for the COMMIT of a
transaction of them) is sent only once the message is on disk, so it survives kill -9; SENDs
without `persistent:true` are transient and gone after a restart, as with RabbitMQ's STOMP
plugin (its /queue/ destinations are durable queues).

Run: WARREND=build/release/warrend /usr/bin/python3 tests/interop/durability/stomp_receipt_test.py
"""
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "stomp"))

import stomp_util  # noqa: E402
from stomp_util import connect  # noqa: E402
from harness import broker, run_tests  # noqa: E402


def uniq(base):
    return f"dur.{base}.{uuid.uuid4().hex[:8]}"


def drain(dest, expect, timeout=10.0):
    c, l = connect("1.2")
    try:
        c.subscribe(dest, id="1", ack="auto")
        got = [l.next_message(timeout).body for _ in range(expect)]
        l.no_message(0.3)
        return got
    finally:
        c.disconnect()


def with_broker(fn):
    def run():
        if os.environ.get("WARREN_EXTERNAL"):
            print("skipped: needs kill -9")
            return
        with broker() as b:
            stomp_util._current["broker"] = b
            fn(b)
    run.__name__ = fn.__name__
    return run


@with_broker
def test_receipted_persistent_sends_survive_kill(b):
    q = "/queue/" + uniq("receipts")
    n = 300
    c, l = connect("1.2")
    for i in range(n):
        c.send(q, body=f"m{i}", headers={"persistent": "true"}, receipt=f"r{i}")
    for i in range(n):
        l.receipt(f"r{i}", timeout=10)
    # Every receipt is in: kill at once, no clean shutdown.
    b.kill()
    b.start()
    got = drain(q, n)
    assert got == [f"m{i}".encode() for i in range(n)], got[:5]


@with_broker
def test_committed_transaction_survives_kill(b):
    q = "/queue/" + uniq("tx")
    c, l = connect("1.2")
    c.begin("t1")
    for i in range(20):
        c.send(q, body=f"t{i}", headers={"persistent": "true"}, transaction="t1")
    c.commit("t1", receipt="commit-1")
    l.receipt("commit-1", timeout=10)
    b.kill()
    b.start()
    assert drain(q, 20) == [f"t{i}".encode() for i in range(20)]


@with_broker
def test_transient_sends_are_gone_after_restart(b):
    q = "/queue/" + uniq("transient")
    c, l = connect("1.2")
    c.send(q, body="keep", headers={"persistent": "true"}, receipt="a")
    c.send(q, body="lose", receipt="b")
    l.receipt("a")
    l.receipt("b")
    c.disconnect()
    b.restart()
    assert drain(q, 1) == [b"keep"]


if __name__ == "__main__":
    run_tests([test_receipted_persistent_sends_survive_kill,
               test_committed_transaction_survives_kill,
               test_transient_sends_are_gone_after_restart])
