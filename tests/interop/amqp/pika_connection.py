"""Connection-level behaviour and RabbitMQ extensions that common clients rely on, through pika and
raw frames: server properties and capabilities, frame_max/channel_max/heartbeat negotiation,
heartbeats keeping an idle connection alive, direct reply-to (amq.rabbitmq.reply-to), internal
and auto-delete exchanges, default-exchange rules, bindings removed with their queue/exchange."""
import struct
import time

import pika
import pika.exceptions as pex

import rawamqp as raw
from amqp_util import connect, current_broker, expect_eq, main, uniq
from harness import scaled  # noqa: E402


def parse_table(r):
    """Decodes a field table from a rawamqp.Reader (the subset servers use in start)."""
    end = r.pos + r.long()
    out = {}
    while r.pos < end:
        key = r.shortstr()
        t = chr(r.octet())
        if t == "t":
            out[key] = bool(r.octet())
        elif t == "S":
            out[key] = r.longstr().decode("utf-8", "replace")
        elif t == "F":
            out[key] = parse_table(r)
        elif t in "lL":
            out[key] = struct.unpack(">q", r.take(8))[0]
        elif t in "iI":
            out[key] = struct.unpack(">i", r.take(4))[0]
        else:
            raise AssertionError(f"unexpected field type {t!r} in server properties")
    return out


def test_server_properties_and_capabilities():
    b = current_broker()
    with raw.RawConnection(b.host, b.amqp_port) as c:
        c.send(raw.PROTOCOL_HEADER)
        ch, cls, mth, r = c.read_method()
        expect_eq((ch, cls, mth), (0, 10, 10), "first frame is connection.start")
        expect_eq((r.octet(), r.octet()), (0, 9), "version major/minor in connection.start")
        props = parse_table(r)
        mechanisms = r.longstr().split()
        locales = r.longstr().split()
        assert b"PLAIN" in mechanisms and b"AMQPLAIN" in mechanisms, mechanisms
        assert b"en_US" in locales, locales
        for key in ("product", "version", "platform", "capabilities"):
            assert key in props, f"server property {key} missing: {sorted(props)}"
        caps = props["capabilities"]
        for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                    "consumer_cancel_notify", "authentication_failure_close",
                    "per_consumer_qos", "direct_reply_to"):
            expect_eq(caps.get(cap), True, f"capability {cap}")
        # connection.blocked: sent under a memory or disk alarm (tests/interop/server/alarms_test.py).
        expect_eq(caps.get("connection.blocked"), True, "capability connection.blocked")


def test_tune_negotiation():
    b = current_broker()
    # Server's proposal, then the client's lower values win.
    with raw.RawConnection(b.host, b.amqp_port) as c:
        c.send(raw.PROTOCOL_HEADER)
        c.expect_method(0, 10, 10)
        c.send_method(0, 10, 11, raw.table() + raw.shortstr("PLAIN") +
                      raw.longstr(b"\x00guest\x00guest") + raw.shortstr("en_US"))
        r = c.expect_method(0, 10, 30)
        channel_max, frame_max, heartbeat = r.short(), r.long(), r.short()
        assert 0 < channel_max <= 65535, f"channel_max {channel_max}"
        assert frame_max >= 4096, f"frame_max {frame_max}"
        assert heartbeat > 0, f"server proposes a heartbeat, got {heartbeat}"
    # pika negotiates down to what it asks for.
    conn = connect(frame_max=8192, channel_max=16, heartbeat=7)
    p = conn._impl.params
    expect_eq((p.frame_max, p.channel_max, p.heartbeat), (8192, 16, 7), "negotiated tune values")
    chans = [conn.channel() for _ in range(16)]
    expect_eq(sorted(c.channel_number for c in chans), list(range(1, 17)), "channels 1..16")
    try:
        conn.channel()
        raise AssertionError("pika opened more channels than channel_max")
    except pex.NoFreeChannels:
        pass
    conn.close()


def test_heartbeats_keep_idle_connection_alive():
    conn = connect(heartbeat=1)
    expect_eq(conn._impl.params.heartbeat, 1, "negotiated heartbeat")
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    # Idle (but servicing I/O) for several heartbeat intervals: both sides must keep it alive.
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.2)
    assert conn.is_open, "connection died while idle with heartbeats"
    ch.basic_publish("", q, b"after idle")
    m, _, body = ch.basic_get(q, auto_ack=True)
    expect_eq(body, b"after idle", "round trip after idling")
    conn.close()


def test_missed_heartbeats_close_connection():
    """A client that negotiates heartbeat=1 and then goes silent is dropped by the server
    (after two missed intervals RabbitMQ closes the socket)."""
    b = current_broker()
    c = raw.RawConnection(b.host, b.amqp_port, timeout=10)
    c.send(raw.PROTOCOL_HEADER)
    c.expect_method(0, 10, 10)
    c.send_method(0, 10, 11, raw.table() + raw.shortstr("PLAIN") +
                  raw.longstr(b"\x00guest\x00guest") + raw.shortstr("en_US"))
    r = c.expect_method(0, 10, 30)
    c.send_method(0, 10, 31, raw.short(r.short()) + raw.long_(r.long()) + raw.short(1))
    c.send_method(0, 10, 40, raw.shortstr("/") + raw.shortstr("") + raw.bits(False))
    c.expect_method(0, 10, 41)
    t0 = time.monotonic()
    beats = 0
    c.sock.settimeout(scaled(10))
    try:
        while time.monotonic() - t0 < scaled(10):
            ftype, channel, size = struct.unpack(">BHI", c.read_exact(7))
            c.read_exact(size + 1)
            if ftype == raw.FRAME_HEARTBEAT:
                beats += 1
        raise AssertionError("server kept a silent heartbeat=1 connection open for 10 s")
    except raw.Closed:
        pass
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed <= scaled(8.0), f"closed after {elapsed:.1f}s"
    assert beats >= 1, "server sent no heartbeat frames before closing"
    c.close()


def test_direct_reply_to():
    conn = connect()
    server = connect()
    sch = server.channel()
    rpc_q = sch.queue_declare("", exclusive=True).method.queue
    ch = conn.channel()
    replies = []
    ch.basic_consume("amq.rabbitmq.reply-to",
                     lambda c, m, p, body: replies.append((p.correlation_id, body)),
                     auto_ack=True)
    ch.basic_publish("", rpc_q, b"ping",
                     properties=pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                     correlation_id="c1"))
    req = None
    for _ in range(200):
        req = sch.basic_get(rpc_q, auto_ack=True)
        if req[0] is not None:
            break
        server.sleep(0.01)
    m, p, body = req
    expect_eq(body, b"ping", "request body")
    assert p.reply_to.startswith("amq.rabbitmq.reply-to."), \
        f"reply_to rewritten to a per-consumer address, got {p.reply_to!r}"
    sch.basic_publish("", p.reply_to, b"pong",
                      properties=pika.BasicProperties(correlation_id=p.correlation_id))
    deadline = time.monotonic() + 10
    while not replies and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    expect_eq(replies, [("c1", b"pong")], "direct reply-to reply")
    server.close()
    conn.close()


def test_direct_reply_to_requires_consumer():
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    try:
        ch.basic_publish("", q, b"x", properties=pika.BasicProperties(
            reply_to="amq.rabbitmq.reply-to"))
        ch.queue_declare("", exclusive=True)
        raise AssertionError("reply_to amq.rabbitmq.reply-to without a consumer was accepted")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 406, "publish with direct reply-to but no consumer")
        assert e.reply_text.startswith(
            "PRECONDITION_FAILED - fast reply consumer does not exist"), e.reply_text
    conn.close()


def test_internal_and_auto_delete_exchanges():
    conn = connect()
    ch = conn.channel()
    internal = uniq("internal")
    front = uniq("front")
    ch.exchange_declare(internal, "fanout", internal=True)
    ch.exchange_declare(front, "direct")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, internal)
    ch.exchange_bind(internal, front, "k")
    ch.basic_publish(front, "k", b"through front")
    got = None
    for _ in range(200):
        got = ch.basic_get(q, auto_ack=True)
        if got[0] is not None:
            break
        conn.sleep(0.01)
    expect_eq(got[2], b"through front", "internal exchange reached through a binding")
    ch.basic_publish(internal, "", b"direct to internal")
    try:
        ch.queue_declare("", exclusive=True)
        raise AssertionError("publishing to an internal exchange was accepted")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 403, "publish to internal exchange")
        assert e.reply_text.startswith(f"ACCESS_REFUSED - cannot publish to internal exchange "
                                       f"'{internal}' in vhost '/'"), e.reply_text
    ch = conn.channel()
    # auto-delete exchange goes away when its last binding goes.
    ad = uniq("ad.exchange")
    ch.exchange_declare(ad, "fanout", auto_delete=True)
    ch.exchange_declare(ad, "fanout", passive=True)  # no bindings yet: still there
    q2 = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q2, ad)
    ch.queue_bind(q, ad)
    ch.queue_unbind(q2, ad)
    ch.exchange_declare(ad, "fanout", passive=True)
    ch.queue_unbind(q, ad)
    try:
        ch.exchange_declare(ad, "fanout", passive=True)
        raise AssertionError("auto-delete exchange survived its last unbind")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 404, "auto-delete exchange after last unbind")
    ch = conn.channel()
    ch.exchange_delete(internal)
    ch.exchange_delete(front)
    conn.close()


def test_bindings_go_with_their_queue_and_exchange():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ex = uniq("bindings.ex")
    ch.exchange_declare(ex, "direct")
    q = uniq("bindings.q")
    ch.queue_declare(q)
    ch.queue_bind(q, ex, "k")
    ch.queue_delete(q)
    ch.queue_declare(q)  # same name again: the old binding must not come back
    try:
        ch.basic_publish(ex, "k", b"x", mandatory=True)
        raise AssertionError("binding survived the deletion of its queue")
    except pex.UnroutableError:
        pass
    ch.queue_bind(q, ex, "k")
    ch.exchange_delete(ex)
    ch.exchange_declare(ex, "direct")
    try:
        ch.basic_publish(ex, "k", b"x", mandatory=True)
        raise AssertionError("binding survived the deletion of its exchange")
    except pex.UnroutableError:
        pass
    # The longest legal name (255 octets) works.
    long_name = uniq("long").ljust(255, "x")
    expect_eq(ch.queue_declare(long_name).method.queue, long_name, "255-octet queue name")
    ch.queue_bind(long_name, ex, long_name)
    ch.basic_publish(ex, long_name, b"long")
    expect_eq(ch.queue_delete(long_name).method.message_count, 1, "message via 255-octet key")
    # Binding twice is idempotent; unbinding something not bound is fine.
    ch.queue_bind(q, ex, "k")
    ch.queue_bind(q, ex, "k")
    ch.basic_publish(ex, "k", b"once")
    expect_eq(ch.queue_declare(q, passive=True).method.message_count, 1, "duplicate binding")
    ch.queue_unbind(q, ex, "not-bound")
    # Every queue is bound to the default exchange under its own name, and only that way.
    ch.basic_publish("", q, b"default")
    expect_eq(ch.queue_declare(q, passive=True).method.message_count, 2, "default exchange")
    try:
        ch.basic_publish("", q + ".nope", b"x", mandatory=True)
        raise AssertionError("default exchange routed to a queue by another name")
    except pex.UnroutableError:
        pass
    ch.exchange_delete(ex)
    ch.queue_delete(q)
    conn.close()


def test_nowait_and_current_queue():
    """nowait variants get no reply; an empty queue name means the channel's last declared
    queue (queue.bind, basic.get, queue.delete), as RabbitMQ implements it."""
    b = current_broker()
    ex = uniq("nowait.ex")
    with raw.RawConnection(b.host, b.amqp_port) as c:
        c.handshake()
        c.open_channel(1)
        c.send_method(1, 50, 10, raw.short(0) + raw.shortstr("") + raw.bits(0, 0, 1, 0, 0) +
                      raw.table())
        q = c.expect_method(1, 50, 11).shortstr()
        assert q.startswith("amq.gen-"), q
        # exchange.declare nowait, then queue.bind nowait with the empty (= last) queue name.
        c.send_method(1, 40, 10, raw.short(0) + raw.shortstr(ex) + raw.shortstr("direct") +
                      raw.bits(0, 0, 1, 0, 1) + raw.table())
        c.send_method(1, 50, 20, raw.short(0) + raw.shortstr("") + raw.shortstr(ex) +
                      raw.shortstr("rk") + raw.bits(1) + raw.table())
        c.publish(1, ex, "rk", b"via current queue")
        c.send_method(1, 60, 70, raw.short(0) + raw.shortstr("") + raw.bits(1))  # get, no-ack
        r = c.expect_method(1, 60, 71)
        r.take(8), r.octet()  # delivery tag, redelivered
        expect_eq((r.shortstr(), r.shortstr(), r.long()), (ex, "rk", 0), "get-ok fields")
        expect_eq(c.read_content(1), b"via current queue", "body through nowait binding")
        # basic.consume nowait, then cancel (with reply) proves the consumer existed.
        c.send_method(1, 60, 20, raw.short(0) + raw.shortstr(q) + raw.shortstr("ctag") +
                      raw.bits(0, 1, 0, 1) + raw.table())
        c.publish(1, "", q, b"to consumer")
        r = c.expect_method(1, 60, 60)  # basic.deliver
        expect_eq(r.shortstr(), "ctag", "consumer tag of the nowait consumer")
        expect_eq(c.read_content(1), b"to consumer", "delivered body")
        c.send_method(1, 60, 30, raw.shortstr("ctag") + raw.bits(0))
        expect_eq(c.expect_method(1, 60, 31).shortstr(), "ctag", "cancel-ok tag")
        # queue.delete with the empty name deletes the last declared queue.
        c.send_method(1, 50, 40, raw.short(0) + raw.shortstr("") + raw.bits(0, 0, 0))
        expect_eq(c.expect_method(1, 50, 41).long(), 0, "delete-ok count")
        c.send_method(1, 40, 20, raw.short(0) + raw.shortstr(ex) + raw.bits(0, 0))
        c.expect_method(1, 40, 21)
    conn = connect()
    ch = conn.channel()
    try:
        ch.queue_declare(q, passive=True)
        raise AssertionError("queue.delete '' did not delete the last declared queue")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 404, "passive declare after delete ''")
    conn.close()


def test_small_body_frames_interleaved_with_other_channels():
    """A body may come in many frames smaller than frame_max, and frames of other channels may
    sit between the content frames of one channel."""
    b = current_broker()
    with raw.RawConnection(b.host, b.amqp_port) as c:
        c.handshake()
        c.open_channel(1)
        c.open_channel(2)
        c.send_method(1, 50, 10, raw.short(0) + raw.shortstr("") + raw.bits(0, 0, 1, 0, 0) +
                      raw.table())
        q = c.expect_method(1, 50, 11).shortstr()
        body = bytes(range(256)) * 40
        c.send_method(1, 60, 40, raw.short(0) + raw.shortstr("") + raw.shortstr(q) +
                      raw.bits(0, 0))
        c.send(raw.header_frame(1, len(body)))
        for i in range(0, len(body), 100):
            c.send(raw.body_frame(1, body[i:i + 100]))
            if i == 500:  # a whole method on channel 2 in the middle of channel 1's content
                c.send_method(2, 50, 10, raw.short(0) + raw.shortstr("") +
                              raw.bits(0, 0, 1, 0, 0) + raw.table())
        assert c.expect_method(2, 50, 11).shortstr().startswith("amq.gen-")
        c.send_method(1, 60, 70, raw.short(0) + raw.shortstr(q) + raw.bits(1))
        c.expect_method(1, 60, 71)
        assert c.read_content(1) == body, "body assembled from 103 frames differs"


def test_client_close_with_open_channels_and_reopen():
    conn = connect()
    for _ in range(5):
        c = conn.channel()
        c.queue_declare("", exclusive=True)
    conn.close()
    assert conn.is_closed
    # Reopen channel numbers after closing them.
    conn = connect()
    for _ in range(3):
        c = conn.channel(channel_number=7)
        c.queue_declare("", exclusive=True)
        c.close()
    conn.close()


if __name__ == "__main__":
    main([test_server_properties_and_capabilities, test_tune_negotiation,
          test_heartbeats_keep_idle_connection_alive, test_missed_heartbeats_close_connection,
          test_direct_reply_to, test_direct_reply_to_requires_consumer,
          test_internal_and_auto_delete_exchanges, test_bindings_go_with_their_queue_and_exchange,
          test_nowait_and_current_queue, test_small_body_frames_interleaved_with_other_channels,
          test_client_close_with_open_channels_and_reopen])
