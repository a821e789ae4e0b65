"""Queue features through python3-pika, as RabbitMQ documents them: per-queue and per-message TTL
(expiry in the middle of a queue), dead-lettering with x-death headers, x-max-length /
x-max-length-bytes with x-overflow drop-head, x-max-priority ordering and x-expires.
(reject-publish confirms: pika_overflow_confirms.py.)"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402

from amqp_util import connect, expect_eq, main, uniq, wait_for  # noqa: E402


from features_util import bodies, count, fresh, get_one  # noqa: E402,F401


def test_per_message_ttl_expires_in_the_middle():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "ttl.mid")
    ch.basic_publish("", q, b"head")
    ch.basic_publish("", q, b"mid", pika.BasicProperties(expiration="200"))
    ch.basic_publish("", q, b"tail", pika.BasicProperties(expiration="60000"))
    expect_eq(count(ch, q), 3, "before expiry")
    # The head never expires, yet the middle message must go on time (message count drops).
    wait_for(lambda: count(ch, q) == 2, timeout=5, what="mid message expiry")
    expect_eq(bodies(ch, q), ["head", "tail"], "remaining")
    conn.close()


def test_queue_ttl_and_smaller_wins():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "ttl.queue", **{"x-message-ttl": 300})
    ch.basic_publish("", q, b"a", pika.BasicProperties(expiration="60000"))  # queue TTL wins
    ch.basic_publish("", q, b"b", pika.BasicProperties(expiration="50"))     # message TTL wins
    wait_for(lambda: count(ch, q) == 1, timeout=5, what="short message expiry")
    wait_for(lambda: count(ch, q) == 0, timeout=5, what="queue ttl expiry")
    expect_eq(bodies(ch, q), [], "all expired")
    conn.close()


def test_expired_message_never_delivered_to_consumer():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "ttl.consume")
    ch.basic_publish("", q, b"old", pika.BasicProperties(expiration="100"))
    ch.basic_publish("", q, b"new")
    time.sleep(0.3)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b.decode()), auto_ack=True)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    expect_eq(got, ["new"], "delivered")
    conn.close()


def test_dead_letter_rejected_x_death():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    dlx = uniq("dlx.fanout")
    ch.exchange_declare(dlx, "fanout")
    dlq = fresh(ch, "dl.rej.dlq")
    ch.queue_bind(dlq, dlx)
    q = fresh(ch, "dl.rej", **{"x-dead-letter-exchange": dlx})
    ch.basic_publish("", q, b"m", pika.BasicProperties(expiration="60000",
                                                       headers={"app": "x"}))
    m, p, b = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, b = get_one(ch, dlq)
    expect_eq(b, b"m", "body")
    expect_eq(m.exchange, dlx, "delivered via dlx")
    expect_eq(m.routing_key, q, "original routing key kept")
    expect_eq(p.expiration, None, "expiration removed")
    h = p.headers
    expect_eq(h["app"], "x", "other headers kept")
    xd = h["x-death"]
    expect_eq(len(xd), 1, "x-death entries")
    e = xd[0]
    expect_eq(e["count"], 1, "count")
    expect_eq(e["reason"], "rejected", "reason")
    expect_eq(e["queue"], q, "queue")
    expect_eq(e["exchange"], "", "exchange")
    expect_eq(e["routing-keys"], [q], "routing-keys")
    expect_eq(e["original-expiration"], "60000", "original-expiration")
    assert isinstance(e["time"], datetime.datetime), e["time"]
    expect_eq(h["x-first-death-reason"], "rejected", "first reason")
    expect_eq(h["x-first-death-queue"], q, "first queue")
    expect_eq(h["x-first-death-exchange"], "", "first exchange")
    expect_eq(h["x-last-death-reason"], "rejected", "last reason")
    expect_eq(h["x-last-death-queue"], q, "last queue")
    conn.close()


def test_dead_letter_expired_with_routing_key_and_count():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    # q1 expires into q2 (default exchange, routing key q2); q2 rejects back into q1.
    q1n, q2n = uniq("dl.loop1"), uniq("dl.loop2")
    q2 = fresh(ch, "dl.loop2", **{"x-dead-letter-exchange": "",
                                  "x-dead-letter-routing-key": q1n})
    q1 = fresh(ch, "dl.loop1", **{"x-message-ttl": 100, "x-dead-letter-exchange": "",
                                  "x-dead-letter-routing-key": q2n})
    ch.basic_publish("", q1, b"m")
    for _ in range(2):
        wait_for(lambda: count(ch, q2) == 1, timeout=5, what="expired into q2")
        m, p, b = ch.basic_get(q2, auto_ack=False)
        ch.basic_reject(m.delivery_tag, requeue=False)
        wait_for(lambda: count(ch, q1) == 1, timeout=5, what="rejected into q1")
    m, p, b = ch.basic_get(q1, auto_ack=True)
    xd = p.headers["x-death"]
    expect_eq([(e["queue"], e["reason"], e["count"]) for e in xd],
              [(q2, "rejected", 2), (q1, "expired", 2)], "x-death entries")
    expect_eq(xd[1]["routing-keys"], [q1], "routing-keys of the first death")
    expect_eq(p.headers["x-first-death-reason"], "expired", "first reason")
    expect_eq(p.headers["x-last-death-reason"], "rejected", "last reason")
    conn.close()


def test_expiry_cycle_dropped():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "dl.cycle", **{"x-message-ttl": 100, "x-dead-letter-exchange": ""})
    ch.basic_publish("", q, b"m")
    wait_for(lambda: count(ch, q) == 0, timeout=5, what="expiry")
    time.sleep(0.3)
    expect_eq(count(ch, q), 0, "cycle dropped, not redelivered")
    conn.close()


def test_max_length_drop_head_dead_letters_maxlen():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    dlq = fresh(ch, "len.dlq")
    q = fresh(ch, "len.drop", **{"x-max-length": 2, "x-dead-letter-exchange": "",
                                 "x-dead-letter-routing-key": dlq})
    for b in (b"1", b"2", b"3"):
        ch.basic_publish("", q, b)
    expect_eq(bodies(ch, q), ["2", "3"], "queue keeps the newest")
    m, p, b = get_one(ch, dlq)
    expect_eq(b, b"1", "dropped head dead-lettered")
    expect_eq(p.headers["x-death"][0]["reason"], "maxlen", "reason")
    conn.close()


def test_max_length_bytes():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "len.bytes", **{"x-max-length-bytes": 10})
    for b in (b"aaaa", b"bbbb", b"cccc"):
        ch.basic_publish("", q, b)
    expect_eq(bodies(ch, q), ["bbbb", "cccc"], "bytes limit")
    conn.close()


def test_priority_order():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "prio", **{"x-max-priority": 5})
    for body, prio in (("p0a", None), ("p3", 3), ("p9", 9), ("p5", 5), ("p3b", 3), ("p0b", 0)):
        ch.basic_publish("", q, body.encode(), pika.BasicProperties(priority=prio))
    # Higher first, FIFO within a priority; 9 is capped to 5 (and keeps arrival order there).
    expect_eq(bodies(ch, q), ["p9", "p5", "p3", "p3b", "p0a", "p0b"], "priority order")
    conn.close()


def test_priority_consumer_order():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "prio.consume", **{"x-max-priority": 10})
    for i in range(5):
        ch.basic_publish("", q, f"lo{i}".encode(), pika.BasicProperties(priority=1))
    ch.basic_publish("", q, b"hi", pika.BasicProperties(priority=8))
    got = []
    ch.basic_qos(prefetch_count=1)
    ch.basic_consume(q, lambda c, m, p, b: (got.append(b.decode()),
                                            c.basic_ack(m.delivery_tag)))
    deadline = time.monotonic() + 5
    while len(got) < 6 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    expect_eq(got, ["hi", "lo0", "lo1", "lo2", "lo3", "lo4"], "consumer order")
    conn.close()


def test_x_expires_deletes_unused_queue():
    conn = connect()
    ch = conn.channel()
    q = fresh(ch, "expires", **{"x-expires": 400})
    time.sleep(0.2)
    ch.queue_declare(q, arguments={"x-expires": 400})  # redeclare counts as use
    time.sleep(0.3)
    expect_eq(count(ch, q), 0, "still there after redeclare")

    def gone():
        c = conn.channel()
        try:
            c.queue_declare(q, passive=True)
            c.close()
            return False
        except pex.ChannelClosedByBroker as e:
            expect_eq(e.reply_code, 404, "reply code")
            return True
    wait_for(gone, timeout=5, step=0.1, what="queue expiry")
    conn.close()


if __name__ == "__main__":
    main([
        test_per_message_ttl_expires_in_the_middle,
        test_queue_ttl_and_smaller_wins,
        test_expired_message_never_delivered_to_consumer,
        test_dead_letter_rejected_x_death,
        test_dead_letter_expired_with_routing_key_and_count,
        test_expiry_cycle_dropped,
        test_max_length_drop_head_dead_letters_maxlen,
        test_max_length_bytes,
        test_priority_order,
        test_priority_consumer_order,
        test_x_expires_deletes_unused_queue,
    ])
