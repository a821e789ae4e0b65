"""Policies through python3-pika: a broker started with `policy = ...` config lines applies them
to queues and exchanges declared without arguments (RabbitMQ's policy semantics: highest priority
wins, one policy per object, the lower of argument and policy for TTL / lengths, the argument
wins for dead-letter settings and alternate-exchange)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402

from amqp_util import connect, expect_eq, main, uniq, wait_for  # noqa: E402
from features_util import bodies, count, get_one  # noqa: E402

CONFIG = """
policy = ttl ^pol\\.ttl\\. queues 1 {"message-ttl": 200}
policy = len ^pol\\.len\\. queues 1 {"max-length": 2, "overflow": "drop-head"}
policy = both ^pol\\.len\\.both\\. all 5 {"max-length": 1}
policy = ae ^pol\\.x\\. exchanges 0 {"alternate-exchange": "pol.ae"}
policy = dl ^pol\\.dl\\. queues 0 {"dead-letter-exchange": "pol.dlx", "message-ttl": 100}
"""


def test_policy_ttl_on_a_queue_without_arguments():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = "pol.ttl." + uniq("q")
    ch.queue_declare(q)
    ch.basic_publish("", q, b"a")
    expect_eq(count(ch, q), 1, "before the TTL")
    wait_for(lambda: count(ch, q) == 0, timeout=5, what="policy TTL expiry")
    # The lower of argument and policy wins: a 60 s argument does not lengthen it.
    q2 = "pol.ttl." + uniq("q2")
    ch.queue_declare(q2, arguments={"x-message-ttl": 60000})
    ch.basic_publish("", q2, b"b")
    wait_for(lambda: count(ch, q2) == 0, timeout=5, what="lower TTL wins")
    conn.close()


def test_policy_max_length_and_priority():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = "pol.len." + uniq("q")
    ch.queue_declare(q)
    for i in range(5):
        ch.basic_publish("", q, f"m{i}".encode())
    expect_eq(bodies(ch, q), ["m3", "m4"], "max-length 2, drop-head")
    q2 = "pol.len.both." + uniq("q")  # matches both; priority 5 wins
    ch.queue_declare(q2)
    for i in range(3):
        ch.basic_publish("", q2, f"m{i}".encode())
    expect_eq(bodies(ch, q2), ["m2"], "higher-priority policy (max-length 1)")
    conn.close()


def test_policy_alternate_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare("pol.ae", "fanout")
    ae_q = uniq("pol.aeq")
    ch.queue_declare(ae_q)
    ch.queue_bind(ae_q, "pol.ae")
    x = "pol.x." + uniq("x")
    ch.exchange_declare(x, "direct")
    ch.basic_publish(x, "nowhere", b"u", mandatory=True)
    m, p, b = get_one(ch, ae_q)
    expect_eq(b, b"u", "routed by the policy's AE")
    conn.close()


def test_policy_dead_letter_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare("pol.dlx", "fanout")
    dlq = uniq("pol.dlq")
    ch.queue_declare(dlq)
    ch.queue_bind(dlq, "pol.dlx")
    q = "pol.dl." + uniq("q")
    ch.queue_declare(q)
    ch.basic_publish("", q, b"d")
    m, p, b = get_one(ch, dlq)
    expect_eq((b, p.headers["x-death"][0]["reason"]), (b"d", "expired"), "dead-lettered")
    conn.close()


if __name__ == "__main__":
    main([test_policy_ttl_on_a_queue_without_arguments,
          test_policy_max_length_and_priority,
          test_policy_alternate_exchange,
          test_policy_dead_letter_exchange], config_text=CONFIG)
