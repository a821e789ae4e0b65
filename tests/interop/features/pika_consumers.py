"""Consumer-side queue features through python3-pika, as RabbitMQ documents them:
x-single-active-consumer (one consumer receives; fail-over on cancel / channel close /
connection close, with the requeued unacked messages going to the next consumer),
consumer priorities (x-priority) and x-delivery-limit (x-delivery-count header, dead-lettering
with reason delivery_limit)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402

from amqp_util import connect, expect_eq, main, uniq  # noqa: E402
from features_util import bodies, count, fresh, get_one  # noqa: E402


class Recorder:
    """A manual-ack consumer on its own connection that records (body, redelivered)."""

    def __init__(self, q, prefetch=0, priority=None, ack=False):
        self.conn = connect()
        self.ch = self.conn.channel()
        if prefetch:
            self.ch.basic_qos(prefetch_count=prefetch)
        self.got = []
        self.ack = ack
        args = {"x-priority": priority} if priority is not None else None
        self.tag = self.ch.basic_consume(q, self._on, arguments=args)

    def _on(self, ch, m, p, b):
        self.got.append((b.decode(), m.redelivered))
        if self.ack:
            ch.basic_ack(m.delivery_tag)

    def bodies(self):
        return [b for b, _ in self.got]


def pump(recorders, seconds=0.3, until=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for r in recorders:
            r.conn.process_data_events(time_limit=0.01)
        if until and until():
            return


def publish(ch, q, names):
    for n in names:
        ch.basic_publish("", q, n.encode())


def test_single_active_consumer_fails_over_on_connection_close():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "sac.conn", **{"x-single-active-consumer": True})
    a = Recorder(q)
    b = Recorder(q, ack=True)
    c = Recorder(q, ack=True)
    publish(ch, q, ["m0", "m1", "m2"])
    pump([a, b, c], until=lambda: len(a.got) == 3)
    expect_eq(a.bodies(), ["m0", "m1", "m2"], "active consumer got everything")
    pump([a, b, c], 0.2)
    expect_eq((b.got, c.got), ([], []), "others got nothing")
    a.ch.basic_ack(1)  # m0 done; m1, m2 stay unacked
    a.conn.close()     # unacked m1, m2 are requeued and go to b (next registered)
    publish(ch, q, ["m3"])
    pump([b, c], 5, until=lambda: len(b.got) == 3)
    expect_eq(b.got, [("m1", True), ("m2", True), ("m3", False)], "b took over")
    expect_eq(c.got, [], "c still waits")
    b.conn.close()
    publish(ch, q, ["m4"])
    pump([c], 5, until=lambda: len(c.got) == 1)
    expect_eq(c.bodies(), ["m4"], "c took over")
    c.conn.close()
    expect_eq(count(ch, q), 0, "nothing left")
    conn.close()


def test_single_active_consumer_fails_over_on_cancel_and_channel_close():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "sac.cancel", **{"x-single-active-consumer": True})
    a = Recorder(q, ack=True)
    b = Recorder(q)
    c = Recorder(q, ack=True)
    publish(ch, q, ["m0"])
    pump([a, b, c], until=lambda: len(a.got) == 1)
    a.ch.basic_cancel(a.tag)  # b becomes active
    publish(ch, q, ["m1", "m2"])
    pump([a, b, c], 5, until=lambda: len(b.got) == 2)
    expect_eq((a.bodies(), b.bodies(), c.bodies()), (["m0"], ["m1", "m2"], []), "after cancel")
    b.ch.close()  # unacked m1, m2 requeued to c
    pump([a, c], 5, until=lambda: len(c.got) == 2)
    expect_eq(c.got, [("m1", True), ("m2", True)], "c got the requeued messages")
    for r in (a, b, c):
        r.conn.close()
    conn.close()


def test_single_active_consumer_next_is_highest_priority():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "sac.prio", **{"x-single-active-consumer": True})
    a = Recorder(q, ack=True)
    low = Recorder(q, ack=True, priority=1)
    high = Recorder(q, ack=True, priority=10)
    publish(ch, q, ["m0"])
    pump([a, low, high], until=lambda: len(a.got) == 1)
    expect_eq(a.bodies(), ["m0"], "first registered is active (no preemption)")
    a.conn.close()
    publish(ch, q, ["m1"])
    pump([low, high], 5, until=lambda: len(high.got) == 1)
    expect_eq((high.bodies(), low.bodies()), (["m1"], []), "highest priority took over")
    low.conn.close()
    high.conn.close()
    conn.close()


def test_consumer_priorities():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "cprio")
    low = Recorder(q, prefetch=100, priority=-1)
    mid = Recorder(q, prefetch=100)
    high = Recorder(q, prefetch=5, priority=10)
    publish(ch, q, [f"m{i}" for i in range(12)])
    pump([low, mid, high], 5, until=lambda: len(low.got) + len(mid.got) + len(high.got) == 12)
    # high takes messages until its prefetch (5) blocks it; then the next priority (mid, 0).
    expect_eq(high.bodies(), [f"m{i}" for i in range(5)], "high priority first")
    expect_eq(mid.bodies(), [f"m{i}" for i in range(5, 12)], "then the next priority")
    expect_eq(low.got, [], "lowest priority got nothing")
    # Once high acks, it is preferred again.
    high.ch.basic_ack(0, multiple=True)
    publish(ch, q, ["n0", "n1"])
    pump([low, mid, high], 5, until=lambda: len(high.got) == 7)
    expect_eq(high.bodies()[5:], ["n0", "n1"], "high again after credit returns")
    for r in (low, mid, high):
        r.conn.close()
    conn.close()


def test_delivery_limit_dead_letters_after_too_many_requeues():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    dlx = uniq("dlim.dlx")
    ch.exchange_declare(dlx, "fanout")
    dlq = fresh(ch, "dlim.dlq")
    ch.queue_bind(dlq, dlx)
    q = fresh(ch, "dlim", **{"x-delivery-limit": 2, "x-dead-letter-exchange": dlx})
    ch.basic_publish("", q, b"poison", pika.BasicProperties(headers={"app": "v"}))
    seen = []
    for _ in range(3):
        m, p, b = ch.basic_get(q, auto_ack=False)
        assert m is not None, "nothing to get"
        seen.append((m.redelivered, (p.headers or {}).get("x-delivery-count")))
        ch.basic_reject(m.delivery_tag, requeue=True)
    expect_eq(seen, [(False, None), (True, 1), (True, 2)], "deliveries and x-delivery-count")
    m, p, b = get_one(ch, dlq)
    expect_eq(b, b"poison", "dead-lettered")
    expect_eq(p.headers["x-death"][0]["reason"], "delivery_limit", "x-death reason")
    expect_eq(p.headers["x-death"][0]["queue"], q, "x-death queue")
    expect_eq(p.headers["x-first-death-reason"], "delivery_limit", "first death reason")
    expect_eq(p.headers["app"], "v", "headers kept")
    expect_eq(count(ch, q), 0, "gone from the queue")
    conn.close()


def test_delivery_limit_counts_consumer_nacks_and_drops_without_dlx():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "dlim.drop", **{"x-delivery-limit": 1})
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    counts = []

    def on(c, m, p, b):
        counts.append((b.decode(), (p.headers or {}).get("x-delivery-count")))
        c.basic_nack(m.delivery_tag, requeue=True)

    ch.basic_consume(q, on)
    deadline = time.monotonic() + 5
    while len(counts) < 4 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    conn.process_data_events(time_limit=0.2)
    expect_eq(sorted(counts, key=lambda t: (t[0], t[1] or 0)),
              [("a", None), ("a", 1), ("b", None), ("b", 1)], "each delivered twice")
    ch.close()
    ch = conn.channel()
    expect_eq(count(ch, q), 0, "dropped (no DLX)")
    conn.close()


if __name__ == "__main__":
    main([test_single_active_consumer_fails_over_on_connection_close,
          test_single_active_consumer_fails_over_on_cancel_and_channel_close,
          test_single_active_consumer_next_is_highest_priority,
          test_consumer_priorities,
          test_delivery_limit_dead_letters_after_too_many_requeues,
          test_delivery_limit_counts_consumer_nacks_and_drops_without_dlx])
