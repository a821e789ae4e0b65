"""Stream queues across kill -9 and a clean restart, through pika (Warren only: the tests need
b.kill() / b.restart(), so they skip under WARREN_EXTERNAL; the stream behaviour they rely on
was validated against RabbitMQ 3.10.8 by ../features/pika_streams.py).

  - kill -9 while a confirming publisher runs (persistent and transient messages: a stream
    keeps both): after the restart every confirmed message is there, in publish order, at
    offsets 0, 1, 2, ... (what was published but not confirmed may be there too, only after
    them); new publishes continue the offsets;
  - a clean restart keeps the stream's arguments (an equivalent redeclare succeeds, a
    different one is refused), its retention state (the first offset after x-max-length-bytes
    removed old segments) and each message's properties and x-stream-offset.

Run: WARREND=build/release/warrend /usr/bin/python3 tests/interop/durability/stream_restart_test.py
"""
import time

import pika
import pika.exceptions as pex

from durability_util import (ConfirmPublisher, broker, connect, needs_warrend, run_tests,
                             scaled, skippable, uniq, wait_for)

STREAM = {"x-queue-type": "stream"}


def read_all(b, q, offset="first", quiet=0.5):
    """Every message from offset on: [(x-stream-offset, body, properties)]."""
    conn = connect(b)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1000)
    got = []

    def on(c, m, p, body):
        got.append((p.headers["x-stream-offset"], body, p))
        c.basic_ack(m.delivery_tag)
    ch.basic_consume(q, on, arguments={"x-stream-offset": offset})
    last, seen = time.monotonic(), 0
    deadline = time.monotonic() + scaled(60)
    while time.monotonic() - last < quiet and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
        if len(got) != seen:
            seen, last = len(got), time.monotonic()
    conn.close()
    return got


def publish(b, q, bodies, props=None):
    conn = connect(b)
    ch = conn.channel()
    ch.confirm_delivery()
    for body in bodies:
        ch.basic_publish("", q, body, props)
    conn.close()


@skippable
def test_confirmed_messages_survive_kill():
    with broker() as b:
        needs_warrend(b, "kill -9")
        q = uniq("stream.kill")
        conn = connect(b)
        conn.channel().queue_declare(q, durable=True, arguments=STREAM)
        conn.close()

        def make(i):
            return ("", q, f"k{i}".encode(),
                    pika.BasicProperties(delivery_mode=1 if i % 2 else 2,
                                         headers={"i": i}))
        pub = ConfirmPublisher(b, make, window=200)
        pub.start()
        wait_for(lambda: len(pub.confirmed) >= 2000, timeout=60, what="2000 confirms")
        b.kill()
        pub.join()
        confirmed = set(pub.confirmed)
        b.start()
        got = read_all(b, q)
        ids = [int(body[1:]) for _, body, _ in got]
        assert [o for o, _, _ in got] == list(range(len(got))), "offsets are 0, 1, 2, ..."
        assert ids == pub.published[:len(ids)], "publish order, nothing skipped"
        missing = confirmed - set(ids)
        assert not missing, f"{len(missing)} confirmed messages lost, e.g. {sorted(missing)[:5]}"
        assert all(p.headers["i"] == int(body[1:]) and
                   p.delivery_mode == (1 if int(body[1:]) % 2 else 2) for _, body, p in got), \
            "properties kept"
        n = len(got)
        publish(b, q, [b"after-1", b"after-2"])
        tail = read_all(b, q, n)
        assert [(o, body) for o, body, _ in tail] == [(n, b"after-1"), (n + 1, b"after-2")], \
            [(o, body) for o, body, _ in tail]


@skippable
def test_restart_keeps_arguments_and_retention_state():
    with broker() as b:
        needs_warrend(b, "restart")
        q = uniq("stream.retention")
        args = dict(STREAM, **{"x-max-length-bytes": 5000,
                               "x-stream-max-segment-size-bytes": 1000})
        conn = connect(b)
        conn.channel().queue_declare(q, durable=True, arguments=args)
        conn.close()
        publish(b, q, [f"m{i}".encode().ljust(100, b".") for i in range(100)],
                pika.BasicProperties(content_type="text/plain", headers={"h": "v"}))
        time.sleep(1)
        before = read_all(b, q)
        assert before[0][0] > 0, f"retention removed nothing: first offset {before[0][0]}"
        b.restart()
        after = read_all(b, q)
        assert [(o, body) for o, body, _ in after] == [(o, body) for o, body, _ in before], \
            "the same offsets and bodies after a clean restart"
        p = after[0][2]
        assert (p.content_type, p.headers) == ("text/plain",
                                               {"h": "v", "x-stream-offset": after[0][0]}), p
        conn = connect(b)
        ch = conn.channel()
        ch.queue_declare(q, durable=True, arguments=args)
        try:
            ch.queue_declare(q, durable=True, arguments=dict(args, **{"x-max-length-bytes": 1}))
            raise AssertionError("inequivalent redeclare accepted after restart")
        except pex.ChannelClosedByBroker as e:
            assert e.reply_code == 406, e
        conn.close()
        # Offsets continue and retention keeps running.
        last = after[-1][0]
        publish(b, q, [f"n{i}".encode().ljust(100, b".") for i in range(100)])
        time.sleep(1)
        again = read_all(b, q)
        assert again[0][0] > before[0][0], "retention after the restart"
        assert again[-1][1].startswith(b"n99.") and again[-1][0] > last, again[-1][:2]
        offs = [o for o, _, _ in again]
        assert offs == sorted(set(offs)), "offsets increase"


if __name__ == "__main__":
    run_tests([test_confirmed_messages_survive_kill,
               test_restart_keeps_arguments_and_retention_state])
