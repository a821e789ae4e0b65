"""AMQP 0-9-1 over WebSocket: the HTTP port's /ws with subprotocol "amqp" runs the same AMQP
session as the AMQP port, on the same transport (net/connection.h), with frames in binary
messages (python3-websocket as the client, rawamqp.py for the frames). A frame split across two
messages must still parse, and STOMP on the same path is unaffected."""
import websocket

import rawamqp as raw
from amqp_util import current_broker, expect_eq, main, uniq


class WsAmqp(raw.RawConnection):
    """rawamqp's client, with a WebSocket instead of a TCP socket underneath."""

    def __init__(self, subprotocol="amqp"):
        b = current_broker()
        self.ws = websocket.create_connection(f"ws://{b.host}:{b.http_port}/ws",
                                              subprotocols=[subprotocol], timeout=5)
        self.subprotocol = self.ws.getsubprotocol()
        self.buf = b""
        self.frame_max = 131072
        self.channel_max = 2047
        self.server_properties = b""

    def send(self, data):
        self.ws.send_binary(data)

    def recv_some(self):
        op, data = self.ws.recv_data()
        if op == websocket.ABNF.OPCODE_CLOSE:
            raise raw.Closed()
        assert op == websocket.ABNF.OPCODE_BINARY, f"AMQP must come in binary messages, got {op}"
        self.buf += data

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def test_publish_and_get_over_websocket():
    c = WsAmqp()
    expect_eq(c.subprotocol, "amqp", "negotiated subprotocol")
    c.handshake()
    c.open_channel(1)
    q = uniq("ws.q")
    c.send_method(1, 50, 10, raw.short(0) + raw.shortstr(q) +
                  raw.bits(False, False, False, True, False) + raw.table())
    c.expect_method(1, 50, 11)
    c.publish(1, "", q, b"over a websocket")
    c.send_method(1, 60, 70, raw.short(0) + raw.shortstr(q) + raw.bits(True))  # basic.get
    c.expect_method(1, 60, 71)
    expect_eq(c.read_content(1), b"over a websocket", "body")
    c.send_method(0, 10, 50, raw.short(200) + raw.shortstr("bye") + raw.short(0) + raw.short(0))
    c.expect_method(0, 10, 51)
    c.close()


def test_frame_split_across_messages():
    c = WsAmqp()
    c.handshake()
    frame = raw.method_frame(1, 20, 10, raw.shortstr(""))  # channel.open
    c.send(frame[:5])
    c.send(frame[5:])
    c.expect_method(1, 20, 11)
    c.close()


def test_amqp_and_tcp_see_the_same_broker():
    """A message published over WebSocket is consumed over the TCP port."""
    import pika
    b = current_broker()
    q = uniq("ws.shared")
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=False)
    c = WsAmqp()
    c.handshake()
    c.open_channel(1)
    c.publish(1, "", q, b"from the browser side")
    c.send_method(0, 10, 50, raw.short(200) + raw.shortstr("bye") + raw.short(0) + raw.short(0))
    c.expect_method(0, 10, 51)
    c.close()
    body = None
    for _ in range(200):
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m:
            break
        conn.sleep(0.01)
    expect_eq(body, b"from the browser side", "consumed over TCP")
    ch.queue_delete(q)
    conn.close()


def test_stomp_subprotocol_still_picks_stomp():
    c = WsAmqp(subprotocol="v12.stomp")
    expect_eq(c.subprotocol, "v12.stomp", "negotiated subprotocol")
    c.ws.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
    op, data = c.ws.recv_data()
    assert data.startswith(b"CONNECTED"), data[:40]
    c.close()


if __name__ == "__main__":
    main([test_publish_and_get_over_websocket, test_frame_split_across_messages,
          test_amqp_and_tcp_see_the_same_broker, test_stomp_subprotocol_still_picks_stomp])
