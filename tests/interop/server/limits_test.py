"""The transport's connection limit (max_connections, per protocol): with 2 allowed, a third AMQP
connection is closed at once and logged, other protocols keep their own count, and a slot freed
by a close can be used again. Idle sockets can then never use up the file descriptors (issue
#16's 20,000 silent STOMP sockets)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402
import stomp  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}


def connect():
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port,
                                                             connection_attempts=1))


def test_third_amqp_connection_is_refused_and_logged():
    b = B["b"]
    c1, c2 = connect(), connect()
    try:
        connect()
        raise AssertionError("a third connection was accepted with max_connections = 2")
    except pex.AMQPConnectionError:
        pass
    deadline = time.monotonic() + 5
    while "amqp connection refused: 2 connections open (max_connections)" not in b.log_text():
        assert time.monotonic() < deadline, "no log line for the refused connection"
        time.sleep(0.05)
    c1.close()
    time.sleep(0.2)  # the broker forgets the closed connection
    c3 = connect()   # the freed slot is usable again
    ch = c3.channel()
    ch.queue_declare("", exclusive=True)
    c2.close()
    c3.close()


def test_protocols_count_apart():
    b = B["b"]
    held = [connect(), connect()]
    s = stomp.Connection([(b.host, b.stomp_port)], heartbeats=(0, 0))
    s.connect("guest", "guest", wait=True)  # STOMP has its own two slots
    assert s.is_connected()
    s.disconnect()
    for c in held:
        c.close()


def test_silent_sockets_beyond_the_limit_are_closed():
    b = B["b"]
    socks = [socket.create_connection((b.host, b.stomp_port)) for _ in range(2)]
    extra = socket.create_connection((b.host, b.stomp_port))
    extra.settimeout(5)
    assert extra.recv(1) == b"", "the socket beyond the limit must be closed by the broker"
    for s in socks + [extra]:
        s.close()


if __name__ == "__main__":
    code = 1
    with broker(config_text="max_connections = 2\n") as b:
        B["b"] = b
        try:
            run_tests([test_third_amqp_connection_is_refused_and_logged,
                       test_protocols_count_apart, test_silent_sockets_beyond_the_limit_are_closed])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
