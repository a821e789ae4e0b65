"""Stream queues (x-queue-type: stream) through python3-pika, as RabbitMQ 3.10.8 implements them:
an append-only log that consumers read from an offset of their choice and never remove from.

  - offsets: x-stream-offset "first", "last" (start of the last chunk: with one message per
    chunk, the last message), "next" (and no argument), a number (exact start; before the
    first: from the first; beyond the end: only messages at or after that number), an AMQP
    timestamp (seconds: from the first chunk written at or after it; after the newest chunk:
    "next"), an interval string ("10s", "1h": that long ago);
  - deliveries carry the header x-stream-offset (AMQP long, 'l'), added to the publisher's
    headers, redelivered false; transient messages are kept, expiration is not enforced;
  - two consumers read the same data independently; an ack is credit: with prefetch N a
    consumer gets N and no more until it acks, and acked messages stay for a new consumer;
  - queue.declare-ok counts the messages (RabbitMQ: from its stats, up to ~5 s late) and never
    the consumers; queue.delete answers message_count 0, if_empty is not checked;
  - retention by x-max-length-bytes and x-max-age, run when a segment
    (x-stream-max-segment-size-bytes) fills: a consumer from "first" then starts past 0;
  - every refusal with RabbitMQ's exact reply code and text: non-durable / exclusive /
    auto-delete / server-named declare, arguments streams refuse or mistype, inequivalent
    redeclare, basic.get, queue.purge, consume without basic.qos or with no_ack, bad
    x-stream-offset, x-priority, basic.nack / basic.reject;
  - filtering (RabbitMQ 3.13: x-stream-filter-value on publish, x-stream-filter and
    x-stream-match-unfiltered on consume): Warren filters exactly, where RabbitMQ filters per
    chunk with a Bloom filter and its clients re-filter.

Validated against RabbitMQ 3.10.8 (WARREN_EXTERNAL=127.0.0.1:<port>): every test passes there
except the filter tests, which skip under WARREN_EXTERNAL (3.10 has no filtering; they follow the
3.13 semantics). Where 3.10.8 crashes the channel process (541 INTERNAL_ERROR on the connection)
for a malformed x-max-age or x-stream-offset, the test also accepts a 406 channel error with
RabbitMQ's text for the well-formed-but-invalid case. RabbitMQ's offsets skip one number per
segment (a tracking chunk opens each segment): the retention tests compare bodies, not offset
arithmetic. Findings: /tmp/streams-rabbit.md (copied into docs by whoever registers the test).
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402
import pika.compat  # noqa: E402
import pika.exceptions as pex  # noqa: E402

from amqp_util import connect, current_broker, expect_eq, main, uniq, wait_for  # noqa: E402
from harness import Skip, scaled  # noqa: E402

STREAM = {"x-queue-type": "stream"}


def vq(q):
    """RabbitMQ's rendering of a queue name in reply texts (rabbit_misc:rs/1)."""
    return f"queue '{q}' in vhost '/'"


def stream(ch, base, **args):
    q = uniq(base)
    ch.queue_declare(q, durable=True, arguments=dict(STREAM, **args))
    return q


def publish(conn, q, bodies, props=None, exchange=""):
    """Publishes each body and waits for its confirm before the next: one message per chunk."""
    ch = conn.channel()
    ch.confirm_delivery()
    for b in bodies:
        ch.basic_publish(exchange, q, b if isinstance(b, bytes) else b.encode(), props)
    ch.close()


def names(prefix, a, b):
    return [f"{prefix}{i}" for i in range(a, b)]


class Reader:
    """One basic.consume on its own channel; deliveries collected as (offset, body, method,
    properties)."""

    def __init__(self, conn, q, offset=None, prefetch=100, args=None):
        self.conn = conn
        self.ch = conn.channel()
        self.ch.basic_qos(prefetch_count=prefetch)
        self.got = []
        a = dict(args or {})
        if offset is not None:
            a["x-stream-offset"] = offset
        self.tag = self.ch.basic_consume(q, self._on, arguments=a)

    def _on(self, ch, m, p, b):
        self.got.append(((p.headers or {}).get("x-stream-offset"), b.decode(), m, p))

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.02)

    def wait(self, n, timeout=5.0):
        deadline = time.monotonic() + scaled(timeout)
        while len(self.got) < n and time.monotonic() < deadline:
            self.conn.process_data_events(time_limit=0.02)
        assert len(self.got) >= n, f"{len(self.got)} deliveries of {n}: {self.bodies()}"
        return self.got

    def settle(self, n, quiet=0.4, timeout=5.0):
        """Exactly n deliveries: waits for them, then for quiet seconds for any extra one."""
        self.wait(n, timeout)
        self.pump(quiet)
        expect_eq(len(self.got), n, f"deliveries (bodies {self.bodies()})")
        return self.got

    def bodies(self):
        return [g[1] for g in self.got]

    def offsets(self):
        return [g[0] for g in self.got]

    def close(self):
        if self.ch.is_open:
            self.ch.close()


def refused(fn, conn=None):
    """Runs fn(channel) and returns (level, code, text) of the error it must end with."""
    own = conn is None
    conn = conn or connect()
    ch = conn.channel()
    try:
        fn(ch)
        conn.process_data_events(time_limit=0.3)
    except pex.ChannelClosedByBroker as e:
        return ("channel", e.reply_code, e.reply_text)
    except pex.ConnectionClosedByBroker as e:
        return ("connection", e.reply_code, e.reply_text)
    finally:
        if own and conn.is_open:
            conn.close()
    raise AssertionError("the broker accepted it")


def expect_refused(fn, level, code, text, what):
    expect_eq(refused(fn), (level, code, text), what)


def expect_crash_or_406(fn, prefix, what):
    """RabbitMQ 3.10.8 crashes its channel on this input (connection.close 541 INTERNAL_ERROR);
    a broker that validates it instead must close the channel with 406 and a text starting
    with prefix."""
    got = refused(fn)
    assert got == ("connection", 541, "INTERNAL_ERROR") or \
        (got[:2] == ("channel", 406) and got[2].startswith(prefix)), f"{what}: {got}"


def declared_absent(q):
    conn = connect()
    try:
        conn.channel().queue_declare(q, passive=True)
        return False
    except pex.ChannelClosedByBroker as e:
        return e.reply_code == 404
    finally:
        if conn.is_open:
            conn.close()


# ---- declare ----

def test_declare_refuses_non_durable_exclusive_auto_delete_and_server_named():
    for what, kw, prop in [("non-durable", dict(durable=False), "non-durable"),
                           ("exclusive", dict(exclusive=True), "exclusive-owner"),
                           ("auto-delete", dict(auto_delete=True), "auto-delete"),
                           ("exclusive non-durable", dict(durable=False, exclusive=True),
                            "exclusive-owner")]:
        q = uniq("st.decl." + what.replace(" ", "-"))
        kw.setdefault("durable", True)
        expect_refused(lambda ch: ch.queue_declare(q, arguments=STREAM, **kw), "channel", 406,
                       f"PRECONDITION_FAILED - invalid property '{prop}' for {vq(q)}", what)
        assert declared_absent(q), f"{what}: the queue exists"
    expect_refused(lambda ch: ch.queue_declare("", durable=True, arguments=STREAM), "channel",
                   406, "PRECONDITION_FAILED - Cannot declare a server-named queue for type "
                   "rabbit_stream_queue", "server-named")


def test_declare_refuses_arguments_streams_do_not_support():
    for key, value in [("x-message-ttl", 1000), ("x-max-length", 10),
                       ("x-dead-letter-exchange", "dlx"), ("x-dead-letter-routing-key", "k"),
                       ("x-max-priority", 5), ("x-overflow", "reject-publish"),
                       ("x-single-active-consumer", True), ("x-expires", 10000),
                       ("x-queue-mode", "lazy"), ("x-delivery-limit", 3),
                       ("x-max-in-memory-length", 3), ("x-quorum-initial-group-size", 1),
                       ("x-queue-version", 2)]:
        q = uniq("st.arg" + key)
        expect_refused(
            lambda ch: ch.queue_declare(q, durable=True, arguments=dict(STREAM, **{key: value})),
            "channel", 406, f"PRECONDITION_FAILED - invalid arg '{key}' for {vq(q)} of queue "
            "type rabbit_stream_queue", key)
        assert declared_absent(q), f"{key}: the queue exists"


def test_declare_ignores_unknown_arguments():
    conn = connect()
    ch = conn.channel()
    for key, value in [("x-message-deduplication", True), ("x-foo", 1)]:
        q = stream(ch, "st.unknown" + key, **{key: value})
        ok = ch.queue_declare(q, durable=True, arguments=dict(STREAM, **{key: value})).method
        expect_eq((ok.queue, ok.message_count, ok.consumer_count), (q, 0, 0), key)
        ch.queue_delete(q)
    conn.close()


def test_declare_checks_retention_argument_values():
    def case(key, value, detail):
        q = uniq("st.bad" + key)
        expect_refused(
            lambda ch: ch.queue_declare(q, durable=True, arguments=dict(STREAM, **{key: value})),
            "channel", 406, f"PRECONDITION_FAILED - invalid arg '{key}' for {vq(q)}: {detail}",
            f"{key}={value!r}")
        assert declared_absent(q), f"{key}={value!r}: the queue exists"

    for age in ["1x", "0s", "10", "1h1"]:
        case("x-max-age", age, "invalid_max_age")
    case("x-max-age", 100, "{unacceptable_type,signedint}")
    case("x-max-length-bytes", -1, "{value_negative,-1}")
    case("x-max-length-bytes", "100", '"expected integer, got longstr"')
    case("x-stream-max-segment-size-bytes", -1, "{value_negative,-1}")
    case("x-stream-max-segment-size-bytes", "100", '"expected integer, got longstr"')
    case("x-initial-cluster-size", 0, "{value_zero,0}")
    case("x-queue-leader-locator", "bogus", "invalid_queue_locator_arg")
    q = uniq("st.bigseg")
    expect_refused(lambda ch: ch.queue_declare(
        q, durable=True, arguments=dict(STREAM, **{"x-stream-max-segment-size-bytes":
                                                   3000000001})),
        "channel", 406, "PRECONDITION_FAILED - Exceeded max value for "
        "x-stream-max-segment-size-bytes", "segment size above 3 GB")
    # No digits: RabbitMQ 3.10.8 crashes parsing them.
    for age in ["abc", "", "-1s"]:
        q = uniq("st.badage")
        expect_crash_or_406(
            lambda ch: ch.queue_declare(q, durable=True,
                                        arguments=dict(STREAM, **{"x-max-age": age})),
            f"PRECONDITION_FAILED - invalid arg 'x-max-age' for {vq(q)}: invalid_max_age",
            f"x-max-age={age!r}")
    conn = connect()
    ch = conn.channel()
    for args in [{"x-max-age": "1D"}, {"x-max-age": "7D"}, {"x-max-age": "1Y"},
                 {"x-max-age": "90m"}, {"x-max-length-bytes": 0},
                 {"x-stream-max-segment-size-bytes": 0}, {"x-initial-cluster-size": 1},
                 {"x-queue-leader-locator": "balanced"}]:
        q = stream(ch, "st.goodargs", **args)
        ch.queue_delete(q)
    conn.close()


def test_redeclare_must_be_equivalent():
    conn = connect()
    ch = conn.channel()
    q = stream(ch, "st.redecl")
    q2 = stream(ch, "st.redecl2", **{"x-max-age": "1h", "x-max-length-bytes": 100000})
    ok = ch.queue_declare(q, durable=True, arguments=STREAM).method
    expect_eq((ok.queue, ok.message_count, ok.consumer_count), (q, 0, 0), "same redeclare")
    ok = ch.queue_declare(q, passive=True).method
    expect_eq((ok.queue, ok.message_count, ok.consumer_count), (q, 0, 0), "passive")
    conn.close()
    pre = "PRECONDITION_FAILED - inequivalent arg"
    cases = [
        (q, dict(arguments=dict(STREAM, **{"x-max-age": "1h"})),
         f"{pre} 'x-max-age' for {vq(q)}: received the value '1h' of type 'longstr' but "
         "current is none"),
        (q, dict(arguments=dict(STREAM, **{"x-max-length-bytes": 1000})),
         f"{pre} 'x-max-length-bytes' for {vq(q)}: received the value '1000' of type "
         "'signedint' but current is none"),
        (q, dict(arguments=dict(STREAM, **{"x-stream-max-segment-size-bytes": 1000})),
         f"{pre} 'x-stream-max-segment-size-bytes' for {vq(q)}: received the value '1000' of "
         "type 'signedint' but current is none"),
        (q, dict(), f"{pre} 'x-queue-type' for {vq(q)}: received none but current is the value "
                    "'stream' of type 'longstr'"),
        (q, dict(arguments={"x-queue-type": "quorum"}),
         f"{pre} 'x-queue-type' for {vq(q)}: received 'quorum' but current is 'stream'"),
        (q2, dict(arguments=STREAM),
         f"{pre} 'x-max-length-bytes' for {vq(q2)}: received none but current is the value "
         "'100000' of type 'signedint'"),
        (q2, dict(arguments=dict(STREAM, **{"x-max-age": "2h", "x-max-length-bytes": 100000})),
         f"{pre} 'x-max-age' for {vq(q2)}: received '2h' but current is '1h'"),
    ]
    for name, kw, text in cases:
        expect_refused(lambda ch: ch.queue_declare(name, durable=True, **kw), "channel", 406,
                       text, f"redeclare {kw}")
    expect_refused(lambda ch: ch.queue_declare(q, durable=False, arguments=STREAM), "channel",
                   406, f"{pre} 'durable' for {vq(q)}: received 'false' but current is 'true'",
                   "non-durable redeclare")
    missing = uniq("st.missing")
    expect_refused(lambda ch: ch.queue_declare(missing, passive=True), "channel", 404,
                   f"NOT_FOUND - no queue '{missing}' in vhost '/'", "passive, missing")
    conn = connect()
    ch = conn.channel()
    # An argument streams refuse is not checked on a redeclare of an existing queue.
    ch.queue_declare(q2, durable=True, arguments=dict(STREAM, **{
        "x-max-age": "1h", "x-max-length-bytes": 100000, "x-message-ttl": 5}))
    ch.queue_delete(q)
    ch.queue_delete(q2)
    conn.close()


# ---- operations streams refuse ----

def test_get_purge_no_qos_no_ack_nack_reject_are_refused():
    conn = connect()
    q = stream(conn.channel(), "st.refuse")
    publish(conn, q, names("m", 0, 3))
    conn.close()
    ni = "NOT_IMPLEMENTED - "
    expect_refused(lambda ch: ch.basic_get(q), "connection", 540,
                   f"{ni}basic.get not supported by stream queues {vq(q)}", "basic.get")
    expect_refused(lambda ch: ch.queue_purge(q), "connection", 540,
                   f"{ni}queue.purge not supported by stream queues {vq(q)}", "queue.purge")
    prefetch_text = f"PRECONDITION_FAILED - consumer prefetch count is not set for '{vq(q)}'"
    expect_refused(lambda ch: ch.basic_consume(q, lambda *a: None), "channel", 406,
                   prefetch_text, "consume without basic.qos")

    def global_only(ch):
        ch.basic_qos(prefetch_count=10, global_qos=True)
        ch.basic_consume(q, lambda *a: None)
    expect_refused(global_only, "channel", 406, prefetch_text, "only a global qos")

    def no_ack(ch):
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume(q, lambda *a: None, auto_ack=True)
    expect_refused(no_ack, "connection", 540,
                   f"{ni}automatic acknowledgement not supported by stream queues {vq(q)}",
                   "no_ack consume")

    def priority(ch):
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume(q, lambda *a: None, arguments={"x-priority": 5})
    expect_refused(priority, "channel", 406,
                   f"PRECONDITION_FAILED - invalid arg 'x-priority' for {vq(q)} of queue type "
                   "rabbit_stream_queue", "x-priority")
    for verb in ["nack", "reject"]:
        for requeue in [True, False]:
            conn = connect()
            r = Reader(conn, q, "first", prefetch=10)
            r.wait(3)

            def settle(ch, verb=verb, requeue=requeue, tag=r.got[0][2].delivery_tag):
                if verb == "nack":
                    r.ch.basic_nack(tag, requeue=requeue)
                else:
                    r.ch.basic_reject(tag, requeue=requeue)
                r.pump(0.3)
            expect_eq(refused(settle, conn), (
                "connection", 540,
                f"{ni}basic.nack and basic.reject not supported by stream queues {vq(q)}"),
                f"basic.{verb} requeue={requeue}")
    conn = connect()
    conn.channel().queue_delete(q)
    conn.close()


def test_consume_checks_x_stream_offset():
    conn = connect()
    q = stream(conn.channel(), "st.badoffset")
    conn.close()

    def consume(offset):
        def fn(ch):
            ch.basic_qos(prefetch_count=10)
            ch.basic_consume(q, lambda *a: None, arguments={"x-stream-offset": offset})
        return fn
    pre = f"PRECONDITION_FAILED - invalid arg 'x-stream-offset' for {vq(q)}: "
    for spec in ["1x", "0s", "10"]:
        expect_refused(consume(spec), "channel", 406,
                       pre + '{invalid_stream_offset_arg,{longstr,<<"' + spec + '">>}}',
                       f"x-stream-offset {spec!r}")
    # 3.10.8 crashes on these (no digits, a table, an array, a bool).
    for spec in ["foo", "", {"a": 1}, [1], True]:
        expect_crash_or_406(consume(spec), pre, f"x-stream-offset {spec!r}")
    conn = connect()
    conn.channel().queue_delete(q)
    conn.close()


# ---- reading ----

def test_offset_specs():
    conn = connect()
    q = stream(conn.channel(), "st.specs")
    publish(conn, q, names("m", 0, 5), pika.BasicProperties(headers={"h": "v"}))
    cases = [("first", 0), (0, 0), (2, 2), (4, 4), (-1, 0), (-100, 0), ("last", 4),
             ("1h", 0), (datetime.datetime.utcnow() - datetime.timedelta(hours=1), 0)]
    for spec, start in cases:
        r = Reader(conn, q, spec)
        r.settle(5 - start)
        expect_eq(r.bodies(), names("m", start, 5), f"bodies from {spec!r}")
        expect_eq(r.offsets(), list(range(start, 5)), f"offsets from {spec!r}")
        r.close()
    # "next", no argument, the end, and a future timestamp: only what comes next.
    # A timestamp after the newest chunk is "next" too: what comes next is delivered even
    # though it is written before that time.
    readers = [Reader(conn, q, spec) for spec in
               ["next", None, 5, datetime.datetime.utcnow() + datetime.timedelta(hours=1)]]
    readers[0].pump(0.3)
    for r in readers:
        expect_eq(r.got, [], "nothing old")
    publish(conn, q, names("m", 5, 7))
    for r, spec in zip(readers, ["next", None, 5, "future"]):
        r.settle(2)
        expect_eq((r.bodies(), r.offsets()), (["m5", "m6"], [5, 6]), f"from {spec!r}")
        r.close()
    conn.channel().queue_delete(q)
    conn.close()


def test_offset_beyond_the_end_starts_there():
    """RabbitMQ: the reader waits at the end and delivers only offsets >= the one asked for."""
    conn = connect()
    q = stream(conn.channel(), "st.beyond")
    publish(conn, q, names("m", 0, 3))
    r = Reader(conn, q, 5)
    far = Reader(conn, q, 1000)
    r.pump(0.3)
    publish(conn, q, names("m", 3, 8))
    r.settle(3)
    expect_eq((r.bodies(), r.offsets()), (["m5", "m6", "m7"], [5, 6, 7]), "from 5")
    far.settle(0)
    conn.channel().queue_delete(q)
    conn.close()


def test_last_is_the_start_of_the_last_chunk():
    conn = connect()
    q = stream(conn.channel(), "st.last")
    # Confirmed one at a time: each message is a chunk of its own.
    publish(conn, q, names("m", 0, 4))
    r = Reader(conn, q, "last")
    r.settle(1)
    expect_eq((r.bodies(), r.offsets()), (["m3"], [3]), "last")
    publish(conn, q, ["m4"])
    r.settle(2)
    r.close()
    # A burst without confirms is written in a few chunks: "last" starts at a chunk boundary,
    # so it gets a non-empty tail that ends with the newest message.
    tail = Reader(conn, q, "next")
    ch = conn.channel()
    for i in range(5, 55):
        ch.basic_publish("", q, f"m{i}".encode())
    tail.wait(50)
    r = Reader(conn, q, "last")
    r.wait(1)
    r.pump(0.4)
    b = r.bodies()
    assert b == names("m", 55 - len(b), 55), f"last after a burst: {b}"
    conn.channel().queue_delete(q)
    conn.close()


def test_timestamp_and_interval_offsets():
    conn = connect()
    q = stream(conn.channel(), "st.time")
    publish(conn, q, names("a", 0, 3))
    # A timestamp has whole seconds: wait for the next second to begin, so every chunk of the
    # first batch was written before it and every chunk of the second one at or after it.
    boundary = int(time.time()) + 1
    time.sleep(boundary - time.time() + 0.05)
    publish(conn, q, names("b", 0, 3))
    r = Reader(conn, q, datetime.datetime.utcfromtimestamp(boundary))
    r.settle(3)
    expect_eq((r.bodies(), r.offsets()), (names("b", 0, 3), [3, 4, 5]), "from the timestamp")
    r.close()
    r = Reader(conn, q, datetime.datetime.utcfromtimestamp(boundary - 3600))
    r.settle(6)
    r.close()
    # Interval strings: now minus the interval.
    time.sleep(2.5)
    publish(conn, q, names("c", 0, 2))
    r = Reader(conn, q, "2s")
    r.settle(2)
    expect_eq((r.bodies(), r.offsets()), (names("c", 0, 2), [6, 7]), "from 2s ago")
    r.close()
    for spec in ["1m", "1h", "1D", "1M", "1Y"]:
        r = Reader(conn, q, spec)
        r.settle(8)
        r.close()
    conn.channel().queue_delete(q)
    conn.close()


def test_delivery_header_and_properties():
    conn = connect()
    q = stream(conn.channel(), "st.props")
    props = pika.BasicProperties(
        content_type="text/plain", content_encoding="gzip", delivery_mode=1, priority=3,
        correlation_id="cid", reply_to="rt", expiration="60000", message_id="mid",
        timestamp=1600000000, type="ty", user_id="guest", app_id="app",
        headers={"s": "str", "i": 7, "big": 2 ** 40, "b": True, "n": None, "by": b"bytes",
                 "ts": datetime.datetime(2020, 1, 1)})
    publish(conn, q, ["full"], props)
    publish(conn, q, ["persistent"], pika.BasicProperties(delivery_mode=2))
    publish(conn, q, ["bare"])
    publish(conn, q, ["expired"], pika.BasicProperties(expiration="1"))
    ch = conn.channel()
    ch.confirm_delivery()
    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    ch.basic_publish("", q, b"mandatory", mandatory=True)
    time.sleep(0.3)  # the 1 ms expiration of "expired" has long passed
    r = Reader(conn, q, "first")
    r.settle(5)
    expect_eq(returned, [], "mandatory publish to a stream")
    expect_eq(r.bodies(), ["full", "persistent", "bare", "expired", "mandatory"],
              "bodies")
    for i, (off, body, m, p) in enumerate(r.got):
        expect_eq(off, i, f"{body}: x-stream-offset")
        assert type(off) is pika.compat.long, f"{body}: x-stream-offset is {type(off)}, not long"
        expect_eq((m.redelivered, m.exchange, m.routing_key), (False, "", q), f"{body}: method")
    p = r.got[0][3]
    expect_eq((p.content_type, p.content_encoding, p.delivery_mode, p.priority,
               p.correlation_id, p.reply_to, p.expiration, p.message_id, p.timestamp, p.type,
               p.user_id, p.app_id),
              ("text/plain", "gzip", 1, 3, "cid", "rt", "60000", "mid", 1600000000, "ty",
               "guest", "app"), "properties kept")
    expect_eq(p.headers, {"s": "str", "i": 7, "big": 2 ** 40, "b": True, "n": None,
                          "by": b"bytes", "ts": datetime.datetime(2020, 1, 1),
                          "x-stream-offset": 0}, "headers kept, x-stream-offset added")
    assert type(p.headers["i"]) is int and type(p.headers["big"]) is pika.compat.long, \
        "header integer types kept"
    expect_eq((r.got[1][3].delivery_mode, r.got[1][3].headers), (2, {"x-stream-offset": 1}),
              "persistent")
    expect_eq((r.got[2][3].delivery_mode, r.got[2][3].headers), (None, {"x-stream-offset": 2}),
              "no properties")
    expect_eq(r.got[3][3].expiration, "1", "expiration kept, not enforced")
    conn.channel().queue_delete(q)
    conn.close()


def test_two_consumers_read_independently():
    conn = connect()
    q = stream(conn.channel(), "st.two")
    publish(conn, q, names("m", 0, 6))
    other = connect()
    a = Reader(conn, q, "first", prefetch=10)
    b = Reader(other, q, 2, prefetch=10)
    a2 = Reader(conn, q, "first", prefetch=10)  # a second consumer on the same connection
    a.settle(6)
    b.settle(4)
    a2.settle(6)
    for m in a.got:
        a.ch.basic_ack(m[2].delivery_tag)
    publish(conn, q, ["m6"])
    a.settle(7)
    b.settle(5)
    a2.settle(7)
    expect_eq(a.bodies(), names("m", 0, 7), "a")
    expect_eq(b.bodies(), names("m", 2, 7), "b")
    expect_eq(a2.bodies(), names("m", 0, 7), "a2")
    c = Reader(other, q, "first", prefetch=10)
    c.settle(7)
    other.close()
    conn.channel().queue_delete(q)
    conn.close()


def test_ack_is_credit():
    conn = connect()
    q = stream(conn.channel(), "st.credit")
    publish(conn, q, names("m", 0, 6))
    r = Reader(conn, q, "first", prefetch=2)
    r.settle(2, quiet=0.6)
    r.ch.basic_ack(r.got[0][2].delivery_tag)
    r.settle(3, quiet=0.6)
    expect_eq(r.offsets(), [0, 1, 2], "one ack, one more")
    r.ch.basic_ack(r.got[2][2].delivery_tag, multiple=True)
    r.settle(5, quiet=0.6)
    expect_eq([g[2].delivery_tag for g in r.got], [1, 2, 3, 4, 5], "delivery tags")
    for g in r.got[3:]:
        r.ch.basic_ack(g[2].delivery_tag)
    r.settle(6)  # m5 unacked: one credit left
    publish(conn, q, ["m6"])
    r.settle(7)
    publish(conn, q, ["m7"])
    r.settle(7, quiet=0.6)  # m5 and m6 unacked: no credit for m7
    r.ch.basic_ack(r.got[5][2].delivery_tag)
    r.settle(8)
    r.close()
    # Acked messages stay.
    again = Reader(conn, q, "first", prefetch=100)
    again.settle(8)
    expect_eq(again.bodies(), names("m", 0, 8), "acked or not, all still there")
    # Cancel and consume again on the same channel.
    again.ch.basic_cancel(again.tag)
    n = Reader(conn, q, 3, prefetch=1)
    n.settle(1)
    expect_eq(n.bodies(), ["m3"], "prefetch 1")
    conn.channel().queue_delete(q)
    conn.close()


def test_declare_ok_counts_and_delete():
    conn = connect()
    ch = conn.channel()
    q = stream(ch, "st.count")
    publish(conn, q, names("m", 0, 4))
    r = Reader(conn, q, "first", prefetch=10)
    r.settle(4)
    for g in r.got[:2]:
        r.ch.basic_ack(g[2].delivery_tag)
    # RabbitMQ reports a stream's count from its stats (refreshed every 5 s) and never counts
    # its consumers; acked messages still count.
    def counts():
        ok = ch.queue_declare(q, passive=True).method
        return (ok.message_count, ok.consumer_count) == (4, 0) and ok
    wait_for(counts, timeout=12, step=0.25, what="message_count 4, consumer_count 0")
    ok = ch.queue_declare(q, durable=True, arguments=STREAM).method
    expect_eq((ok.message_count, ok.consumer_count), (4, 0), "redeclare counts")
    r.close()
    ok = ch.queue_delete(q, if_empty=True, if_unused=True).method
    expect_eq(ok.message_count, 0, "delete-ok of a stream")
    assert declared_absent(q), "deleted"
    conn.close()


def test_management_api_reports_a_stream():
    b = current_broker()
    if not b.http_port:
        raise Skip("no HTTP port (WARREN_EXTERNAL without one)")
    import base64
    import json
    import urllib.parse
    import urllib.request
    conn = connect()
    q = stream(conn.channel(), "st.mgmt", **{"x-max-age": "1h"})
    publish(conn, q, names("m", 0, 3))
    r = Reader(conn, q, "first", prefetch=2)
    r.settle(2)
    auth = "Basic " + base64.b64encode(b"guest:guest").decode()
    url = f"http://{b.host}:{b.http_port}/api/queues/%2F/{urllib.parse.quote(q, safe='')}"

    def fetch():
        conn.process_data_events(time_limit=0)
        with urllib.request.urlopen(urllib.request.Request(url, headers={
                "Authorization": auth})) as resp:
            d = json.load(resp)
        return d.get("messages") == 3 and d.get("consumers") == 1 and d
    d = wait_for(fetch, timeout=12, step=0.25, what="messages 3 and consumers 1")
    expect_eq((d["type"], d["durable"], d["auto_delete"], d["exclusive"], d["arguments"]),
              ("stream", True, False, False, {"x-queue-type": "stream", "x-max-age": "1h"}),
              "queue fields")
    expect_eq((d["messages_ready"], d["messages_unacknowledged"]), (3, 0), "counts")
    for key in ["members", "online", "readers", "state"]:
        assert key in d, f"{key} missing: {sorted(d)}"
    expect_eq(d["state"], "running", "state")
    (detail,) = d["consumer_details"]
    expect_eq((detail["arguments"], detail["ack_required"], detail["prefetch_count"]),
              ({"x-stream-offset": "first"}, True, 2), "consumer_details")
    conn.channel().queue_delete(q)
    conn.close()


# ---- retention ----

def offsets_and_bodies(conn, q, n_min=1):
    r = Reader(conn, q, "first", prefetch=1000)
    r.wait(n_min)
    r.pump(0.5)
    r.close()
    return r.offsets(), r.bodies()


def test_retention_by_size():
    conn = connect()
    q = stream(conn.channel(), "st.size", **{"x-max-length-bytes": 5000,
                                             "x-stream-max-segment-size-bytes": 1000})
    body = "{:.<100}"
    publish(conn, q, [body.format(f"m{i}") for i in range(100)])
    time.sleep(1)  # retention runs after a segment fills, beside the writer
    offs, bodies = offsets_and_bodies(conn, q)
    assert offs[0] > 0, f"first offset {offs[0]}"
    assert offs == sorted(set(offs)), f"offsets increase: {offs}"
    assert 5 <= len(bodies) < 60, f"{len(bodies)} messages kept"
    assert sum(len(b) for b in bodies) <= 5000, "more than x-max-length-bytes kept"
    expect_eq(bodies, [body.format(f"m{i}") for i in range(100 - len(bodies), 100)],
              "the newest are kept, in order")
    # An offset before the first is the first; "last" and numeric offsets still work.
    r = Reader(conn, q, 0)
    r.settle(len(bodies))
    expect_eq(r.offsets(), offs, "offset 0 after retention")
    conn.channel().queue_delete(q)
    # Without small segments (default 500 MB) nothing rolls, so nothing is removed.
    q = stream(conn.channel(), "st.size.big", **{"x-max-length-bytes": 5000})
    publish(conn, q, [body.format(f"m{i}") for i in range(100)])
    offs, bodies = offsets_and_bodies(conn, q, 100)
    expect_eq((offs[0], len(bodies)), (0, 100), "no segment roll, no retention")
    conn.channel().queue_delete(q)
    conn.close()


def test_retention_by_age():
    conn = connect()
    q = stream(conn.channel(), "st.age", **{"x-max-age": "2s",
                                            "x-stream-max-segment-size-bytes": 500})
    body = "{:.<100}"
    publish(conn, q, [body.format(f"a{i}") for i in range(20)])
    time.sleep(3)
    # New messages fill segments; each roll removes the segments older than 2 s.
    publish(conn, q, [body.format(f"b{i}") for i in range(10)])
    time.sleep(1)
    offs, bodies = offsets_and_bodies(conn, q)
    assert offs[0] > 0, f"first offset {offs[0]}"
    assert all(not b.startswith("a") for b in bodies), f"old messages kept: {bodies}"
    expect_eq(bodies[-10:], [body.format(f"b{i}") for i in range(10)], "new messages kept")
    conn.channel().queue_delete(q)
    conn.close()


# ---- filtering (RabbitMQ 3.13 semantics; Warren filters exactly) ----

def warren_only():
    if current_broker().external:
        raise Skip("stream filtering is RabbitMQ 3.13+: not validated on the external broker")


def filtered(conn, q, pairs):
    ch = conn.channel()
    ch.confirm_delivery()
    for body, value in pairs:
        h = {"x-stream-filter-value": value} if value is not None else None
        ch.basic_publish("", q, body.encode(), pika.BasicProperties(headers=h))
    ch.close()


PAIRS = [("r0", "red"), ("b0", "blue"), ("u0", None), ("r1", "red"), ("g0", "green"),
         ("u1", None), ("b1", "blue")]


def test_filter_single_value():
    warren_only()
    conn = connect()
    q = stream(conn.channel(), "st.filter1")
    filtered(conn, q, PAIRS)
    r = Reader(conn, q, "first", args={"x-stream-filter": "red"})
    r.settle(2)
    expect_eq((r.bodies(), r.offsets()), (["r0", "r1"], [0, 3]), "red")
    expect_eq([g[3].headers["x-stream-filter-value"] for g in r.got], ["red", "red"],
              "filter value header kept")
    filtered(conn, q, [("r2", "red"), ("b2", "blue")])
    r.settle(3)
    expect_eq(r.bodies(), ["r0", "r1", "r2"], "red, live")
    conn.channel().queue_delete(q)
    conn.close()


def test_filter_array_and_match_unfiltered():
    warren_only()
    conn = connect()
    q = stream(conn.channel(), "st.filter2")
    filtered(conn, q, PAIRS)
    cases = [({"x-stream-filter": ["red", "green"]}, ["r0", "r1", "g0"]),
             ({"x-stream-filter": ["blue"], "x-stream-match-unfiltered": True},
              ["b0", "u0", "u1", "b1"]),
             ({"x-stream-filter": "red", "x-stream-match-unfiltered": False}, ["r0", "r1"]),
             ({"x-stream-filter": "purple"}, []),
             ({"x-stream-filter": "purple", "x-stream-match-unfiltered": True}, ["u0", "u1"]),
             # Without x-stream-filter, x-stream-match-unfiltered means nothing: everything.
             ({"x-stream-match-unfiltered": False}, [p[0] for p in PAIRS]),
             ({}, [p[0] for p in PAIRS])]
    for args, want in cases:
        r = Reader(conn, q, "first", args=args)
        r.settle(len(want))
        expect_eq(r.bodies(), want, f"{args}")
        r.close()
    # Credit counts delivered messages only: prefetch 1 walks past the filtered-out ones.
    r = Reader(conn, q, "first", prefetch=1, args={"x-stream-filter": "blue"})
    r.settle(1)
    r.ch.basic_ack(r.got[0][2].delivery_tag)
    r.settle(2)
    expect_eq(r.bodies(), ["b0", "b1"], "blue with prefetch 1")
    conn.channel().queue_delete(q)
    conn.close()


if __name__ == "__main__":
    main([test_declare_refuses_non_durable_exclusive_auto_delete_and_server_named,
          test_declare_refuses_arguments_streams_do_not_support,
          test_declare_ignores_unknown_arguments,
          test_declare_checks_retention_argument_values,
          test_redeclare_must_be_equivalent,
          test_get_purge_no_qos_no_ack_nack_reject_are_refused,
          test_consume_checks_x_stream_offset,
          test_offset_specs,
          test_offset_beyond_the_end_starts_there,
          test_last_is_the_start_of_the_last_chunk,
          test_timestamp_and_interval_offsets,
          test_delivery_header_and_properties,
          test_two_consumers_read_independently,
          test_ack_is_credit,
          test_declare_ok_counts_and_delete,
          test_management_api_reports_a_stream,
          test_retention_by_size,
          test_retention_by_age,
          test_filter_single_value,
          test_filter_array_and_match_unfiltered])
