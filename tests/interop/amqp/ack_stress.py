"""Delivery-tag bookkeeping under everything at once (issue #16's rare 406 "unknown delivery
tag" in a perf run): two publishers keep three queues fed while one channel with a consumer on
each queue does, at random, single and multiple acks, multiple nacks with requeue, rejects (with
and without requeue), basic.get, cancel + re-consume, basic.qos changes and channel.flow. The
client keeps an exact model of the tags it holds, so any channel close is a broker bug.

The model has to be exact for pika: a multiple ack or nack is sent only after every delivery
pika holds has been dispatched (a basic.get or basic.cancel waits with deliveries queued in
pika; a multiple ack covering a basic.get tag would settle them unseen), and basic.recover and
ack of tag 0 are left out (deliveries already on the wire get settled or requeued before the
client sees them). Without that, pika itself answers such a delivery later with basic.reject
(when its consumer is cancelled) and gets a legitimate 406, as RabbitMQ would send: one way
the 406 can come from a client rather than the broker. Complements ack_requeue_mixed.py
(settlement without publishers running, gets or cancels)."""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402
from harness import SANITIZED, broker, run_tests, scaled  # noqa: E402

SECONDS = float(os.environ.get("ACK_STRESS_SECONDS", "8"))
# A sanitizer build runs several times slower: it stresses for scaled(SECONDS), and the floor on
# operations (how much the run exercised, a matter of speed) only shows the loop ran: the two
# publishers flood the slow broker (71-765 operations in 24 s on the -O0 ASan build at load 10).
MIN_OPS = 50 if SANITIZED else 1000


def publisher(b, stop, qs, errors):
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
        ch = c.channel()
        i = 0
        while not stop.is_set():
            ch.basic_publish("", qs[i % len(qs)], b"m%d" % i)
            i += 1
            if i % 200 == 0:
                c.process_data_events(0)
                time.sleep(0.005)
        c.close()
    except Exception as e:  # noqa: BLE001
        errors.append(e)


def run_stress(seed):
    rng = random.Random(seed)
    with broker(stomp=False, http=False) as b:
        qs = [f"stress.{seed}.{n}" for n in range(3)]
        c = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port, heartbeat=0))
        ch = c.channel()
        for q in qs:
            ch.queue_declare(q)
        stop = threading.Event()
        errors = []
        pubs = [threading.Thread(target=publisher, args=(b, stop, qs, errors), daemon=True)
                for _ in range(2)]
        for p in pubs:
            p.start()
        held = set()        # delivery tags the client holds unsettled
        consumers = {}
        ops = {}

        def on_msg(_c, m, _p, _b):
            assert m.delivery_tag not in held, f"seed {seed}: tag {m.delivery_tag} delivered twice"
            held.add(m.delivery_tag)

        def consume(q):
            consumers[ch.basic_consume(q, on_msg)] = q

        ch.basic_qos(prefetch_count=rng.choice([0, 5, 50]))
        for q in qs:
            consume(q)
        deadline = time.monotonic() + scaled(SECONDS)
        op = None
        try:
            while time.monotonic() < deadline:
                c.process_data_events(time_limit=0)
                r = rng.random()
                op = None
                if held and r < 0.45:
                    c.process_data_events(time_limit=0)   # dispatch what pika holds
                    t = rng.choice(sorted(held))
                    if r < 0.15:
                        op = "ack"
                        ch.basic_ack(t)
                        held.discard(t)
                    else:
                        op = "ack multiple" if r < 0.35 else "nack multiple requeue"
                        if r < 0.35:
                            ch.basic_ack(t, multiple=True)
                        else:
                            ch.basic_nack(t, multiple=True, requeue=True)
                        held.difference_update({x for x in held if x <= t})
                elif held and r < 0.5:
                    t = rng.choice(sorted(held))
                    op = "reject"
                    ch.basic_reject(t, requeue=rng.random() < 0.8)
                    held.discard(t)
                elif r < 0.54:
                    op = "get"
                    m, _p, _b = ch.basic_get(rng.choice(qs))
                    if m:
                        held.add(m.delivery_tag)
                elif r < 0.56:
                    op = "cancel + consume"
                    tag = rng.choice(list(consumers))
                    q = consumers.pop(tag)
                    ch.basic_cancel(tag)
                    consume(q)
                elif r < 0.58:
                    op = "qos"
                    ch.basic_qos(prefetch_count=rng.choice([0, 1, 5, 50, 500]))
                elif r < 0.59:
                    op = "flow"
                    ch.flow(True)
                if op:
                    ops[op] = ops.get(op, 0) + 1
        except pex.ChannelClosedByBroker as e:
            raise AssertionError(f"seed {seed}: channel closed by the broker: {e.reply_code} "
                                 f"{e.reply_text} (last operation {op}; {ops})") from None
        finally:
            stop.set()
            for p in pubs:
                p.join(scaled(10))
        assert not errors, f"seed {seed}: publisher failed: {errors[0]!r}"
        assert sum(ops.values()) > MIN_OPS, f"seed {seed}: too few operations: {ops}"
        print(f"seed {seed}: {ops}", flush=True)
        c.close()


def test_stress_seed_1():
    run_stress(1)


def test_stress_seed_2():
    run_stress(2)


def test_stress_seed_3():
    run_stress(3)


if __name__ == "__main__":
    run_tests([test_stress_seed_1, test_stress_seed_2, test_stress_seed_3])
