"""Delayed delivery through python3-pika, as the rabbitmq-delayed-message-exchange plugin
documents it: exchange type x-delayed-message with x-delayed-type; a message with header x-delay
(ms) is routed when due; a missing or negative x-delay routes at once; declaring without
x-delayed-type is 406. Timing: 2000 messages with delays of 100-1000 ms each arrive not before
their due time, within a small margin after it, in due-time order."""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402

from amqp_util import connect, current_broker, expect_eq, main, uniq  # noqa: E402
from features_util import bodies, count, fresh, get_one  # noqa: E402
from harness import SANITIZED, scaled  # noqa: E402

# Lateness allowed after the due time. The broker's timer runs every 10 ms; CI machines are
# slow (2 shared cores), so leave room for scheduling. Measured on the consumer side, which
# includes the client's own latency. Scaled on a sanitizer build (harness.scaled).
LATE_MS = scaled(50)


def test_declare_needs_x_delayed_type():
    conn = connect()
    for args, text in [
        (None, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an existing "
               "exchange type"),
        ({"x-delayed-type": "nope"}, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' "
                                     "must be an existing exchange type"),
        ({"x-delayed-type": "x-delayed-message"},
         "PRECONDITION_FAILED - Invalid argument, 'x-delayed-message' can't be used for "
         "'x-delayed-type'"),
    ]:
        ch = conn.channel()
        try:
            ch.exchange_declare(uniq("dx.bad"), "x-delayed-message", arguments=args)
            raise AssertionError(f"{args}: declare succeeded")
        except pex.ChannelClosedByBroker as e:
            expect_eq((e.reply_code, e.reply_text), (406, text), f"{args}")
    ch = conn.channel()
    x = uniq("dx.ok")
    ch.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "direct"})
    ch.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "direct"})
    try:
        ch.exchange_declare(x, "direct")
        raise AssertionError("inequivalent type accepted")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 406, "type mismatch")
    ch = conn.channel()
    ch.exchange_delete(x)
    conn.close()


def test_delay_missing_negative_and_positive():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    x = uniq("dx.topic")
    ch.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "topic"})
    q = fresh(ch, "dx.q")
    ch.queue_bind(q, x, routing_key="a.*")
    t0 = time.monotonic()
    ch.basic_publish(x, "a.b", b"later", pika.BasicProperties(headers={"x-delay": 300}),
                     mandatory=True)  # held: not returned
    ch.basic_publish(x, "a.b", b"now")
    ch.basic_publish(x, "a.b", b"negative", pika.BasicProperties(headers={"x-delay": -100}))
    expect_eq(bodies(ch, q), ["now", "negative"], "immediate ones")
    m, p, b = get_one(ch, q, timeout=5)
    waited = (time.monotonic() - t0) * 1000
    expect_eq(b, b"later", "delayed one")
    assert waited >= 300, f"delivered after {waited:.0f} ms, before its 300 ms delay"
    expect_eq(p.headers.get("x-delay"), -300, "released message carries -delay")
    expect_eq((m.exchange, m.routing_key), (x, "a.b"), "exchange and key kept")
    # Deleting the exchange drops what it holds.
    ch.basic_publish(x, "a.b", b"dropped", pika.BasicProperties(headers={"x-delay": 200}))
    ch.exchange_delete(x)
    time.sleep(0.4)
    expect_eq(count(ch, q), 0, "pending dropped with the exchange")
    conn.close()


def test_thousands_on_time_and_in_due_order():
    n = 2000
    conn = connect()
    ch = conn.channel()
    x = uniq("dx.timing")
    ch.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "fanout"})
    q = fresh(ch, "dx.timing")
    ch.queue_bind(q, x)
    rng = random.Random(7)
    delays = [rng.randint(100, 1000) for _ in range(n)]
    # Consumer on its own connection and thread (so publishing does not delay reading),
    # timestamps each arrival.
    arrivals = []
    ready = threading.Event()

    def consume():
        cconn = connect()
        cch = cconn.channel()
        cch.basic_consume(q, lambda c, m, p, b: arrivals.append((time.monotonic(), b)),
                          auto_ack=True)
        ready.set()
        deadline = time.monotonic() + 15
        while len(arrivals) < n and time.monotonic() < deadline:
            cconn.process_data_events(time_limit=0.005)
        cconn.close()

    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    consumer = threading.Thread(target=consume)
    consumer.start()
    ready.wait(5)
    sent = {}
    for i, d in enumerate(delays):
        sent[i] = (time.monotonic(), d)
        ch.basic_publish(x, "", str(i).encode(), pika.BasicProperties(headers={"x-delay": d}))
    consumer.join()
    sys.setswitchinterval(old_switch)
    expect_eq(len(arrivals), n, "all delivered")
    early, late = [], []
    dues = []
    for t, b in arrivals:
        i = int(b)
        ts, d = sent[i]
        due = ts + d / 1000.0
        dues.append(due)
        # The publish timestamp is taken just before sending, so the broker's due time is a bit
        # later than `due`: arriving before `due` is certainly early.
        if t < due:
            early.append((i, (due - t) * 1000))
        if (t - due) * 1000 > LATE_MS:
            late.append((i, round((t - due) * 1000)))
    lateness = sorted((t - due) * 1000 for (t, _), due in zip(arrivals, dues))
    print(f"  lateness ms: median {lateness[n // 2]:.1f}, p99 {lateness[n * 99 // 100]:.1f}, "
          f"max {lateness[-1]:.1f}")
    assert not early, f"{len(early)} early, e.g. {early[:5]}"
    # A loaded 2-core machine stalls now and then: allow 2% beyond LATE_MS, none beyond
    # 5 * LATE_MS.
    # On a sanitizer build (slower broker, harness.SANITIZED) the share of late arrivals is a
    # matter of speed (-O0 ASan at load 10: median 72 ms, p99 174 ms): not checked there; the
    # bound on the latest one, early arrivals and due-time order still are.
    assert SANITIZED or len(late) <= n // 50, (
        f"{len(late)} later than {LATE_MS} ms, e.g. {late[:10]}")
    assert lateness[-1] <= 5 * LATE_MS, f"one arrived {lateness[-1]:.0f} ms late"
    # Order by due time. The client's idea of a due time differs from the broker's by the
    # publish latency (which varies while 2000 messages are sent), so only pairs whose due
    # times are further apart than LATE_MS must arrive in order here; the strict check is
    # test_due_order_is_exact.
    latest = 0.0
    inversions = 0
    for due in dues:
        if due < latest - LATE_MS / 1000.0:
            inversions += 1
        latest = max(latest, due)
    expect_eq(inversions, 0, "arrival order follows due time")
    conn.close()


def test_due_order_is_exact():
    conn = connect()
    ch = conn.channel()
    x = uniq("dx.order")
    ch.exchange_declare(x, "x-delayed-message", arguments={"x-delayed-type": "direct"})
    q = fresh(ch, "dx.order")
    ch.queue_bind(q, x, routing_key="k")
    # Published in one burst in reverse due order, 20 ms apart: must arrive sorted by due time.
    delays = list(range(1200, 200, -20))
    for d in delays:
        ch.basic_publish(x, "k", str(d).encode(), pika.BasicProperties(headers={"x-delay": d}))
    got = []
    deadline = time.monotonic() + 5
    while len(got) < len(delays) and time.monotonic() < deadline:
        m, p, b = ch.basic_get(q, auto_ack=True)
        if m is None:
            time.sleep(0.005)
        else:
            got.append(int(b))
    expect_eq(got, sorted(delays), "arrival order")
    conn.close()


def test_durable_delayed_exchange_survives_restart():
    b = current_broker()
    if b.external:
        return  # needs a restartable warrend
    conn = connect()
    ch = conn.channel()
    x = uniq("dx.durable")
    q = uniq("dx.durable.q")
    ch.exchange_declare(x, "x-delayed-message", durable=True,
                        arguments={"x-delayed-type": "direct"})
    ch.queue_declare(q, durable=True)
    ch.queue_bind(q, x, routing_key="k")
    conn.close()
    b.restart()
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(x, "x-delayed-message", durable=True,
                        arguments={"x-delayed-type": "direct"})  # equivalent: still there
    t0 = time.monotonic()
    ch.basic_publish(x, "k", b"after", pika.BasicProperties(headers={"x-delay": 150}))
    m, p, body = get_one(ch, q, timeout=5)
    assert (time.monotonic() - t0) * 1000 >= 150, "delivered early"
    expect_eq(body, b"after", "delayed routing after a restart")
    ch.exchange_delete(x)
    ch.queue_delete(q)
    conn.close()


if __name__ == "__main__":
    main([test_declare_needs_x_delayed_type,
          test_delay_missing_negative_and_positive,
          test_thousands_on_time_and_in_due_order,
          test_due_order_is_exact,
          test_durable_delayed_exchange_survives_restart])
