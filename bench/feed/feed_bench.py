#!/usr/bin/env python3
"""feed-bench: the seed's claim, measured. N simulated users each follow F others; posts are
made through feedd's API at a fixed rate for a while, in push mode (every user online as an
AMQP consumer of their own queue, fed through the outbox relay and Warren) and in pull mode
(every user polls feedd's GET /api/feed every --poll-ms, the seed's counter-example).

Reports, per mode: post-to-follower latency p50/p99/max (from the post's created_ms, stamped by
feedd when it saved the post, to the moment the simulated follower has it), deliveries, database
statements per second (feedd's and warren-outbox's), CPU seconds of warrend, feedd,
warren-outbox and the bench itself, and the bytes the simulated users received (AMQP frames in
push mode, HTTP responses in pull mode).

    /usr/bin/python3 bench/feed/feed_bench.py --users 1000 --follows 20 --rate 20 --seconds 20
    (WARREN_BUILD=build/release; writes JSON with --out)

Two more runs (docs/feed.md):

  --offline  the offline case. Every user is online, then offline during a burst of posts
             (--burst-seconds, default 3) with the queues' TTL set to --offline-ttl-ms
             (default 6000). Half the users come back 0.5 s after the burst (offline for less
             than the TTL): they must get every post from their queue, once. The other half
             come back --offline-margin s after the TTL of the burst's last post: they must get
             none from the broker, and every one in the feed read from the database.
  --fault    the fault run. Every user online (acking consumers that reconnect); during a
             burst (default 40 s) warrend and warren-outbox are SIGKILLed --kills times (alone
             or together) and restarted. Counts, against the posts committed to the database:
             lost (a follower never got it), duplicated (a second message for it in a
             follower's queue), and redelivered_after_ack (an acked delivery handed out again,
             flagged redelivered, after a kill of warrend: acks are not synced to disk).
             --no-dedup: the control, with deduplication off.

    WARREND=/tmp/feed-snap/warrend WARREN_BUILD=/tmp/feed-snap \
        /usr/bin/python3 bench/feed/feed_bench.py --fault --users 1000 --rate 20

Everything runs on this machine: the numbers include the simulated users' own CPU.
"""
import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop", "feed"))

from feed_util import FeedApp, redis  # noqa: E402
from harness import broker  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


# ---- a minimal AMQP 0-9-1 consumer (no-ack, many queues per connection) ----

def frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def shortstr(s):
    b = s.encode()
    return struct.pack(">B", len(b)) + b


def method(cls, mid, args=b""):
    return struct.pack(">HH", cls, mid) + args


RECEIVED = [0]  # bytes the simulated users read: AMQP frames (push), HTTP responses (pull)


async def read_frame(r):
    hdr = await r.readexactly(7)
    ftype, ch, size = struct.unpack(">BHI", hdr)
    payload = await r.readexactly(size + 1)
    RECEIVED[0] += 8 + size
    return ftype, ch, payload[:-1]


async def amqp_consumer(port, queues, on_body, ready):
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    w.write(b"AMQP\x00\x00\x09\x01")
    await read_frame(r)  # connection.start
    w.write(frame(1, 0, method(10, 11, struct.pack(">I", 0) + shortstr("PLAIN") +
                               struct.pack(">I", 12) + b"\x00guest\x00guest" + shortstr("en_US"))))
    await read_frame(r)  # connection.tune
    w.write(frame(1, 0, method(10, 31, struct.pack(">HIH", 2047, 131072, 0))))
    w.write(frame(1, 0, method(10, 40, shortstr("/") + shortstr("") + b"\x00")))
    await read_frame(r)  # open-ok
    w.write(frame(1, 1, method(20, 10, shortstr(""))))
    await read_frame(r)  # channel.open-ok
    for q in queues:  # no-ack (bit 1) + no-wait (bit 3)
        w.write(frame(1, 1, method(60, 20, struct.pack(">H", 0) + shortstr(q) + shortstr("") +
                                   b"\x0a" + struct.pack(">I", 0))))
    await w.drain()
    ready.set_result(True) if not ready.done() else None
    body_left, body = 0, []
    while True:
        ftype, ch, p = await read_frame(r)
        if ftype == 2:
            body_left = struct.unpack_from(">Q", p, 4)[0]
            body = []
            if body_left == 0:
                on_body(b"")
        elif ftype == 3:
            body.append(p)
            body_left -= len(p)
            if body_left <= 0:
                on_body(b"".join(body))
        elif ftype == 1:
            cls, mid = struct.unpack_from(">HH", p)
            if (cls, mid) in ((10, 50), (20, 40)):
                raise RuntimeError(f"broker closed: {p[4:80]!r}")


async def acking_consumer(port_of, queues, on_post, ready=None, stop=None):
    """The offline case's and the fault run's follower: one AMQP connection consuming `queues`
    with explicit acks (consumer tag = the queue's name), acking each message once it is
    counted. When the broker goes away (SIGKILL) it connects again every 0.2 s until `stop` is
    set, and consumes again: what was not acked is redelivered. on_post(queue, body,
    redelivered) is called once per delivery, duplicates included."""
    while stop is None or not stop.is_set():
        w = None
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port_of(), limit=1 << 20)
            w.write(b"AMQP\x00\x00\x09\x01")
            await read_frame(r)  # connection.start
            w.write(frame(1, 0, method(10, 11, struct.pack(">I", 0) + shortstr("PLAIN") +
                                       struct.pack(">I", 12) + b"\x00guest\x00guest" +
                                       shortstr("en_US"))))
            await read_frame(r)  # connection.tune
            w.write(frame(1, 0, method(10, 31, struct.pack(">HIH", 2047, 131072, 0))))
            w.write(frame(1, 0, method(10, 40, shortstr("/") + shortstr("") + b"\x00")))
            await read_frame(r)  # open-ok
            w.write(frame(1, 1, method(20, 10, shortstr(""))))
            await read_frame(r)  # channel.open-ok
            for q in queues:  # explicit acks; no-wait (bit 3)
                w.write(frame(1, 1, method(60, 20, struct.pack(">H", 0) + shortstr(q) +
                                           shortstr(q) + b"\x08" + struct.pack(">I", 0))))
            await w.drain()
            if ready is not None and not ready.done():
                ready.set_result(True)
            tag = queue = None
            redelivered = False
            body_left, body = 0, []
            while True:
                ftype, ch, p = await read_frame(r)
                if ftype == 1:
                    cls, mid = struct.unpack_from(">HH", p)
                    if (cls, mid) == (60, 60):  # basic.deliver
                        n = p[4]
                        queue = p[5:5 + n].decode()
                        tag, redelivered = struct.unpack_from(">QB", p, 5 + n)
                    elif (cls, mid) in ((10, 50), (20, 40)):
                        raise ConnectionError(f"broker closed: {p[4:80]!r}")
                    continue
                if ftype == 2:
                    body_left = struct.unpack_from(">Q", p, 4)[0]
                    body = []
                elif ftype == 3:
                    body.append(p)
                    body_left -= len(p)
                if ftype in (2, 3) and body_left <= 0:
                    on_post(queue, b"".join(body), bool(redelivered))
                    w.write(frame(1, 1, method(60, 80, struct.pack(">QB", tag, 0))))
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if w is not None:
                w.close()
        await asyncio.sleep(0.2)


# ---- HTTP/1.1 keep-alive client (feedd) ----

class Http:
    def __init__(self, port):
        self.port = port
        self.r = self.w = None

    async def call(self, method_, path, body=None):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        self.w.write(f"{method_} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        status = await self.r.readline()
        RECEIVED[0] += len(status)
        length = 0
        while True:
            line = await self.r.readline()
            RECEIVED[0] += len(line)
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
        payload = await self.r.readexactly(length)
        RECEIVED[0] += length
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{method_} {path}: {status!r} {payload[:200]!r}")
        return json.loads(payload)


def set_up(mode, args, app):
    """N users, each following F others at random (seeded): returns the user ids and, per
    author, their followers."""
    t_setup = time.time()
    users = app.api("POST", "/api/users/bulk",
                    {"names": [f"u{i}" for i in range(args.users)]}, timeout=600)["ids"]
    rnd = random.Random(args.seed)
    pairs = []
    followers = {u: [] for u in users}
    for u in users:
        for v in rnd.sample([x for x in users if x != u], args.follows):
            pairs.append([u, v])
            followers[v].append(u)
    for i in range(0, len(pairs), 20000):
        app.api("POST", "/api/follows/bulk", {"pairs": pairs[i:i + 20000]}, timeout=600)
    print(f"feed-bench: {mode}: {len(users)} users, {len(pairs)} follows set up in "
          f"{time.time() - t_setup:.0f} s", file=sys.stderr, flush=True)
    return users, followers, rnd


async def run_mode(mode, args, b, app):
    users, followers, rnd = set_up(mode, args, app)
    latencies, delivered = [], [0]
    start_ms = [None]

    def note(created_ms, now_ms):
        if start_ms[0] is not None and created_ms >= start_ms[0]:
            latencies.append(now_ms - created_ms)
            delivered[0] += 1

    tasks = []
    loop = asyncio.get_running_loop()
    if mode == "push":
        per = max(1, args.users // args.connections)
        readies = []
        for i in range(0, len(users), per):
            fut = loop.create_future()
            readies.append(fut)
            qs = [f"feed.user.{u}" for u in users[i:i + per]]
            tasks.append(asyncio.create_task(amqp_consumer(
                b.amqp_port, qs,
                lambda body: note(json.loads(body)["created_ms"], time.time() * 1000), fut)))
        await asyncio.gather(*readies)
        await asyncio.sleep(1.0)  # consumers registered (no-wait)
    else:
        seen_max = {u: 0 for u in users}

        async def poller(u, http):
            await asyncio.sleep(rnd.random() * args.poll_ms / 1000)
            while True:
                t = time.time()
                posts = await http.call("GET", f"/api/feed/{u}?after={seen_max[u]}&limit=100")
                now = time.time() * 1000
                for p in posts:
                    seen_max[u] = max(seen_max[u], p["id"])
                    note(p["created_ms"], now)
                await asyncio.sleep(max(0, args.poll_ms / 1000 - (time.time() - t)))

        for u in users:
            tasks.append(asyncio.create_task(poller(u, Http(app.port))))
        await asyncio.sleep(args.poll_ms / 1000 + 0.5)

    procs = {"warrend": b.proc.pid, "feedd": app.feedd.pid, "warren-outbox": app.relay.pid,
             "bench": os.getpid()}
    cpu0 = {k: cpu_seconds(p) for k, p in procs.items()}
    q0 = app.api("GET", "/api/stats")["db_queries"]
    rq0 = relay_queries(app)
    rx0 = RECEIVED[0]
    t0 = time.time()
    start_ms[0] = int(t0 * 1000) - 1  # feedd stamps whole ms
    poster = Http(app.port)
    posts = 0
    expected = 0
    while time.time() - t0 < args.seconds:
        author = rnd.choice(users)
        await poster.call("POST", "/api/posts", {"author": author, "text": f"post {posts}"})
        posts += 1
        expected += len(followers[author])
        next_at = t0 + posts / args.rate
        await asyncio.sleep(max(0, next_at - time.time()))
    elapsed = time.time() - t0
    drain_until = time.time() + (args.poll_ms / 1000 if mode == "pull" else 0) + 3
    while delivered[0] < expected and time.time() < drain_until:
        await asyncio.sleep(0.05)
    window = time.time() - t0
    cpu = {k: round(cpu_seconds(p) - cpu0[k], 2) for k, p in procs.items()}
    queries = app.api("GET", "/api/stats")["db_queries"] - q0 + relay_queries(app) - rq0
    wire = RECEIVED[0] - rx0
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception():
            print(f"feed-bench: a simulated user's task failed: {t.exception()!r}",
                  file=sys.stderr)
        t.cancel()
    return {
        "mode": mode, "users": args.users, "follows": args.follows, "posts": posts,
        "post_rate": round(posts / elapsed, 1), "expected_deliveries": expected,
        "deliveries": delivered[0],
        "latency_ms": {"p50": pct(latencies, 50), "p99": pct(latencies, 99),
                       "max": max(latencies) if latencies else None},
        "db_queries_per_s": round(queries / window, 1),
        "cpu_seconds": cpu, "window_s": round(window, 1),
        "client_bytes": wire, "client_bytes_per_delivery":
            round(wire / delivered[0]) if delivered[0] else None,
        "poll_ms": args.poll_ms if mode == "pull" else None,
    }


class Followers:
    """Simulated followers that count every delivery per (user, post id): the offline case's
    and the fault run's bookkeeping. Queue feed.user.<id> is user <id>'s."""

    def __init__(self, b, users, connections):
        self.b = b
        self.copies = {}  # (user, post id) -> deliveries
        self.redelivered = {}  # (user, post id) -> deliveries flagged redelivered
        self.first_ms = {}  # (user, post id) -> when it first arrived
        self.tasks = []
        self.stop = asyncio.Event()
        self.per = max(1, len(users) // connections)

    def on_post(self, queue, body, redelivered):
        now = time.time() * 1000
        k = (int(queue.rsplit(".", 1)[1]), json.loads(body)["id"])
        self.copies[k] = self.copies.get(k, 0) + 1
        self.first_ms.setdefault(k, now)
        if redelivered:
            self.redelivered[k] = self.redelivered.get(k, 0) + 1

    async def connect(self, users):
        """Brings `users` online (their queues consumed) and waits until every connection has
        sent its consumes, then 1 s for the broker to register them (no-wait)."""
        loop = asyncio.get_running_loop()
        readies = []
        for i in range(0, len(users), self.per):
            fut = loop.create_future()
            readies.append(fut)
            self.tasks.append(asyncio.create_task(acking_consumer(
                lambda: self.b.amqp_port, [f"feed.user.{u}" for u in users[i:i + self.per]],
                self.on_post, fut, self.stop)))
        await asyncio.gather(*readies)
        await asyncio.sleep(1.0)

    async def disconnect(self):
        self.stop.set()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        self.stop = asyncio.Event()

    def received(self, pairs):
        return sum(1 for k in pairs if k in self.copies)

    def duplicated(self, pairs):
        return sum(1 for k in pairs if self.copies.get(k, 0) > 1)


def committed_posts(app, after_id):
    """(id, author) of every post committed to feedd's database after `after_id`: the truth
    the fault run counts against."""
    con = sqlite3.connect(f"file:{app.db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT id, author FROM posts WHERE id > ? ORDER BY id",
                           (after_id,)).fetchall()
    finally:
        con.close()


def outbox_pending(app):
    con = sqlite3.connect(f"file:{app.db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]
    finally:
        con.close()


def last_post_id(app):
    con = sqlite3.connect(f"file:{app.db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT coalesce(max(id), 0) FROM posts").fetchone()[0]
    finally:
        con.close()


async def post_for(app, rnd, users, seconds, rate, on_tick=None):
    """Posts through feedd's API at `rate` for `seconds`; returns the number of posts."""
    poster = Http(app.port)
    posts = 0
    t0 = time.time()
    while time.time() - t0 < seconds:
        await poster.call("POST", "/api/posts", {"author": rnd.choice(users),
                                                 "text": f"post {posts}"})
        posts += 1
        if on_tick:
            await on_tick(time.time() - t0)
        await asyncio.sleep(max(0, t0 + posts / rate - time.time()))
    return posts


async def run_offline(args, b, app):
    """The offline case: every user is online (consuming their queue), then goes offline; a
    burst of posts is made; half the users (the even ones) come back before the queue's TTL has
    run out for any of the burst's posts, the other half after it has run out for all of them.
    The first half must get every post from their queue at once; the second none from the
    broker, and every post in the feed read from the database (a page refresh)."""
    users, followers, rnd = set_up("offline", args, app)
    ttl_s = args.offline_ttl_ms / 1000
    burst_s = args.burst_seconds or 3.0
    gap_s = 0.5  # from the burst's end to the short group's return
    if burst_s + gap_s + 1.5 > ttl_s:
        raise SystemExit(f"feed-bench: --burst-seconds {burst_s} is too long for "
                         f"--offline-ttl-ms {args.offline_ttl_ms}: the short group would come "
                         f"back after the TTL of the oldest post")
    short = users[0::2]
    long_ = users[1::2]
    f = Followers(b, users, args.connections)
    await f.connect(users)
    await f.disconnect()
    before = last_post_id(app)
    t_offline = time.time()
    await asyncio.sleep(0.5)
    posts = await post_for(app, rnd, users, burst_s, args.rate)
    t_end = time.time()
    committed = committed_posts(app, before)
    short_set, long_set = set(short), set(long_)
    want_short = {(u, pid) for pid, a in committed for u in followers[a] if u in short_set}
    want_long = {(u, pid) for pid, a in committed for u in followers[a] if u in long_set}

    await asyncio.sleep(max(0, t_end + gap_s - time.time()))
    t_short = time.time()
    await f.connect(short)  # includes 1 s for the consumes to register
    deadline = time.time() + 10
    while f.received(want_short) < len(want_short) and time.time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # late duplicates
    short_done = max((f.first_ms[k] for k in want_short if k in f.first_ms), default=None)
    await f.disconnect()

    await asyncio.sleep(max(0, t_end + ttl_s + args.offline_margin - time.time()))
    t_long = time.time()
    await f.connect(long_)
    await asyncio.sleep(3.0)
    await f.disconnect()
    long_broker = f.received(want_long)
    # The refreshed feed: what a page load reads from the database, per long-offline user.
    http = Http(app.port)
    in_db = 0
    for u in long_:
        feed = await http.call("GET", f"/api/feed/{u}?after={before}&limit=500")
        in_db += sum(1 for p in feed if (u, p["id"]) in want_long)
    return {
        "mode": "offline", "users": args.users, "follows": args.follows, "posts": posts,
        "post_rate": round(posts / (t_end - t_offline - 0.5), 1),
        "offline_ttl_ms": args.offline_ttl_ms, "burst_s": burst_s,
        "short": {"users": len(short), "offline_s": round(t_short - t_offline, 1),
                  "oldest_post_age_at_return_s": round(t_short - t_offline - 0.5, 1),
                  "expected": len(want_short), "delivered": f.received(want_short),
                  "duplicated": f.duplicated(want_short),
                  "return_to_last_delivery_ms":
                      round(short_done - t_short * 1000) if short_done else None},
        "long": {"users": len(long_), "offline_s": round(t_long - t_offline, 1),
                 "newest_post_age_at_return_s": round(t_long - t_end, 1),
                 "expected_from_broker": 0, "delivered_by_broker": long_broker,
                 "posts_due": len(want_long), "in_refreshed_feed": in_db},
        "ok": f.received(want_short) == len(want_short) and f.duplicated(want_short) == 0
              and long_broker == 0 and in_db == len(want_long),
    }


async def run_fault(args, b, app):
    """The fault run: every user online (acking consumers that reconnect), a posting burst, and
    during it warrend and warren-outbox SIGKILLed (alone or together) and restarted, several
    times. Then every post committed to the database must reach each follower exactly once:
    lost = a (follower, post) never delivered; delivered more than once is split into copies
    the broker marked redelivered (redelivered_after_ack: a delivery whose ack was not yet on
    disk at the kill, handed out again; AMQP's own at-least-once to consumers) and copies it
    did not (duplicated: a second message for the post, the relay's republish got through the
    deduplication)."""
    users, followers, rnd = set_up("fault", args, app)
    burst_s = args.burst_seconds or 40.0
    f = Followers(b, users, args.connections)
    await f.connect(users)
    before = last_post_id(app)
    loop = asyncio.get_running_loop()
    plan = ["warrend", "relay", "warrend", "both", "relay", "warrend", "relay", "both"]
    plan = plan[:args.kills]
    step = burst_s / (len(plan) + 1)
    kill_at = [step * (i + 1) + rnd.uniform(-step / 4, step / 4) for i in range(len(plan))]
    events = []
    pending_kills = list(zip(kill_at, plan))
    busy = [None]
    warrend_kills_ms = []

    async def kill(what, t):
        down = rnd.uniform(0.2, 1.5)
        ev = {"t_s": round(t, 1), "killed": what, "down_s": round(down, 1)}
        if what in ("warrend", "both"):
            warrend_kills_ms.append(time.time() * 1000)
            b.kill()
        if what in ("relay", "both"):
            app.kill_relay()
        await asyncio.sleep(down)
        t1 = time.time()
        if what in ("warrend", "both"):
            port = b.amqp_port
            await loop.run_in_executor(None, b.start)
            if b.amqp_port != port:
                raise SystemExit("feed-bench: warrend came back on another port")
            ev["warrend_restart_s"] = round(time.time() - t1, 2)
        if what in ("relay", "both"):
            app.start_relay()
        events.append(ev)
        print(f"feed-bench: fault: {ev}", file=sys.stderr, flush=True)

    async def tick(t):
        if pending_kills and t >= pending_kills[0][0] and \
                (busy[0] is None or busy[0].done()):
            _, what = pending_kills.pop(0)
            busy[0] = asyncio.create_task(kill(what, t))

    t0 = time.time()
    posts = await post_for(app, rnd, users, burst_s, args.rate, tick)
    t_end = time.time()
    if busy[0] is not None:
        await busy[0]
    while pending_kills:  # the machine was too slow to reach them: run them now
        await kill(pending_kills.pop(0)[1], time.time() - t0)
    committed = committed_posts(app, before)
    want = {(u, pid) for pid, a in committed for u in followers[a]}
    deadline = time.time() + args.drain_seconds
    while time.time() < deadline and (outbox_pending(app) or f.received(want) < len(want)):
        await asyncio.sleep(0.1)
    drained_s = time.time() - t_end
    await asyncio.sleep(3.0)  # late duplicates
    await f.disconnect()
    lost = sorted(k for k in want if k not in f.copies)
    dup = sorted(k for k in want if f.copies.get(k, 0) > 1)
    dup_redelivered = [k for k in dup if f.copies[k] - 1 <= f.redelivered.get(k, 0)]
    dup_fresh = [k for k in dup if k not in set(dup_redelivered)]
    # For a redelivered copy: when was the first copy delivered (and acked), relative to the
    # nearest SIGKILL of warrend (negative: before it; positive: read from the socket after
    # it)? Acks are written with the next group commit, not synced (docs/reliability.md), so
    # an ack made just before a kill can be lost.
    def from_kill(keys):
        near = [min((f.first_ms[k] - t for t in warrend_kills_ms), key=abs, default=None)
                for k in keys]
        near = [round(x) for x in near if x is not None]
        return [min(near), max(near)] if near else None
    stray = sorted(k for k in f.copies if k not in want)
    res = {
        "mode": "fault", "dedup": not args.no_dedup, "seed": args.seed, "users": args.users,
        "follows": args.follows,
        "posts": posts,
        "committed_posts": len(committed), "post_rate": round(posts / (t_end - t0), 1),
        "burst_s": round(t_end - t0, 1),
        "warrend_kills": sum(1 for e in events if e["killed"] in ("warrend", "both")),
        "relay_kills": sum(1 for e in events if e["killed"] in ("relay", "both")),
        "kills": events, "expected_deliveries": len(want),
        "delivered": f.received(want), "lost": len(lost),
        # a second message for the same post in a follower's queue: deduplication failed
        "duplicated": len(dup_fresh),
        # delivered, acked, and delivered again flagged redelivered after a kill of warrend
        "redelivered_after_ack": len(dup_redelivered),
        "redelivered_posts": sorted({pid for _, pid in dup_redelivered}),
        "redelivered_first_copy_ms_from_kill": from_kill(dup_redelivered),
        "duplicated_posts": sorted({pid for _, pid in dup_fresh}),
        "duplicated_first_copy_ms_from_kill": from_kill(dup_fresh),
        "stray": len(stray), "outbox_pending_at_end": outbox_pending(app),
        "drained_s_after_burst": round(drained_s, 1),
        "lost_sample": lost[:20], "duplicated_sample": dup_fresh[:20],
        "relay": relay_counts(app),
    }
    res["ok"] = res["lost"] == 0 and res["duplicated"] == 0 and res["stray"] == 0
    if not res["ok"]:
        keep = f"/tmp/feed-bench-fault-{int(time.time())}"
        os.makedirs(keep, exist_ok=True)
        shutil.copy(os.path.join(app.dir, "feed.log"), keep)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(app.db + suffix):
                shutil.copy(app.db + suffix, keep)
        if b.log_path:
            shutil.copy(b.log_path, keep)
        res["logs"] = keep
    return res


def declare_plain_posts_exchange(b):
    """The fault run's control: feed.posts without x-message-deduplication, before feedd
    declares it."""
    import pika
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.amqp_port))
    try:
        conn.channel().exchange_declare("feed.posts", "topic", durable=True)
    finally:
        conn.close()


def relay_counts(app):
    """From warren-outbox's progress lines, summed over its processes (each restart counts
    from 0; a relay killed between two lines loses what it did since the last one, so both are
    lower bounds): rows published (with confirms) and rows published again by the same process
    after losing the broker. Published beyond the rows committed = rows a restarted relay
    published again because its predecessor died between the confirm and the delete."""
    tot = {"relayed": 0, "republished": 0}
    last = dict(tot)
    try:
        with open(os.path.join(app.dir, "feed.log"), errors="replace") as f:
            for line in f:
                if line.startswith("feed_util: starting warren-outbox"):
                    for k in tot:
                        tot[k] += last[k]
                        last[k] = 0
                elif line.startswith("outbox: relayed=") and " republished=" in line:
                    last["relayed"] = int(line.split("relayed=")[1].split()[0])
                    last["republished"] = int(line.split(" republished=")[1].split()[0])
    except OSError:
        pass
    return {k: tot[k] + last[k] for k in tot}


def relay_queries(app):
    try:
        with open(app.metrics) as f:
            for line in f:
                if line.startswith("warren_outbox_db_queries_total "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--follows", type=int, default=20)
    ap.add_argument("--rate", type=float, default=20, help="posts per second")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--poll-ms", type=int, default=2000, help="pull mode's poll interval")
    ap.add_argument("--relay-poll-ms", type=int, default=1000,
                    help="warren-outbox's fallback poll (feedd wakes it after each post)")
    ap.add_argument("--connections", type=int, default=20, help="push: AMQP connections")
    ap.add_argument("--modes", default="push,pull", help="push, pull, offline, fault")
    ap.add_argument("--offline", action="store_true",
                    help="the offline case alone (--modes offline)")
    ap.add_argument("--fault", action="store_true", help="the fault run alone (--modes fault)")
    ap.add_argument("--offline-ttl-ms", type=int, default=6000,
                    help="offline: the queues' x-message-ttl for the run")
    ap.add_argument("--offline-margin", type=float, default=2.0,
                    help="offline: the long group comes back this long after the TTL of the "
                         "burst's last post")
    ap.add_argument("--burst-seconds", type=float,
                    help="offline and fault: how long to post (default 3 and 40)")
    ap.add_argument("--kills", type=int, default=8,
                    help="fault: SIGKILLs during the burst (warrend, the relay, or both; up to 8)")
    ap.add_argument("--drain-seconds", type=float, default=60,
                    help="fault: how long to wait after the burst for every delivery")
    ap.add_argument("--no-dedup", action="store_true",
                    help="fault: a control run, feed.posts declared first as a plain topic "
                         "exchange (feedd's declare then matches it: only alternate-exchange is "
                         "compared), so nothing deduplicates; duplicates are expected")
    ap.add_argument("--seed", type=int, default=1,
                    help="the follow graph, the authors and the fault run's kill times")
    ap.add_argument("--out", help="append the results as JSON lines here")
    args = ap.parse_args()
    if args.offline or args.fault:
        args.modes = ",".join(m for m, on in (("offline", args.offline), ("fault", args.fault))
                              if on)
    results = []
    for mode in args.modes.split(","):
        with broker() as b, redis() as r:
            kw = {}
            if mode == "offline":
                kw["ttl_ms"] = args.offline_ttl_ms
            elif mode == "fault":
                kw["ttl_ms"] = 3600 * 1000  # nothing may expire: a missing post is a lost one
                if args.no_dedup:
                    declare_plain_posts_exchange(b)
            app = FeedApp(b, r, mode="pull" if mode == "pull" else "push",
                          relay_poll_ms=args.relay_poll_ms, relay_metrics=True, **kw)
            run = {"offline": run_offline, "fault": run_fault}.get(mode)
            try:
                res = asyncio.run(run(args, b, app) if run else run_mode(mode, args, b, app))
                res["date"] = time.strftime("%Y-%m-%d")
            finally:
                app.stop()
        print(json.dumps(res))
        results.append(res)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
