"""STOMP over WebSocket on the HTTP port (path /ws, subprotocols v10/v11/v12.stomp), one STOMP
frame per WebSocket message, with python3-websocket (websocket-client)."""
import time

import websocket

from stomp_util import connect, current_broker, main, uniq


def ws_connect(subprotocol="v12.stomp"):
    b = current_broker()
    ws = websocket.create_connection(f"ws://{b.host}:{b.http_port}/ws",
                                     subprotocols=[subprotocol], timeout=5)
    return ws


def recv_frame(ws):
    """Next non-heart-beat message, parsed: (command, headers, body bytes)."""
    while True:
        op, data = ws.recv_data()
        if op == websocket.ABNF.OPCODE_CLOSE:
            raise EOFError("websocket closed")
        if data in (b"\n", b"\r\n"):
            continue
        head, _, rest = data.partition(b"\n\n")
        lines = head.decode().split("\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.setdefault(k, v)
        assert rest.endswith(b"\0"), rest[-10:]
        return lines[0], headers, rest[:-1]


def stomp_connect(ws, version="1.2", extra=""):
    ws.send(f"CONNECT\naccept-version:{version}\nhost:/\nlogin:guest\npasscode:guest\n{extra}\n\0")
    cmd, h, _ = recv_frame(ws)
    assert cmd == "CONNECTED", (cmd, h)
    return h


def test_subprotocol_negotiated():
    for proto, version in (("v12.stomp", "1.2"), ("v11.stomp", "1.1"), ("v10.stomp", "1.0")):
        ws = ws_connect(proto)
        assert ws.getsubprotocol() == proto, ws.getsubprotocol()
        h = stomp_connect(ws, version)
        if version != "1.0":
            assert h["version"] == version, h
        ws.close()


def test_send_subscribe_one_frame_per_message():
    ws = ws_connect()
    stomp_connect(ws)
    q = "/queue/" + uniq("ws")
    ws.send(f"SUBSCRIBE\ndestination:{q}\nid:0\nreceipt:sub\n\n\0")
    cmd, h, _ = recv_frame(ws)
    assert cmd == "RECEIPT" and h["receipt-id"] == "sub"
    for i in range(5):
        ws.send(f"SEND\ndestination:{q}\ncontent-type:text/plain\n\nmessage {i}\0")
    for i in range(5):
        # Each WebSocket message holds exactly one frame.
        cmd, h, body = recv_frame(ws)
        assert cmd == "MESSAGE" and body == f"message {i}".encode(), (cmd, body)
        assert h["content-type"] == "text/plain"
    ws.close()


def test_binary_body_over_binary_message():
    ws = ws_connect()
    stomp_connect(ws)
    q = "/queue/" + uniq("wsbin")
    ws.send(f"SUBSCRIBE\ndestination:{q}\nid:0\n\n\0")
    body = bytes([0, 255, 254, 0, 1, 2, 128])
    frame = f"SEND\ndestination:{q}\ncontent-length:{len(body)}\n\n".encode() + body + b"\0"
    ws.send_binary(frame)
    cmd, h, got = recv_frame(ws)
    assert cmd == "MESSAGE" and got == body, (cmd, got)
    ws.close()


def test_websocket_and_tcp_clients_share_queues():
    ws = ws_connect()
    stomp_connect(ws)
    q = "/queue/" + uniq("mixed")
    ws.send(f"SUBSCRIBE\ndestination:{q}\nid:0\nreceipt:r\n\n\0")
    assert recv_frame(ws)[0] == "RECEIPT"
    c, l = connect("1.2")
    c.send(q, b"from tcp")
    cmd, _, body = recv_frame(ws)
    assert cmd == "MESSAGE" and body == b"from tcp"
    c.subscribe(q + "-back", id="b", receipt="b")
    l.receipt("b")
    ws.send(f"SEND\ndestination:{q}-back\n\nfrom ws\0")
    assert l.next_message().body == b"from ws"
    c.disconnect()
    ws.close()


def test_heartbeats_over_websocket():
    ws = ws_connect()
    h = stomp_connect(ws, extra="heart-beat:200,200\n")
    assert h["heart-beat"] == "200,200", h
    got = 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        ws.send("\n")
        ws.settimeout(0.2)
        try:
            op, data = ws.recv_data()
            if data in (b"\n", b"\r\n"):
                got += 1
        except websocket.WebSocketTimeoutException:
            pass
    assert got >= 2, got
    ws.settimeout(5)
    ws.send("DISCONNECT\nreceipt:bye\n\n\0")
    cmd, h, _ = recv_frame(ws)
    assert cmd == "RECEIPT" and h["receipt-id"] == "bye"
    ws.close()


def test_bad_frame_over_websocket_gets_error_then_close():
    ws = ws_connect()
    stomp_connect(ws)
    ws.send("BOGUS\n\n\0")
    cmd, h, body = recv_frame(ws)
    assert cmd == "ERROR" and h["message"] == "Bad command", (cmd, h)
    try:
        op, _ = ws.recv_data(control_frame=True)
        assert op == websocket.ABNF.OPCODE_CLOSE, op
    except (websocket.WebSocketConnectionClosedException, ConnectionResetError):
        pass
    ws.close()


if __name__ == "__main__":
    main([
        test_subprotocol_negotiated, test_send_subscribe_one_frame_per_message,
        test_binary_body_over_binary_message, test_websocket_and_tcp_clients_share_queues,
        test_heartbeats_over_websocket, test_bad_frame_over_websocket_gets_error_then_close,
    ])
