"""Message deduplication through python3-pika and stomp.py, as the rabbitmq-message-deduplication
plugin and LavinMQ document it: the exchange type x-message-deduplication (x-cache-size required,
x-cache-ttl, the message header x-cache-ttl), the argument x-message-deduplication on an exchange
of another type and on a queue, the key in header x-deduplication-header (or the header the
x-deduplication-header argument names). Cache size and TTL are honoured; a queue forgets a key
when its message leaves (ack, no-ack get, purge, expiry). Restart and kill -9:
../durability/dedup_restart_test.py."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402
import stomp  # noqa: E402

from amqp_util import connect, current_broker, expect_eq, main, uniq  # noqa: E402
from features_util import bodies, count, fresh  # noqa: E402
from harness import scaled  # noqa: E402

KEY = "x-deduplication-header"


def props(key=None, ttl=None, **kw):
    h = {}
    if key is not None:
        h[KEY] = key
    if ttl is not None:
        h["x-cache-ttl"] = ttl
    return pika.BasicProperties(headers=h or None, **kw)


def dedup_exchange(ch, base, **args):
    x = uniq(base)
    ch.exchange_declare(x, "x-message-deduplication", arguments=args)
    q = fresh(ch, base + ".q")
    ch.queue_bind(q, x)
    return x, q


def test_declare_checks_the_plugins_arguments():
    conn = connect()
    cases = [
        (None, "PRECONDITION_FAILED - Missing or invalid argument, 'x-cache-size' must be an "
               "integer greater than 0"),
        ({"x-cache-size": 0}, "PRECONDITION_FAILED - Missing or invalid argument, "
                              "'x-cache-size' must be an integer greater than 0"),
        ({"x-cache-size": "ten"}, "PRECONDITION_FAILED - Missing or invalid argument, "
                                  "'x-cache-size' must be an integer greater than 0"),
        ({"x-cache-size": 5, "x-cache-ttl": -1},
         "PRECONDITION_FAILED - Invalid argument, 'x-cache-ttl' must be an integer greater "
         "than 0"),
        ({"x-cache-size": 5, "x-cache-persistence": "tape"},
         "PRECONDITION_FAILED - Invalid argument, 'x-cache-persistence' must be either 'disk' "
         "or 'memory'"),
    ]
    for args, text in cases:
        ch = conn.channel()
        try:
            ch.exchange_declare(uniq("dd.bad"), "x-message-deduplication", arguments=args)
            raise AssertionError(f"{args}: declare succeeded")
        except pex.ChannelClosedByBroker as e:
            expect_eq((e.reply_code, e.reply_text), (406, text), f"{args}")
    ch = conn.channel()
    x = uniq("dd.ok")
    # The plugin also takes numbers as strings.
    ch.exchange_declare(x, "x-message-deduplication",
                        arguments={"x-cache-size": "5", "x-cache-ttl": "1000",
                                   "x-cache-persistence": "disk"})
    ch.exchange_declare(x, "x-message-deduplication",
                        arguments={"x-cache-size": "5", "x-cache-ttl": "1000",
                                   "x-cache-persistence": "disk"})
    try:
        ch.exchange_declare(x, "fanout")
        raise AssertionError("inequivalent type accepted")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 406, "type mismatch")
    ch = conn.channel()
    ch.exchange_delete(x)
    conn.close()


def test_exchange_drops_a_key_it_has_seen():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    x, q = dedup_exchange(ch, "dd.x", **{"x-cache-size": 100})
    for i in range(3):
        ch.basic_publish(x, "any", f"a{i}".encode(), props("a"))   # confirmed each time
    ch.basic_publish(x, "any", b"b0", props("b"))
    ch.basic_publish(x, "any", b"int1", props(1))
    ch.basic_publish(x, "any", b"str1", props("1"))  # "1" and 1 are different keys
    ch.basic_publish(x, "any", b"int1-again", props(1))
    ch.basic_publish(x, "any", b"none0", props())    # no key: never a duplicate
    ch.basic_publish(x, "any", b"none1", props())
    # A duplicate routes nowhere: a mandatory one comes back, as the plugin's empty route does.
    try:
        ch.basic_publish(x, "any", b"a-mandatory", props("a"), mandatory=True)
        raise AssertionError("a mandatory duplicate was not returned")
    except pex.UnroutableError as e:
        expect_eq([m.body for m in e.messages], [b"a-mandatory"], "returned duplicate")
    expect_eq(bodies(ch, q), ["a0", "b0", "int1", "str1", "none0", "none1"], "routed")
    ch.exchange_delete(x)
    ch.queue_delete(q)
    conn.close()


def test_cache_size_evicts_the_oldest_key():
    conn = connect()
    ch = conn.channel()
    x, q = dedup_exchange(ch, "dd.size", **{"x-cache-size": 2})
    for k in ["a", "b", "c"]:        # a is evicted by c
        ch.basic_publish(x, "", k.encode(), props(k))
    ch.basic_publish(x, "", b"c-dup", props("c"))
    ch.basic_publish(x, "", b"a-again", props("a"))  # evicts b
    ch.basic_publish(x, "", b"b-again", props("b"))
    expect_eq(bodies(ch, q), ["a", "b", "c", "a-again", "b-again"], "size 2")
    ch.exchange_delete(x)
    ch.queue_delete(q)
    conn.close()


def test_cache_ttl_and_the_message_header_override():
    conn = connect()
    ch = conn.channel()
    x, q = dedup_exchange(ch, "dd.ttl", **{"x-cache-size": 100, "x-cache-ttl": 300})
    ch.basic_publish(x, "", b"short", props("s"))                # 300 ms (the exchange's)
    ch.basic_publish(x, "", b"long", props("l", ttl=int(scaled(5000))))  # the header's
    ch.basic_publish(x, "", b"short-dup", props("s"))
    ch.basic_publish(x, "", b"long-dup", props("l"))
    time.sleep(0.45)
    ch.basic_publish(x, "", b"short-after", props("s"))
    ch.basic_publish(x, "", b"long-after", props("l"))
    expect_eq(bodies(ch, q), ["short", "long", "short-after"], "ttl")
    ch.exchange_delete(x)
    ch.queue_delete(q)
    conn.close()


def test_argument_on_a_direct_exchange_and_a_named_header():
    conn = connect()
    ch = conn.channel()
    x = uniq("dd.direct")
    # LavinMQ's form: any type, x-cache-size optional, the key's header chosen by argument.
    ch.exchange_declare(x, "direct", arguments={"x-message-deduplication": True,
                                                "x-deduplication-header": "order-id"})
    q1, q2 = fresh(ch, "dd.direct.1"), fresh(ch, "dd.direct.2")
    ch.queue_bind(q1, x, "one")
    ch.queue_bind(q2, x, "two")
    ch.basic_publish(x, "one", b"o1", pika.BasicProperties(headers={"order-id": 7}))
    ch.basic_publish(x, "two", b"o1-dup", pika.BasicProperties(headers={"order-id": 7}))
    ch.basic_publish(x, "two", b"o2", pika.BasicProperties(headers={"order-id": 8}))
    ch.basic_publish(x, "two", b"other-header", props(7))  # x-deduplication-header: not the key
    ch.basic_publish(x, "two", b"other-header2", props(7))
    expect_eq(bodies(ch, q1), ["o1"], "routed by key")
    expect_eq(bodies(ch, q2), ["o2", "other-header", "other-header2"], "second queue")
    ch.exchange_delete(x)
    for q in (q1, q2):
        ch.queue_delete(q)
    conn.close()


def test_queue_forgets_a_key_when_its_message_leaves():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "dd.queue", **{"x-message-deduplication": True})
    ch.basic_publish("", q, b"k1", props("k1"))
    ch.basic_publish("", q, b"k1-dup", props("k1"), mandatory=True)  # accepted, not returned
    ch.basic_publish("", q, b"k2", props("k2"))
    expect_eq(count(ch, q), 2, "duplicate not enqueued")
    # Unacked still counts as in the queue.
    m, _, b = ch.basic_get(q, auto_ack=False)
    expect_eq(b, b"k1", "head")
    ch.basic_publish("", q, b"k1-while-unacked", props("k1"))
    expect_eq(count(ch, q), 1, "unacked key still held")
    ch.basic_ack(m.delivery_tag)
    ch.basic_publish("", q, b"k1-after-ack", props("k1"))
    # A no-ack get releases at once.
    expect_eq(bodies(ch, q), ["k2", "k1-after-ack"], "after ack")
    ch.basic_publish("", q, b"k2-after-get", props("k2"))
    # A reject without requeue releases; a requeue keeps it.
    m, _, b = ch.basic_get(q, auto_ack=False)
    ch.basic_nack(m.delivery_tag, requeue=True)
    ch.basic_publish("", q, b"k2-dup", props("k2"))
    expect_eq(count(ch, q), 1, "requeued key still held")
    m, _, b = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    ch.basic_publish("", q, b"k2-after-reject", props("k2"))
    expect_eq(count(ch, q), 1, "rejected key released")
    # Purge releases.
    ch.queue_purge(q)
    ch.basic_publish("", q, b"k2-after-purge", props("k2"))
    expect_eq(bodies(ch, q), ["k2-after-purge"], "after purge")
    ch.queue_delete(q)
    conn.close()


def test_queue_key_released_by_expiry_and_by_drop_head():
    conn = connect()
    ch = conn.channel()
    q = fresh(ch, "dd.queue.ttl", **{"x-message-deduplication": True, "x-message-ttl": 200})
    ch.basic_publish("", q, b"e1", props("e"))
    ch.basic_publish("", q, b"e1-dup", props("e"))
    expect_eq(count(ch, q), 1, "dup")
    time.sleep(0.35)
    ch.basic_publish("", q, b"e2", props("e"))
    expect_eq(bodies(ch, q), ["e2"], "expired key released")
    ch.queue_delete(q)
    q = fresh(ch, "dd.queue.len", **{"x-message-deduplication": True, "x-max-length": 1})
    ch.basic_publish("", q, b"a", props("a"))
    ch.basic_publish("", q, b"b", props("b"))       # drops a from the head
    ch.basic_publish("", q, b"a-again", props("a"))  # drops b
    ch.basic_publish("", q, b"a-dup", props("a"))
    expect_eq(bodies(ch, q), ["a-again"], "drop-head released")
    ch.queue_delete(q)
    conn.close()


def test_stomp_send_is_deduplicated():
    b = current_broker()
    conn = connect()
    ch = conn.channel()
    x, q = dedup_exchange(ch, "dd.stomp", **{"x-cache-size": 10})
    qd = fresh(ch, "dd.stomp.queue", **{"x-message-deduplication": True})
    s = stomp.Connection([(b.host, b.stomp_port)], heartbeats=(0, 0))
    s.connect("guest", "guest", wait=True)
    for i in range(3):
        s.send(f"/exchange/{x}/k", f"s{i}", headers={KEY: "same"}, receipt=f"r{i}")
        s.send(f"/amq/queue/{qd}", f"q{i}", headers={KEY: "same"}, receipt=f"rq{i}")
    s.send(f"/exchange/{x}/k", "other", headers={KEY: "other"}, receipt="r-other")
    deadline = time.monotonic() + scaled(5)
    while count(ch, q) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    s.disconnect()
    expect_eq(bodies(ch, q), ["s0", "other"], "exchange over STOMP")
    expect_eq(bodies(ch, qd), ["q0"], "queue over STOMP")
    # STOMP's string key meets AMQP's longstr key.
    ch.basic_publish(x, "", b"amqp-same", props("same"))
    expect_eq(bodies(ch, q), [], "AMQP publish with the STOMP key")
    ch.exchange_delete(x)
    ch.queue_delete(q)
    ch.queue_delete(qd)
    conn.close()


if __name__ == "__main__":
    main([test_declare_checks_the_plugins_arguments,
          test_exchange_drops_a_key_it_has_seen,
          test_cache_size_evicts_the_oldest_key,
          test_cache_ttl_and_the_message_header_override,
          test_argument_on_a_direct_exchange_and_a_named_header,
          test_queue_forgets_a_key_when_its_message_leaves,
          test_queue_key_released_by_expiry_and_by_drop_head,
          test_stomp_send_is_deduplicated])
