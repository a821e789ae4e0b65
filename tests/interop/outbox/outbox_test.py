"""warren-outbox (issue #17) against a real warrend, with SQLite and with a real PostgreSQL
started by the test (pg_server.py): rows are relayed in order, none twice, none lost, also when
the relay or warrend is killed with SIGKILL mid-stream. The relay publishes at least once; the
durable deduplicating exchange (x-message-deduplication, keyed by the row id) makes it exactly
once in the queue.

Run: WARREND=build/release/warrend WARREN_BUILD=build/release \\
     /usr/bin/python3 tests/interop/outbox/outbox_test.py
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pika  # noqa: E402

from harness import broker, run_tests, scaled  # noqa: E402
from pg_server import postgres  # noqa: E402

BUILD = os.environ.get("WARREN_BUILD", os.path.join(HERE, "..", "..", "..", "build", "release"))
OUTBOX = os.path.join(BUILD, "warren-outbox")
EXCHANGE, QUEUE = "feed.posts", "feed.follower"


def setup_broker(b):
    c = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    ch = c.channel()
    ch.exchange_declare(EXCHANGE, "x-message-deduplication", durable=True,
                        arguments={"x-cache-size": 100000})
    ch.queue_declare(QUEUE, durable=True)
    ch.queue_bind(QUEUE, EXCHANGE)
    c.close()


def queue_count(b):
    c = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    n = c.channel().queue_declare(QUEUE, durable=True, passive=True).method.message_count
    c.close()
    return n


def drain(b):
    """(row id header, body) of everything in the queue, in queue order."""
    c = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    ch = c.channel()
    out = []
    while True:
        m, p, body = ch.basic_get(QUEUE, auto_ack=True)
        if m is None:
            break
        out.append((p.headers["x-deduplication-header"], p.headers.get("seq"), body))
    c.close()
    return out


class Relay:
    def __init__(self, b, db, *extra, poll_ms=50):
        self.args = [OUTBOX, "--db", db, "--amqp", f"amqp://guest:guest@{b.host}:{b.amqp_port}/",
                     "--progress-ms", "500", "--poll-ms", str(poll_ms)] + list(extra)
        self.log = tempfile.NamedTemporaryFile(prefix="warren-outbox-", suffix=".log",
                                               delete=False)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()


class SqliteDb:
    name = "sqlite"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="warren-outbox-db-")
        self.path = os.path.join(self.dir, "app.db")
        self.uri = "sqlite:" + self.path

    def insert(self, first, n):
        c = sqlite3.connect(self.path, timeout=10)
        c.executemany("INSERT INTO outbox (exchange, routing_key, headers, body) "
                      "VALUES (?, ?, ?, ?)",
                      [(EXCHANGE, "post", json.dumps({"seq": i, "author": "ann"}),
                        f"post {i}".encode()) for i in range(first, first + n)])
        c.commit()
        c.close()

    def pending(self):
        c = sqlite3.connect(self.path, timeout=10)
        n = c.execute("SELECT count(*) FROM outbox").fetchone()[0]
        c.close()
        return n


class PostgresDb:
    name = "postgresql"

    def __init__(self, pg):
        self.pg = pg
        self.uri = pg.uri

    def insert(self, first, n):
        self.pg.sql("INSERT INTO outbox (exchange, routing_key, headers, body) "
                    f"SELECT '{EXCHANGE}', 'post', json_build_object('seq', i, 'author', 'ann')::text, "
                    f"convert_to('post ' || i, 'UTF8') FROM generate_series({first}, "
                    f"{first + n - 1}) AS i")

    def pending(self):
        return int(self.pg.sql("SELECT count(*) FROM outbox").strip())


def init_table(db):
    subprocess.run([OUTBOX, "--db", db.uri, "--init-only"], check=True, timeout=30)


def wait_until(pred, timeout, what):
    deadline = time.time() + scaled(timeout)
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def check_exactly_once_in_order(got, n):
    seqs = [s for _, s, _ in got]
    assert len(seqs) == len(set(seqs)), \
        f"duplicates: {len(seqs) - len(set(seqs))} of {len(seqs)}"
    assert sorted(seqs) == list(range(n)), f"lost: {sorted(set(range(n)) - set(seqs))[:10]}"
    assert seqs == list(range(n)), "out of order"
    for row_id, seq, body in got:
        assert body == f"post {seq}".encode(), (row_id, seq, body)


def relay_in_order(db):
    with broker() as b:
        setup_broker(b)
        init_table(db)
        db.insert(0, 2000)
        r = Relay(b, db.uri).start()
        try:
            wait_until(lambda: queue_count(b) >= 2000 and db.pending() == 0, 60, "2000 rows")
        finally:
            r.stop()
        out = r.output()
        assert "relayed=2000" in out, out[-2000:]
        check_exactly_once_in_order(drain(b), 2000)


def relay_killed_mid_stream(db):
    n = 20000
    with broker() as b:
        setup_broker(b)
        init_table(db)
        db.insert(0, n)
        relays = 0
        # Small batches so that kills land between a confirm and the delete of its rows.
        while db.pending() > 0:
            r = Relay(b, db.uri, "--batch", "20").start()
            relays += 1
            time.sleep(0.1 + 0.03 * (relays % 5))
            if db.pending() > 0 and relays < 40:
                r.kill()
            else:
                wait_until(lambda: db.pending() == 0, 60, "the outbox to empty")
                r.stop()
        got = drain(b)
        check_exactly_once_in_order(got, n)
        print(f"  {db.name}: {relays} relay runs, {relays - 1} SIGKILLs, {n} rows exactly once")


def broker_killed_mid_stream(db):
    """Rows keep arriving (a writer adds 100 every 50 ms) while warrend is SIGKILLed and
    restarted five times under the relay."""
    n, step = 6000, 100
    with broker() as b:
        setup_broker(b)
        init_table(db)
        r = Relay(b, db.uri, "--batch", "50").start()
        written = [0]
        stop = threading.Event()

        def writer():
            while written[0] < n and not stop.is_set():
                db.insert(written[0], step)
                written[0] += step
                time.sleep(0.05)

        w = threading.Thread(target=writer)
        w.start()
        kills = 0
        try:
            while kills < 5:
                time.sleep(0.4)
                b.kill()
                kills += 1
                time.sleep(0.2)
                b.start()
            w.join()
            wait_until(lambda: db.pending() == 0, 90, "the outbox to empty")
        finally:
            stop.set()
            w.join()
            r.stop()
        out = r.output()
        got = drain(b)
        check_exactly_once_in_order(got, n)
        reconnects = out.count("outbox: connected to")
        assert reconnects >= 2, "the relay never reconnected: " + out[-1500:]
        print(f"  {db.name}: warrend SIGKILLed {kills} times while rows arrived, relay "
              f"connected {reconnects} times, {n} rows exactly once")


def test_sqlite_rows_relayed_in_order_once():
    relay_in_order(SqliteDb())


def test_sqlite_relay_killed_mid_stream():
    relay_killed_mid_stream(SqliteDb())


def test_sqlite_warrend_killed_mid_stream():
    broker_killed_mid_stream(SqliteDb())


def test_postgresql():
    with postgres() as pg:
        db = PostgresDb(pg)
        relay_in_order(db)
        pg.sql("DELETE FROM outbox")
        relay_killed_mid_stream(db)
        pg.sql("DELETE FROM outbox")
        broker_killed_mid_stream(db)


def test_postgresql_notify_wakes_the_relay():
    """With a 10 s poll interval, a new row still goes out at once: LISTEN/NOTIFY."""
    with postgres() as pg, broker() as b:
        setup_broker(b)
        db = PostgresDb(pg)
        init_table(db)
        r = Relay(b, db.uri, poll_ms=10000).start()
        try:
            time.sleep(0.5)  # the relay is waiting in LISTEN
            t0 = time.time()
            db.insert(0, 1)
            try:
                wait_until(lambda: queue_count(b) == 1, 5, "the notified row")
            except AssertionError:
                raise AssertionError("the notified row did not arrive; relay: " + r.output())
            took = time.time() - t0
        finally:
            r.stop()
        assert took < scaled(2), f"took {took:.2f} s: not woken by NOTIFY"
        print(f"  row to queue in {took * 1000:.0f} ms with a 10 s poll interval")


if __name__ == "__main__":
    run_tests([test_sqlite_rows_relayed_in_order_once,
               test_sqlite_relay_killed_mid_stream,
               test_sqlite_warrend_killed_mid_stream,
               test_postgresql,
               test_postgresql_notify_wakes_the_relay])
