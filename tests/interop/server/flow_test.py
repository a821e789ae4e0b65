"""Credit flow (issue #15, core/flow.h): a publisher faster than its consumers is slowed at its
socket, so the backlog stays bounded and the consumer still gets every message, in order.

- A pika publisher sends 40,000 messages as fast as it can to a queue whose pika consumer (its
  own connection, prefetch 50, manual ack) takes about 4,000 a second. Without flow the backlog
  would pass 30,000; with it, the ready count never goes much above the flow mark (1,000
  messages, plus one read of input). The publisher's connection shows state "flow" in
  /api/connections meanwhile, and "running" again after. Every message arrives, in order.
- A queue without consumers is a buffer: the same publisher is not slowed by it.
- A connection that publishes to a queue it also consumes from is never held (its acks would
  not be read): it finishes.
"""
import base64
import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}
FLOW_MARK = 1_000  # flow.queue_ready_messages' default
# One read of input is 128 KiB: at ~60 bytes per 16-byte publish, ~2,200 messages can follow
# the one that crossed the mark before the connection stops being read.
SLACK = 4_000


def connect():
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port,
                                                             connection_attempts=1))


def api(path):
    b = B["b"]
    req = urllib.request.Request(f"http://{b.host}:{b.http_port}{path}")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def depth(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def publish(queue, n, done):
    c = connect()
    ch = c.channel()
    for i in range(n):
        ch.basic_publish("", queue, b"%015d" % i)
    c.close()
    done.set()


def test_a_fast_publisher_is_slowed_to_its_consumer_and_nothing_is_lost():
    n = 40_000
    setup = connect()
    sch = setup.channel()
    sch.queue_declare("flow-q")
    got = []
    stop = threading.Event()

    def consume():
        c = connect()
        ch = c.channel()
        ch.basic_qos(prefetch_count=50)

        def on(chx, method, _props, body):
            got.append(int(body))
            chx.basic_ack(method.delivery_tag)
            if len(got) % 40 == 0:
                time.sleep(0.01)  # about 4,000 messages a second
            if len(got) == n:
                chx.stop_consuming()

        ch.basic_consume("flow-q", on)
        while not stop.is_set() and len(got) < n:
            c.process_data_events(time_limit=0.2)
        c.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    time.sleep(0.3)  # the consumer is attached before the first publish
    done = threading.Event()
    publisher = threading.Thread(target=publish, args=("flow-q", n, done))
    publisher.start()
    peak, states = 0, set()
    deadline = time.monotonic() + 90
    while not done.is_set():
        assert time.monotonic() < deadline, f"publisher not done after 90 s, got {len(got)}"
        peak = max(peak, depth(sch, "flow-q"))
        for conn in api("/api/connections"):
            states.add(conn.get("state"))
        time.sleep(0.05)
    publisher.join()
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    consumer.join()
    print(f"  backlog peak {peak} (flow mark {FLOW_MARK}), states seen {sorted(states)}")
    assert got == list(range(n)), f"got {len(got)} of {n}, in order: {got[:5]}..."
    assert peak <= FLOW_MARK + SLACK, f"backlog reached {peak}: the publisher was not slowed"
    assert peak > FLOW_MARK // 2, f"backlog peaked at {peak}: the consumer was not slower?"
    assert "flow" in states, f"no connection was ever in state flow: {states}"
    assert {c.get("state") for c in api("/api/connections")} <= {"running"}, \
        api("/api/connections")
    sch.queue_delete("flow-q")
    setup.close()


def test_a_queue_without_consumers_slows_no_one():
    setup = connect()
    sch = setup.channel()
    sch.queue_declare("buffer-q")
    done = threading.Event()
    publish("buffer-q", 30_000, done)
    assert done.is_set()
    deadline = time.monotonic() + 10
    while depth(sch, "buffer-q") < 30_000:
        assert time.monotonic() < deadline, depth(sch, "buffer-q")
        time.sleep(0.05)
    sch.queue_delete("buffer-q")
    setup.close()


def test_a_connection_consuming_its_own_queue_is_never_held():
    # Publish 30,000 to a queue this connection consumes from (prefetch 10, acks only after the
    # publishing is done): held, its acks would never be read and the queue never drain.
    c = connect()
    ch = c.channel()
    ch.queue_declare("self-q")
    ch.basic_qos(prefetch_count=10)
    tags = []
    ch.basic_consume("self-q", lambda chx, m, p, b: tags.append(m.delivery_tag))
    t0 = time.monotonic()
    for i in range(30_000):
        ch.basic_publish("", "self-q", b"%015d" % i)
    took = time.monotonic() - t0
    c.process_data_events(time_limit=0.5)
    assert depth(ch, "self-q") >= 30_000 - 10, depth(ch, "self-q")
    assert took < 30, f"publishing took {took:.1f} s"
    ch.queue_delete("self-q")
    c.close()


if __name__ == "__main__":
    with broker() as b:
        B["b"] = b
        run_tests([test_a_fast_publisher_is_slowed_to_its_consumer_and_nothing_is_lost,
                   test_a_queue_without_consumers_slows_no_one,
                   test_a_connection_consuming_its_own_queue_is_never_held])
