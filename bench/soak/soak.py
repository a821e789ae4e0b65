#!/usr/bin/env python3
"""Soak (issue #16): a long mixed load at about half of capacity, watching warrend's memory,
file descriptors, threads and latency for growth. `make soak` runs it (not in CI).

It starts its own warrend (temporary data dir, free ports; tests/interop/harness.py), then:

 1. Calibration (SOAK_CALIBRATE_SECONDS, default 20, on a broker of its own that is then
    stopped): the whole mix below runs unthrottled; each flow's capacity is the lower of its
    publish and consume rates.
 2. Soak (SOAK_MINUTES, default 30, on a fresh broker): the same mix with every flow's publishers
    throttled to half of that flow's capacity. Every SOAK_SAMPLE_SECONDS (5) a row goes to
    soak.csv: warrend's RSS (/proc/PID/status VmRSS), open fds (/proc/PID/fd), threads
    (/proc/PID/task), the latency probe's p50/p99 over the interval, msgs/s published and
    consumed, messages queued, connections and queues (management API /api/overview).

The mix, each part in its own process (python clients are slow):
  - persist:   2 AMQP publishers with publisher confirms (up to 200 unconfirmed each; 512 B and
               2 KB), persistent, to a durable queue;
               2 consumers with manual acks (one acks each message, one `multiple` every 20)
  - transient: 1 AMQP publisher without confirms, transient, to a non-durable queue;
               1 auto-ack consumer
  - stomp:     1 STOMP publisher (1.2) alternating persistent:true to a durable queue and
               transient to a non-durable one, a receipt every 100 SENDs; 1 STOMP consumer
               subscribed to both (client-individual acks on one, auto on the other)
  - ttl:       1 AMQP publisher to a queue with x-message-ttl 1000 ms and x-dead-letter-exchange
               (fanout) that nobody consumes: every message expires into the DLX queue, which
               1 consumer (manual acks) takes
  - churn:     1 process opening and closing connections continually (AMQP with an exclusive
               server-named queue used and dropped with its connection; STOMP subscribing to a
               queue, sending to itself and disconnecting; a bare AMQP open/close), and 1 process
               that every 2 s declares, uses and deletes named queues (durable and not), an
               auto-delete queue (deleted by cancelling its consumer), an exclusive queue bound
               to a topic exchange, and a queue with x-expires 3 s left for the broker to delete
  - probe:     1 publisher at a fixed SOAK_PROBE_RATE (200 msg/s) stamping each message with a
               sequence number and the send time, 1 auto-ack consumer measuring latency
               (CLOCK_MONOTONIC, one machine): p50/p99 per interval; every probe message must
               arrive.
Churn and the probe run at fixed rates (also during calibration); only the four flows scale.

Verdicts (exit code 1 if any fails). Warm-up = the first SOAK_WARMUP (0.2) of the run; the rest
is cut into four equal quarters Q1..Q4 by elapsed time:
  - RSS flat: every RSS sample after warm-up within +-10% of the median of those samples;
  - fds: max over Q4 <= max over Q1 + 16 (churn connections come and go between samples);
  - threads: max over Q4 <= max over Q1 + 2;
  - p99 flat: median of Q4's per-interval p99 <= max(2 x median of Q1's, Q1's + 5 ms);
  - probe: every message sent was received (duplicates counted too);
  - log: warrend's log has no error-level lines (listed), it is alive at the end and exits 0
    on SIGTERM;
  - clients: no client process hit an error (connection lost, channel closed, timeout).

Environment: WARREND (default build/release/warrend), SOAK_MINUTES, SOAK_CALIBRATE_SECONDS,
SOAK_SAMPLE_SECONDS, SOAK_WARMUP, SOAK_PROBE_RATE, SOAK_OUT (dir for soak.csv, calibration.json,
summary.json and warrend.log; default build/soak), SOAK_PNG (default docs/soak.png; "" for none).
Run: WARREND=build/release/warrend SOAK_MINUTES=3 /usr/bin/python3 bench/soak/soak.py
"""
import json
import logging
import math
import multiprocessing as mp
import os
import re
import statistics
import sys
import threading
import time
import traceback
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

import pika  # noqa: E402
import stomp  # noqa: E402

from harness import Broker  # noqa: E402

logging.getLogger("stomp").setLevel(logging.CRITICAL)
logging.getLogger("pika").setLevel(logging.CRITICAL)

MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
CALIBRATE_SECONDS = float(os.environ.get("SOAK_CALIBRATE_SECONDS", "20"))
SAMPLE_SECONDS = float(os.environ.get("SOAK_SAMPLE_SECONDS", "5"))
WARMUP = float(os.environ.get("SOAK_WARMUP", "0.2"))
PROBE_RATE = float(os.environ.get("SOAK_PROBE_RATE", "200"))
OUT = os.environ.get("SOAK_OUT", os.path.join(ROOT, "build", "soak"))
PNG = os.environ.get("SOAK_PNG", os.path.join(ROOT, "docs", "soak.png"))

RSS_BAND = 0.10
FD_SLACK = 16
THREAD_SLACK = 2
P99_FACTOR = 2.0
P99_SLACK_MS = 5.0

Q_PERSIST = "soak.persist"
Q_TRANSIENT = "soak.transient"
Q_STOMP_P = "soak.stomp.persistent"
Q_STOMP_T = "soak.stomp.transient"
Q_TTL = "soak.ttl"
Q_DEAD = "soak.dead"
X_DLX = "soak.dlx"
Q_PROBE = "soak.probe"
Q_CHURN_STOMP = "soak.churn.stomp"
X_TOPIC = "soak.topic"
TTL_MS = 1000

FLOWS = ("persist", "transient", "stomp", "ttl")


# ---------------------------------------------------------------------------------------------
# Clients (each role runs in its own process)

def amqp_params(ports):
    return pika.ConnectionParameters(
        "127.0.0.1", ports["amqp"], credentials=pika.PlainCredentials("guest", "guest"),
        heartbeat=0, connection_attempts=1, blocked_connection_timeout=60)


def amqp(ports):
    return pika.BlockingConnection(amqp_params(ports))


def stomp_conn(ports, listener=None):
    c = stomp.Connection12([("127.0.0.1", ports["stomp"])], heartbeats=(0, 0),
                           auto_decode=False, reconnect_attempts_max=1)
    if listener is not None:
        c.set_listener("l", listener)
    c.connect("guest", "guest", wait=True)
    return c


def payload(size):
    return (b"soak-" * (size // 5 + 1))[:size]


class Pacer:
    """Spreads `rate` events per second evenly; rate 0 = as fast as possible. When more than a
    second behind it forgets the debt rather than bursting."""

    def __init__(self, rate):
        self.step = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    def wait(self, stop):
        if not self.step:
            return
        self.next += self.step
        now = time.monotonic()
        if self.next > now:
            stop.wait(self.next - now)
        elif now - self.next > 1.0:
            self.next = now


def role_amqp_publisher(ctx, queue, confirms, persistent, size):
    conn = amqp(ctx.ports)
    ch = conn.channel()
    if confirms:
        ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2 if persistent else 1)
    body = payload(size)
    pacer = Pacer(ctx.rate)
    while not ctx.stop.is_set():
        ch.basic_publish("", queue, body, props)  # with confirms: returns once confirmed
        ctx.published.value += 1
        pacer.wait(ctx.stop)
    conn.close()


def role_confirm_publisher(ctx, queue, size, window=200):
    """Persistent messages with publisher confirms, up to `window` unconfirmed (pika
    SelectConnection); counts a message published when its confirm arrives."""
    body = payload(size)
    props = pika.BasicProperties(delivery_mode=2)
    st = {"ch": None, "low": 1, "out": set(), "tag": 0, "t0": 0.0, "err": None,
          "stopping": False, "deadline": None}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        st["ch"] = ch
        ch.add_on_close_callback(lambda _ch, reason: fail(f"channel closed: {reason}"))
        ch.confirm_delivery(on_confirm, callback=lambda _f: start())

    def start():
        st["t0"] = time.monotonic()
        conn.ioloop.call_later(0.005, tick)

    def fail(why):
        if not st["stopping"]:
            st["err"] = st["err"] or why
            st["stopping"] = True
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already closing
                pass

    def on_confirm(frame):
        m = frame.method
        if isinstance(m, pika.spec.Basic.Nack):
            fail(f"nack for delivery tag {m.delivery_tag}")
        n = 0
        if m.multiple:
            for t in range(st["low"], m.delivery_tag + 1):
                if t in st["out"]:
                    st["out"].discard(t)
                    n += 1
            st["low"] = max(st["low"], m.delivery_tag + 1)
        elif m.delivery_tag in st["out"]:
            st["out"].discard(m.delivery_tag)
            n = 1
        ctx.published.value += n

    def tick():
        if st["stopping"]:
            return
        now = time.monotonic()
        if ctx.stop.is_set():
            # wait (up to 10 s) for the outstanding confirms, then close
            st["deadline"] = st["deadline"] or now + 10
            if not st["out"] or now > st["deadline"]:
                st["stopping"] = True
                conn.close()
                return
            conn.ioloop.call_later(0.01, tick)
            return
        room = window - len(st["out"])
        if ctx.rate:
            credit = int(ctx.rate * (now - st["t0"])) - st["tag"]
            if credit > ctx.rate:  # more than a second behind: forget the debt
                st["t0"] = now - st["tag"] / ctx.rate
            room = min(room, credit)
        for _ in range(max(0, room)):
            st["tag"] += 1
            st["out"].add(st["tag"])
            st["ch"].basic_publish("", queue, body, props)
        conn.ioloop.call_later(0.005, tick)

    def on_closed(_conn, reason):
        if not st["stopping"]:
            st["err"] = st["err"] or f"connection closed: {reason}"
        conn.ioloop.stop()

    def on_open_error(_conn, err):
        st["err"] = f"cannot connect: {err}"
        conn.ioloop.stop()

    conn = pika.SelectConnection(amqp_params(ctx.ports), on_open_callback=on_open,
                                 on_open_error_callback=on_open_error,
                                 on_close_callback=on_closed)
    conn.ioloop.start()
    if st["err"]:
        raise ConnectionError(st["err"])


def role_ttl_publisher(ctx, size):
    conn = amqp(ctx.ports)
    ch = conn.channel()
    body = payload(size)
    props = pika.BasicProperties(delivery_mode=1)
    pacer = Pacer(ctx.rate)
    n = 0
    while not ctx.stop.is_set():
        # One in four also carries a shorter per-message expiration.
        p = pika.BasicProperties(delivery_mode=1, expiration="300") if n % 4 == 0 else props
        ch.basic_publish("", Q_TTL, body, p)
        n += 1
        ctx.published.value += 1
        pacer.wait(ctx.stop)
    conn.close()


def role_amqp_consumer(ctx, queue, auto_ack, ack_every, prefetch):
    conn = amqp(ctx.ports)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)
    pending = [0, None]  # unacked count, last tag

    def on_msg(_ch, m, _p, _b):
        ctx.consumed.value += 1
        if auto_ack:
            return
        pending[0] += 1
        pending[1] = m.delivery_tag
        if pending[0] >= ack_every:
            ch.basic_ack(m.delivery_tag, multiple=ack_every > 1)
            pending[0] = 0

    ch.basic_consume(queue, on_msg, auto_ack=auto_ack)
    while not ctx.cons_stop.is_set():
        conn.process_data_events(time_limit=0.2)
        if pending[0]:
            ch.basic_ack(pending[1], multiple=True)
            pending[0] = 0
    conn.close()


def role_stomp_publisher(ctx, size):
    done = threading.Event()

    class L(stomp.ConnectionListener):
        def on_receipt(self, frame):
            done.set()

    c = stomp_conn(ctx.ports, L())
    body = payload(size)
    pacer = Pacer(ctx.rate)
    n = 0
    while not ctx.stop.is_set():
        headers = {"persistent": "true"} if n % 2 == 0 else {}
        dest = f"/amq/queue/{Q_STOMP_P if n % 2 == 0 else Q_STOMP_T}"
        n += 1
        if n % 100 == 0:  # flow control: wait for a receipt every 100 SENDs
            done.clear()
            headers["receipt"] = f"r{n}"
            c.send(dest, body, headers=headers)
            if not done.wait(60):
                raise TimeoutError("no STOMP receipt within 60 s")
        else:
            c.send(dest, body, headers=headers)
        ctx.published.value += 1
        pacer.wait(ctx.stop)
    c.disconnect()


def role_stomp_consumer(ctx):
    gone = threading.Event()
    holder = {}

    class L(stomp.ConnectionListener):
        def on_message(self, frame):
            ctx.consumed.value += 1
            if frame.headers.get("subscription") == "p":
                holder["c"].ack(frame.headers["ack"])

        def on_disconnected(self):
            gone.set()

    c = stomp_conn(ctx.ports, L())
    holder["c"] = c
    c.subscribe(f"/amq/queue/{Q_STOMP_P}", id="p", ack="client-individual",
                headers={"prefetch-count": "100"})
    c.subscribe(f"/amq/queue/{Q_STOMP_T}", id="t", ack="auto")
    while not ctx.cons_stop.wait(0.2):
        if gone.is_set():
            raise ConnectionError("STOMP consumer disconnected")
    c.disconnect()


def role_conn_churn(ctx):
    """Connections opened and closed continually; each does a little work first."""
    got = threading.Event()

    class L(stomp.ConnectionListener):
        def on_message(self, frame):
            got.set()

    n = 0
    while not ctx.stop.is_set():
        n += 1
        kind = n % 3
        if kind == 0:  # AMQP with an exclusive server-named queue, gone with the connection
            conn = amqp(ctx.ports)
            ch = conn.channel()
            q = ch.queue_declare("", exclusive=True).method.queue
            for _ in range(5):
                ch.basic_publish("", q, b"churn")
            for _ in range(5):
                m, _p, _b = ch.basic_get(q, auto_ack=True)
                if m is None:
                    raise AssertionError("churn: message missing from exclusive queue")
                ctx.consumed.value += 1
            ctx.published.value += 5
            conn.close()
        elif kind == 1:  # STOMP: subscribe, send to itself, disconnect
            got.clear()
            c = stomp_conn(ctx.ports, L())
            c.subscribe(f"/amq/queue/{Q_CHURN_STOMP}", id="1", ack="auto")
            c.send(f"/amq/queue/{Q_CHURN_STOMP}", b"churn")
            ctx.published.value += 1
            if not got.wait(30):
                raise TimeoutError("churn: STOMP message not delivered within 30 s")
            ctx.consumed.value += 1
            c.disconnect()
        else:  # bare AMQP open and close
            amqp(ctx.ports).close()
        ctx.stop.wait(0.1)


def role_queue_churn(ctx):
    """Every 2 s: temporary queues declared, used and deleted."""
    conn = amqp(ctx.ports)
    ch = conn.channel()
    ch.exchange_declare(X_TOPIC, "topic")
    tag = uuid.uuid4().hex[:6]
    n = 0
    while not ctx.stop.is_set():
        n += 1
        # named queues, durable and not: fill, drain, delete
        for durable in (True, False):
            q = f"soak.tmp.{tag}.{n}.{'d' if durable else 't'}"
            ch.queue_declare(q, durable=durable)
            props = pika.BasicProperties(delivery_mode=2 if durable else 1)
            for _ in range(50):
                ch.basic_publish("", q, b"tmp", props)
            ctx.published.value += 50
            got = 0
            for m, _p, _b in ch.consume(q, inactivity_timeout=5):
                if m is None:
                    break
                ch.basic_ack(m.delivery_tag)
                got += 1
                if got == 50:
                    break
            ch.cancel()
            ctx.consumed.value += got
            if got != 50:
                raise AssertionError(f"queue churn: {got}/50 from {q}")
            ch.queue_delete(q)
        # auto-delete queue: deleted when its only consumer cancels
        q = f"soak.tmp.{tag}.{n}.ad"
        ch.queue_declare(q, auto_delete=True)
        for _ in range(20):
            ch.basic_publish("", q, b"ad")
        ctx.published.value += 20
        got = 0
        for m, _p, _b in ch.consume(q, auto_ack=True, inactivity_timeout=5):
            if m is None:
                break
            got += 1
            if got == 20:
                break
        ch.cancel()
        ctx.consumed.value += got
        if got != 20:
            raise AssertionError(f"queue churn: {got}/20 from auto-delete {q}")
        # exclusive server-named queue bound to a topic exchange, then unbound and deleted
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, X_TOPIC, f"soak.{n}.*")
        for _ in range(10):
            ch.basic_publish(X_TOPIC, f"soak.{n}.x", b"topic")
        ctx.published.value += 10
        got = 0
        for _ in range(10):
            m, _p, _b = ch.basic_get(q, auto_ack=True)
            got += m is not None
        ctx.consumed.value += got
        ch.queue_unbind(q, X_TOPIC, f"soak.{n}.*")
        ch.queue_delete(q)
        # left for the broker to expire (x-expires 3 s)
        ch.queue_declare(f"soak.tmp.{tag}.{n}.exp", arguments={"x-expires": 3000})
        ch.basic_publish("", f"soak.tmp.{tag}.{n}.exp", b"left")
        ctx.stop.wait(2.0)
    conn.close()


def role_probe_publisher(ctx):
    conn = amqp(ctx.ports)
    ch = conn.channel()
    pacer = Pacer(ctx.rate)
    seq = 0
    while not ctx.stop.is_set():
        ch.basic_publish("", Q_PROBE, f"{seq} {time.monotonic():.6f}".encode())
        seq += 1
        ctx.published.value = seq
        pacer.wait(ctx.stop)
    conn.close()


def role_probe_consumer(ctx):
    conn = amqp(ctx.ports)
    ch = conn.channel()
    seen = bytearray()
    batch = []
    dups = [0]

    def on_msg(_ch, _m, _p, b):
        now = time.monotonic()
        s, t = b.split()
        s = int(s)
        if s >= len(seen):
            seen.extend(b"\0" * (s + 1 - len(seen) + 4096))
        if seen[s]:
            dups[0] += 1
        seen[s] = 1
        batch.append((now - float(t)) * 1000.0)
        ctx.consumed.value += 1

    ch.basic_consume(Q_PROBE, on_msg, auto_ack=True)
    last = time.monotonic()
    while not ctx.cons_stop.is_set():
        conn.process_data_events(time_limit=0.1)
        if time.monotonic() - last >= 0.5 and batch:
            ctx.lat_queue.put(batch[:])
            batch.clear()
            last = time.monotonic()
    if batch:
        ctx.lat_queue.put(batch[:])
    ctx.lat_queue.put(("done", sum(seen), dups[0]))
    conn.close()


ROLES = {
    "amqp_publisher": role_amqp_publisher,
    "confirm_publisher": role_confirm_publisher,
    "ttl_publisher": role_ttl_publisher,
    "amqp_consumer": role_amqp_consumer,
    "stomp_publisher": role_stomp_publisher,
    "stomp_consumer": role_stomp_consumer,
    "conn_churn": role_conn_churn,
    "queue_churn": role_queue_churn,
    "probe_publisher": role_probe_publisher,
    "probe_consumer": role_probe_consumer,
}


class Ctx:
    def __init__(self, ports, rate, stop, cons_stop, published, consumed, errors, lat_queue):
        self.ports, self.rate, self.stop, self.cons_stop = ports, rate, stop, cons_stop
        self.published, self.consumed, self.errors, self.lat_queue = (
            published, consumed, errors, lat_queue)


def worker_main(name, role, kwargs, ctx):
    """Runs a role until told to stop; an error is counted, printed (the first 3) and the role
    started again after a second."""
    fn = ROLES[role]
    while True:
        stop = ctx.cons_stop if role.endswith("consumer") else ctx.stop
        if stop.is_set():
            return
        try:
            fn(ctx, **kwargs)
            return
        except Exception:  # noqa: BLE001 - counted and reported as a verdict
            if stop.is_set():
                return
            ctx.errors.value += 1
            if ctx.errors.value <= 3:
                sys.stderr.write(f"soak: client {name} error #{ctx.errors.value} at "
                                 f"{time.strftime('%H:%M:%S')}:\n{traceback.format_exc()}")
            stop.wait(1.0)


# name, role, flow (for the rate; None = fixed), kwargs, publisher?
MIX = [
    ("persist-pub-1", "confirm_publisher", "persist", dict(queue=Q_PERSIST, size=512), True),
    ("persist-pub-2", "confirm_publisher", "persist", dict(queue=Q_PERSIST, size=2048), True),
    ("persist-cons-ack1", "amqp_consumer", "persist",
     dict(queue=Q_PERSIST, auto_ack=False, ack_every=1, prefetch=100), False),
    ("persist-cons-ack20", "amqp_consumer", "persist",
     dict(queue=Q_PERSIST, auto_ack=False, ack_every=20, prefetch=200), False),
    ("transient-pub", "amqp_publisher", "transient",
     dict(queue=Q_TRANSIENT, confirms=False, persistent=False, size=256), True),
    ("transient-cons-auto", "amqp_consumer", "transient",
     dict(queue=Q_TRANSIENT, auto_ack=True, ack_every=1, prefetch=0), False),
    ("stomp-pub", "stomp_publisher", "stomp", dict(size=512), True),
    ("stomp-cons", "stomp_consumer", "stomp", {}, False),
    ("ttl-pub", "ttl_publisher", "ttl", dict(size=256), True),
    ("dlx-cons", "amqp_consumer", "ttl",
     dict(queue=Q_DEAD, auto_ack=False, ack_every=10, prefetch=100), False),
    ("conn-churn", "conn_churn", None, {}, True),
    ("queue-churn", "queue_churn", None, {}, True),
    ("probe-pub", "probe_publisher", "probe", {}, True),
    ("probe-cons", "probe_consumer", "probe", {}, False),
]


def declare_topology(ports):
    conn = amqp(ports)
    ch = conn.channel()
    ch.queue_declare(Q_PERSIST, durable=True)
    ch.queue_declare(Q_TRANSIENT, durable=False)
    ch.queue_declare(Q_STOMP_P, durable=True)
    ch.queue_declare(Q_STOMP_T, durable=False)
    ch.exchange_declare(X_DLX, "fanout", durable=True)
    ch.queue_declare(Q_DEAD, durable=True)
    ch.queue_bind(Q_DEAD, X_DLX)
    ch.queue_declare(Q_TTL, durable=True, arguments={
        "x-message-ttl": TTL_MS, "x-dead-letter-exchange": X_DLX})
    ch.queue_declare(Q_PROBE, durable=False)
    ch.queue_declare(Q_CHURN_STOMP, durable=False)
    ch.exchange_declare(X_TOPIC, "topic")
    conn.close()


class Load:
    """The mix's processes and their counters."""

    def __init__(self, ports, rates):
        self.stop = mp.Event()
        self.cons_stop = mp.Event()
        self.lat_queue = mp.Queue()
        self.workers = []
        for name, role, flow, kwargs, is_pub in MIX:
            if flow == "probe":
                rate = PROBE_RATE if is_pub else 0
            elif flow is None or not is_pub:
                rate = 0
            else:
                rate = rates.get(flow, 0)
            ctx = Ctx(ports, rate, self.stop, self.cons_stop, mp.Value("q", 0, lock=False),
                      mp.Value("q", 0, lock=False), mp.Value("q", 0, lock=False),
                      self.lat_queue)
            p = mp.Process(target=worker_main, args=(name, role, kwargs, ctx), name=name,
                           daemon=True)
            self.workers.append((name, flow, is_pub, rate, ctx, p))

    def start(self):
        for w in self.workers:
            w[5].start()

    def counts(self):
        """{flow: [published, consumed]} plus 'all' (everything but the probe and churn)."""
        out = {}
        for _name, flow, _is_pub, _rate, ctx, _p in self.workers:
            key = flow or "churn"
            c = out.setdefault(key, [0, 0])
            c[0] += ctx.published.value
            c[1] += ctx.consumed.value
        return out

    def errors(self):
        return {name: ctx.errors.value for name, _f, _i, _r, ctx, _p in self.workers
                if ctx.errors.value}

    def probe_sent(self):
        return sum(ctx.published.value for n, f, i, _r, ctx, _p in self.workers
                   if f == "probe" and i)

    def probe_received(self):
        return sum(ctx.consumed.value for n, f, i, _r, ctx, _p in self.workers
                   if f == "probe" and not i)

    def latencies(self):
        lat, done = [], None
        while True:
            try:
                item = self.lat_queue.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty
                return lat, done
            if isinstance(item, tuple):
                done = item
            else:
                lat.extend(item)

    def finish(self, drain_timeout=30.0):
        """Stops the publishers, lets the consumers drain, stops them. Returns the probe's
        ('done', unique received, duplicates) and the latencies still queued."""
        self.stop.set()
        for _n, _f, is_pub, _r, _c, p in self.workers:
            if is_pub:
                p.join(30)
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and self.probe_received() < self.probe_sent():
            time.sleep(0.2)
        time.sleep(1.0)
        self.cons_stop.set()
        lat, done = [], None
        deadline = time.monotonic() + 30
        while done is None and time.monotonic() < deadline:
            more, done = self.latencies()
            lat.extend(more)
            time.sleep(0.1)
        for _n, _f, _i, _r, _c, p in self.workers:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
        return done, lat


# ---------------------------------------------------------------------------------------------
# Broker observation

def proc_stats(pid):
    """VmRSS, RssAnon, RssFile (kB), open fds, threads."""
    mem = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
                mem[line.split(":")[0]] = int(line.split()[1])
    return (mem.get("VmRSS", 0), mem.get("RssAnon", 0), mem.get("RssFile", 0),
            len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task")))


def cpu_seconds(pid):
    """warrend's user + system CPU time so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overview(ports):
    req = urllib.request.Request(f"http://127.0.0.1:{ports['http']}/api/overview")
    req.add_header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")  # guest:guest
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            o = json.loads(r.read())
        ot = o.get("object_totals", {})
        return (o.get("queue_totals", {}).get("messages", 0), ot.get("connections", 0),
                ot.get("queues", 0))
    except Exception:  # noqa: BLE001 - a missed sample is recorded as empty
        return None, None, None


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def start_broker():
    b = Broker()
    b.start()
    ports = {"amqp": b.amqp_port, "stomp": b.stomp_port, "http": b.http_port}
    return b, ports


def stop_broker(b, keep_log=None):
    """Stops warrend; returns (exit code, log text)."""
    alive = b.alive()
    log = b.log_text()
    if keep_log:
        with open(keep_log, "w") as f:
            f.write(log)
    try:
        rc = b.stop()
    except RuntimeError as e:
        rc = str(e)
    b.close()
    return alive, rc, log


# ---------------------------------------------------------------------------------------------
# Phases

def calibrate():
    print(f"soak: calibration: the mix unthrottled for {CALIBRATE_SECONDS:.0f} s", flush=True)
    b, ports = start_broker()
    try:
        declare_topology(ports)
        load = Load(ports, {})
        load.start()
        time.sleep(3.0)  # connect, ramp up
        c0, t0, cpu0 = load.counts(), time.monotonic(), cpu_seconds(b.proc.pid)
        time.sleep(CALIBRATE_SECONDS)
        c1, t1, cpu1 = load.counts(), time.monotonic(), cpu_seconds(b.proc.pid)
        load.finish(drain_timeout=5)
        errors = load.errors()
    finally:
        stop_broker(b, os.path.join(OUT, "calibration-warrend.log"))
    dt = t1 - t0
    cal = {"seconds": dt, "flows": {}, "client_errors": errors,
           "warrend_cpu_percent": (cpu1 - cpu0) / dt * 100, "loadavg": os.getloadavg()[0]}
    for flow in FLOWS + ("churn", "probe"):
        pub = (c1[flow][0] - c0[flow][0]) / dt
        cons = (c1[flow][1] - c0[flow][1]) / dt
        cal["flows"][flow] = {"published": pub, "consumed": cons, "capacity": min(pub, cons)}
    cal["capacity_total"] = sum(cal["flows"][f]["capacity"] for f in FLOWS)
    cal["published_total"] = sum(cal["flows"][f]["published"] for f in FLOWS)
    cal["consumed_total"] = sum(cal["flows"][f]["consumed"] for f in FLOWS)
    npub = {f: sum(1 for _n, _r, fl, _k, p in MIX if fl == f and p) for f in FLOWS}
    cal["rates_per_publisher"] = {f: cal["flows"][f]["capacity"] / 2 / npub[f] for f in FLOWS}
    cal["soak_total"] = cal["capacity_total"] / 2
    print("soak: calibration (msg/s)        published  consumed  capacity  soak target", flush=True)
    for flow in FLOWS + ("churn", "probe"):
        f = cal["flows"][flow]
        target = f"{f['capacity'] / 2:10.0f}" if flow in FLOWS else "     fixed"
        print(f"soak:   {flow:24s} {f['published']:10.0f} {f['consumed']:9.0f} "
              f"{f['capacity']:9.0f}  {target}", flush=True)
    print(f"soak: max rate of the mix: {cal['capacity_total']:.0f} msg/s (the four flows); "
          f"soak at half: {cal['soak_total']:.0f} msg/s; warrend CPU during calibration "
          f"{cal['warrend_cpu_percent']:.0f}%, load average {cal['loadavg']:.1f}", flush=True)
    if errors:
        print(f"soak: calibration client errors: {errors}", flush=True)
    return cal


def soak(cal):
    duration = MINUTES * 60.0
    rates = cal["rates_per_publisher"]
    print(f"soak: soak for {MINUTES:g} min at half capacity, sampling every "
          f"{SAMPLE_SECONDS:g} s", flush=True)
    b, ports = start_broker()
    pid = b.proc.pid
    rows = []
    csv_path = os.path.join(OUT, "soak.csv")
    header = ["elapsed_s", "rss_mb", "rss_anon_mb", "rss_file_mb", "fds", "threads",
              "probe_p50_ms", "probe_p99_ms", "probe_n", "published_per_s", "consumed_per_s",
              "queued", "connections", "queues", "warrend_cpu_pct", "loadavg"]
    probe_done = None
    try:
        declare_topology(ports)
        load = Load(ports, rates)
        load.start()
        t_start = time.monotonic()
        prev = load.counts()
        prev_t = t_start
        prev_cpu = cpu_seconds(pid)
        next_t = t_start + SAMPLE_SECONDS
        last_print = t_start
        with open(csv_path, "w") as csv:
            csv.write(",".join(header) + "\n")
            while True:
                time.sleep(max(0.0, next_t - time.monotonic()))
                now = time.monotonic()
                next_t += SAMPLE_SECONDS
                if not b.alive():
                    print("soak: warrend died", flush=True)
                    break
                rss, rss_anon, rss_file, fds, threads = proc_stats(pid)
                cpu = cpu_seconds(pid)
                queued, conns, queues = overview(ports)
                cur = load.counts()
                lat, _ = load.latencies()
                dt = now - prev_t
                pub = sum(cur[f][0] - prev[f][0] for f in FLOWS) / dt
                cons = sum(cur[f][1] - prev[f][1] for f in FLOWS) / dt
                prev, prev_t = cur, now
                row = {"elapsed_s": round(now - t_start, 1), "rss_mb": round(rss / 1024, 2),
                       "rss_anon_mb": round(rss_anon / 1024, 2),
                       "rss_file_mb": round(rss_file / 1024, 2),
                       "fds": fds, "threads": threads,
                       "probe_p50_ms": round(pct(lat, 0.5), 3) if lat else "",
                       "probe_p99_ms": round(pct(lat, 0.99), 3) if lat else "",
                       "probe_n": len(lat), "published_per_s": round(pub),
                       "consumed_per_s": round(cons),
                       "queued": "" if queued is None else queued,
                       "connections": "" if conns is None else conns,
                       "queues": "" if queues is None else queues,
                       "warrend_cpu_pct": round((cpu - prev_cpu) / dt * 100, 1),
                       "loadavg": round(os.getloadavg()[0], 2)}
                prev_cpu = cpu
                rows.append(row)
                csv.write(",".join(str(row[h]) for h in header) + "\n")
                csv.flush()
                if now - last_print >= 30 or now - t_start >= duration:
                    last_print = now
                    print(f"soak: {row['elapsed_s']:7.0f} s  rss {row['rss_mb']:7.1f} MB  fds "
                          f"{fds:4d}  threads {threads:3d}  p50/p99 {row['probe_p50_ms']}/"
                          f"{row['probe_p99_ms']} ms  pub {pub:6.0f}/s  cons {cons:6.0f}/s  "
                          f"queued {row['queued']}  conns {row['connections']}  queues "
                          f"{row['queues']}  cpu {row['warrend_cpu_pct']}%  load "
                          f"{row['loadavg']}", flush=True)
                if now - t_start >= duration:
                    break
        probe_done, _ = load.finish()
        sent = load.probe_sent()
        errors = load.errors()
    finally:
        alive, rc, log = stop_broker(b, os.path.join(OUT, "warrend.log"))
    return rows, {"probe_sent": sent, "probe_done": probe_done, "client_errors": errors,
                  "alive": alive, "exit_code": rc, "log": log, "ports": ports}


# ---------------------------------------------------------------------------------------------
# Verdicts, figures, graph

# base/log.cc's pattern: "<ISO time> <level> <message>".
ERROR_LINE = re.compile(r"^\S+ (error|critical) ")
WARN_LINE = re.compile(r"^\S+ warning ")


def analyse(rows, end):
    duration = rows[-1]["elapsed_s"] if rows else 0.0
    w = WARMUP * duration
    post = [r for r in rows if r["elapsed_s"] > w]
    q_len = (duration - w) / 4.0

    def quarter(i):
        lo, hi = w + i * q_len, w + (i + 1) * q_len
        return [r for r in post if lo < r["elapsed_s"] <= hi + 1e-9]

    quarters = [quarter(i) for i in range(4)]
    res = {"duration_s": duration, "warmup_s": w, "samples": len(rows), "verdicts": {}}
    v = res["verdicts"]

    rss = [r["rss_mb"] for r in post]
    med = statistics.median(rss)
    lo, hi = min(rss), max(rss)
    res["rss"] = {"start": rows[0]["rss_mb"], "at_warmup_end": post[0]["rss_mb"],
                  "end": rows[-1]["rss_mb"], "median_after_warmup": med, "min_after_warmup": lo,
                  "max_after_warmup": hi, "peak": max(r["rss_mb"] for r in rows),
                  "per_quarter_median": [statistics.median([r["rss_mb"] for r in q])
                                         for q in quarters],
                  "anon_start": rows[0]["rss_anon_mb"], "anon_end": rows[-1]["rss_anon_mb"],
                  "anon_min_after_warmup": min(r["rss_anon_mb"] for r in post),
                  "anon_max_after_warmup": max(r["rss_anon_mb"] for r in post),
                  "file_min_after_warmup": min(r["rss_file_mb"] for r in post),
                  "file_max_after_warmup": max(r["rss_file_mb"] for r in post)}
    v["rss_flat"] = (lo >= (1 - RSS_BAND) * med and hi <= (1 + RSS_BAND) * med,
                     f"after warm-up {lo:.1f}..{hi:.1f} MB, median {med:.1f} MB: band "
                     f"{(1 - RSS_BAND) * med:.1f}..{(1 + RSS_BAND) * med:.1f} MB "
                     f"({(lo / med - 1) * 100:+.1f}% / {(hi / med - 1) * 100:+.1f}%)")

    for key, slack in (("fds", FD_SLACK), ("threads", THREAD_SLACK)):
        q1 = max(r[key] for r in quarters[0])
        q4 = max(r[key] for r in quarters[3])
        res[key] = {"start": rows[0][key], "end": rows[-1][key],
                    "min": min(r[key] for r in rows), "max": max(r[key] for r in rows),
                    "per_quarter_max": [max(r[key] for r in q) for q in quarters],
                    "per_quarter_min": [min(r[key] for r in q) for q in quarters]}
        v[f"{key}_no_growth"] = (q4 <= q1 + slack,
                                 f"max Q1 {q1}, max Q4 {q4} (allowed {q1 + slack})")

    def p99s(q):
        return [r["probe_p99_ms"] for r in q if r["probe_p99_ms"] != ""]

    qp = [round(statistics.median(p99s(q)), 3) if p99s(q) else None for q in quarters]
    qp50 = [round(statistics.median([r["probe_p50_ms"] for r in q if r["probe_p50_ms"] != ""]),
                  3) if p99s(q) else None for q in quarters]
    res["p99_per_quarter_median"] = qp
    res["p50_per_quarter_median"] = qp50
    res["p99_max_interval"] = max((r["probe_p99_ms"] for r in rows if r["probe_p99_ms"] != ""),
                                  default=None)
    if qp[0] is None or qp[3] is None:
        v["p99_flat"] = (False, "no probe latencies in Q1 or Q4")
    else:
        allowed = max(P99_FACTOR * qp[0], qp[0] + P99_SLACK_MS)
        v["p99_flat"] = (qp[3] <= allowed, f"median p99 Q1 {qp[0]:.2f} ms, Q4 {qp[3]:.2f} ms "
                                           f"(allowed {allowed:.2f} ms)")

    sent = end["probe_sent"]
    done = end["probe_done"]
    got, dups = (done[1], done[2]) if done else (0, 0)
    res["probe"] = {"sent": sent, "received": got, "duplicates": dups}
    v["probe_all_received"] = (done is not None and got == sent and dups == 0,
                               f"sent {sent}, received {got}, missing {sent - got}, "
                               f"duplicates {dups}" +
                               ("" if done else " (consumer never reported)"))

    errs = [line for line in end["log"].splitlines() if ERROR_LINE.search(line)]
    res["log_error_lines"] = errs
    warns = [line for line in end["log"].splitlines() if WARN_LINE.search(line)]
    res["log_warning_count"] = len(warns)
    res["log_warning_first"] = warns[:10]
    v["log_no_errors"] = (not errs, f"{len(errs)} error lines" +
                          "".join(f"\n      {e}" for e in errs[:20]))
    v["broker_alive_clean_exit"] = (end["alive"] and end["exit_code"] == 0,
                                    f"alive at the end: {end['alive']}, exit code on SIGTERM: "
                                    f"{end['exit_code']}")
    v["no_client_errors"] = (not end["client_errors"], f"{end['client_errors'] or 'none'}")

    pub = [r["published_per_s"] for r in post]
    cons = [r["consumed_per_s"] for r in post]
    queued = [r["queued"] for r in post if r["queued"] != ""]
    res["rates_after_warmup"] = {"warrend_cpu_pct_mean": statistics.mean(
                                     [r["warrend_cpu_pct"] for r in post]),
                                 "loadavg_mean": statistics.mean([r["loadavg"] for r in post]),
                                 "published_mean": statistics.mean(pub),
                                 "consumed_mean": statistics.mean(cons),
                                 "queued_median": statistics.median(queued) if queued else None,
                                 "queued_max": max(queued) if queued else None}
    res["per_quarter_queued_max"] = [max((r["queued"] for r in q if r["queued"] != ""),
                                         default=None) for q in quarters]
    res["connections_max"] = max((r["connections"] for r in rows if r["connections"] != ""),
                                 default=None)
    res["queues_per_quarter_max"] = [max((r["queues"] for r in q if r["queues"] != ""),
                                         default=None) for q in quarters]
    return res


def draw(rows, res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["elapsed_s"] / 60 for r in rows]
    fig, ax = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    w = res["warmup_s"] / 60
    med = res["rss"]["median_after_warmup"]
    ax[0].plot(t, [r["rss_mb"] for r in rows], color="tab:blue", label="RSS (VmRSS)")
    ax[0].plot(t, [r["rss_anon_mb"] for r in rows], color="tab:purple", linewidth=0.8,
               label="of which anonymous (heap)")
    ax[0].axhspan((1 - RSS_BAND) * med, (1 + RSS_BAND) * med, color="tab:blue", alpha=0.1,
                  label="median after warm-up \u00b110%")
    ax[0].set_ylabel("warrend RSS (MB)")
    ax[0].set_ylim(bottom=0)
    ax[1].plot(t, [r["fds"] for r in rows], label="open fds")
    ax[1].plot(t, [r["threads"] for r in rows], label="threads")
    ax[1].set_ylabel("count")
    ax[1].set_ylim(bottom=0)
    pt = [(r["elapsed_s"] / 60, r["probe_p50_ms"], r["probe_p99_ms"]) for r in rows
          if r["probe_p99_ms"] != ""]
    ax[2].plot([p[0] for p in pt], [p[2] for p in pt], color="tab:red", label="probe p99")
    ax[2].plot([p[0] for p in pt], [p[1] for p in pt], color="tab:green", label="probe p50")
    ax[2].set_ylabel(f"latency (ms), {PROBE_RATE:g} msg/s probe")
    ax[2].set_ylim(bottom=0)
    ax[3].plot(t, [r["published_per_s"] for r in rows], label="published/s")
    ax[3].plot(t, [r["consumed_per_s"] for r in rows], label="consumed/s")
    ax[3].plot(t, [r["queued"] if r["queued"] != "" else float("nan") for r in rows],
               label="messages queued")
    ax[3].set_ylabel("messages")
    ax[3].set_ylim(bottom=0)
    ax[3].set_xlabel("minutes")
    for a in ax:
        a.axvline(w, color="grey", linestyle="--", linewidth=0.8)
        a.grid(alpha=0.3)
        a.legend(loc="upper right", fontsize=8)
    ax[0].set_title(f"Warren soak: {res['duration_s'] / 60:.0f} min mixed AMQP/STOMP load at half "
                    f"capacity (dashed: end of warm-up)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main():
    os.makedirs(OUT, exist_ok=True)
    t0 = time.time()
    cal = calibrate()
    with open(os.path.join(OUT, "calibration.json"), "w") as f:
        json.dump(cal, f, indent=1)
    rows, end = soak(cal)
    if len(rows) < 8:
        print(f"soak: only {len(rows)} samples: too short to judge", flush=True)
        return 1
    res = analyse(rows, end)
    res["calibration"] = cal
    res["started"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t0))
    res["minutes"] = MINUTES
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(res, f, indent=1, default=str)
    if PNG:
        try:
            draw(rows, res, PNG)
            print(f"soak: graph {PNG}", flush=True)
        except ImportError:
            print("soak: matplotlib missing (scripts/install-deps --soak): no graph", flush=True)
    r = res["rss"]
    print(f"soak: RSS MB: start {r['start']}, after warm-up {r['at_warmup_end']}, end {r['end']}, "
          f"after warm-up min {r['min_after_warmup']} / median {r['median_after_warmup']} / max "
          f"{r['max_after_warmup']}; per-quarter medians "
          f"{[round(x, 1) for x in r['per_quarter_median']]}; anonymous: start "
          f"{r['anon_start']}, end {r['anon_end']}, after warm-up {r['anon_min_after_warmup']}.."
          f"{r['anon_max_after_warmup']}; file-backed after warm-up "
          f"{r['file_min_after_warmup']}..{r['file_max_after_warmup']}", flush=True)
    for key in ("fds", "threads"):
        print(f"soak: {key}: start {res[key]['start']}, end {res[key]['end']}, per-quarter max "
              f"{res[key]['per_quarter_max']}", flush=True)
    print(f"soak: probe p50 per quarter {res['p50_per_quarter_median']} ms, p99 per quarter "
          f"{res['p99_per_quarter_median']} ms, worst interval p99 {res['p99_max_interval']} ms",
          flush=True)
    ra = res["rates_after_warmup"]
    print(f"soak: after warm-up: published {ra['published_mean']:.0f}/s, consumed "
          f"{ra['consumed_mean']:.0f}/s, queued median {ra['queued_median']} max "
          f"{ra['queued_max']}; queues per quarter max {res['queues_per_quarter_max']}; "
          f"warrend CPU {ra['warrend_cpu_pct_mean']:.0f}%, load average "
          f"{ra['loadavg_mean']:.1f}",
          flush=True)
    failed = 0
    for name, (ok, detail) in res["verdicts"].items():
        failed += not ok
        print(f"soak: {'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    print(f"soak: broker log: {len(res['log_error_lines'])} error lines, "
          f"{res['log_warning_count']} warning lines" +
          "".join(f"\n      {w}" for w in res["log_warning_first"][:5]), flush=True)
    print(f"soak: results in {OUT}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
