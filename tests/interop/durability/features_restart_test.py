"""Queue features whose state must hold for durable queues across a restart, through pika
(issue #5; TTL, dead-lettering, max-length and x-expires arguments are in restart_test.py,
delayed messages in delayed_restart_test.py):
  - priorities: persistent messages published before the restart come back in priority order;
  - single active consumer: still one consumer at a time, with fail-over, after the restart;
  - x-delivery-limit: still dead-letters after the restart (the count itself starts again from
    the restart: Warren does not store it, see docs/queue-arguments.md);
  - policies (from the config file) apply again to the recovered queue.

Run: WARREND=build/release/warrend /usr/bin/python3 tests/interop/durability/features_restart_test.py
"""
import time

import pika

from durability_util import (broker, connect, drain, expect_eq, needs_warrend, restart,
                             run_tests, skippable, uniq, wait_for)

PERSISTENT = pika.BasicProperties(delivery_mode=2)


@skippable
def test_priority_order_survives_restart():
    with broker() as b:
        needs_warrend(b, "restart")
        q = uniq("restart.prio")
        ch = connect(b).channel()
        ch.confirm_delivery()
        ch.queue_declare(q, durable=True, arguments={"x-max-priority": 9})
        for body, prio in ((b"p1", 1), (b"p9", 9), (b"p0", 0), (b"p5", 5), (b"p9b", 9)):
            ch.basic_publish("", q, body, pika.BasicProperties(delivery_mode=2, priority=prio))
        restart(b)
        ch = connect(b).channel()
        got = [m[2] for m in drain(ch, q)]
        expect_eq(got, [b"p9", b"p9b", b"p5", b"p1", b"p0"], "priority order after restart")


@skippable
def test_single_active_consumer_after_restart():
    with broker() as b:
        needs_warrend(b, "restart")
        q = uniq("restart.sac")
        ch = connect(b).channel()
        ch.confirm_delivery()
        ch.queue_declare(q, durable=True, arguments={"x-single-active-consumer": True})
        for i in range(10):
            ch.basic_publish("", q, b"m%d" % i, PERSISTENT)
        restart(b)
        conn = connect(b)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=100)
        got = {"a": [], "b": []}
        tags = {}
        for name in ("a", "b"):
            tags[name] = ch.basic_consume(
                q, lambda c, m, p, body, n=name: (got[n].append(body), c.basic_ack(m.delivery_tag)))
        wait_for(lambda: (conn.process_data_events(0.05), len(got["a"]) == 10)[1], timeout=10,
                 what="the first consumer getting all 10")
        expect_eq(got["b"], [], "second consumer while the first is active")
        ch.basic_cancel(tags["a"])
        ch2 = connect(b).channel()
        ch2.confirm_delivery()
        ch2.basic_publish("", q, b"after", PERSISTENT)
        wait_for(lambda: (conn.process_data_events(0.05), got["b"] == [b"after"])[1],
                 timeout=10, what="fail-over to the second consumer")


@skippable
def test_delivery_limit_still_applies_after_restart():
    with broker() as b:
        needs_warrend(b, "restart")
        q, dlq, dlx = uniq("restart.dlim"), uniq("restart.dlim.dlq"), uniq("restart.dlim.dlx")
        ch = connect(b).channel()
        ch.confirm_delivery()
        ch.exchange_declare(dlx, "fanout", durable=True)
        ch.queue_declare(dlq, durable=True)
        ch.queue_bind(dlq, dlx)
        ch.queue_declare(q, durable=True, arguments={"x-delivery-limit": 1,
                                                     "x-dead-letter-exchange": dlx})
        ch.basic_publish("", q, b"poison", PERSISTENT)
        restart(b)
        ch = connect(b).channel()
        for _ in range(2):  # limit 1: the first return requeues, the second dead-letters
            m, _, body = ch.basic_get(q)
            assert m is not None and body == b"poison", (m, body)
            ch.basic_reject(m.delivery_tag, requeue=True)
        wait_for(lambda: ch.queue_declare(dlq, durable=True, passive=True).method.message_count == 1,
                 timeout=5, what="dead-lettered after the delivery limit")
        m, props, _ = ch.basic_get(dlq, auto_ack=True)
        death = props.headers["x-death"][0]
        expect_eq(death["reason"], "delivery_limit", "x-death reason")


@skippable
def test_config_policy_applies_again_after_restart():
    conf = 'policy = short ^pol\\. queues 0 {"max-length": 2}\n'
    with broker(config_text=conf) as b:
        needs_warrend(b, "restart and a config file")
        q = "pol." + uniq("restart")
        ch = connect(b).channel()
        ch.confirm_delivery()
        ch.queue_declare(q, durable=True)
        for i in range(5):
            ch.basic_publish("", q, b"m%d" % i, PERSISTENT)
        restart(b)
        ch = connect(b).channel()
        ch.confirm_delivery()
        ch.basic_publish("", q, b"m5", PERSISTENT)
        got = [m[2] for m in drain(ch, q)]
        expect_eq(got, [b"m4", b"m5"], "max-length 2 from the policy after restart")


if __name__ == "__main__":
    run_tests([test_priority_order_survives_restart,
               test_single_active_consumer_after_restart,
               test_delivery_limit_still_applies_after_restart,
               test_config_policy_applies_again_after_restart])
