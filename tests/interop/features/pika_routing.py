"""Routing features through python3-pika, as RabbitMQ documents them: sender-selected
distribution (CC / BCC headers; BCC never reaches consumers) and alternate exchanges
(unroutable messages go to the AE; a mandatory message routed by the AE is not returned)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402

from amqp_util import connect, expect_eq, main, uniq  # noqa: E402
from features_util import bodies, count, fresh, get_one  # noqa: E402


def test_cc_and_bcc_through_a_direct_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    x = uniq("ssd.direct")
    ch.exchange_declare(x, "direct")
    qs = {k: fresh(ch, f"ssd.{k}") for k in ("main", "cc1", "cc2", "bcc", "other")}
    for k, q in qs.items():
        ch.queue_bind(q, x, routing_key=f"rk.{k}")
    ch.basic_publish(x, "rk.main", b"hello", pika.BasicProperties(headers={
        "CC": ["rk.cc1", "rk.cc2"], "BCC": ["rk.bcc"], "app": "v"}), mandatory=True)
    for k in ("main", "cc1", "cc2", "bcc"):
        m, p, b = get_one(ch, qs[k])
        expect_eq(b, b"hello", f"{k} body")
        expect_eq(m.routing_key, "rk.main", f"{k} routing key is the published one")
        expect_eq(p.headers.get("CC"), ["rk.cc1", "rk.cc2"], f"{k} keeps CC")
        assert "BCC" not in p.headers, f"{k}: BCC leaked: {p.headers}"
        expect_eq(p.headers.get("app"), "v", f"{k} other headers")
    expect_eq(count(ch, qs["other"]), 0, "unselected queue")
    # Each queue gets one copy even if selected twice.
    ch.basic_publish(x, "rk.main", b"twice", pika.BasicProperties(headers={
        "CC": ["rk.main"], "BCC": ["rk.main"]}))
    expect_eq(bodies(ch, qs["main"]), ["twice"], "one copy")
    conn.close()


def test_cc_through_topic_and_default_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    a = fresh(ch, "ssd.a")
    b = fresh(ch, "ssd.b")
    ch.queue_bind(b, "amq.topic", routing_key="audit.#")
    ch.basic_publish("amq.topic", "orders.new", b"t",
                     pika.BasicProperties(headers={"BCC": ["audit.orders"]}))
    m, p, body = get_one(ch, b)
    expect_eq((body, m.routing_key, "BCC" in (p.headers or {})), (b"t", "orders.new", False),
              "topic BCC")
    ch.basic_publish("", a, b"d", pika.BasicProperties(headers={"CC": [b]}))
    expect_eq(bodies(ch, a), ["d"], "default exchange: routing key queue")
    expect_eq(bodies(ch, b), ["d"], "default exchange: CC queue")
    conn.close()


def test_alternate_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ae = uniq("ae.fanout")
    ch.exchange_declare(ae, "fanout")
    unrouted = fresh(ch, "ae.unrouted")
    ch.queue_bind(unrouted, ae)
    x = uniq("ae.main")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})
    routed = fresh(ch, "ae.routed")
    ch.queue_bind(routed, x, routing_key="known")
    ch.basic_publish(x, "known", b"r")
    ch.basic_publish(x, "unknown", b"u", mandatory=True)  # routed by the AE: not returned
    expect_eq(bodies(ch, routed), ["r"], "routed normally")
    m, p, b = get_one(ch, unrouted)
    expect_eq((b, m.exchange, m.routing_key), (b"u", x, "unknown"), "via the AE")
    expect_eq(count(ch, unrouted), 0, "only the unroutable one")
    # Redeclare with a different AE is inequivalent (406).
    ch2 = conn.channel()
    try:
        ch2.exchange_declare(x, "direct", arguments={"alternate-exchange": "other"})
        raise AssertionError("inequivalent redeclare accepted")
    except pika.exceptions.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 406, "inequivalent AE")
    # A missing AE: the message is simply unroutable (returned if mandatory).
    y = uniq("ae.missing")
    ch.exchange_declare(y, "direct", arguments={"alternate-exchange": uniq("nowhere")})
    try:
        ch.basic_publish(y, "k", b"lost", mandatory=True)
        raise AssertionError("unroutable mandatory message not returned")
    except pika.exceptions.UnroutableError:
        pass
    conn.close()


if __name__ == "__main__":
    main([test_cc_and_bcc_through_a_direct_exchange,
          test_cc_through_topic_and_default_exchange,
          test_alternate_exchange])
