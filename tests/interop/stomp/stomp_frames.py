"""STOMP 1.0-1.2 with python3-stomp (stomp.py 8) against warrend: connection and version
negotiation, every client frame, the three ack modes, prefetch, receipts, transactions,
heart-beats, header escaping, binary bodies and each destination type (RabbitMQ's names)."""
import socket
import time

import stomp
from stomp.exception import ConnectFailedException

from stomp_util import Collector, Raw, close, connect, current_broker, main, uniq, wait_for
from harness import scaled  # noqa: E402


def test_connect_each_version():
    for version in ("1.0", "1.1", "1.2"):
        c, l = connect(version)
        if version != "1.0":
            assert l.connected_frame.headers.get("version") == version, l.connected_frame.headers
        assert "session" in l.connected_frame.headers
        assert "server" in l.connected_frame.headers
        q = "/queue/" + uniq("v" + version)
        kw = {"id": "s1"} if version != "1.0" else {}
        c.subscribe(q, **kw)
        c.send(q, f"hello {version}".encode(), receipt="r1")
        l.receipt("r1")
        m = l.next_message()
        assert m.body == f"hello {version}".encode(), m.body
        c.disconnect()


def test_stomp_and_connect_commands():
    # stomp.py sends STOMP by default; with_connect_command=True sends CONNECT.
    for use_connect in (False, True):
        b = current_broker()
        c = stomp.Connection12([(b.host, b.stomp_port)], vhost="/")
        l = Collector()
        c.set_listener("", l)
        c.connect("guest", "guest", wait=True, with_connect_command=use_connect)
        assert l.connected_frame.headers["version"] == "1.2"
        c.disconnect()


def test_connect_without_accept_version_is_1_0():
    r = Raw()
    r.send("CONNECT\nlogin:guest\npasscode:guest\n\n\0")
    cmd, h, _ = r.frame()
    assert cmd == "CONNECTED", (cmd, h)
    assert h.get("version", "1.0") == "1.0"
    r.close()


def test_version_negotiation_picks_highest():
    r = Raw()
    r.send("CONNECT\naccept-version:1.0,1.1\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
    cmd, h, _ = r.frame()
    assert cmd == "CONNECTED" and h["version"] == "1.1", (cmd, h)
    r.close()


def test_bad_login_rejected():
    c, l = connect("1.2", wait=False)
    try:
        c.connect("guest", "wrong", wait=True)
        raise AssertionError("connect with a wrong passcode succeeded")
    except ConnectFailedException:
        pass
    e = l.error()
    assert e.headers["message"] == "Bad CONNECT", e.headers
    assert e.body == b"Access refused for user 'guest'\n", e.body
    close(c)


def test_unknown_vhost_rejected():
    c, l = connect("1.2", vhost="no-such-vhost", wait=False)
    try:
        c.connect("guest", "guest", wait=True)
        raise AssertionError("connect to an unknown vhost succeeded")
    except ConnectFailedException:
        pass
    e = l.error()
    assert e.headers["message"] == "Bad CONNECT", e.headers
    assert e.body == b"Virtual host 'no-such-vhost' access denied", e.body
    close(c)


def test_host_header_selects_default_vhost():
    c, l = connect("1.2", vhost="/")
    c.disconnect()


def test_send_receive_properties_and_custom_headers():
    c, l = connect("1.2")
    q = "/queue/" + uniq("props")
    c.subscribe(q, id="s")
    c.send(q, b"{\"a\": 1}", content_type="application/json",
           headers={"persistent": "true", "priority": "3", "correlation-id": "corr-1",
                    "reply-to": "/queue/replies", "expiration": "60000",
                    "amqp-message-id": "mid-1", "timestamp": "1700000000", "type": "t1",
                    "app-id": "app", "user-id": "guest", "x-custom": "value", "my-header": "mine"},
           receipt="sent")
    l.receipt("sent")
    m = l.next_message()
    h = m.headers
    assert m.body == b"{\"a\": 1}"
    assert h["content-type"] == "application/json", h
    assert h["persistent"] == "true"
    assert h["priority"] == "3"
    assert h["correlation-id"] == "corr-1"
    assert h["reply-to"] == "/queue/replies"
    assert h["expiration"] == "60000"
    assert h["amqp-message-id"] == "mid-1"
    assert h["timestamp"] == "1700000000"
    assert h["type"] == "t1"
    assert h["app-id"] == "app"
    assert h["user-id"] == "guest"
    assert h["x-custom"] == "value"
    assert h["my-header"] == "mine"
    assert h["subscription"] == "s"
    assert h["destination"] == q
    assert h["message-id"]
    c.disconnect()


def test_binary_body_with_nul_bytes():
    c, l = connect("1.2")
    q = "/queue/" + uniq("bin")
    c.subscribe(q, id="s")
    body = bytes(range(256)) * 4 + b"\0\0end"
    c.send(q, body)  # stomp.py adds content-length
    m = l.next_message()
    assert m.body == body, len(m.body)
    assert m.headers["content-length"] == str(len(body))
    c.disconnect()


def test_header_escaping():
    for version in ("1.1", "1.2"):
        c, l = connect(version)
        q = "/queue/" + uniq("esc")
        c.subscribe(q, id="s")
        value = "a:b\nc\\d"
        c.send(q, b"x", headers={"weird": value})
        m = l.next_message()
        assert m.headers["weird"] == value, m.headers
        c.disconnect()
    # 1.2 also escapes CR; check the bytes on the wire with a raw client.
    r = Raw()
    r.connect("1.2")
    q = "/queue/" + uniq("esc-raw")
    r.send(f"SUBSCRIBE\ndestination:{q}\nid:0\n\n\0")
    r.send(f"SEND\ndestination:{q}\nk:x\\r\\n\\c\\\\y\n\nb\0")
    cmd, h, body = r.frame()
    assert cmd == "MESSAGE"
    assert h["k"] == "x\\r\\n\\c\\\\y", h  # re-escaped by the server, byte for byte
    r.close()


def test_ack_auto():
    c, l = connect("1.2")
    q = "/queue/" + uniq("auto")
    c.subscribe(q, id="s", ack="auto")
    for i in range(3):
        c.send(q, str(i).encode())
    got = [l.next_message().body for _ in range(3)]
    assert got == [b"0", b"1", b"2"], got
    c.disconnect()
    # Nothing left: a new subscriber gets nothing.
    c, l = connect("1.2")
    c.subscribe(q, id="s")
    l.no_message()
    c.disconnect()


def test_ack_client_is_cumulative():
    c, l = connect("1.2")
    q = "/queue/" + uniq("client")
    for i in range(4):
        c.send(q, str(i).encode())
    c.subscribe(q, id="s", ack="client")
    ms = [l.next_message() for _ in range(4)]
    # ACK of the third acknowledges the first three.
    c.ack(ms[2].headers["ack"], receipt="acked")
    l.receipt("acked")
    c.disconnect()
    c, l = connect("1.2")
    c.subscribe(q, id="s", ack="client")
    m = l.next_message()
    assert m.body == b"3", m.body
    assert m.headers["redelivered"] == "true"
    l.no_message()
    c.ack(m.headers["ack"])
    c.disconnect()


def test_ack_client_individual():
    c, l = connect("1.2")
    q = "/queue/" + uniq("indiv")
    for i in range(3):
        c.send(q, str(i).encode())
    c.subscribe(q, id="s", ack="client-individual")
    ms = [l.next_message() for _ in range(3)]
    c.ack(ms[2].headers["ack"], receipt="a2")
    l.receipt("a2")
    c.disconnect()
    c, l = connect("1.2")
    c.subscribe(q, id="s", ack="client-individual")
    got = sorted([l.next_message().body for _ in range(2)])
    assert got == [b"0", b"1"], got
    c.disconnect()


def test_ack_1_1_and_1_0_use_message_id():
    c, l = connect("1.1")
    q = "/queue/" + uniq("ack11")
    c.send(q, b"m")
    c.subscribe(q, id="s", ack="client")
    m = l.next_message()
    c.ack(m.headers["message-id"], "s", receipt="r")
    l.receipt("r")
    c.disconnect()
    c, l = connect("1.0")
    q = "/queue/" + uniq("ack10")
    c.send(q, b"m")
    c.subscribe(q, ack="client")  # 1.0: no id needed
    m = l.next_message()
    c.ack(m.headers["message-id"], receipt="r")
    l.receipt("r")
    c.disconnect()
    c, l = connect("1.2")
    c.subscribe(q, id="s")
    l.no_message()
    c.disconnect()


def test_nack_requeues_by_default_and_discards_with_requeue_false():
    c, l = connect("1.2")
    q = "/queue/" + uniq("nack")
    c.send(q, b"m")
    c.subscribe(q, id="s", ack="client-individual")
    m = l.next_message()
    assert m.headers["redelivered"] == "false"
    c.nack(m.headers["ack"])
    m2 = l.next_message()
    assert m2.body == b"m" and m2.headers["redelivered"] == "true", m2.headers
    c.nack(m2.headers["ack"], requeue="false", receipt="dropped")
    l.receipt("dropped")
    l.no_message()
    c.disconnect()


def test_prefetch_count():
    c, l = connect("1.2")
    q = "/queue/" + uniq("prefetch")
    for i in range(5):
        c.send(q, str(i).encode())
    c.subscribe(q, id="s", ack="client-individual", headers={"prefetch-count": "2"})
    a, b = l.next_message(), l.next_message()
    l.no_message(0.3)
    c.ack(a.headers["ack"])
    n = l.next_message()
    assert n.body == b"2", n.body
    l.no_message(0.3)
    c.disconnect()


def test_unsubscribe_stops_delivery():
    c, l = connect("1.2")
    q = "/queue/" + uniq("unsub")
    c.subscribe(q, id="s")
    c.unsubscribe("s", receipt="u")
    l.receipt("u")
    c.send(q, b"after")
    l.no_message()
    c.disconnect()


def test_receipts_for_every_frame():
    c, l = connect("1.2")
    q = "/queue/" + uniq("receipts")
    c.subscribe(q, id="s", ack="client", receipt="sub")
    l.receipt("sub")
    c.send(q, b"x", receipt="send")
    l.receipt("send")
    m = l.next_message()
    c.ack(m.headers["ack"], receipt="ack")
    l.receipt("ack")
    c.send(q, b"y")
    m = l.next_message()
    c.nack(m.headers["ack"], requeue="false", receipt="nack")
    l.receipt("nack")
    c.begin("tx1", receipt="begin")
    l.receipt("begin")
    c.commit("tx1", receipt="commit")
    l.receipt("commit")
    c.begin("tx2")
    c.abort("tx2", receipt="abort")
    l.receipt("abort")
    c.unsubscribe("s", receipt="unsub")
    l.receipt("unsub")
    c.disconnect(receipt="bye")  # stomp.py waits for this receipt
    assert l.disconnected.wait(5)


def test_transactions_commit_and_abort():
    c, l = connect("1.2")
    q = "/queue/" + uniq("tx")
    c.subscribe(q, id="s", ack="client-individual")
    tx = c.begin()
    c.send(q, b"in-tx-1", transaction=tx)
    c.send(q, b"in-tx-2", transaction=tx)
    l.no_message(0.3)
    c.commit(tx)
    got = [l.next_message(), l.next_message()]
    assert [m.body for m in got] == [b"in-tx-1", b"in-tx-2"]
    tx = c.begin()
    c.send(q, b"aborted", transaction=tx)
    c.abort(tx)
    l.no_message(0.3)
    # ACKs in a transaction apply on COMMIT; aborted ACKs do not.
    tx = c.begin()
    c.ack(got[0].headers["ack"], transaction=tx)
    c.abort(tx)
    tx = c.begin()
    c.ack(got[1].headers["ack"], transaction=tx)
    c.commit(tx, receipt="c")
    l.receipt("c")
    c.disconnect()
    c, l = connect("1.2")
    c.subscribe(q, id="s")
    m = l.next_message()
    assert m.body == b"in-tx-1" and m.headers["redelivered"] == "true", m.headers
    l.no_message()
    c.disconnect()


def test_heartbeats_both_ways():
    c, l = connect("1.2", heartbeats=(300, 300))
    hb = l.connected_frame.headers["heart-beat"]
    sx, sy = (int(x) for x in hb.split(","))
    assert sx == 300 and sy == 300, hb
    time.sleep(2.0)
    assert l.heartbeats >= 2, l.heartbeats
    assert l.heartbeat_timeouts == 0
    assert c.is_connected()
    q = "/queue/" + uniq("hb")
    c.subscribe(q, id="s")
    c.send(q, b"still here")
    assert l.next_message().body == b"still here"
    c.disconnect()


def test_silent_peer_is_closed():
    r = Raw()
    r.send("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:200,0\n\n\0")
    cmd, h, _ = r.frame()
    assert cmd == "CONNECTED" and h["heart-beat"].split(",")[1] == "200", h
    t0 = time.monotonic()
    r.expect_closed(timeout=5)
    took = time.monotonic() - t0
    assert 0.3 < took < scaled(3), took


def test_client_heartbeats_keep_connection():
    r = Raw()
    r.send("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:200,0\n\n\0")
    assert r.frame()[0] == "CONNECTED"
    for _ in range(10):
        time.sleep(0.15)
        r.send("\n")
    r.send("DISCONNECT\nreceipt:done\n\n\0")
    cmd, h, _ = r.frame()
    assert cmd == "RECEIPT" and h["receipt-id"] == "done", (cmd, h)
    r.close()


def test_topic_destinations_fan_out_with_wildcards():
    a, la = connect("1.2")
    b, lb = connect("1.2")
    key = uniq("news").replace(".", "_")
    a.subscribe(f"/topic/{key}.*", id="1", receipt="a")
    b.subscribe(f"/topic/{key}.uk", id="1", receipt="b")
    la.receipt("a")
    lb.receipt("b")
    p, _ = connect("1.2")
    p.send(f"/topic/{key}.uk", b"uk")
    p.send(f"/topic/{key}.fr", b"fr")
    assert sorted([la.next_message().body, la.next_message().body]) == [b"fr", b"uk"]
    m = lb.next_message()
    assert m.body == b"uk" and m.headers["destination"] == f"/topic/{key}.uk", m.headers
    lb.no_message()
    # No subscriber: messages to a topic are dropped.
    a.disconnect()
    b.disconnect()
    p.send(f"/topic/{key}.uk", b"nobody")
    a, la = connect("1.2")
    a.subscribe(f"/topic/{key}.uk", id="1")
    la.no_message()
    a.disconnect()
    p.disconnect()


def test_durable_topic_subscription():
    key = uniq("durable").replace(".", "_")
    hdrs = {"durable": "true", "auto-delete": "false"}
    c, l = connect("1.2")
    c.subscribe(f"/topic/{key}", id="dur-1", headers=hdrs, receipt="s")
    l.receipt("s")
    c.disconnect()
    p, _ = connect("1.2")
    p.send(f"/topic/{key}", b"while away", receipt="p")
    p.disconnect()
    c, l = connect("1.2")
    c.subscribe(f"/topic/{key}", id="dur-1", headers=hdrs)
    assert l.next_message().body == b"while away"
    # Deleting it: UNSUBSCRIBE with the same durable header.
    c.unsubscribe("dur-1", headers={"durable": "true"}, receipt="u")
    l.receipt("u")
    c.disconnect()


def test_exchange_destinations():
    c, l = connect("1.2")
    c.subscribe("/exchange/amq.fanout", id="f")
    c.subscribe("/exchange/amq.direct/" + "rk1", id="d")
    p, _ = connect("1.2")
    p.send("/exchange/amq.fanout/anything", b"fan")
    p.send("/exchange/amq.direct/rk1", b"direct")
    p.send("/exchange/amq.direct/other", b"not me")
    got = {}
    for _ in range(2):
        m = l.next_message()
        got[m.headers["subscription"]] = (m.body, m.headers["destination"])
    assert got["f"] == (b"fan", "/exchange/amq.fanout/anything"), got
    assert got["d"] == (b"direct", "/exchange/amq.direct/rk1"), got
    l.no_message()
    c.disconnect()
    p.disconnect()


def test_amq_queue_destination_uses_existing_queue():
    import pika
    b = current_broker()
    qn = uniq("amqq")
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    ch = conn.channel()
    ch.queue_declare(qn, durable=False)
    c, l = connect("1.2")
    c.subscribe(f"/amq/queue/{qn}", id="s")
    c.send(f"/amq/queue/{qn}", b"to existing")
    m = l.next_message()
    assert m.body == b"to existing" and m.headers["destination"] == f"/queue/{qn}", m.headers
    c.disconnect()
    ch.queue_delete(qn)
    conn.close()


def test_temp_queue_request_reply():
    server, ls = connect("1.2")
    client, lc = connect("1.2")
    rpc = "/queue/" + uniq("rpc")
    server.subscribe(rpc, id="srv", receipt="s")
    ls.receipt("s")
    client.send(rpc, b"ping", headers={"reply-to": "/temp-queue/answers"})
    req = ls.next_message()
    reply_to = req.headers["reply-to"]
    assert reply_to.startswith("/reply-queue/"), reply_to
    server.send(reply_to, b"pong")
    rep = lc.next_message()
    assert rep.body == b"pong"
    assert rep.headers["subscription"] == "/temp-queue/answers", rep.headers
    server.disconnect()
    client.disconnect()


def test_queue_destination_shared_between_subscribers():
    a, la = connect("1.2")
    b, lb = connect("1.2")
    q = "/queue/" + uniq("shared")
    a.subscribe(q, id="1", receipt="a")
    b.subscribe(q, id="1", receipt="b")
    la.receipt("a")
    lb.receipt("b")
    for i in range(10):
        a.send(q, str(i).encode())
    time.sleep(0.5)
    na, nb = la.messages.qsize(), lb.messages.qsize()
    assert na + nb == 10 and na > 0 and nb > 0, (na, nb)
    a.disconnect()
    b.disconnect()


def test_disconnect_requeues_unacked():
    c, l = connect("1.2")
    q = "/queue/" + uniq("requeue")
    c.send(q, b"keep me")
    c.subscribe(q, id="s", ack="client")
    l.next_message()
    c.disconnect()
    c, l = connect("1.2")
    c.subscribe(q, id="s")
    m = l.next_message()
    assert m.body == b"keep me" and m.headers["redelivered"] == "true"
    c.disconnect()


def test_abrupt_close_requeues_unacked():
    q = "/queue/" + uniq("abrupt")
    r = Raw()
    r.connect()
    r.send(f"SEND\ndestination:{q}\n\nx\0SUBSCRIBE\ndestination:{q}\nid:0\nack:client\n\n\0")
    assert r.frame()[0] == "MESSAGE"
    r.sock.close()
    c, l = connect("1.2")
    c.subscribe(q, id="s")
    assert l.next_message().headers["redelivered"] == "true"
    c.disconnect()


def test_broker_shutdown_closes_stomp_clients_cleanly():
    b = current_broker()
    if b.external:
        return
    c, l = connect("1.2")
    q = "/queue/" + uniq("shutdown")
    c.send(q, b"unacked")
    c.subscribe(q, id="s", ack="client")
    l.next_message()
    ws_raw = Raw()
    ws_raw.connect()
    rc = b.stop()
    assert rc == 0, rc
    e = l.error()
    assert e.headers["message"] == "connection_forced", e.headers
    assert l.disconnected.wait(5)
    b.start()


if __name__ == "__main__":
    main([
        test_connect_each_version, test_stomp_and_connect_commands,
        test_connect_without_accept_version_is_1_0, test_version_negotiation_picks_highest,
        test_bad_login_rejected, test_unknown_vhost_rejected,
        test_host_header_selects_default_vhost,
        test_send_receive_properties_and_custom_headers, test_binary_body_with_nul_bytes,
        test_header_escaping, test_ack_auto, test_ack_client_is_cumulative,
        test_ack_client_individual, test_ack_1_1_and_1_0_use_message_id,
        test_nack_requeues_by_default_and_discards_with_requeue_false, test_prefetch_count,
        test_unsubscribe_stops_delivery, test_receipts_for_every_frame,
        test_transactions_commit_and_abort, test_heartbeats_both_ways,
        test_silent_peer_is_closed, test_client_heartbeats_keep_connection,
        test_topic_destinations_fan_out_with_wildcards, test_durable_topic_subscription,
        test_exchange_destinations, test_amq_queue_destination_uses_existing_queue,
        test_temp_queue_request_reply, test_queue_destination_shared_between_subscribers,
        test_disconnect_requeues_unacked, test_abrupt_close_requeues_unacked,
        test_broker_shutdown_closes_stomp_clients_cleanly,
    ])
