"""Stream queues over STOMP (python3-stomp 1.2), as RabbitMQ's STOMP adapter serves them:
SUBSCRIBE to /amq/queue/<stream> with ack client or client-individual, a prefetch-count header
(without one the consume is refused, as AMQP's basic.consume without basic.qos) and the
x-stream-offset header, which takes "first", "last", "next", "offset=<n>" and
"timestamp=<seconds>"; any other value (a bare number, "1h") is ignored, which means "next".
Every MESSAGE carries x-stream-offset; an ACK is credit for prefetch-count. ack:auto is refused
(the adapter's AMQP channel dies with 540). A stream can also be declared from STOMP: SUBSCRIBE
to /queue/<name> with the header x-queue-type:stream (durable, not auto-delete).

Validated against RabbitMQ 3.10.8 with rabbitmq_stomp
(WARREN_EXTERNAL=127.0.0.1:<amqp>:<stomp>): every test passes there.
"""
import time

import pika

from stomp_util import close, connect, current_broker, main, uniq


def amqp():
    b = current_broker()
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))


def new_stream(n):
    q = uniq("st")
    conn = amqp()
    ch = conn.channel()
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "stream"})
    ch.confirm_delivery()
    for i in range(n):   # confirmed one by one: one message per chunk
        ch.basic_publish("", q, f"m{i}".encode())
    conn.close()
    return q


def delete(q):
    conn = amqp()
    conn.channel().queue_delete(q)
    conn.close()


def messages(l, n):
    return [l.next_message() for _ in range(n)]


def stomp():
    return connect("1.2", vhost="/")


def test_subscribe_from_first_and_from_an_offset():
    q = new_stream(5)
    for offset, start in [("first", 0), ("offset=3", 3), ("offset=0", 0), ("last", 4)]:
        c, l = stomp()
        c.subscribe(f"/amq/queue/{q}", id="s1", ack="client-individual",
                    headers={"prefetch-count": "10", "x-stream-offset": offset})
        got = messages(l, 5 - start)
        l.no_message(0.3)
        assert [m.body for m in got] == [f"m{i}".encode() for i in range(start, 5)], \
            (offset, [m.body for m in got])
        assert [m.headers["x-stream-offset"] for m in got] == \
            [str(i) for i in range(start, 5)], offset
        for m in got:
            assert m.headers["redelivered"] == "false", m.headers
            c.ack(m.headers["ack"])
        close(c)
    delete(q)


def test_ignored_offsets_mean_next():
    q = new_stream(3)
    subs = []
    for offset in ["next", "2", "1h", None]:
        c, l = stomp()
        h = {"prefetch-count": "10"}
        if offset is not None:
            h["x-stream-offset"] = offset
        c.subscribe(f"/amq/queue/{q}", id="s1", ack="client", headers=h, receipt="r")
        l.receipt("r")
        subs.append((offset, c, l))
    time.sleep(0.3)
    conn = amqp()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", q, b"new")
    conn.close()
    for offset, c, l in subs:
        m = l.next_message()
        assert (m.body, m.headers["x-stream-offset"]) == (b"new", "3"), (offset, m.headers)
        l.no_message(0.2)
        close(c)
    delete(q)


def test_timestamp_offset():
    q = new_stream(2)
    boundary = int(time.time()) + 1
    time.sleep(boundary - time.time() + 0.05)
    conn = amqp()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", q, b"late")
    conn.close()
    for ts, want in [(boundary, [b"late"]), (boundary - 3600, [b"m0", b"m1", b"late"])]:
        c, l = stomp()
        c.subscribe(f"/amq/queue/{q}", id="s1", ack="client-individual",
                    headers={"prefetch-count": "10", "x-stream-offset": f"timestamp={ts}"})
        got = messages(l, len(want))
        l.no_message(0.3)
        assert [m.body for m in got] == want, (ts, [m.body for m in got])
        close(c)
    delete(q)


def test_ack_is_credit():
    q = new_stream(5)
    c, l = stomp()
    c.subscribe(f"/amq/queue/{q}", id="s1", ack="client-individual",
                headers={"prefetch-count": "2", "x-stream-offset": "first"})
    got = messages(l, 2)
    l.no_message(0.5)
    c.ack(got[0].headers["ack"])
    got.append(l.next_message())
    l.no_message(0.5)
    for m in got[1:]:
        c.ack(m.headers["ack"])
    got += messages(l, 2)
    assert [m.headers["x-stream-offset"] for m in got] == ["0", "1", "2", "3", "4"], \
        [m.headers for m in got]
    close(c)
    delete(q)


def test_subscribe_without_prefetch_or_with_auto_ack_is_refused():
    q = new_stream(1)
    c, l = stomp()
    c.subscribe(f"/amq/queue/{q}", id="s1", ack="client-individual",
                headers={"x-stream-offset": "first"})
    e = l.error()
    assert e.headers.get("message") == "precondition_failed", e.headers
    body = e.body.decode() if isinstance(e.body, bytes) else e.body
    assert body == ("PRECONDITION_FAILED - consumer prefetch count is not set for "
                    f"'queue '{q}' in vhost '/''"), body
    l.no_message(0.3)
    close(c)
    c, l = stomp()
    c.subscribe(f"/amq/queue/{q}", id="s1", ack="auto",
                headers={"prefetch-count": "10", "x-stream-offset": "first"})
    e = l.error()
    l.no_message(0.3)
    close(c)
    delete(q)


def test_declare_a_stream_from_stomp():
    name = uniq("st.decl")
    c, l = stomp()
    c.subscribe(f"/queue/{name}", id="s1", ack="client",
                headers={"prefetch-count": "5", "x-queue-type": "stream", "durable": "true",
                         "auto-delete": "false", "x-stream-offset": "first"}, receipt="r")
    l.receipt("r")
    c.send(f"/amq/queue/{name}", "hello", receipt="p")
    l.receipt("p")
    m = l.next_message()
    assert (m.body, m.headers["x-stream-offset"]) == (b"hello", "0"), m.headers
    close(c)
    conn = amqp()
    ch = conn.channel()
    ok = ch.queue_declare(name, durable=True, arguments={"x-queue-type": "stream"}).method
    assert ok.queue == name
    ch.queue_delete(name)
    conn.close()


if __name__ == "__main__":
    main([test_subscribe_from_first_and_from_an_offset, test_ignored_offsets_mean_next,
          test_timestamp_offset, test_ack_is_credit,
          test_subscribe_without_prefetch_or_with_auto_ack_is_refused,
          test_declare_a_stream_from_stomp])
