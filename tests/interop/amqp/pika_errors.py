"""AMQP error handling as RabbitMQ does it: reply codes and text prefixes of channel and connection
exceptions, with real python3-pika where a client library can provoke them and with hand-built
frames (rawamqp.py) where none would. After each bad client, a fresh connection must still work.

Reply texts follow RabbitMQ's "<CONSTANT_NAME> - <detail>" form; we assert the code and the
prefix that carries the meaning, observed against RabbitMQ 3.10."""
import struct

import pika
import pika.exceptions as pex

import rawamqp as raw
from amqp_util import connect, current_broker, expect_eq, main, uniq


def assert_broker_ok():
    """A fresh connection can still declare, publish and get."""
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"still alive")
    for _ in range(100):
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is not None:
            break
        conn.sleep(0.01)
    expect_eq(body, b"still alive", "round trip on a fresh connection")
    conn.close()


def expect_channel_error(fn, code, prefix):
    try:
        fn()
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == code and e.reply_text.startswith(prefix), \
            f"expected channel.close {code} {prefix!r}..., got {e.reply_code} {e.reply_text!r}"
        return e
    raise AssertionError(f"expected channel.close {code} {prefix!r}, nothing raised")


def expect_connection_error(fn, code, prefix):
    try:
        fn()
    except pex.ConnectionClosedByBroker as e:
        assert e.reply_code == code and e.reply_text.startswith(prefix), \
            f"expected connection.close {code} {prefix!r}..., got {e.reply_code} {e.reply_text!r}"
        return e
    raise AssertionError(f"expected connection.close {code} {prefix!r}, nothing raised")


# ---- 404 NOT_FOUND ----------------------------------------------------------------------------
def test_404_not_found():
    conn = connect()
    q, ex = uniq("missing.q"), uniq("missing.ex")
    ch = conn.channel()
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 404,
                         f"NOT_FOUND - no queue '{q}' in vhost '/'")
    assert conn.is_open, "a channel error must not close the connection"
    ch = conn.channel()
    expect_channel_error(lambda: ch.exchange_declare(ex, passive=True), 404,
                         f"NOT_FOUND - no exchange '{ex}' in vhost '/'")
    # Publishing to a missing exchange closes the channel asynchronously...
    ch = conn.channel()
    ch.basic_publish(ex, "k", b"x")
    expect_channel_error(lambda: ch.queue_declare("", exclusive=True), 404,
                         f"NOT_FOUND - no exchange '{ex}' in vhost '/'")
    # ...and in confirm mode the publish itself reports it.
    ch = conn.channel()
    ch.confirm_delivery()
    expect_channel_error(lambda: ch.basic_publish(ex, "k", b"x"), 404,
                         f"NOT_FOUND - no exchange '{ex}' in vhost '/'")
    # Bindings to/from missing things.
    ch = conn.channel()
    real_q = ch.queue_declare("", exclusive=True).method.queue
    expect_channel_error(lambda: ch.queue_bind(real_q, ex, "k"), 404,
                         f"NOT_FOUND - no exchange '{ex}' in vhost '/'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.queue_bind(q, "amq.direct", "k"), 404,
                         f"NOT_FOUND - no queue '{q}' in vhost '/'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.exchange_bind(ex, "amq.direct", "k"), 404,
                         "NOT_FOUND - no exchange")
    ch = conn.channel()
    expect_channel_error(lambda: ch.basic_consume(q, lambda *a: None), 404,
                         f"NOT_FOUND - no queue '{q}' in vhost '/'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.basic_get(q), 404, f"NOT_FOUND - no queue '{q}' in vhost '/'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.queue_purge(q), 404, f"NOT_FOUND - no queue '{q}' in vhost '/'")
    # queue.delete / exchange.delete of missing things succeed (RabbitMQ 3.x is idempotent).
    ch = conn.channel()
    expect_eq(ch.queue_delete(q).method.message_count, 0, "delete of missing queue")
    ch.exchange_delete(ex)
    # A closed channel can be reopened; the connection is intact.
    assert conn.is_open, "connection closed by channel errors"
    conn.close()
    assert_broker_ok()


# ---- 403 ACCESS_REFUSED -----------------------------------------------------------------------
def test_403_access_refused():
    conn = connect()
    ch = conn.channel()
    expect_channel_error(
        lambda: ch.exchange_declare("amq.foo", "direct"), 403,
        "ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.queue_declare("amq.foo"), 403,
                         "ACCESS_REFUSED - queue name 'amq.foo' contains reserved prefix 'amq.*'")
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    expect_channel_error(lambda: ch.queue_bind(q, ""), 403,
                         "ACCESS_REFUSED - operation not permitted on the default exchange")
    # Passive declare of the amq.* builtins is fine.
    ch = conn.channel()
    for name in ("amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"):
        ch.exchange_declare(name, passive=True)
    conn.close()
    assert_broker_ok()


def test_403_bad_credentials():
    b = current_broker()
    bad = pika.ConnectionParameters(b.host, b.amqp_port, connection_attempts=1,
                                    credentials=pika.PlainCredentials("guest", "wrong"))
    try:
        pika.BlockingConnection(bad)
        raise AssertionError("login with a wrong password succeeded")
    except pex.AMQPConnectionError as e:
        # pika reports RabbitMQ's connection.close(403) during the handshake this way.
        assert isinstance(e, (pex.ProbableAuthenticationError, pex.AuthenticationError)), \
            f"wrong password should be an authentication error, got {e!r}"
        text = str(e)
        assert "403" in text and "ACCESS_REFUSED" in text, f"auth error text {text!r}"
    # The same through raw frames: connection.close 403 before tune.
    with raw.RawConnection(b.host, b.amqp_port) as c:
        try:
            c.handshake(user="nobody", password="nothing")
            raise AssertionError("raw login with unknown user succeeded")
        except AssertionError as e:
            assert "code=403" in str(e) and "ACCESS_REFUSED - Login was refused" in str(e), str(e)
    assert_broker_ok()


# ---- 405 RESOURCE_LOCKED ----------------------------------------------------------------------
def test_405_exclusive_queue_of_another_connection():
    owner = connect()
    q = uniq("locked")
    owner.channel().queue_declare(q, exclusive=True)
    other = connect()
    prefix = f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' in vhost '/'"
    for what, op in [
            ("passive declare", lambda ch: ch.queue_declare(q, passive=True)),
            ("declare", lambda ch: ch.queue_declare(q)),
            ("consume", lambda ch: ch.basic_consume(q, lambda *a: None)),
            ("get", lambda ch: ch.basic_get(q)),
            ("purge", lambda ch: ch.queue_purge(q)),
            ("delete", lambda ch: ch.queue_delete(q)),
            ("bind", lambda ch: ch.queue_bind(q, "amq.fanout"))]:
        ch = other.channel()
        try:
            op(ch)
            raise AssertionError(f"{what} of another connection's exclusive queue succeeded")
        except pex.ChannelClosedByBroker as e:
            assert e.reply_code == 405 and e.reply_text.startswith(prefix), \
                f"{what}: got {e.reply_code} {e.reply_text!r}"
    # The owner is unaffected.
    och = owner.channel()
    och.basic_publish("", q, b"mine")
    m, _, body = och.basic_get(q, auto_ack=True)
    expect_eq(body, b"mine", "owner still uses its exclusive queue")
    other.close()
    owner.close()
    assert_broker_ok()


# ---- 406 PRECONDITION_FAILED ------------------------------------------------------------------
def test_406_precondition_failed():
    conn = connect()
    ch = conn.channel()
    q, ex = uniq("pre.q"), uniq("pre.ex")
    ch.queue_delete(q)
    ch.queue_declare(q, durable=False)
    ch.exchange_declare(ex, "direct")
    expect_channel_error(lambda: ch.queue_declare(q, durable=True), 406,
                         f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{q}' "
                         "in vhost '/': received 'true' but current is 'false'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.queue_declare(q, auto_delete=True), 406,
                         "PRECONDITION_FAILED - inequivalent arg 'auto_delete'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.queue_declare(q, arguments={"x-max-length": 10}), 406,
                         "PRECONDITION_FAILED - inequivalent arg 'x-max-length'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.exchange_declare(ex, "fanout"), 406,
                         f"PRECONDITION_FAILED - inequivalent arg 'type' for exchange '{ex}' "
                         "in vhost '/': received 'fanout' but current is 'direct'")
    ch = conn.channel()
    expect_channel_error(lambda: ch.exchange_declare(ex, "direct", durable=True), 406,
                         "PRECONDITION_FAILED - inequivalent arg 'durable'")
    # Unknown delivery tag.
    ch = conn.channel()
    ch.basic_ack(99)
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED - unknown delivery tag 99")
    # Double ack of the same tag.
    ch = conn.channel()
    ch.basic_publish("", q, b"once")
    m = None
    while m is None:
        m, _, _ = ch.basic_get(q)
    ch.basic_ack(m.delivery_tag)
    ch.basic_ack(m.delivery_tag)
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         f"PRECONDITION_FAILED - unknown delivery tag {m.delivery_tag}")
    # Reject and nack of unknown tags too.
    ch = conn.channel()
    ch.basic_reject(5)
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED - unknown delivery tag 5")
    # delete if-unused / if-empty.
    ch = conn.channel()
    cons = conn.channel()
    cons.basic_consume(q, lambda *a: None)
    expect_channel_error(lambda: ch.queue_delete(q, if_unused=True), 406,
                         f"PRECONDITION_FAILED - queue '{q}' in vhost '/' in use")
    cons.close()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", q, b"full")
    expect_channel_error(lambda: ch.queue_delete(q, if_empty=True), 406,
                         f"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty")
    ch = conn.channel()
    ch.queue_bind(q, ex, "k")
    expect_channel_error(lambda: ch.exchange_delete(ex, if_unused=True), 406,
                         f"PRECONDITION_FAILED - exchange '{ex}' in vhost '/' in use")
    ch = conn.channel()
    expect_eq(ch.queue_delete(q).method.message_count, 1, "delete after failed if_empty")
    ch.exchange_delete(ex)
    conn.close()
    assert_broker_ok()


def test_exclusive_consumer_and_reused_consumer_tag():
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_consume(q, lambda *a: None, exclusive=True)
    ch2 = conn.channel()
    expect_channel_error(lambda: ch2.basic_consume(q, lambda *a: None), 403,
                         f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use")
    conn.close()
    # Reusing a consumer tag on one channel: connection.close 530 (pika refuses to send it).
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 50, 10, raw.short(0) + raw.shortstr("") + raw.bits(0, 0, 1, 0, 0) +
                  raw.table())
    rq = c.expect_method(1, 50, 11).shortstr()
    consume = raw.short(0) + raw.shortstr(rq) + raw.shortstr("dup") + raw.bits(0, 0, 0, 0) + \
        raw.table()
    c.send_method(1, 60, 20, consume)
    expect_eq(c.expect_method(1, 60, 21).shortstr(), "dup", "consume-ok tag")
    c.send_method(1, 60, 20, consume)
    expect_raw_close(c, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'", 60, 20)


def test_406_publish_property_checks():
    """user_id must be the authenticated user; expiration must be a non-negative integer.
    Each case on its own so a broker missing one check fails only that case."""
    conn = connect()
    q = conn.channel().queue_declare("", exclusive=True).method.queue
    failures = []
    for props, prefix in [
            (pika.BasicProperties(user_id="bob"), "PRECONDITION_FAILED - user_id property set "
             "to 'bob' but authenticated user was 'guest'"),
            (pika.BasicProperties(expiration="abc"),
             "PRECONDITION_FAILED - invalid expiration 'abc'"),
            (pika.BasicProperties(expiration="-5"),
             "PRECONDITION_FAILED - invalid expiration '-5'")]:
        ch = conn.channel()
        ch.confirm_delivery()
        try:
            expect_channel_error(lambda: ch.basic_publish("", q, b"x", properties=props), 406,
                                 prefix)
        except AssertionError as e:
            failures.append(str(e))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", q, b"ok", properties=pika.BasicProperties(user_id="guest",
                                                                    expiration="60000"))
    conn.close()
    assert not failures, "\n".join(failures)


# ---- connection-level errors through pika -----------------------------------------------------
def test_530_unknown_vhost():
    b = current_broker()
    p = pika.ConnectionParameters(b.host, b.amqp_port, virtual_host=uniq("no-such-vhost"),
                                  connection_attempts=1,
                                  credentials=pika.PlainCredentials("guest", "guest"))
    try:
        pika.BlockingConnection(p)
        raise AssertionError("connection to an unknown vhost succeeded")
    except pex.AMQPConnectionError as e:
        # pika wraps the connection.close(530) it got in answer to connection.open.
        text = str(e)
        assert isinstance(e, pex.ProbableAccessDeniedError), f"got {e!r}"
        assert "(530)" in text and "NOT_ALLOWED - vhost " in text and "not found" in text, \
            f"unknown vhost error text {text!r}"
    assert_broker_ok()


def test_503_unknown_exchange_type():
    conn = connect()
    ch = conn.channel()
    e = expect_connection_error(
        lambda: ch.exchange_declare(uniq("badtype"), "no-such-type"), 503, "COMMAND_INVALID - ")
    # RabbitMQ says "unknown exchange type 'x'" or "invalid exchange type 'x'".
    assert "exchange type 'no-such-type'" in e.reply_text, e.reply_text
    assert conn.is_closed, "503 is a connection error"
    assert_broker_ok()


def test_540_not_implemented():
    conn = connect()
    ch = conn.channel()
    expect_connection_error(lambda: ch.basic_qos(prefetch_size=1000), 540,
                            "NOT_IMPLEMENTED - prefetch_size!=0")
    assert_broker_ok()
    conn = connect()
    expect_connection_error(lambda: conn.channel().flow(False), 540,
                            "NOT_IMPLEMENTED - active=false")
    conn = connect()
    expect_connection_error(lambda: conn.channel().basic_recover(requeue=False), 540,
                            "NOT_IMPLEMENTED - requeue=false")
    conn = connect()
    expect_eq(conn.channel().flow(True), True, "channel.flow(active=true)")
    conn.close()
    assert_broker_ok()
    # basic.publish immediate=true (pika cannot send it): raw frames.
    b = current_broker()
    with raw.RawConnection(b.host, b.amqp_port) as c:
        c.handshake()
        c.open_channel(1)
        c.send_method(1, 60, 40, raw.short(0) + raw.shortstr("") + raw.shortstr("q") +
                      raw.bits(False, True))
        c.send(raw.header_frame(1, 0))
        code, text, cls, mth = c.expect_connection_close()
        expect_eq((code, cls, mth), (540, 60, 40), "immediate=true close")
        assert text.startswith("NOT_IMPLEMENTED - immediate=true"), text
        assert c.wait_closed(10), "socket not closed after connection.close-ok"
    assert_broker_ok()


# ---- raw-frame errors -------------------------------------------------------------------------
def raw_conn(**kw):
    b = current_broker()
    c = raw.RawConnection(b.host, b.amqp_port)
    c.handshake(**kw)
    return c


def expect_raw_close(c, code, prefix, cls=None, mth=None):
    got = c.expect_connection_close()
    assert got[0] == code and got[1].startswith(prefix), \
        f"expected connection.close {code} {prefix!r}..., got {got}"
    if cls is not None:
        expect_eq(got[2:], (cls, mth), f"class/method of connection.close {code}")
    # RabbitMQ closes the socket right away after close-ok, or after ~3 s when the frame
    # stream could not be parsed any further (frame errors).
    assert c.wait_closed(10), f"socket still open after connection.close {code}"
    c.close()
    assert_broker_ok()
    return got


def test_504_method_on_unopened_channel():
    c = raw_conn()
    c.send_method(3, 50, 10, raw.short(0) + raw.shortstr(uniq("x")) + raw.bits(0, 0, 0, 0, 0) +
                  raw.table())
    expect_raw_close(c, 504, "CHANNEL_ERROR - expected 'channel.open'", 50, 10)
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 20, 10, raw.shortstr(""))
    expect_raw_close(c, 504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10)
    c = raw_conn()
    c.send_method(0, 50, 10, raw.short(0) + raw.shortstr(uniq("x")) + raw.bits(0) + raw.table())
    expect_raw_close(c, 504, "CHANNEL_ERROR - unexpected method in connection state running",
                     50, 10)


def test_505_unexpected_frame():
    c = raw_conn()
    c.open_channel(1)
    c.send(raw.body_frame(1, b"hello"))
    expect_raw_close(c, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame")
    c = raw_conn()
    c.open_channel(1)
    c.send(raw.header_frame(1, 5))
    expect_raw_close(c, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame")
    publish = raw.short(0) + raw.shortstr("") + raw.shortstr(uniq("x")) + raw.bits(0, 0)
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 60, 40, publish)
    c.send(raw.body_frame(1, b"x"))
    expect_raw_close(c, 505, "UNEXPECTED_FRAME - expected content header for class 60, "
                     "got non content header frame instead", 60, 40)
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 60, 40, publish)
    c.send_method(1, 60, 40, publish)
    expect_raw_close(c, 505, "UNEXPECTED_FRAME - expected content header for class 60", 60, 40)
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 60, 40, publish)
    c.send(raw.header_frame(1, 3, class_id=50))
    expect_raw_close(c, 505, "UNEXPECTED_FRAME - expected content header for class 60, "
                     "got one for class 50 instead", 60, 40)
    # Heartbeat frames belong on channel 0.
    c = raw_conn()
    c.send(raw.frame(raw.FRAME_HEARTBEAT, 1, b""))
    expect_raw_close(c, 505, "UNEXPECTED_FRAME")
    # Channel methods before connection.open.
    c = raw_conn(open_vhost=False)
    c.send_method(1, 20, 10, raw.shortstr(""))
    expect_raw_close(c, 505, "UNEXPECTED_FRAME")


def test_501_frame_errors():
    c = raw_conn(frame_max=4096)
    c.open_channel(1)
    c.send(raw.body_frame(1, b"x" * 5000))
    expect_raw_close(c, 501, "FRAME_ERROR")
    c = raw_conn(frame_max=4096)
    c.open_channel(1)
    c.send_method(1, 50, 10, raw.short(0) + raw.shortstr("q") + raw.bits(0, 0, 0, 0, 0) +
                  raw.table({"x": "y" * 5000}))
    expect_raw_close(c, 501, "FRAME_ERROR")
    c = raw_conn()
    c.send(raw.frame(raw.FRAME_METHOD, 1, struct.pack(">HH", 20, 10) + raw.shortstr(""),
                     end=0x00))
    expect_raw_close(c, 501, "FRAME_ERROR")
    c = raw_conn()
    c.send(raw.frame(9, 0, b""))
    expect_raw_close(c, 501, "FRAME_ERROR")
    # Method arguments cut short.
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 50, 10, raw.short(0) + b"\x10ab")
    expect_raw_close(c, 501, "FRAME_ERROR", 50, 10)


def expect_close_or_drop(c, codes, what):
    """RabbitMQ 3.10 simply drops the socket on some undecodable input (its reader crashes);
    a broker may instead send connection.close with one of codes. Either way it must close."""
    try:
        got = c.expect_connection_close()
        assert got[0] in codes, f"{what}: connection.close {got}, expected one of {codes}"
    except raw.Closed:
        pass
    assert c.wait_closed(10), f"{what}: socket still open"
    c.close()
    assert_broker_ok()


def test_502_540_undecodable_methods():
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 60, 999)
    expect_close_or_drop(c, (540, 503, 501, 502), "unknown method id")
    c = raw_conn()
    c.open_channel(1)
    c.send_method(1, 77, 10)
    expect_close_or_drop(c, (540, 503, 501, 502), "unknown class id")
    c = raw_conn()
    c.open_channel(1)
    bad_table = raw.long_(5) + b"\x01aZxx"  # field type 'Z' does not exist
    c.send_method(1, 50, 10, raw.short(0) + raw.shortstr("q") + raw.bits(0) + bad_table)
    expect_close_or_drop(c, (502, 501), "unknown field type in a table")


def test_bad_protocol_header():
    b = current_broker()
    for header in (b"HELLO WORLD\r\n\r\n", b"AMQP\x00\x00\x09\x00", b"AMQP\x01\x01\x00\x0a",
                   b"GET / HTTP/1.1\r\n\r\n"):
        with raw.RawConnection(b.host, b.amqp_port) as c:
            c.send(header)
            reply = c.read_exact(8)
            expect_eq(reply, raw.PROTOCOL_HEADER, f"reply to protocol header {header!r}")
            assert c.wait_closed(10), f"socket still open after bad header {header!r}"
    # Only part of a header, then silence: the broker must not hang others.
    with raw.RawConnection(b.host, b.amqp_port) as c:
        c.send(b"AMQ")
        assert_broker_ok()
    assert_broker_ok()


def test_many_bad_clients_then_good():
    b = current_broker()
    for i in range(20):
        with raw.RawConnection(b.host, b.amqp_port) as c:
            c.send(bytes(range(i, i + 40)))
            c.wait_closed(5)
    assert_broker_ok()


if __name__ == "__main__":
    main([test_404_not_found, test_403_access_refused, test_403_bad_credentials,
          test_405_exclusive_queue_of_another_connection, test_406_precondition_failed,
          test_406_publish_property_checks,
          test_exclusive_consumer_and_reused_consumer_tag, test_530_unknown_vhost,
          test_503_unknown_exchange_type, test_540_not_implemented,
          test_504_method_on_unopened_channel, test_505_unexpected_frame, test_501_frame_errors,
          test_502_540_undecodable_methods, test_bad_protocol_header,
          test_many_bad_clients_then_good])
