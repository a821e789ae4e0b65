"""The feed app's parts for a test: a redis-server on a free port, warren-outbox and feedd, all
against a broker started by harness.broker(). A missing redis-server is an error (scripts/
deps.txt installs it), never a skip.

    with broker() as b, redis() as r, feed_app(b, r, ttl_ms=3000) as app:
        app.api("POST", "/api/users", {"name": "ann"})
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness import free_port, scaled  # noqa: E402

BUILD = os.environ.get("WARREN_BUILD", os.path.join(HERE, "..", "..", "..", "build", "release"))


@contextmanager
def redis():
    exe = shutil.which("redis-server")
    assert exe, "redis-server not found: install the redis-server package (scripts/deps.txt)"
    port = free_port()
    d = tempfile.mkdtemp(prefix="warren-redis-")
    p = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + scaled(10)
        while time.time() < deadline:
            r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                               text=True)
            if r.stdout.strip() == "PONG":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("redis-server did not start")
        p.port = port
        yield p
    finally:
        p.terminate()
        p.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


class FeedApp:
    def __init__(self, b, r, mode="push", ttl_ms=60000, poll_ms=2000, relay_poll_ms=1000,
                 relay_metrics=False):
        self.dir = tempfile.mkdtemp(prefix="warren-feed-")
        self.db = os.path.join(self.dir, "feed.db")
        self.port = free_port()
        self.wake_port = free_port()  # a TCP port free; its UDP twin almost surely too
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "feed.log"), "wb")
        amqp = f"amqp://guest:guest@127.0.0.1:{b.amqp_port}/"
        self.feedd = subprocess.Popen(
            [os.path.join(BUILD, "feedd"), "--port", str(self.port), "--db", self.db,
             "--amqp", amqp, "--redis", f"127.0.0.1:{r.port}",
             "--stomp-url", f"ws://127.0.0.1:{b.http_port}/ws", "--mode", mode,
             "--poll-ms", str(poll_ms), "--offline-ttl-ms", str(ttl_ms),
             "--outbox-wake", str(self.wake_port)],
            stdout=self.log, stderr=self.log)
        self._wait_http()
        self.metrics = os.path.join(self.dir, "outbox.prom")
        progress = ["--progress-ms", "500", "--metrics-file", self.metrics] if relay_metrics \
            else ["--progress-ms", "0"]
        self.relay_args = [os.path.join(BUILD, "warren-outbox"), "--db", "sqlite:" + self.db,
                           "--amqp", amqp, "--poll-ms", str(relay_poll_ms),
                           "--wake-udp", str(self.wake_port)] + progress
        self.relay = None
        self.start_relay()

    def start_relay(self):
        """(Re)starts warren-outbox with the same arguments (feed-bench's fault run)."""
        self.log.write(b"feed_util: starting warren-outbox\n")
        self.log.flush()
        self.relay = subprocess.Popen(self.relay_args, stdout=self.log, stderr=self.log)

    def kill_relay(self):
        """SIGKILL of warren-outbox, no clean-up."""
        self.relay.kill()
        self.relay.wait()

    def _wait_http(self):
        deadline = time.time() + scaled(15)
        while time.time() < deadline:
            if self.feedd.poll() is not None:
                raise AssertionError("feedd exited: " + self.output())
            try:
                self.api("GET", "/api/config")
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("feedd did not answer: " + self.output())

    def api(self, method, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def output(self):
        self.log.flush()
        with open(os.path.join(self.dir, "feed.log"), errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        for p in (self.relay, self.feedd):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def feed_app(b, r, **kw):
    app = FeedApp(b, r, **kw)
    try:
        yield app
    finally:
        app.stop()
