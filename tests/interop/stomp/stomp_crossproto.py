"""STOMP <-> AMQP 0-9-1 with python3-stomp and python3-pika on one warrend: messages keep their
body and properties when they cross protocols, mapped as RabbitMQ's STOMP plugin maps them."""
import time

import pika

from stomp_util import connect, current_broker, main, uniq


def amqp():
    b = current_broker()
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))


def get(ch, q, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, props, body = ch.basic_get(q, auto_ack=True)
        if m is not None:
            return m, props, body
        time.sleep(0.02)
    raise AssertionError(f"nothing in {q} after {timeout}s")


def test_pika_publish_to_stomp_subscriber():
    qn = uniq("p2s")
    conn = amqp()
    ch = conn.channel()
    ch.queue_declare(qn, durable=True)
    c, l = connect("1.2")
    c.subscribe(f"/queue/{qn}", id="s", receipt="s")
    l.receipt("s")
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="utf-8", delivery_mode=2, priority=4,
        correlation_id="corr", reply_to="replies", expiration="60000", message_id="amqp-id-1",
        timestamp=1700000000, type="kind", user_id="guest", app_id="pika-app",
        headers={"x-str": "s", "x-int": 42, "x-bool": True})
    ch.basic_publish("", qn, b"\x00binary\x00body", properties=props)
    m = l.next_message()
    h = m.headers
    assert m.body == b"\x00binary\x00body", m.body
    assert h["destination"] == f"/queue/{qn}", h
    assert h["content-type"] == "application/json"
    assert h["content-encoding"] == "utf-8"
    assert h["persistent"] == "true"
    assert h["priority"] == "4"
    assert h["correlation-id"] == "corr"
    assert h["reply-to"] == "replies"
    assert h["expiration"] == "60000"
    assert h["amqp-message-id"] == "amqp-id-1"
    assert h["timestamp"] == "1700000000"
    assert h["type"] == "kind"
    assert h["user-id"] == "guest"
    assert h["app-id"] == "pika-app"
    assert h["x-str"] == "s" and h["x-int"] == "42" and h["x-bool"] == "true", h
    c.disconnect()
    ch.queue_delete(qn)
    conn.close()


def test_stomp_send_to_pika_consumer():
    qn = uniq("s2p")
    conn = amqp()
    ch = conn.channel()
    ch.queue_declare(qn, durable=True)
    c, l = connect("1.2")
    c.send(f"/amq/queue/{qn}", b"from stomp\x00!", content_type="text/plain",
           headers={"persistent": "true", "priority": "7", "correlation-id": "c-9",
                    "reply-to": "answers", "expiration": "90000", "amqp-message-id": "m-9",
                    "timestamp": "1600000000", "type": "greeting", "app-id": "stomp-app",
                    "content-encoding": "identity", "custom-header": "custom value"},
           receipt="r")
    l.receipt("r")
    _, p, body = get(ch, qn)
    assert body == b"from stomp\x00!", body
    assert p.content_type == "text/plain"
    assert p.content_encoding == "identity"
    assert p.delivery_mode == 2
    assert p.priority == 7
    assert p.correlation_id == "c-9"
    assert p.reply_to == "answers"
    assert p.expiration == "90000"
    assert p.message_id == "m-9"
    assert p.timestamp == 1600000000
    assert p.type == "greeting"
    assert p.app_id == "stomp-app"
    hdrs = p.headers or {}
    v = hdrs.get("custom-header")
    assert v in ("custom value", b"custom value"), hdrs
    assert "destination" not in hdrs and "receipt" not in hdrs, hdrs
    c.disconnect()
    ch.queue_delete(qn)
    conn.close()


def test_stomp_queue_destination_reaches_pika():
    qn = uniq("s2p-queue")
    c, l = connect("1.2")
    c.send(f"/queue/{qn}", b"declared by stomp", receipt="r")
    l.receipt("r")
    conn = amqp()
    ch = conn.channel()
    # /queue/ declares a durable, non-exclusive, non-auto-delete queue (RabbitMQ's defaults).
    ok = ch.queue_declare(qn, durable=True, passive=True)
    assert ok.method.message_count == 1
    _, _, body = get(ch, qn)
    assert body == b"declared by stomp"
    c.disconnect()
    ch.queue_delete(qn)
    conn.close()


def test_stomp_topic_to_pika_binding():
    conn = amqp()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    key = uniq("topic").replace(".", "_")
    ch.queue_bind(q, "amq.topic", f"{key}.*")
    c, l = connect("1.2")
    c.send(f"/topic/{key}.x", b"via amq.topic", receipt="r")
    l.receipt("r")
    m, _, body = get(ch, q)
    assert body == b"via amq.topic" and m.routing_key == f"{key}.x", (m, body)
    c.disconnect()
    conn.close()


def test_pika_topic_publish_to_stomp_topic_subscriber():
    key = uniq("t").replace(".", "_")
    c, l = connect("1.2")
    c.subscribe(f"/topic/{key}.#", id="t", receipt="s")
    l.receipt("s")
    conn = amqp()
    ch = conn.channel()
    ch.basic_publish("amq.topic", f"{key}.a.b", b"from pika")
    m = l.next_message()
    assert m.body == b"from pika" and m.headers["destination"] == f"/topic/{key}.a.b", m.headers
    c.disconnect()
    conn.close()


def test_stomp_exchange_destination_to_pika_exchange():
    conn = amqp()
    ch = conn.channel()
    ex = uniq("ex")
    ch.exchange_declare(ex, "direct")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, ex, "rk")
    c, l = connect("1.2")
    c.send(f"/exchange/{ex}/rk", b"to exchange", receipt="r")
    l.receipt("r")
    _, _, body = get(ch, q)
    assert body == b"to exchange"
    # and a STOMP subscription on the same exchange sees pika's publishes
    c.subscribe(f"/exchange/{ex}/rk2", id="e", receipt="s")
    l.receipt("s")
    ch.basic_publish(ex, "rk2", b"from pika")
    m = l.next_message()
    assert m.body == b"from pika" and m.headers["destination"] == f"/exchange/{ex}/rk2", m.headers
    c.disconnect()
    ch.exchange_delete(ex)
    conn.close()


def test_stomp_client_ack_with_pika_publisher_and_requeue():
    qn = uniq("ackx")
    conn = amqp()
    ch = conn.channel()
    ch.queue_declare(qn, durable=True)
    for i in range(3):
        ch.basic_publish("", qn, str(i).encode())
    c, l = connect("1.2")
    c.subscribe(f"/amq/queue/{qn}", id="s", ack="client-individual")
    ms = [l.next_message() for _ in range(3)]
    c.ack(ms[0].headers["ack"])
    c.nack(ms[1].headers["ack"], requeue="false")
    c.disconnect()  # ms[2] goes back to the queue
    m, _, body = get(ch, qn)
    assert body == b"2" and m.redelivered, (m, body)
    ok = ch.queue_declare(qn, durable=True, passive=True)
    assert ok.method.message_count == 0
    ch.queue_delete(qn)
    conn.close()


def test_amqp_rpc_reply_to_stomp_temp_queue():
    """A STOMP client asks with reply-to:/temp-queue/...; an AMQP server answers through the
    default exchange to the reply queue named in reply_to (after /reply-queue/)."""
    rpc = uniq("rpc")
    conn = amqp()
    ch = conn.channel()
    ch.queue_declare(rpc, durable=True)
    c, l = connect("1.2")
    c.send(f"/amq/queue/{rpc}", b"question", headers={"reply-to": "/temp-queue/a"},
           receipt="r")
    l.receipt("r")
    _, p, body = get(ch, rpc)
    assert p.reply_to.startswith("/reply-queue/"), p.reply_to
    ch.basic_publish("", p.reply_to[len("/reply-queue/"):], b"answer")
    m = l.next_message()
    assert m.body == b"answer" and m.headers["subscription"] == "/temp-queue/a", m.headers
    c.disconnect()
    ch.queue_delete(rpc)
    conn.close()


def test_queue_deleted_by_amqp_cancels_stomp_subscription():
    qn = uniq("deleted")
    conn = amqp()
    ch = conn.channel()
    ch.queue_declare(qn)
    c, l = connect("1.2")
    other = "/queue/" + uniq("other")
    c.subscribe(f"/amq/queue/{qn}", id="doomed", receipt="s")
    c.subscribe(other, id="alive", receipt="t")
    l.receipt("s")
    l.receipt("t")
    ch.queue_delete(qn)
    e = l.error()
    assert e.headers["message"] == "Server cancelled subscription", e.headers
    assert e.headers["subscription"] == "doomed", e.headers
    # The connection and its other subscriptions carry on (as with RabbitMQ).
    c.send(other, b"still delivering")
    assert l.next_message().body == b"still delivering"
    c.disconnect()
    conn.close()


if __name__ == "__main__":
    main([
        test_pika_publish_to_stomp_subscriber, test_stomp_send_to_pika_consumer,
        test_stomp_queue_destination_reaches_pika, test_stomp_topic_to_pika_binding,
        test_pika_topic_publish_to_stomp_topic_subscriber,
        test_stomp_exchange_destination_to_pika_exchange,
        test_stomp_client_ack_with_pika_publisher_and_requeue,
        test_amqp_rpc_reply_to_stomp_temp_queue,
        test_queue_deleted_by_amqp_cancels_stomp_subscription,
    ])
