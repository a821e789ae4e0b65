"""Shared helpers for the AMQP interop tests in this directory.

Every test file starts one broker for itself (harness.broker) and runs its tests against it. Names
of queues and exchanges carry a per-process suffix (uniq()) so several files can also run in
parallel against one external broker (WARREN_EXTERNAL=127.0.0.1:5672, e.g. a real RabbitMQ).

    from amqp_util import main, connect, uniq, B
    def test_x():
        conn = connect()          # pika.BlockingConnection to the current broker
    if __name__ == "__main__":
        main([test_x])
"""
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness import broker, run_tests, scaled  # noqa: E402

RUN_ID = uuid.uuid4().hex[:8]
_current = {}


def current_broker():
    """The broker started by main() for this test file."""
    return _current["broker"]


def uniq(base):
    """A name unique to this process, so tests never collide on a shared broker."""
    return f"it.{base}.{RUN_ID}"


def params(**kw):
    import pika
    b = current_broker()
    kw.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    kw.setdefault("connection_attempts", 1)
    kw.setdefault("blocked_connection_timeout", 30)
    return pika.ConnectionParameters(b.host, b.amqp_port, **kw)


def connect(**kw):
    import pika
    return pika.BlockingConnection(params(**kw))


def amqp_url(vhost="%2F", user="guest", password="guest"):
    b = current_broker()
    return f"amqp://{user}:{password}@{b.host}:{b.amqp_port}/{vhost}"


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    timeout = scaled(timeout)  # harness.scaled: longer on a sanitizer build
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def expect_eq(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


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
