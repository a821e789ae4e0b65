"""AMQP 0-9-1 semantics through python3-pika: publisher confirms, mandatory returns, consumer acks,
nack/reject/recover, basic.get, prefetch, cancel, requeue order, transactions, exchange-to-exchange
bindings, headers exchange, purge/delete/declare counts, auto-delete and exclusive queues,
consumer cancel notification, large and frame-crossing bodies, many channels."""
import datetime
import decimal
import os
import time

import pika
import pika.exceptions as pex

from amqp_util import connect, expect_eq, main, uniq


def declare_fresh(ch, base, **kw):
    q = uniq(base)
    ch.queue_delete(q)
    ch.queue_declare(q, **kw)
    return q


def ready_count(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def get_all(ch, q, auto_ack=True):
    out = []
    while True:
        m, p, body = ch.basic_get(q, auto_ack=auto_ack)
        if m is None:
            return out
        out.append((m, p, body))


def publish_confirmed(ch, q, bodies, **kw):
    """Publishes on a confirm channel so every message is enqueued when this returns."""
    for b in bodies:
        ch.basic_publish("", q, b, **kw)


def pump(conn, until, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    return until()


def settle(conn, seconds=0.3):
    """Let in-flight deliveries arrive (used only where we assert that nothing more comes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)


def test_confirms_basic():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "confirms")
    ch.confirm_delivery()
    for i in range(200):
        ch.basic_publish("", q, f"m{i}".encode())  # raises NackError on nack
    expect_eq(ready_count(ch, q), 200, "messages after 200 confirmed publishes")
    # Persistent message to a durable queue is confirmed too.
    dq = declare_fresh(ch, "confirms.durable", durable=True)
    ch.basic_publish("", dq, b"p", properties=pika.BasicProperties(delivery_mode=2))
    expect_eq(ready_count(ch, dq), 1, "durable queue count")
    ch.queue_delete(q)
    ch.queue_delete(dq)
    conn.close()


def test_mandatory_unroutable_returns():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    missing = uniq("nobody-home")
    try:
        ch.basic_publish("", missing, b"lost", mandatory=True)
        raise AssertionError("mandatory publish to no queue was not returned")
    except pex.UnroutableError as e:
        expect_eq(len(e.messages), 1, "returned messages")
        ret = e.messages[0]
        expect_eq(ret.method.reply_code, 312, "basic.return reply code")
        expect_eq(ret.method.reply_text, "NO_ROUTE", "basic.return reply text")
        expect_eq(ret.method.routing_key, missing, "basic.return routing key")
        expect_eq(ret.body, b"lost", "returned body")
    # Non-mandatory unroutable message is silently dropped but still confirmed.
    ch.basic_publish("", missing, b"dropped")
    # Without confirms the return arrives through the on_return callback.
    ch2 = conn.channel()
    returned = []
    ch2.add_on_return_callback(lambda c, m, p, b: returned.append((m, p, b)))
    ch2.basic_publish("amq.direct", missing, b"r2", mandatory=True,
                      properties=pika.BasicProperties(message_id="mid-1"))
    assert pump(conn, lambda: returned), "no basic.return without confirms"
    m, p, b = returned[0]
    expect_eq((m.reply_code, m.exchange, m.routing_key, b, p.message_id),
              (312, "amq.direct", missing, b"r2", "mid-1"), "returned message")
    # Routable mandatory message is not returned.
    q = declare_fresh(ch, "mandatory.ok")
    ch.basic_publish("", q, b"ok", mandatory=True)
    expect_eq(ready_count(ch, q), 1, "routable mandatory message delivered")
    ch.queue_delete(q)
    conn.close()


def test_consumer_acks_in_batches():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "batchack")
    ch.confirm_delivery()
    publish_confirmed(ch, q, [f"{i}".encode() for i in range(10)])
    c = conn.channel()
    tags = []
    c.basic_consume(q, lambda ch_, m, p, b: tags.append(m.delivery_tag))
    assert pump(conn, lambda: len(tags) == 10), f"deliveries {tags}"
    expect_eq(tags, list(range(1, 11)), "delivery tags")
    c.basic_ack(delivery_tag=4, multiple=True)   # acks 1..4
    c.basic_ack(delivery_tag=6)                   # acks 6
    c.basic_ack(delivery_tag=10, multiple=True)   # acks 5, 7..10
    c.close()  # nothing unacked is left to requeue
    expect_eq(ready_count(ch, q), 0, "messages left after multiple acks")
    # ack with delivery_tag=0 and multiple=True acks everything outstanding.
    publish_confirmed(ch, q, [b"a", b"b", b"c"])
    c = conn.channel()
    got = []
    c.basic_consume(q, lambda ch_, m, p, b: got.append(m.delivery_tag))
    assert pump(conn, lambda: len(got) == 3)
    c.basic_ack(delivery_tag=0, multiple=True)
    c.close()
    expect_eq(ready_count(ch, q), 0, "messages left after ack(0, multiple)")
    ch.queue_delete(q)
    conn.close()


def test_reject_nack_requeue_redelivered():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "requeue")
    ch.confirm_delivery()
    publish_confirmed(ch, q, [b"one"])
    g = conn.channel()
    m, _, body = g.basic_get(q)
    expect_eq((body, m.redelivered), (b"one", False), "first get")
    g.basic_reject(m.delivery_tag, requeue=True)
    m, _, body = g.basic_get(q)
    expect_eq((body, m.redelivered), (b"one", True), "get after reject(requeue)")
    g.basic_nack(m.delivery_tag, requeue=True)
    m, _, body = g.basic_get(q)
    expect_eq((body, m.redelivered), (b"one", True), "get after nack(requeue)")
    g.basic_nack(m.delivery_tag, requeue=False)
    expect_eq(g.basic_get(q), (None, None, None), "get after nack(requeue=False)")
    # nack multiple requeues all up to the tag, in order.
    publish_confirmed(ch, q, [b"x1", b"x2", b"x3"])
    tags = [g.basic_get(q)[0].delivery_tag for _ in range(3)]
    g.basic_nack(tags[1], multiple=True, requeue=True)  # x1, x2 back
    g.basic_reject(tags[2], requeue=False)              # x3 dropped
    got = get_all(g, q)
    expect_eq([(b, m.redelivered) for m, _, b in got], [(b"x1", True), (b"x2", True)],
              "after nack(multiple) + reject(drop)")
    # A requeued message goes back to its place, ahead of messages published after it.
    publish_confirmed(ch, q, [b"p1", b"p2", b"p3"])
    m1 = g.basic_get(q)[0]
    m2 = g.basic_get(q)[0]
    g.basic_reject(m2.delivery_tag, requeue=True)
    g.basic_reject(m1.delivery_tag, requeue=True)
    got = get_all(g, q)
    expect_eq([(b, m.redelivered) for m, _, b in got],
              [(b"p1", True), (b"p2", True), (b"p3", False)], "order after requeue")
    ch.queue_delete(q)
    conn.close()


def test_basic_get_and_get_empty():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "get")
    expect_eq(ch.basic_get(q), (None, None, None), "basic.get on empty queue")
    ch.confirm_delivery()
    props = pika.BasicProperties(content_type="text/plain", headers={"k": "v"})
    publish_confirmed(ch, q, [b"a", b"b", b"c"], properties=props)
    m, p, body = ch.basic_get(q, auto_ack=True)
    expect_eq((body, m.message_count, m.exchange, m.routing_key, m.redelivered),
              (b"a", 2, "", q, False), "get-ok fields")
    expect_eq((p.content_type, p.headers), ("text/plain", {"k": "v"}), "get-ok properties")
    m, _, body = ch.basic_get(q, auto_ack=False)
    expect_eq((body, m.message_count), (b"b", 1), "second get")
    ch.basic_ack(m.delivery_tag)
    m, _, body = ch.basic_get(q, auto_ack=True)
    expect_eq((body, m.message_count), (b"c", 0), "third get")
    expect_eq(ch.basic_get(q), (None, None, None), "get-empty after draining")
    ch.queue_delete(q)
    conn.close()


def test_qos_prefetch_limits_unacked():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "qos")
    ch.confirm_delivery()
    publish_confirmed(ch, q, [f"{i}".encode() for i in range(10)])
    c = conn.channel()
    c.basic_qos(prefetch_count=3)
    got = []
    c.basic_consume(q, lambda ch_, m, p, b: got.append((m.delivery_tag, b)))
    assert pump(conn, lambda: len(got) >= 3)
    settle(conn)
    expect_eq(len(got), 3, "deliveries with prefetch 3 and no acks")
    c.basic_ack(got[0][0])
    assert pump(conn, lambda: len(got) >= 4)
    settle(conn)
    expect_eq(len(got), 4, "deliveries after one ack")
    c.basic_ack(got[3][0], multiple=True)
    assert pump(conn, lambda: len(got) >= 7)
    settle(conn)
    expect_eq(len(got), 7, "deliveries after multiple ack of 3")
    # basic.qos (global=false) applies to consumers created after it: the existing consumer
    # keeps its limit of 3 (RabbitMQ semantics), a new one gets the new limit.
    c.basic_qos(prefetch_count=2)
    settle(conn)
    expect_eq(len(got), 7, "deliveries after lowering qos (existing consumer keeps 3)")
    got2 = []
    c.basic_consume(q, lambda ch_, m, p, b: got2.append(b))
    assert pump(conn, lambda: len(got2) >= 2)
    settle(conn)
    expect_eq(got2, [b"7", b"8"], "new consumer limited by the new prefetch of 2")
    expect_eq([b for _, b in got], [f"{i}".encode() for i in range(7)], "delivery order")
    expect_eq(ready_count(ch, q), 1, "ready messages left")
    c.close()
    ch.queue_delete(q)
    conn.close()


def global_qos_deliveries(conn, qos_calls):
    """Two queues of 5 messages each consumed on one channel after the given basic.qos calls;
    returns how many unacked deliveries arrive."""
    ch = conn.channel()
    ch.confirm_delivery()
    queues = [ch.queue_declare("", exclusive=True).method.queue for _ in range(2)]
    for q in queues:
        publish_confirmed(ch, q, [b"x"] * 5)
    c = conn.channel()
    for count, is_global in qos_calls:
        c.basic_qos(prefetch_count=count, global_qos=is_global)
    got = []
    for q in queues:
        c.basic_consume(q, lambda ch_, m, p, b: got.append(m.delivery_tag))
    pump(conn, lambda: len(got) >= 10, timeout=0.5)
    settle(conn)
    n = len(got)
    c.basic_ack(0, multiple=True)
    c.close()
    for q in queues:
        ch.queue_delete(q)
    ch.close()
    return n


def test_qos_global_and_no_ack():
    conn = connect()
    # global=true: one limit shared by all consumers on the channel (RabbitMQ semantics).
    expect_eq(global_qos_deliveries(conn, [(3, True)]), 3, "global prefetch 3, two consumers")
    expect_eq(global_qos_deliveries(conn, [(2, False)]), 4, "per-consumer prefetch 2, two "
              "consumers")
    # Both limits apply: each consumer at most 2, the channel at most 3.
    expect_eq(global_qos_deliveries(conn, [(2, False), (3, True)]), 3,
              "per-consumer 2 and global 3")
    # Prefetch does not limit no-ack consumers.
    ch = conn.channel()
    ch.confirm_delivery()
    q = declare_fresh(ch, "qos.noack")
    publish_confirmed(ch, q, [b"a"] * 5)
    c = conn.channel()
    c.basic_qos(prefetch_count=1)
    seen = []
    c.basic_consume(q, lambda ch_, m, p, b: seen.append(b), auto_ack=True)
    assert pump(conn, lambda: len(seen) == 5), f"no-ack consumer got {len(seen)} of 5"
    c.close()
    ch.queue_delete(q)
    conn.close()


def test_consumer_priorities():
    """x-priority on basic.consume (RabbitMQ extension, advertised as consumer_priorities):
    the highest-priority consumer that can take a message gets it; lower ones only when the
    higher ones are blocked by their prefetch."""
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = declare_fresh(ch, "consumer.prio")
    low, high = conn.channel(), conn.channel()
    got = {"low": [], "high": []}
    low.basic_consume(q, lambda c, m, p, b: got["low"].append(b), arguments={"x-priority": 0})
    high.basic_consume(q, lambda c, m, p, b: got["high"].append(b),
                       arguments={"x-priority": 10})
    publish_confirmed(ch, q, [f"{i}".encode() for i in range(10)])
    assert pump(conn, lambda: len(got["low"]) + len(got["high"]) == 10)
    expect_eq((len(got["high"]), len(got["low"])), (10, 0), "unlimited high-priority consumer")
    low.close()
    high.close()
    ch.queue_purge(q)
    # A blocked high-priority consumer lets the rest through to the low one.
    low, high = conn.channel(), conn.channel()
    high.basic_qos(prefetch_count=2)
    got = {"low": [], "high": []}
    low.basic_consume(q, lambda c, m, p, b: got["low"].append(b), arguments={"x-priority": 1})
    high.basic_consume(q, lambda c, m, p, b: got["high"].append(b),
                       arguments={"x-priority": 5})
    publish_confirmed(ch, q, [f"{i}".encode() for i in range(10)])
    assert pump(conn, lambda: len(got["low"]) + len(got["high"]) == 10)
    expect_eq((got["high"], len(got["low"])), ([b"0", b"1"], 8), "prefetch-blocked high")
    low.close()
    high.close()
    ch.queue_delete(q)
    conn.close()


def test_basic_recover_requeue():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "recover")
    ch.confirm_delivery()
    publish_confirmed(ch, q, [b"r1", b"r2", b"r3"])
    c = conn.channel()
    got = []
    c.basic_consume(q, lambda ch_, m, p, b: got.append((b, m.redelivered, m.delivery_tag)))
    assert pump(conn, lambda: len(got) == 3)
    c.basic_ack(got[1][2])  # r2 is done
    c.basic_recover(requeue=True)
    assert pump(conn, lambda: len(got) == 5), f"redeliveries after recover: {got}"
    expect_eq(sorted((b, r) for b, r, _ in got[3:]), [(b"r1", True), (b"r3", True)],
              "redelivered after basic.recover")
    assert all(t > 3 for _, _, t in got[3:]), "redeliveries get new delivery tags"
    c.basic_ack(0, multiple=True)
    c.close()
    expect_eq(ready_count(ch, q), 0, "queue after acking recovered messages")
    ch.queue_delete(q)
    conn.close()


def test_cancel_stops_deliveries():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "cancel")
    ch.confirm_delivery()
    c = conn.channel()
    got = []
    tag = c.basic_consume(q, lambda ch_, m, p, b: got.append(b), auto_ack=True,
                          consumer_tag="my-tag-1")
    expect_eq(tag, "my-tag-1", "client-chosen consumer tag")
    publish_confirmed(ch, q, [b"before"])
    assert pump(conn, lambda: got == [b"before"])
    expect_eq(ch.queue_declare(q, passive=True).method.consumer_count, 1, "consumers")
    c.basic_cancel(tag)
    expect_eq(c.consumer_tags, [], "consumer tags after cancel")
    publish_confirmed(ch, q, [b"after1", b"after2"])
    settle(conn)
    expect_eq(got, [b"before"], "deliveries after cancel")
    ok = ch.queue_declare(q, passive=True).method
    expect_eq((ok.message_count, ok.consumer_count), (2, 0), "queue after cancel")
    # Server-generated consumer tags are distinct.
    t1 = c.basic_consume(q, lambda *a: None)
    t2 = c.basic_consume(q, lambda *a: None)
    assert t1 and t2 and t1 != t2, f"consumer tags {t1!r} {t2!r}"
    c.close()
    ch.queue_delete(q)
    conn.close()


def test_unacked_requeued_in_order_on_channel_close():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "requeue.order")
    ch.confirm_delivery()
    bodies = [f"m{i}".encode() for i in range(10)]
    publish_confirmed(ch, q, bodies)
    c = conn.channel()
    c.basic_qos(prefetch_count=5)
    got = []
    c.basic_consume(q, lambda ch_, m, p, b: got.append(b))
    assert pump(conn, lambda: len(got) == 5)
    expect_eq(got, bodies[:5], "first five deliveries")
    c.close()  # the 5 unacked go back to their original place, ahead of m5..m9
    after = get_all(ch, q)
    expect_eq([b for _, _, b in after], bodies, "queue order after channel close")
    expect_eq([m.redelivered for m, _, _ in after], [True] * 5 + [False] * 5,
              "redelivered flags after channel close")
    # Connection close requeues too.
    publish_confirmed(ch, q, [b"c1", b"c2"])
    other = connect()
    oc = other.channel()
    seen = []
    oc.basic_consume(q, lambda ch_, m, p, b: seen.append(b))
    assert pump(other, lambda: len(seen) == 2)
    other.close()
    after = get_all(ch, q)
    expect_eq([(b, m.redelivered) for m, _, b in after], [(b"c1", True), (b"c2", True)],
              "requeued after connection close")
    ch.queue_delete(q)
    conn.close()


def test_transactions():
    conn = connect()
    ch = conn.channel()
    q = declare_fresh(ch, "tx")
    t = conn.channel()
    t.tx_select()
    t.basic_publish("", q, b"t1")
    t.basic_publish("", q, b"t2")
    expect_eq(ready_count(ch, q), 0, "uncommitted publishes visible")
    t.tx_commit()
    expect_eq(ready_count(ch, q), 2, "messages after commit")
    t.basic_publish("", q, b"t3")
    t.tx_rollback()
    t.tx_commit()  # an empty commit is fine and publishes nothing
    expect_eq(ready_count(ch, q), 2, "messages after rollback")
    # Acks in a transaction: rollback discards the ack (message stays unacked on this channel).
    m, _, body = t.basic_get(q)
    expect_eq(body, b"t1", "get in tx")
    t.basic_ack(m.delivery_tag)
    t.tx_rollback()
    expect_eq(ready_count(ch, q), 1, "ready after get + rolled-back ack")
    m2, _, body2 = t.basic_get(q)
    expect_eq(body2, b"t2", "second get in tx")
    t.basic_ack(m2.delivery_tag)
    t.tx_commit()  # t2 is gone for good; t1 is still unacked
    t.close()      # t1 is requeued
    after = get_all(ch, q)
    expect_eq([(b, m.redelivered) for m, _, b in after], [(b"t1", True)],
              "after closing the tx channel")
    # Publish + commit on a channel that also consumes.
    t = conn.channel()
    t.tx_select()
    for i in range(5):
        t.basic_publish("", q, f"b{i}".encode())
    t.tx_commit()
    expect_eq(ready_count(ch, q), 5, "batch commit")
    t.close()
    ch.queue_delete(q)
    conn.close()


def test_exchange_to_exchange_bindings():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    e1, e2, e3 = uniq("e2e.src"), uniq("e2e.dst"), uniq("e2e.fan")
    ch.exchange_declare(e1, "direct", auto_delete=False)
    ch.exchange_declare(e2, "topic")
    ch.exchange_declare(e3, "fanout")
    q2 = declare_fresh(ch, "e2e.q2")
    q3 = declare_fresh(ch, "e2e.q3")
    ch.queue_bind(q2, e2, "k.#")
    ch.queue_bind(q3, e3)
    ch.exchange_bind(destination=e2, source=e1, routing_key="k.a")
    ch.exchange_bind(destination=e3, source=e2, routing_key="#")
    ch.basic_publish(e1, "k.a", b"via-e1")
    ch.basic_publish(e1, "k.b", b"not-bound")
    ch.basic_publish(e2, "k.b", b"direct-e2")
    expect_eq([b for _, _, b in get_all(ch, q2)], [b"via-e1", b"direct-e2"], "q2 via e1->e2")
    expect_eq([b for _, _, b in get_all(ch, q3)], [b"via-e1", b"direct-e2"], "q3 via e2->e3")
    # A cycle e3 -> e1 must not deliver twice or loop.
    ch.exchange_bind(destination=e1, source=e3, routing_key="")
    ch.queue_bind(q2, e1, "k.a")
    ch.basic_publish(e1, "k.a", b"cycle")
    expect_eq([b for _, _, b in get_all(ch, q2)], [b"cycle"], "q2 with a binding cycle")
    expect_eq([b for _, _, b in get_all(ch, q3)], [b"cycle"], "q3 with a binding cycle")
    ch.exchange_unbind(destination=e2, source=e1, routing_key="k.a")
    ch.queue_unbind(q2, e1, "k.a")
    try:
        ch.basic_publish(e1, "k.a", b"unbound", mandatory=True)
        raise AssertionError("publish after exchange.unbind was routed")
    except pex.UnroutableError:
        pass
    for e in (e1, e2, e3):
        ch.exchange_delete(e)
    ch.queue_delete(q2)
    ch.queue_delete(q3)
    conn.close()


def test_headers_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ex = uniq("headers")
    ch.exchange_declare(ex, "headers")
    q_all = declare_fresh(ch, "hdr.all")
    q_any = declare_fresh(ch, "hdr.any")
    q_default = declare_fresh(ch, "hdr.default")
    ch.queue_bind(q_all, ex, arguments={"x-match": "all", "format": "pdf", "type": "report"})
    ch.queue_bind(q_any, ex, arguments={"x-match": "any", "format": "pdf", "type": "log"})
    ch.queue_bind(q_default, ex, arguments={"format": "zip", "n": 42})
    cases = [
        ({"format": "pdf", "type": "report"}, b"pdf-report"),     # all, any
        ({"format": "pdf", "type": "report", "x": 1}, b"extra"),  # all, any
        ({"format": "pdf"}, b"pdf-only"),                         # any
        ({"type": "log"}, b"log"),                                # any
        ({"format": "zip", "n": 42}, b"zip42"),                   # default(all)
        ({"format": "zip", "n": 43}, b"zip43"),                   # none
        ({"format": "zip"}, b"zip"),                              # none
        (None, b"noheaders"),                                     # none
    ]
    for headers, body in cases:
        ch.basic_publish(ex, "any-key", body, properties=pika.BasicProperties(headers=headers))
    expect_eq([b for _, _, b in get_all(ch, q_all)], [b"pdf-report", b"extra"], "x-match=all")
    expect_eq([b for _, _, b in get_all(ch, q_any)], [b"pdf-report", b"extra", b"pdf-only",
                                                      b"log"], "x-match=any")
    expect_eq([b for _, _, b in get_all(ch, q_default)], [b"zip42"], "default x-match")
    ch.exchange_delete(ex)
    for q in (q_all, q_any, q_default):
        ch.queue_delete(q)
    conn.close()


def test_purge_delete_and_declare_counts():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = declare_fresh(ch, "counts")
    publish_confirmed(ch, q, [b"x"] * 5)
    ok = ch.queue_declare(q).method
    expect_eq((ok.queue, ok.message_count, ok.consumer_count), (q, 5, 0), "declare-ok")
    expect_eq(ch.queue_purge(q).method.message_count, 5, "purge-ok count")
    expect_eq(ch.queue_purge(q).method.message_count, 0, "second purge-ok count")
    publish_confirmed(ch, q, [b"y"] * 4)
    c = conn.channel()
    c.basic_qos(prefetch_count=1)
    got = []
    c.basic_consume(q, lambda ch_, m, p, b: got.append(m.delivery_tag))
    c2 = conn.channel()
    c2.basic_consume(q, lambda ch_, m, p, b: None, auto_ack=False)
    assert pump(conn, lambda: len(got) == 1)
    ok = ch.queue_declare(q, passive=True).method
    expect_eq(ok.consumer_count, 2, "consumer_count with two consumers")
    c2.close()
    settle(conn)
    ok = ch.queue_declare(q, passive=True).method
    expect_eq((ok.message_count, ok.consumer_count), (3, 1), "declare-ok with 1 unacked")
    # purge does not touch unacked messages
    expect_eq(ch.queue_purge(q).method.message_count, 3, "purge with unacked")
    c.close()  # the unacked one comes back
    expect_eq(ready_count(ch, q), 1, "after consumer channel close")
    publish_confirmed(ch, q, [b"z"] * 2)
    expect_eq(ch.queue_delete(q).method.message_count, 3, "delete-ok count")
    conn.close()


def test_auto_delete_and_exclusive_queues():
    conn = connect()
    ch = conn.channel()
    ad = uniq("autodelete")
    ch.queue_declare(ad, auto_delete=True)
    c = conn.channel()
    t1 = c.basic_consume(ad, lambda *a: None)
    t2 = c.basic_consume(ad, lambda *a: None)
    c.basic_cancel(t1)
    expect_eq(ready_count(ch, ad), 0, "auto-delete queue alive with one consumer left")
    c.basic_cancel(t2)
    try:
        ch.queue_declare(ad, passive=True)
        raise AssertionError("auto-delete queue survived its last consumer")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 404, "passive declare of deleted auto-delete queue")
    ch = conn.channel()
    # Exclusive queue disappears with its connection.
    other = connect()
    oc = other.channel()
    ex_q = uniq("exclusive")
    oc.queue_declare(ex_q, exclusive=True)
    oc.basic_publish("", ex_q, b"bye")
    server_named = oc.queue_declare("", exclusive=True).method.queue
    other.close()
    for name in (ex_q, server_named):
        try:
            ch.queue_declare(name, passive=True)
            raise AssertionError(f"exclusive queue {name} survived its connection")
        except pex.ChannelClosedByBroker as e:
            expect_eq(e.reply_code, 404, f"passive declare of {name} after owner closed")
        ch = conn.channel()
    conn.close()


def test_server_named_queues():
    conn = connect()
    ch = conn.channel()
    names = set()
    for _ in range(5):
        r = ch.queue_declare("", exclusive=True)
        n = r.method.queue
        assert n.startswith("amq.gen-"), f"server-named queue {n!r} lacks amq.gen- prefix"
        expect_eq((r.method.message_count, r.method.consumer_count), (0, 0), "fresh queue")
        names.add(n)
    expect_eq(len(names), 5, "distinct server-generated names")
    # The generated name is usable like any other.
    n = names.pop()
    ch.basic_publish("", n, b"hi")
    m, _, body = ch.basic_get(n, auto_ack=True)
    expect_eq(body, b"hi", "round trip through server-named queue")
    conn.close()


def test_consumer_cancel_notification():
    conn = connect()
    assert conn.consumer_cancel_notify_supported, "broker must advertise consumer_cancel_notify"
    assert conn.publisher_confirms_supported, "broker must advertise publisher_confirms"
    assert conn.basic_nack_supported, "broker must advertise basic.nack"
    assert conn.exchange_exchange_bindings_supported, "broker must advertise e2e bindings"
    ch = conn.channel()
    q = declare_fresh(ch, "cancelnotify")
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method))
    tag = ch.basic_consume(q, lambda *a: None)
    other = connect()
    other.channel().queue_delete(q)
    other.close()
    assert pump(conn, lambda: cancelled), "no basic.cancel from the broker after queue.delete"
    expect_eq(cancelled[0].consumer_tag, tag, "cancelled consumer tag")
    assert ch.is_open, "channel must stay open after a consumer cancel notification"
    expect_eq(ch.consumer_tags, [], "consumer tags after broker cancel")
    # The channel is still usable.
    q2 = declare_fresh(ch, "cancelnotify2")
    ch.queue_delete(q2)
    conn.close()


def roundtrip_sizes(conn, sizes):
    ch = conn.channel()
    ch.confirm_delivery()
    q = declare_fresh(ch, f"size.{conn._impl.params.frame_max}")
    bodies = [os.urandom(n) for n in sizes]
    for b in bodies:
        ch.basic_publish("", q, b)
    got = get_all(ch, q)
    expect_eq([len(b) for _, _, b in got], sizes, "body sizes")
    assert [b for _, _, b in got] == bodies, "bodies differ after round trip"
    # Same through a consumer.
    for b in bodies:
        ch.basic_publish("", q, b)
    seen = []
    ch.basic_consume(q, lambda ch_, m, p, b: seen.append(b), auto_ack=True)
    assert pump(conn, lambda: len(seen) == len(bodies), timeout=30)
    assert seen == bodies, "bodies differ through basic.consume"
    ch.queue_delete(q)


def test_large_and_frame_crossing_bodies():
    conn = connect()
    fm = conn._impl.params.frame_max
    roundtrip_sizes(conn, [0, 1, fm - 8, fm - 7, fm, 2 * (fm - 8), 1024 * 1024,
                           3 * 1024 * 1024 + 17])
    conn.close()
    small = connect(frame_max=4096)
    expect_eq(small._impl.params.frame_max, 4096, "negotiated frame_max")
    roundtrip_sizes(small, [0, 4087, 4088, 4089, 8176, 8177, 100000, 1024 * 1024])
    small.close()


def test_properties_roundtrip():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = declare_fresh(ch, "props")
    headers = {
        "str": "text é", "int": 7, "neg": -5, "big": 2 ** 40, "bool": True,
        "none": None, "list": [1, "two", [3]], "table": {"a": {"b": "c"}},
        "bytes": b"\x00\x01\xff", "dec": decimal.Decimal("3.14"),
        "ts": datetime.datetime(2024, 1, 2, 3, 4, 5),
    }
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="gzip", headers=headers,
        delivery_mode=2, priority=5, correlation_id="corr", reply_to="reply",
        expiration="60000", message_id="mid", timestamp=1700000000, type="kind",
        user_id="guest", app_id="app", cluster_id="")
    ch.basic_publish("", q, b"{}", properties=props)
    m, p, body = ch.basic_get(q, auto_ack=True)
    for attr in ("content_type", "content_encoding", "delivery_mode", "priority",
                 "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
                 "user_id", "app_id"):
        expect_eq(getattr(p, attr), getattr(props, attr), f"property {attr}")
    for k, v in headers.items():
        expect_eq(p.headers.get(k), v, f"header {k}")
    # Only some properties set: the rest come back unset.
    ch.basic_publish("", q, b"", properties=pika.BasicProperties(type="only"))
    m, p, body = ch.basic_get(q, auto_ack=True)
    expect_eq((p.type, p.content_type, p.headers, p.delivery_mode, body),
              ("only", None, None, None, b""), "sparse properties")
    ch.queue_delete(q)
    conn.close()


def test_many_channels():
    conn = connect()
    n = 200
    chans = [conn.channel() for _ in range(n)]
    expect_eq(len({c.channel_number for c in chans}), n, "distinct channel numbers")
    qs = []
    for i, c in enumerate(chans):
        q = declare_fresh(c, f"many.{i}")
        qs.append(q)
        c.basic_publish("", q, f"ch{i}".encode())
    for i, c in enumerate(chans):
        m, _, body = c.basic_get(qs[i], auto_ack=True)
        expect_eq(body, f"ch{i}".encode(), f"body on channel {c.channel_number}")
    # Close every other channel; the rest keep working.
    for c in chans[::2]:
        c.close()
    for i, c in list(enumerate(chans))[1::2]:
        c.queue_delete(qs[i])
    ch = conn.channel()
    for i in range(0, n, 2):
        ch.queue_delete(qs[i])
    conn.close()


# Topic matching edge cases as RabbitMQ 3.10 routes them (empty words, '#' matching zero words,
# '#' next to '#' or '*', the empty routing key), recorded from RabbitMQ: pattern -> keys routed.
TOPIC_KEYS = ["", "a", "b", "a.b", "a.a", "a.x.b", "a.x.y.b", "b.a", "x.a", "a..b", "a.b.c", ".",
              "a.", ".a", "x.b.y", "a.b.b", "a.a.a", "b.b"]
TOPIC_MATCHES = {
    '#': TOPIC_KEYS,
    '*': ['a', 'b'],
    'a.*': ['a.b', 'a.a', 'a.'],
    'a.#': ['a', 'a.b', 'a.a', 'a.x.b', 'a.x.y.b', 'a..b', 'a.b.c', 'a.', 'a.b.b', 'a.a.a'],
    '#.a': ['a', 'a.a', 'b.a', 'x.a', '.a', 'a.a.a'],
    '*.a': ['a.a', 'b.a', 'x.a', '.a'],
    'a.*.b': ['a.x.b', 'a..b', 'a.b.b'],
    'a.#.b': ['a.b', 'a.x.b', 'a.x.y.b', 'a..b', 'a.b.b'],
    '#.b.#': ['b', 'a.b', 'a.x.b', 'a.x.y.b', 'b.a', 'a..b', 'a.b.c', 'x.b.y', 'a.b.b', 'b.b'],
    '*.*': ['a.b', 'a.a', 'b.a', 'x.a', '.', 'a.', '.a', 'b.b'],
    '*.#': TOPIC_KEYS[1:],  # all but the empty key
    '#.*': TOPIC_KEYS[1:],  # all but the empty key
    'a.b': ['a.b'],
    'a..b': ['a..b'],
    '': [''],
    'a.#.#': ['a', 'a.b', 'a.a', 'a.x.b', 'a.x.y.b', 'a..b', 'a.b.c', 'a.', 'a.b.b', 'a.a.a'],
    '#.#': TOPIC_KEYS,
    'a.*.#': ['a.b', 'a.a', 'a.x.b', 'a.x.y.b', 'a..b', 'a.b.c', 'a.', 'a.b.b', 'a.a.a'],
    '*.b.*': ['a.b.c', 'x.b.y', 'a.b.b'],
    '#.a.#': ['a', 'a.b', 'a.a', 'a.x.b', 'a.x.y.b', 'b.a', 'x.a', 'a..b', 'a.b.c', 'a.',
              '.a', 'a.b.b', 'a.a.a'],
    '*.*.*': ['a.x.b', 'a..b', 'a.b.c', 'x.b.y', 'a.b.b', 'a.a.a'],
}


def test_topic_matching_table():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ex = uniq("topic.table")
    ch.exchange_declare(ex, "topic")
    queues = {}
    for pattern in TOPIC_MATCHES:
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, ex, pattern)
        queues[pattern] = q
    for key in TOPIC_KEYS:
        ch.basic_publish(ex, key, key.encode())
    for pattern, want in TOPIC_MATCHES.items():
        got = [b.decode() for _, _, b in get_all(ch, queues[pattern])]
        expect_eq(got, want, f"keys routed by binding {pattern!r}")
    ch.exchange_delete(ex)
    conn.close()


if __name__ == "__main__":
    main([test_confirms_basic, test_mandatory_unroutable_returns, test_consumer_acks_in_batches,
          test_reject_nack_requeue_redelivered, test_basic_get_and_get_empty,
          test_qos_prefetch_limits_unacked, test_qos_global_and_no_ack, test_consumer_priorities,
          test_basic_recover_requeue,
          test_cancel_stops_deliveries, test_unacked_requeued_in_order_on_channel_close,
          test_transactions, test_exchange_to_exchange_bindings, test_headers_exchange,
          test_purge_delete_and_declare_counts, test_auto_delete_and_exclusive_queues,
          test_server_named_queues, test_consumer_cancel_notification,
          test_large_and_frame_crossing_bodies, test_properties_roundtrip, test_many_channels,
          test_topic_matching_table])
