"""Durable topology and persistent messages across a clean restart (SIGTERM, start again on the
same data dir), through python3-pika:

- durable exchanges of all four types (with arguments) and bindings (queue and exchange-to-
  exchange) come back and keep routing; unbound bindings and deleted objects stay gone;
- durable queues come back with identical x-arguments (a re-declare with the same arguments
  succeeds, one with any compared argument changed or missing gets 406, and the arguments still
  act: TTL + dead-lettering, max-length drop-head, priorities);
- persistent messages on durable queues come back in order with body and every property intact;
  transient messages, non-durable / exclusive / auto-delete queues and non-durable exchanges do
  not (nor does a persistent message routed to a non-durable queue);
- delivered-but-unacked messages come back with redelivered=True; acked, rejected, expired,
  dropped, purged and deleted-queue messages do not;
- one persistent message fanned out to three durable queues comes back in each, and acking it
  in one queue does not take it from the others;
- everything confirmed to a publisher is there after the restart; state is stable over two
  restarts in a row;
- a message whose TTL ran out while the broker was stopped is not served after the start.
"""
import datetime
import decimal
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from durability_util import (  # noqa: E402
    ConfirmPublisher, body, broker, check_body, connect, count, drain, exists,
    expect_channel_error, expect_eq, pika, restart, run_tests, skippable, start, stop, uniq,
    wait_for)

PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


def _bodies(msgs):
    return [b for _m, _p, b in msgs]


def _sync(ch, q):
    """A round trip on ch: everything sent on it before (acks, publishes) is processed."""
    ch.queue_declare(q, passive=True)


# ---- topology --------------------------------------------------------------------------------
@skippable
def test_exchanges_and_bindings_survive_and_route():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        x = {k: uniq("x." + k) for k in ("direct", "topic", "fanout", "headers", "ae", "e2e",
                                          "transient", "gone", "unbound")}
        q = {k: uniq("q." + k) for k in ("direct", "topic", "topic2", "fanout", "hdr_all",
                                          "hdr_any", "ae", "e2e", "unbound", "nondurable")}
        for name in list(x.values()):
            ch.exchange_delete(name)
        for name in list(q.values()):
            ch.queue_delete(name)
        ch.exchange_declare(x["ae"], "fanout", durable=True)
        ch.exchange_declare(x["direct"], "direct", durable=True,
                            arguments={"alternate-exchange": x["ae"]})
        ch.exchange_declare(x["topic"], "topic", durable=True,
                            arguments={"x-note": "kept", "x-n": 7})
        ch.exchange_declare(x["fanout"], "fanout", durable=True)
        ch.exchange_declare(x["headers"], "headers", durable=True)
        ch.exchange_declare(x["e2e"], "fanout", durable=True, internal=True)
        ch.exchange_declare(x["transient"], "fanout", durable=False)
        ch.exchange_declare(x["gone"], "direct", durable=True)
        ch.exchange_declare(x["unbound"], "direct", durable=True)
        for name in q.values():
            ch.queue_declare(name, durable=(name != q["nondurable"]))
        ch.queue_bind(q["ae"], x["ae"])
        ch.queue_bind(q["direct"], x["direct"], "rk.d")
        ch.queue_bind(q["topic"], x["topic"], "a.*.c")
        ch.queue_bind(q["topic2"], x["topic"], "#.z")
        ch.queue_bind(q["fanout"], x["fanout"])
        ch.queue_bind(q["hdr_all"], x["headers"], arguments={"x-match": "all", "k": "v", "n": 1})
        ch.queue_bind(q["hdr_any"], x["headers"], arguments={"x-match": "any", "k": "v", "m": 2})
        ch.exchange_bind(x["e2e"], x["topic"], "e2e.#")       # exchange-to-exchange
        ch.queue_bind(q["e2e"], x["e2e"])
        ch.queue_bind(q["fanout"], x["transient"])              # dies with its exchange
        ch.queue_bind(q["nondurable"], x["fanout"])             # dies with its queue
        ch.queue_bind(q["unbound"], x["unbound"], "k")
        ch.queue_unbind(q["unbound"], x["unbound"], "k")        # must stay unbound
        ch.exchange_delete(x["gone"])                           # must stay deleted
        conn.close()

        restart(b)

        conn = connect(b)
        for k in ("direct", "topic", "fanout", "headers", "ae", "e2e", "unbound"):
            assert exists(conn, exchange=x[k]), f"durable exchange {k} is gone"
        assert not exists(conn, exchange=x["transient"]), "non-durable exchange came back"
        assert not exists(conn, exchange=x["gone"]), "deleted exchange came back"
        assert not exists(conn, queue=q["nondurable"]), "non-durable queue came back"
        ch = conn.channel()
        # same declaration again: fine; any difference: 406
        ch.exchange_declare(x["direct"], "direct", durable=True,
                            arguments={"alternate-exchange": x["ae"]})
        ch.exchange_declare(x["e2e"], "fanout", durable=True, internal=True)
        expect_channel_error(conn, lambda c: c.exchange_declare(x["direct"], "topic", durable=True),
                             406, "inequivalent arg 'type'")
        expect_channel_error(conn, lambda c: c.exchange_declare(x["topic"], "topic", durable=False),
                             406, "inequivalent arg 'durable'")
        expect_channel_error(conn, lambda c: c.exchange_declare(
            x["direct"], "direct", durable=True, arguments={"alternate-exchange": "other"}),
            406, "inequivalent arg 'alternate-exchange'")
        expect_channel_error(conn, lambda c: c.exchange_declare(x["direct"], "direct",
                                                                durable=True),
                             406, "inequivalent arg 'alternate-exchange'")
        # internal survived: clients may not publish to it
        expect_channel_error(conn, lambda c: (c.basic_publish(x["e2e"], "", b"no"),
                                              c.queue_declare(q["e2e"], passive=True)), 403)

        ch.confirm_delivery()
        pub = [
            (x["direct"], "rk.d", b"direct"), (x["direct"], "nobody", b"to-ae"),
            (x["topic"], "a.b.c", b"topic-abc"), (x["topic"], "x.y.z", b"topic-z"),
            (x["topic"], "a.b.d", b"topic-none"), (x["topic"], "e2e.one", b"via-e2e"),
            (x["fanout"], "", b"fan"), (x["unbound"], "k", b"unbound"),
        ]
        for ex, rk, bd in pub:
            ch.basic_publish(ex, rk, bd, PERSISTENT)
        ch.basic_publish(x["headers"], "", b"hdr-both", pika.BasicProperties(
            headers={"k": "v", "n": 1}))
        ch.basic_publish(x["headers"], "", b"hdr-m", pika.BasicProperties(headers={"m": 2}))
        expect_eq(_bodies(drain(ch, q["direct"])), [b"direct"], "direct routing")
        expect_eq(_bodies(drain(ch, q["ae"])), [b"to-ae"], "alternate exchange")
        expect_eq(_bodies(drain(ch, q["topic"])), [b"topic-abc"], "topic a.*.c")
        expect_eq(_bodies(drain(ch, q["topic2"])), [b"topic-z"], "topic #.z")
        expect_eq(_bodies(drain(ch, q["e2e"])), [b"via-e2e"], "exchange-to-exchange binding")
        expect_eq(_bodies(drain(ch, q["fanout"])), [b"fan"], "fanout")
        expect_eq(_bodies(drain(ch, q["hdr_all"])), [b"hdr-both"], "headers x-match all")
        expect_eq(_bodies(drain(ch, q["hdr_any"])), [b"hdr-both", b"hdr-m"], "headers x-match any")
        expect_eq(_bodies(drain(ch, q["unbound"])), [], "removed binding")
        for name in list(x.values()):
            ch.exchange_delete(name)
        for name in list(q.values()):
            ch.queue_delete(name)
        conn.close()


@skippable
def test_queue_arguments_come_back_identical():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        dlx, dlq = uniq("args.dlx"), uniq("args.dlq")
        q_ttl, q_len, q_pri = uniq("args.ttl"), uniq("args.len"), uniq("args.pri")
        args = {
            q_ttl: {"x-message-ttl": 400, "x-dead-letter-exchange": dlx,
                    "x-dead-letter-routing-key": "dead"},
            q_len: {"x-max-length": 3, "x-overflow": "drop-head", "x-max-length-bytes": 1000000},
            q_pri: {"x-max-priority": 5, "x-expires": 3600000,
                    "x-custom": {"nested": [1, "two", True], "d": decimal.Decimal("1.5")}},
        }
        for name in (dlq, q_ttl, q_len, q_pri):
            ch.queue_delete(name)
        ch.exchange_delete(dlx)
        ch.exchange_declare(dlx, "direct", durable=True)
        ch.queue_declare(dlq, durable=True)
        ch.queue_bind(dlq, dlx, "dead")
        for name, a in args.items():
            ch.queue_declare(name, durable=True, arguments=a)
        # before the restart: the arguments already settle persistent messages, and those must
        # stay settled (dropped by max-length, expired by TTL and dead-lettered)
        for i in range(5):
            ch.basic_publish("", q_len, b"len-%d" % i, PERSISTENT)
        ch.basic_publish("", q_ttl, b"expires-before", PERSISTENT)
        wait_for(lambda: count(ch, dlq) == 1, timeout=10, what="TTL dead-lettering before restart")
        expect_eq(count(ch, q_ttl), 0, "expired message left its queue")
        conn.close()

        restart(b)

        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        for name, a in args.items():
            expect_eq(ch.queue_declare(name, passive=True).method.queue, name, "passive declare")
            ok = ch.queue_declare(name, durable=True, arguments=a)  # identical: accepted
            expect_eq(ok.method.queue, name, "re-declare with the same arguments")
        # any compared argument different or missing: 406
        changes = [
            (q_ttl, "x-message-ttl", 401), (q_ttl, "x-dead-letter-exchange", dlx + ".other"),
            (q_ttl, "x-dead-letter-routing-key", "alive"), (q_len, "x-max-length", 4),
            (q_len, "x-overflow", "reject-publish"), (q_len, "x-max-length-bytes", 999999),
            (q_pri, "x-max-priority", 6), (q_pri, "x-expires", 3600001),
        ]
        for name, key, value in changes:
            a = dict(args[name])
            a[key] = value
            expect_channel_error(conn, lambda c: c.queue_declare(name, durable=True, arguments=a),
                                 406, f"inequivalent arg '{key}'")
            a.pop(key)
            expect_channel_error(conn, lambda c: c.queue_declare(name, durable=True, arguments=a),
                                 406, f"inequivalent arg '{key}'")
        expect_channel_error(conn, lambda c: c.queue_declare(q_len, durable=False,
                                                             arguments=args[q_len]),
                             406, "inequivalent arg 'durable'")
        # the settled messages stayed settled
        expect_eq(_bodies(drain(ch, q_len)), [b"len-2", b"len-3", b"len-4"], "max-length survivors")
        expect_eq(count(ch, q_ttl), 0, "expired message came back")
        dead = drain(ch, dlq)
        expect_eq(_bodies(dead), [b"expires-before"], "dead-lettered copy")
        # ...and the arguments still act
        ch.basic_publish("", q_ttl, b"expires-after", PERSISTENT)
        wait_for(lambda: count(ch, dlq) == 1, timeout=10, what="TTL dead-lettering after restart")
        m, p, bd = ch.basic_get(dlq, auto_ack=True)
        expect_eq(bd, b"expires-after", "dead-lettered after restart")
        expect_eq(m.routing_key, "dead", "x-dead-letter-routing-key")
        for i in range(5, 10):
            ch.basic_publish("", q_len, b"len-%d" % i, PERSISTENT)
        expect_eq(_bodies(drain(ch, q_len)), [b"len-7", b"len-8", b"len-9"], "max-length after")
        for pri in (1, 5, 3, 0):
            ch.basic_publish("", q_pri, b"p%d" % pri, pika.BasicProperties(delivery_mode=2,
                                                                           priority=pri))
        expect_eq(_bodies(drain(ch, q_pri)), [b"p5", b"p3", b"p1", b"p0"], "x-max-priority")
        for name in (dlq, q_ttl, q_len, q_pri):
            ch.queue_delete(name)
        ch.exchange_delete(dlx)
        conn.close()


# ---- messages ----------------------------------------------------------------------------------
def _rich_props(i):
    return pika.BasicProperties(
        content_type="application/x-test", content_encoding="identity",
        headers={"i": i, "s": "str-%d" % i, "neg": -5, "big": 10 ** 12, "t": True,
                 "dec": decimal.Decimal("0.25"),
                 "list": [1, "a", [2, 3]], "table": {"k": "v", "deep": {"x": i}},
                 "bytes": b"\x00\xff\x10", "when": datetime.datetime(2024, 1, 2, 3, 4, 5)},
        delivery_mode=2, priority=i % 10, correlation_id="corr-%d" % i,
        reply_to="reply.%d" % i, expiration="3600000", message_id="mid-%d" % i,
        timestamp=1700000000 + i, type="type-%d" % i, user_id="guest", app_id="app-%d" % i)


PROP_FIELDS = ("content_type", "content_encoding", "headers", "delivery_mode", "priority",
               "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
               "user_id", "app_id", "cluster_id")


def _expect_props(got, want, what):
    for f in PROP_FIELDS:
        expect_eq(getattr(got, f), getattr(want, f), f"{what}: property {f}")


@skippable
def test_persistent_messages_survive_in_order_transient_do_not():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        q = uniq("msgs")
        ch.queue_delete(q)
        ch.queue_declare(q, durable=True)
        sizes = [0, 1, 100, 4000, 131072, 300000, 2_000_000]   # empty, multi-frame, large
        want = []
        for i in range(60):
            size = sizes[i % len(sizes)] if i % 5 == 0 else 10 + i * 37
            bd = body("p", i, size)
            props = _rich_props(i)
            ch.basic_publish("", q, bd, props)
            want.append((bd, props))
            # transient ones interleaved: delivery_mode 1, and no delivery_mode at all
            ch.basic_publish("", q, body("t", i, 50),
                             TRANSIENT if i % 2 else pika.BasicProperties(message_id="t%d" % i))
        ch.basic_publish("", q, b"", pika.BasicProperties(delivery_mode=2))   # empty, no props
        want.append((b"", pika.BasicProperties(delivery_mode=2)))
        expect_eq(count(ch, q), 121, "queued before restart")
        conn.close()

        restart(b)

        conn = connect(b)
        ch = conn.channel()
        got = drain(ch, q)
        expect_eq(len(got), len(want), "persistent messages after restart")
        for n, ((m, p, bd), (wbd, wp)) in enumerate(zip(got, want)):
            if wbd:
                tag, i = check_body(bd)
                expect_eq((tag, i), ("p", n), f"message {n} in order")
            expect_eq(bd, wbd, f"body of message {n}")
            _expect_props(p, wp, f"message {n}")
            expect_eq(m.exchange, "", f"message {n} exchange")
            expect_eq(m.routing_key, q, f"message {n} routing key")
        ch.queue_delete(q)
        conn.close()


@skippable
def test_nondurable_exclusive_and_auto_delete_are_gone():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        fan = uniq("gone.fan")
        qd, qn, qx, qa = (uniq("gone.durable"), uniq("gone.nondurable"), uniq("gone.exclusive"),
                          uniq("gone.autodelete"))
        for name in (qd, qn, qx, qa):
            ch.queue_delete(name)
        ch.exchange_delete(fan)
        ch.exchange_declare(fan, "fanout", durable=True)
        ch.queue_declare(qd, durable=True)
        ch.queue_declare(qn, durable=False)
        ch.queue_declare(qx, durable=True, exclusive=True)
        ch.queue_declare(qa, durable=True, auto_delete=True)
        for name in (qd, qn, qx, qa):
            ch.queue_bind(name, fan)
        ch.basic_publish(fan, "", b"persistent-to-all", PERSISTENT)
        # a consumer on the auto-delete queue while the broker stops: the queue is deleted
        # when that consumer goes (it does, with its connection)
        ch.basic_consume(qa, lambda *a: None, auto_ack=False)
        _sync(ch, qd)
        restart(b)
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the broker closed it
            pass

        conn = connect(b)
        assert exists(conn, queue=qd), "durable queue is gone"
        assert not exists(conn, queue=qn), "non-durable queue came back"
        assert not exists(conn, queue=qx), "exclusive queue came back"
        assert not exists(conn, queue=qa), "auto-delete queue came back"
        ch = conn.channel()
        expect_eq(_bodies(drain(ch, qd)), [b"persistent-to-all"], "durable queue keeps it")
        # declared again, the non-durable queue is empty: the persistent message routed to it
        # was not kept
        ch.queue_declare(qn, durable=False)
        expect_eq(count(ch, qn), 0, "persistent message on a non-durable queue")
        for name in (qd, qn):
            ch.queue_delete(name)
        ch.exchange_delete(fan)
        conn.close()


@skippable
def test_unacked_come_back_redelivered_settled_do_not():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        q = uniq("unacked")
        ch.queue_delete(q)
        ch.queue_declare(q, durable=True)
        for i in range(12):
            ch.basic_publish("", q, b"m%d" % i, PERSISTENT)
        got = [ch.basic_get(q, auto_ack=False) for _ in range(12)]
        tags = [m.delivery_tag for m, _p, _b in got]
        ch.basic_ack(tags[1])                        # acked: m1
        ch.basic_ack(tags[3], multiple=True)         # acked: m0, m2, m3
        ch.basic_reject(tags[4], requeue=False)      # settled: m4
        ch.basic_nack(tags[5], requeue=True)         # requeued, not settled: m5
        m, _p, bd = ch.basic_get(q, auto_ack=True)   # m5 again, auto-acked: settled
        expect_eq(bd, b"m5", "requeued message")
        ch.basic_ack(tags[7])                        # m7
        # m6, m8..m11 stay delivered and unacked while the broker stops
        _sync(ch, q)
        restart(b)
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass

        conn = connect(b)
        ch = conn.channel()
        got = drain(ch, q)
        expect_eq(_bodies(got), [b"m6", b"m8", b"m9", b"m10", b"m11"], "unacked after restart")
        for m, _p, bd in got:
            assert m.redelivered, f"{bd!r} was delivered before the restart: want redelivered"
        ch.queue_delete(q)
        conn.close()


@skippable
def test_purged_and_deleted_queues_stay_empty():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        qp, qd = uniq("purged"), uniq("deleted")
        for name in (qp, qd):
            ch.queue_delete(name)
            ch.queue_declare(name, durable=True)
            for i in range(50):
                ch.basic_publish("", name, b"old-%d" % i, PERSISTENT)
        expect_eq(ch.queue_purge(qp).method.message_count, 50, "purged")
        ch.basic_publish("", qp, b"after-purge", PERSISTENT)
        ch.queue_delete(qd)
        conn.close()

        restart(b)

        conn = connect(b)
        assert not exists(conn, queue=qd), "deleted queue came back"
        ch = conn.channel()
        expect_eq(_bodies(drain(ch, qp)), [b"after-purge"], "purged queue")
        ch.queue_declare(qd, durable=True)   # same name, new queue: none of the old messages
        ch.confirm_delivery()
        ch.basic_publish("", qd, b"new", PERSISTENT)
        conn.close()

        restart(b)

        conn = connect(b)
        ch = conn.channel()
        expect_eq(_bodies(drain(ch, qd)), [b"new"], "re-declared queue after a second restart")
        expect_eq(count(ch, qp), 0, "purged queue after a second restart")
        for name in (qp, qd):
            ch.queue_delete(name)
        conn.close()


@skippable
def test_fanout_to_three_durable_queues():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        fan = uniq("fan3")
        qs = [uniq("fan3.%d" % i) for i in range(3)]
        ch.exchange_delete(fan)
        ch.exchange_declare(fan, "fanout", durable=True)
        for name in qs:
            ch.queue_delete(name)
            ch.queue_declare(name, durable=True)
            ch.queue_bind(name, fan)
        bd = body("fan", 1, 5000)
        props = _rich_props(3)
        ch.basic_publish(fan, "", bd, props)
        conn.close()

        restart(b)

        conn = connect(b)
        ch = conn.channel()
        for name in qs:
            expect_eq(count(ch, name), 1, f"{name} after restart")
        m, p, got = ch.basic_get(qs[0], auto_ack=False)   # taken from the first queue only
        expect_eq(got, bd, "body in the first queue")
        _expect_props(p, props, "fanout copy")
        ch.basic_ack(m.delivery_tag)
        _sync(ch, qs[0])
        conn.close()

        restart(b)

        conn = connect(b)
        ch = conn.channel()
        expect_eq(count(ch, qs[0]), 0, "acked in the first queue")
        for name in qs[1:]:
            got = drain(ch, name)
            expect_eq(_bodies(got), [bd], f"{name} keeps its copy")
            _expect_props(got[0][1], props, f"{name} copy")
        for name in qs:
            ch.queue_delete(name)
        ch.exchange_delete(fan)
        conn.close()


@skippable
def test_all_confirmed_publishes_are_there():
    n = 5000
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        q = uniq("confirmed")
        ch.queue_delete(q)
        ch.queue_declare(q, durable=True)
        pub = ConfirmPublisher(b, lambda i: ("", q, body("c", i, 200 + i % 700),
                                             pika.BasicProperties(delivery_mode=2,
                                                                  message_id=str(i))),
                               count=n, window=1000).run(timeout=60)
        assert pub.error is None, f"publisher: {pub.error!r}"
        expect_eq(len(pub.confirmed), n, "confirmed")
        expect_eq(len(pub.nacked), 0, "nacked")
        conn.close()

        restart(b)

        conn = connect(b)
        ch = conn.channel()
        ids = []
        for _m, p, bd in drain(ch, q):
            tag, i = check_body(bd)
            expect_eq(p.message_id, str(i), "message_id")
            ids.append(i)
        expect_eq(ids, list(range(n)), "confirmed messages, in order")
        ch.queue_delete(q)
        conn.close()


@skippable
def test_two_restarts_in_a_row_are_stable():
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        x, q1, q2 = uniq("twice.x"), uniq("twice.q1"), uniq("twice.q2")
        ch.exchange_delete(x)
        ch.exchange_declare(x, "topic", durable=True)
        for name, key in ((q1, "one.*"), (q2, "#")):
            ch.queue_delete(name)
            ch.queue_declare(name, durable=True, arguments={"x-max-length": 1000})
            ch.queue_bind(name, x, key)
        for i in range(20):
            ch.basic_publish(x, "one.%d" % i, body("t", i, 300), PERSISTENT)
        conn.close()

        def check(expect1, expect2):
            c = connect(b)
            for name, expect in ((q1, expect1), (q2, expect2)):
                # read without settling: requeue them all by closing the channel
                hc = c.channel()
                hc.queue_declare(name, passive=True)
                got = [check_body(bd)[1] for _m, _p, bd in drain(hc, name, ack=False)]
                expect_eq(got, expect, f"{name} contents")
                hc.close()
            c.close()

        restart(b)
        check(list(range(20)), list(range(20)))
        restart(b)
        check(list(range(20)), list(range(20)))
        # change something between restarts: take 5 from q1, add 3 through the exchange
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        drain(ch, q1, ack=True, limit=5)
        for i in range(20, 23):
            ch.basic_publish(x, "one.%d" % i, body("t", i, 300), PERSISTENT)
        conn.close()
        restart(b)
        check(list(range(5, 23)), list(range(23)))
        restart(b)
        check(list(range(5, 23)), list(range(23)))
        conn = connect(b)
        ch = conn.channel()
        for name in (q1, q2):
            ch.queue_delete(name)
        ch.exchange_delete(x)
        conn.close()


@skippable
def test_ttl_elapsed_while_stopped_is_not_served():
    """Time in the queue includes time the broker was down (RabbitMQ keeps each message's
    expiry time across a restart): a persistent message whose TTL ran out meanwhile is not
    delivered after the start, whether the TTL is per message or x-message-ttl."""
    with broker() as b:
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        qm, qq, keep = uniq("ttl.down.msg"), uniq("ttl.down.queue"), uniq("ttl.down.keep")
        for name in (qm, qq, keep):
            ch.queue_delete(name)
        ch.queue_declare(qm, durable=True)
        ch.queue_declare(qq, durable=True, arguments={"x-message-ttl": 1000})
        ch.queue_declare(keep, durable=True)
        t0 = time.monotonic()
        ch.basic_publish("", qm, b"short", pika.BasicProperties(delivery_mode=2,
                                                                 expiration="1000"))
        ch.basic_publish("", qq, b"short", PERSISTENT)
        ch.basic_publish("", keep, b"long", pika.BasicProperties(delivery_mode=2,
                                                                  expiration="600000"))
        conn.close()
        stop(b)
        time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))   # down while the TTL runs out
        start(b)
        conn = connect(b)
        ch = conn.channel()
        expect_eq(_bodies(drain(ch, qm)), [], "per-message TTL elapsed while stopped")
        expect_eq(_bodies(drain(ch, qq)), [], "x-message-ttl elapsed while stopped")
        got = drain(ch, keep)
        expect_eq(_bodies(got), [b"long"], "message with a TTL not yet elapsed")
        expect_eq(got[0][1].expiration, "600000", "expiration property")
        for name in (qm, qq, keep):
            ch.queue_delete(name)
        conn.close()


if __name__ == "__main__":
    run_tests([
        test_exchanges_and_bindings_survive_and_route,
        test_queue_arguments_come_back_identical,
        test_persistent_messages_survive_in_order_transient_do_not,
        test_nondurable_exclusive_and_auto_delete_are_gone,
        test_unacked_come_back_redelivered_settled_do_not,
        test_purged_and_deleted_queues_stay_empty,
        test_fanout_to_three_durable_queues,
        test_all_confirmed_publishes_are_there,
        test_two_restarts_in_a_row_are_stable,
        test_ttl_elapsed_while_stopped_is_not_served,
    ])
