"""Delayed messages (x-delayed-message exchange) across restarts, through pika: a confirmed
persistent message held by a durable delayed exchange survives kill -9 and is delivered when
its delay runs out (counting the time the broker was down), never early; a transient one is
lost, as with RabbitMQ's plugin; a message whose delay ran out while the broker was down is
delivered right after the start.

Run: WARREND=build/release/warrend /usr/bin/python3 tests/interop/durability/delayed_restart_test.py
"""
import time

import pika

from durability_util import (Skip, broker, connect, needs_warrend, run_tests, skippable,
                             uniq)
from harness import scaled  # noqa: E402


def setup(ch, name):
    ch.exchange_declare(name, "x-delayed-message", durable=True,
                        arguments={"x-delayed-type": "direct"})
    ch.queue_declare(name + ".q", durable=True)
    ch.queue_bind(name + ".q", name, "k")


def publish(ch, x, body, delay, persistent=True):
    ch.basic_publish(x, "k", body, pika.BasicProperties(
        delivery_mode=2 if persistent else 1, headers={"x-delay": delay}))


def receive_all(b, q, until):
    """(body, seconds since epoch when received) of everything arriving in q before `until`."""
    conn = connect(b)
    ch = conn.channel()
    got = []
    while time.time() < until:
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            time.sleep(0.01)
            continue
        got.append((body, time.time()))
    conn.close()
    return got


@skippable
def test_held_message_survives_kill_and_keeps_its_due_time():
    with broker() as b:
        needs_warrend(b, "kill -9")
        x = uniq("delayed.kill")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        setup(ch, x)
        t0 = time.time()
        publish(ch, x, b"late", 2500)             # confirmed: on disk
        publish(ch, x, b"lost", 2500, persistent=False)
        b.kill()
        b.start()
        got = receive_all(b, x + ".q", t0 + 2.5 + scaled(2.5))
        bodies = [g[0] for g in got]
        assert bodies == [b"late"], bodies
        at = got[0][1] - t0
        assert at >= 2.5, f"delivered {at:.3f} s after publish: before its 2.5 s delay"
        assert at < 2.5 + scaled(1.5), f"delivered {at:.3f} s after publish: far too late"


@skippable
def test_delay_that_ran_out_while_down_is_delivered_at_start():
    with broker() as b:
        needs_warrend(b, "restart")
        x = uniq("delayed.down")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        setup(ch, x)
        publish(ch, x, b"due-while-down", 300)
        publish(ch, x, b"not-yet", 60000)
        conn.close()
        b.stop()
        time.sleep(0.6)
        b.start()
        got = receive_all(b, x + ".q", time.time() + 1.0)
        assert [g[0] for g in got] == [b"due-while-down"], got


if __name__ == "__main__":
    run_tests([test_held_message_survives_kill_and_keeps_its_due_time,
               test_delay_that_ran_out_while_down_is_delivered_at_start])
