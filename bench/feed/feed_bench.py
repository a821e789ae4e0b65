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

Everything runs on this machine: the numbers include the simulated users' own CPU.
"""
import argparse
import asyncio
import json
import os
import random
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


async def run_mode(mode, args, b, app):
    t_setup = time.time()
    users = app.api("POST", "/api/users/bulk",
                    {"names": [f"u{i}" for i in range(args.users)]}, timeout=600)["ids"]
    rnd = random.Random(1)
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
    ap.add_argument("--modes", default="push,pull")
    ap.add_argument("--out", help="append the results as JSON lines here")
    args = ap.parse_args()
    results = []
    for mode in args.modes.split(","):
        with broker() as b, redis() as r:
            app = FeedApp(b, r, mode=mode, relay_poll_ms=args.relay_poll_ms, relay_metrics=True)
            try:
                res = asyncio.run(run_mode(mode, args, b, app))
            finally:
                app.stop()
        print(json.dumps(res))
        results.append(res)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
