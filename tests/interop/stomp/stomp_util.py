"""Shared helpers for the STOMP interop tests in this directory.

Each test file starts one broker for itself (harness.broker) and runs its tests against it.
Run one file against an already running broker (RabbitMQ with rabbitmq_stomp, say) with
WARREN_EXTERNAL=127.0.0.1:5672:61613[:15674].

    from stomp_util import main, connect, uniq
    def test_x():
        c, l = connect("1.2")          # stomp.py connection + a Collector listener
        c.subscribe("/queue/" + uniq("q"), id="1")
        msg = l.next_message()
    if __name__ == "__main__":
        main([test_x])
"""
import os
import queue
import socket
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness import broker, run_tests, scaled  # noqa: E402

import stomp  # noqa: E402

RUN_ID = uuid.uuid4().hex[:8]
_current = {}


def current_broker():
    return _current["broker"]


def uniq(base):
    return f"it.{base}.{RUN_ID}.{uuid.uuid4().hex[:6]}"


class Collector(stomp.ConnectionListener):
    """Collects MESSAGE, RECEIPT and ERROR frames; waits with timeouts."""

    def __init__(self):
        self.messages = queue.Queue()
        self.receipts = queue.Queue()
        self.errors = queue.Queue()
        self.connected_frame = None
        self.disconnected = threading.Event()
        self.heartbeats = 0
        self.heartbeat_timeouts = 0

    def on_connected(self, frame):
        self.connected_frame = frame

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)

    def on_disconnected(self):
        self.disconnected.set()

    def on_heartbeat(self):
        self.heartbeats += 1

    def on_heartbeat_timeout(self):
        self.heartbeat_timeouts += 1

    def next_message(self, timeout=5.0):
        timeout = scaled(timeout)
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no MESSAGE within {timeout}s") from None

    def no_message(self, wait=0.3):
        try:
            m = self.messages.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected MESSAGE {m.headers} {m.body!r}")

    def receipt(self, rid, timeout=5.0):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                f = self.receipts.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if f.headers.get("receipt-id") == rid:
                return f
        raise AssertionError(f"no RECEIPT {rid!r} within {timeout}s")

    def error(self, timeout=5.0):
        timeout = scaled(timeout)
        try:
            return self.errors.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no ERROR within {timeout}s") from None


_CLASSES = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}


def connect(version="1.2", login="guest", passcode="guest", heartbeats=(0, 0), vhost=None,
            wait=True, auto_decode=False, **kw):
    """A connected stomp.py connection and its Collector."""
    b = current_broker()
    cls = _CLASSES[version]
    args = dict(heartbeats=heartbeats, auto_decode=auto_decode) if version != "1.0" \
        else dict(auto_decode=auto_decode)
    if vhost is not None and version != "1.0":
        args["vhost"] = vhost
    args.update(kw)
    c = cls([(b.host, b.stomp_port)], **args)
    l = Collector()
    c.set_listener("collector", l)
    if wait:
        c.connect(login, passcode, wait=True)
    return c, l


def close(c):
    try:
        if c.is_connected():
            c.disconnect()
    except Exception:
        pass


# ---- raw socket client, for bytes no client library would send ----

class Raw:
    def __init__(self, timeout=5.0):
        b = current_broker()
        self.sock = socket.create_connection((b.host, b.stomp_port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def connect(self, version="1.2"):
        self.send(f"CONNECT\naccept-version:{version}\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
        f = self.frame()
        assert f[0] == "CONNECTED", f
        return f

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def frame(self):
        """(command, headers dict (first wins), body bytes); skips heart-beats."""
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\n\n")
            if end >= 0:
                head = self.buf[:end].decode()
                lines = head.split("\n")
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers.setdefault(k, v)
                start = end + 2
                if "content-length" in headers:
                    n = int(headers["content-length"])
                    if len(self.buf) >= start + n + 1:
                        body = self.buf[start:start + n]
                        assert self.buf[start + n:start + n + 1] == b"\0"
                        self.buf = self.buf[start + n + 1:]
                        return lines[0], headers, body
                else:
                    nul = self.buf.find(b"\0", start)
                    if nul >= 0:
                        body = self.buf[start:nul]
                        self.buf = self.buf[nul + 1:]
                        return lines[0], headers, body
            self._fill()

    def expect_closed(self, timeout=5.0):
        """The server closes the connection (EOF or reset) after whatever it still sends."""
        timeout = scaled(timeout)
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
        except ConnectionResetError:
            return
        except socket.timeout:
            raise AssertionError("connection still open") from None

    def close(self):
        self.sock.close()


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    timeout = scaled(timeout)  # harness.scaled: longer on a sanitizer build
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def main(tests, **broker_kw):
    """Start one broker, run the tests against it, stop it, exit with run_tests' code."""
    code = 1
    with broker(**broker_kw) as b:
        _current["broker"] = b
        try:
            run_tests(tests)
        except SystemExit as e:
            code = e.code
    sys.exit(code)
