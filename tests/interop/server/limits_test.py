"""Connection, consumer and STOMP header limits, each with the error a client sees.

Broker 1, `max_connections = 2`, `stomp.max_connections = 3` (per protocol listener set: a
connection beyond it is closed at once and logged; other protocols keep their own count; a
slot freed by a close can be used again; silent sockets can never use up the file descriptors,
issue #16's 20,000 silent STOMP sockets).

Broker 2, `connection_max = 3` (RabbitMQ's node-wide cap, every protocol together):
connection.open beyond it gets RabbitMQ's connection.close 530 `NOT_ALLOWED - connection
refused: node connection limit (3) is reached`, a STOMP CONNECT an ERROR with the same text;
sockets beyond connection_max + 64 (in handshake) are closed at accept, and HTTP gets a 503;
idle HTTP connections count toward that threshold (not toward connection_max); an HTTP
connection that sends no request is closed after 10 s.

Broker 3, `consumer_max_per_channel = 2`, `stomp.max_headers = 5`,
`stomp.max_header_length = 200`: a third basic.consume on a channel gets RabbitMQ's 530
`NOT_ALLOWED - reached maximum (2) of consumers per channel`; a third STOMP SUBSCRIBE gets
ERROR not_allowed with that text; a STOMP frame with too many or too long headers gets ERROR
`Too many headers` / `Header too long` and the connection is closed.
"""
import os
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402
import stomp  # noqa: E402

from harness import broker, run_tests, scaled  # noqa: E402

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


def stomp_connect(b):
    s = stomp.Connection([(b.host, b.stomp_port)], heartbeats=(0, 0))
    s.connect("guest", "guest", wait=True)
    assert s.is_connected()
    return s


def test_protocols_count_apart():
    b = B["b"]
    held = [connect(), connect()]
    s = [stomp_connect(b) for _ in range(3)]  # STOMP has its own three slots
    for c in s:
        c.disconnect()
    for c in held:
        c.close()


def test_stomp_max_connections_overrides_max_connections():
    b = B["b"]
    held = [stomp_connect(b) for _ in range(3)]
    extra = socket.create_connection((b.host, b.stomp_port))
    extra.settimeout(scaled(5))
    assert extra.recv(1) == b"", "a fourth STOMP socket must be closed (stomp.max_connections = 3)"
    extra.close()
    for c in held:
        c.disconnect()


def test_silent_sockets_beyond_the_limit_are_closed():
    b = B["b"]
    # The previous test's STOMP connections may still be closing (and counted) for a moment:
    # then one of the three is refused instead and the fourth fits. Try again until they left.
    for attempt in range(5):
        socks = [socket.create_connection((b.host, b.stomp_port)) for _ in range(3)]
        extra = socket.create_connection((b.host, b.stomp_port))
        extra.settimeout(scaled(2))
        try:
            closed = extra.recv(1) == b""
        except (socket.timeout, TimeoutError):
            closed = False
        for s in socks + [extra]:
            s.close()
        if closed:
            return
        time.sleep(0.5)
    raise AssertionError("the socket beyond the limit must be closed by the broker")


# ---- broker 2: connection_max = 3 ----------------------------------------------------------

NODE_LIMIT_TEXT = "connection refused: node connection limit (3) is reached"


def raw_stomp_connect(b):
    sock = socket.create_connection((b.host, b.stomp_port))
    sock.settimeout(scaled(5))
    sock.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
    return sock


def read_until_closed(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def amqp_refusal(b):
    """Connects past the limit: returns pika's exception (it carries the broker's close)."""
    try:
        c = connect()
    except pex.AMQPConnectionError as e:
        return e
    c.close()
    raise AssertionError("a connection over connection_max was accepted")


def settle():
    """Closed connections are forgotten by the broker a moment after the client's close."""
    time.sleep(0.5)


def test_amqp_open_over_connection_max_gets_rabbitmqs_530():
    b = B["b"]
    settle()
    held = [connect() for _ in range(3)]
    e = amqp_refusal(b)
    text = repr(e)
    assert "530" in text and f"NOT_ALLOWED - {NODE_LIMIT_TEXT}" in text, text
    held.pop().close()
    time.sleep(0.2)
    held.append(connect())  # the freed slot is usable again
    for c in held:
        c.close()


def test_stomp_connect_over_connection_max_gets_an_error_frame():
    b = B["b"]
    settle()
    held = [connect() for _ in range(2)]   # the cap counts every protocol together
    ok = stomp_connect(b)                  # the third connection
    sock = raw_stomp_connect(b)            # the fourth
    data = read_until_closed(sock)
    sock.close()
    assert data.startswith(b"ERROR\n"), data
    assert b"message:Bad CONNECT\n" in data, data
    assert NODE_LIMIT_TEXT.encode() in data, data
    ok.disconnect()
    for c in held:
        c.close()


def test_sockets_beyond_connection_max_and_the_handshake_slack_are_closed_and_http_gets_503():
    b = B["b"]
    settle()
    socks = [socket.create_connection((b.host, b.stomp_port)) for _ in range(3 + 64)]
    time.sleep(0.3)  # every one accepted
    extra = socket.create_connection((b.host, b.amqp_port))
    extra.settimeout(scaled(5))
    assert extra.recv(1) == b"", "a socket beyond connection_max + 64 must be closed at once"
    extra.close()
    try:
        urllib.request.urlopen(f"http://{b.host}:{b.http_port}/api/health", timeout=5)
        raise AssertionError("HTTP over the node's connection budget must get 503")
    except urllib.error.HTTPError as e:
        assert e.code == 503, e.code
        assert e.read().decode().strip() == NODE_LIMIT_TEXT
    for s in socks:
        s.close()
    deadline = time.monotonic() + 5
    while True:  # the broker forgets the closed sockets
        try:
            with urllib.request.urlopen(f"http://{b.host}:{b.http_port}/api/health",
                                        timeout=5) as r:
                assert r.status == 200
                break
        except urllib.error.HTTPError:
            assert time.monotonic() < deadline, "HTTP still refused after the sockets closed"
            time.sleep(0.1)
    deadline = time.monotonic() + 5
    while "connection refused: 67 connections open on the node (connection_max 3 + 64 in " \
          "handshake)" not in b.log_text():
        assert time.monotonic() < deadline, "no log line for the refused socket"
        time.sleep(0.05)


# ---- broker 3: consumer_max_per_channel = 2, STOMP header limits -----------------------------

def test_third_consumer_on_a_channel_gets_rabbitmqs_530():
    c = connect()
    ch = c.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_consume(q, lambda *a: None)
    ch.basic_consume(q, lambda *a: None)
    ch2 = c.channel()   # another channel has its own count
    ch2.basic_consume(q, lambda *a: None)
    try:
        ch.basic_consume(q, lambda *a: None)
        raise AssertionError("a third consumer on one channel was accepted")
    except pex.ConnectionClosedByBroker as e:
        assert e.reply_code == 530, e
        assert e.reply_text == "NOT_ALLOWED - reached maximum (2) of consumers per channel", e


def stomp_error_and_close(b, frames):
    sock = raw_stomp_connect(b)
    first = b""
    while b"\0" not in first:
        first += sock.recv(65536)
    assert first.startswith(b"CONNECTED"), first
    sock.sendall(frames)
    data = first.split(b"\0", 1)[1] + read_until_closed(sock)
    sock.close()
    assert data.lstrip(b"\n").startswith(b"ERROR\n"), data
    return data


def test_third_stomp_subscription_gets_not_allowed():
    b = B["b"]
    data = stomp_error_and_close(b, b"".join(
        b"SUBSCRIBE\ndestination:/queue/lim.%d\nid:%d\n\n\0" % (i, i) for i in range(3)))
    assert b"message:not_allowed\n" in data, data
    assert b"NOT_ALLOWED - reached maximum (2) of consumers per channel" in data, data


def test_stomp_frame_with_too_many_headers_gets_an_error():
    b = B["b"]
    headers = b"".join(b"h%d:v\n" % i for i in range(6))
    data = stomp_error_and_close(b, b"SEND\ndestination:/queue/lim\n" + headers + b"\nx\0")
    assert b"message:Too many headers\n" in data, data
    assert b"frame has more than 5 headers" in data, data


def test_stomp_header_too_long_gets_an_error():
    b = B["b"]
    data = stomp_error_and_close(b, b"SEND\ndestination:/queue/lim\nbig:" + b"v" * 300 +
                                 b"\n\nx\0")
    assert b"message:Header too long\n" in data, data
    assert b"a header line exceeds 200 bytes" in data, data

def test_http_connections_count_at_the_socket_threshold():
    """Idle HTTP connections hold descriptors: with connection_max + 64 of them open, the next
    socket of any protocol is closed at accept (and they are not messaging connections: an AMQP
    connection still opens while fewer are open)."""
    b = B["b"]
    settle()
    socks = [socket.create_connection((b.host, b.http_port)) for _ in range(3 + 64)]
    time.sleep(0.3)
    extra = socket.create_connection((b.host, b.amqp_port))
    extra.settimeout(scaled(5))
    assert extra.recv(1) == b"", "a socket beyond connection_max + 64 must be closed at once"
    extra.close()
    socks.pop().close()
    socks.pop().close()
    deadline = time.monotonic() + 5
    while True:  # two slots free again: an AMQP connection opens (HTTP is not in connection_max)
        try:
            c = connect()
            c.close()
            break
        except pex.AMQPConnectionError:
            assert time.monotonic() < deadline, "AMQP still refused after HTTP sockets closed"
            time.sleep(0.1)
    for s in socks:
        s.close()


def test_a_silent_http_connection_is_closed_after_10_s():
    b = B["b"]
    settle()
    s = socket.create_connection((b.host, b.http_port))
    s.settimeout(scaled(20))
    t0 = time.monotonic()
    assert s.recv(1) == b"", "the server must close, not answer"
    took = time.monotonic() - t0
    s.close()
    assert 9 <= took <= 10 + scaled(4), f"closed after {took:.1f} s, want ~10 s"


def run_group(config_text, tests):
    with broker(config_text=config_text) as b:
        B["b"] = b
        try:
            run_tests(tests)
        except SystemExit as e:
            return e.code
    return 0


if __name__ == "__main__":
    codes = [
        run_group("max_connections = 2\nstomp.max_connections = 3\n",
                  [test_third_amqp_connection_is_refused_and_logged, test_protocols_count_apart,
                   test_stomp_max_connections_overrides_max_connections,
                   test_silent_sockets_beyond_the_limit_are_closed]),
        run_group("connection_max = 3\n",
                  [test_amqp_open_over_connection_max_gets_rabbitmqs_530,
                   test_stomp_connect_over_connection_max_gets_an_error_frame,
                   test_sockets_beyond_connection_max_and_the_handshake_slack_are_closed_and_http_gets_503,
                   test_http_connections_count_at_the_socket_threshold,
                   test_a_silent_http_connection_is_closed_after_10_s]),
        run_group("consumer_max_per_channel = 2\nstomp.max_headers = 5\n"
                  "stomp.max_header_length = 200\n",
                  [test_third_consumer_on_a_channel_gets_rabbitmqs_530,
                   test_third_stomp_subscription_gets_not_allowed,
                   test_stomp_frame_with_too_many_headers_gets_an_error,
                   test_stomp_header_too_long_gets_an_error]),
    ]
    sys.exit(next((c for c in codes if c), 0))
