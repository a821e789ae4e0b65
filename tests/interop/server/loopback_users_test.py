"""RabbitMQ's loopback_users (default: guest) on every way in: guest may log in only from this
host, over AMQP (pika: connection refused with 403 ACCESS_REFUSED), STOMP (ERROR) and the
management API (401 "User can only log in via localhost", RabbitMQ's reason), while another
user logs in from the same address. The broker listens on this machine's first non-loopback
address for the test; skipped (77) on a machine that has none.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402

import harness  # noqa: E402
from harness import run_tests  # noqa: E402

B = {}


def outside_address():
    """This host's first IPv4 address outside 127/8, or None."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                             timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    for a in out:
        if "." in a and not a.startswith("127."):
            return a
    return None


def api(path, user, password, method="GET", body=None):
    b = B["b"]
    req = urllib.request.Request(f"http://{b.host}:{b.http_port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization",
                   "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def amqp(user, password):
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=b.host, port=b.amqp_port, credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=10))


def test_guest_is_refused_over_http_from_another_host():
    status, body = api("/api/overview", "guest", "guest")
    assert status == 401, (status, body)
    assert json.loads(body) == {"error": "not_authorised",
                                "reason": "User can only log in via localhost"}, body
    assert "HTTP access denied" in B["b"].log_text() and \
        "User can only log in via localhost" in B["b"].log_text()


def test_guest_is_refused_over_amqp_from_another_host():
    try:
        amqp("guest", "guest").close()
    except pex.ProbableAccessDeniedError:
        return
    except pex.AMQPConnectionError as e:
        assert "403" in repr(e) or "ACCESS_REFUSED" in repr(e), repr(e)
        return
    raise AssertionError("guest logged in over AMQP from a non-loopback address")


def test_guest_is_refused_over_stomp_from_another_host():
    b = B["b"]
    s = socket.create_connection((b.host, b.stomp_port), timeout=10)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"ERROR\n"), data


def test_another_user_logs_in_from_the_same_address():
    status, body = api("/api/overview", "ops", "ops-pw")
    assert status == 200, (status, body)
    c = amqp("ops", "ops-pw")
    assert c.is_open
    c.close()


def make_ops_user():
    """An administrator besides guest, created by guest over the loopback address."""
    for path, body in (("/api/users/ops", {"password": "ops-pw", "tags": "administrator"}),
                       ("/api/permissions/%2F/ops", {"configure": ".*", "write": ".*",
                                                     "read": ".*"})):
        status, text = api(path, "guest", "guest", method="PUT", body=body)
        assert status in (201, 204), (path, status, text)


if __name__ == "__main__":
    addr = outside_address()
    if not addr:
        print("SKIP: this machine has no non-loopback IPv4 address")
        sys.exit(77)
    b = harness.Broker()
    B["b"] = b
    code = 0
    try:
        b.start()
        make_ops_user()
        b.stop()
        # Now on the outside address only: clients connect from it, not from 127/8.
        harness.HOST = addr
        b.host = addr
        b.start()
        run_tests([test_guest_is_refused_over_http_from_another_host,
                   test_guest_is_refused_over_amqp_from_another_host,
                   test_guest_is_refused_over_stomp_from_another_host,
                   test_another_user_logs_in_from_the_same_address])
    except SystemExit as e:
        code = e.code
    finally:
        b.close()
    sys.exit(code)
