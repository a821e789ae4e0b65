"""AMQP session checks beyond the client suites: heartbeats both ways, shutdown (320), global and per-consumer qos, tx ack rollback, double ack, slow-consumer backpressure, garbage input, channel_max, AMQPLAIN, coalesced confirms, direct reply-to."""
import os, signal, socket, struct, subprocess, sys, time, random, threading
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pika
from rawamqp import *
from harness import broker, run_tests, scaled

B = {}

def conn(**kw):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", B["b"].amqp_port, **kw))

def raw_handshake(heartbeat=0):
    s = socket.create_connection(("127.0.0.1", B["b"].amqp_port))
    s.sendall(PROTOCOL_HEADER)
    buf = b""
    def read_frame():
        nonlocal buf
        while True:
            if len(buf) >= 7:
                t, ch, n = struct.unpack(">BHI", buf[:7])
                if len(buf) >= n + 8:
                    f = (t, ch, buf[7:7 + n]); buf = buf[n + 8:]; return f
            d = s.recv(65536)
            if not d: return None
            buf += d
    t, ch, p = read_frame(); assert struct.unpack(">HH", p[:4]) == (10, 10)
    s.sendall(method_frame(0, 10, 11, table({}) + shortstr("PLAIN") + longstr(b"\0guest\0guest") + shortstr("en_US")))
    t, ch, p = read_frame(); assert struct.unpack(">HH", p[:4]) == (10, 30), p
    s.sendall(method_frame(0, 10, 31, short(2047) + long_(131072) + short(heartbeat)))
    s.sendall(method_frame(0, 10, 40, shortstr("/") + shortstr("") + octet(0)))
    t, ch, p = read_frame(); assert struct.unpack(">HH", p[:4]) == (10, 41), p
    return s, read_frame

def test_heartbeat_sent_and_silent_peer_closed():
    s, read_frame = raw_handshake(heartbeat=1)
    s.settimeout(5)
    t0 = time.monotonic(); hb = 0
    # answer heartbeats for 3 s: we must get some
    while time.monotonic() - t0 < 3:
        f = read_frame()
        assert f is not None, "closed while we were heartbeating"
        if f[0] == 8:
            hb += 1; s.sendall(frame(8, 0, b""))
    assert hb >= 2, hb
    # now go silent: the broker must close within ~2 intervals (+ tick slack)
    t1 = time.monotonic()
    while True:
        f = read_frame()
        if f is None: break
        assert time.monotonic() - t1 < scaled(5), "not closed"
    dt = time.monotonic() - t1
    assert 1.5 < dt < scaled(4.5), dt

def test_pika_heartbeat_idle():
    c = conn(heartbeat=2)
    ch = c.channel()
    c.sleep(7)
    ch.queue_declare("hb.q", auto_delete=False)
    ch.basic_publish("", "hb.q", b"x")
    m = ch.basic_get("hb.q", auto_ack=True)
    assert m[2] == b"x"
    ch.queue_delete("hb.q")
    c.close()

def test_global_qos():
    c = conn(); ch = c.channel()
    for q in ("gq.a", "gq.b"):
        ch.queue_declare(q); ch.queue_purge(q)
        for i in range(10): ch.basic_publish("", q, b"m")
    ch.basic_qos(prefetch_count=3, global_qos=True)
    got = []
    ch.basic_consume("gq.a", lambda c_, m, p, b: got.append(m.delivery_tag))
    ch.basic_consume("gq.b", lambda c_, m, p, b: got.append(m.delivery_tag))
    c.process_data_events(1.0)
    assert len(got) == 3, got
    ch.basic_ack(got[-1], multiple=True)
    c.process_data_events(1.0)
    assert len(got) == 6, got
    ch.queue_delete("gq.a"); ch.queue_delete("gq.b"); c.close()

def test_per_consumer_qos_and_global_combined():
    c = conn(); ch = c.channel()
    ch.queue_declare("pq.a"); ch.queue_purge("pq.a")
    for i in range(20): ch.basic_publish("", "pq.a", b"m")
    ch.basic_qos(prefetch_count=2)            # per consumer
    got1, got2 = [], []
    ch.basic_consume("pq.a", lambda c_, m, p, b: got1.append(m.delivery_tag))
    ch.basic_consume("pq.a", lambda c_, m, p, b: got2.append(m.delivery_tag))
    c.process_data_events(1.0)
    assert len(got1) == 2 and len(got2) == 2, (got1, got2)
    ch.queue_delete("pq.a"); c.close()

def test_tx_ack_rollback_then_close_requeues():
    c = conn(); ch = c.channel()
    ch.queue_declare("tx.q"); ch.queue_purge("tx.q")
    ch.basic_publish("", "tx.q", b"one")
    ch.tx_select()
    m, p, body = ch.basic_get("tx.q")
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()
    # the ack was rolled back: acking again in a new tx works
    ch.basic_ack(m.delivery_tag)
    ch.basic_publish("", "tx.q", b"two")
    assert ch.queue_declare("tx.q", passive=True).method.message_count == 0
    ch.tx_commit()
    assert ch.queue_declare("tx.q", passive=True).method.message_count == 1
    m2 = ch.basic_get("tx.q", auto_ack=True)
    assert m2[2] == b"two"
    ch.tx_commit()
    ch.queue_delete("tx.q"); c.close()

def test_double_ack_406_connection_survives():
    c = conn(); ch = c.channel()
    ch.queue_declare("da.q"); ch.queue_purge("da.q")
    ch.basic_publish("", "da.q", b"x")
    m, p, b = ch.basic_get("da.q")
    ch.basic_ack(m.delivery_tag)
    ch.basic_ack(m.delivery_tag)
    try:
        ch.queue_declare("da.q", passive=True)
        raise AssertionError("no channel close")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 406 and "unknown delivery tag 1" in e.reply_text, e
    ch2 = c.channel(); ch2.queue_delete("da.q"); c.close()

def test_shutdown_sends_320():
    from harness import Broker
    b2 = Broker(stomp=False, http=False); b2.start()
    if True:
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b2.amqp_port))
        ch = c.channel()
        b2.proc.send_signal(signal.SIGTERM)
        try:
            c.process_data_events(3)
            c.process_data_events(3)
            raise AssertionError("still open")
        except pika.exceptions.ConnectionClosedByBroker as e:
            assert e.reply_code == 320, e
            assert "shutdown" in e.reply_text, e
        b2.proc.wait(10)
        assert b2.proc.returncode == 0
        b2.proc = None; b2.close()

def test_slow_consumer_backpressure():
    # A raw consumer that never reads; publish ~40 MB; broker stays responsive, a second consumer
    # elsewhere keeps getting messages, and the stuck one's backlog stays in the queue.
    s, read_frame = raw_handshake()
    s.sendall(method_frame(1, 20, 10, shortstr("")))
    s.sendall(method_frame(1, 50, 10, short(0) + shortstr("bp.slow") + bits(False, False, False, True, False) + table({})))
    s.sendall(method_frame(1, 60, 20, short(0) + shortstr("bp.slow") + shortstr("t1") + bits(False, True, False, False) + table({})))
    time.sleep(0.3)
    c = conn(); ch = c.channel()
    ch.queue_declare("bp.fast", auto_delete=True)
    body = b"x" * 100000
    for i in range(400):
        ch.basic_publish("", "bp.slow", body)
    ch.basic_publish("", "bp.fast", b"hello")
    m = ch.basic_get("bp.fast", auto_ack=True)
    assert m[2] == b"hello"
    depth = ch.queue_declare("bp.slow", passive=True).method.message_count
    assert depth > 200, depth   # most of them wait in the queue, not in broker buffers
    # now drain the raw consumer: all 400 must arrive
    s.settimeout(10)
    n = 0; total = 0
    while n < 400:
        f = read_frame()
        assert f is not None
        if f[0] == 3: total += len(f[2])
        if f[0] == 1 and f[2][:4] == struct.pack(">HH", 60, 60): n += 1
    s.close()
    c.close()

def test_garbage_then_good_client():
    rnd = random.Random(7)
    for i in range(30):
        s = socket.create_connection(("127.0.0.1", B["b"].amqp_port))
        if i % 2:
            s.sendall(PROTOCOL_HEADER)
        s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000))))
        s.close()
    for i in range(30):
        s, rf = raw_handshake()
        s.sendall(method_frame(1, 20, 10, shortstr("")))
        junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
        if i % 3 == 0:
            junk = frame(1, 1, junk)
        elif i % 3 == 1:
            junk = frame(rnd.choice([1, 2, 3]), rnd.randint(0, 3), junk)
        s.sendall(junk)
        time.sleep(0.01)
        s.close()
    c = conn(); ch = c.channel(); ch.queue_declare("", exclusive=True); c.close()

def test_channel_max():
    s, read_frame = raw_handshake()
    # we negotiated 2047; open 2047 channels then one more -> 530
    data = b"".join(method_frame(i, 20, 10, shortstr("")) for i in range(1, 2048))
    s.sendall(data)
    for i in range(1, 2048):
        f = read_frame(); assert f[2][:4] == struct.pack(">HH", 20, 11), (i, f)
    s.sendall(method_frame(2048, 20, 10, shortstr("")))
    f = read_frame()
    assert f[2][:4] == struct.pack(">HH", 10, 50), f
    code = struct.unpack(">H", f[2][4:6])[0]
    assert code == 530, f
    s.close()

def test_amqplain_auth():
    s = socket.create_connection(("127.0.0.1", B["b"].amqp_port))
    s.sendall(PROTOCOL_HEADER)
    time.sleep(0.1); s.recv(65536)
    resp = table({"LOGIN": "guest", "PASSWORD": "guest"})[4:]
    s.sendall(method_frame(0, 10, 11, table({}) + shortstr("AMQPLAIN") + longstr(resp) + shortstr("en_US")))
    time.sleep(0.1)
    d = s.recv(65536)
    assert d[7:11] == struct.pack(">HH", 10, 30), d
    s.close()

def test_many_publishes_confirms_coalesced():
    # async-ish confirms: publish 2000 with confirms via raw frames and count acks
    s, read_frame = raw_handshake()
    s.sendall(method_frame(1, 20, 10, shortstr("")))
    s.sendall(method_frame(1, 85, 10, octet(0)))
    s.sendall(method_frame(1, 50, 10, short(0) + shortstr("cf.q") + bits(False, False, False, True, False) + table({})))
    pub = method_frame(1, 60, 40, short(0) + shortstr("") + shortstr("cf.q") + octet(0)) + header_frame(1, 5) + frame(3, 1, b"hello")
    s.sendall(pub * 2000)
    last = 0; acks = 0
    s.settimeout(10)
    while last < 2000:
        f = read_frame()
        if f[2][:4] == struct.pack(">HH", 60, 80):
            last = struct.unpack(">Q", f[2][4:12])[0]; acks += 1
    assert acks < 2000, acks
    print("acks frames:", acks)
    s.close()


def test_direct_reply_to():
    c = conn(); ch = c.channel()
    srv = conn(); sch = srv.channel()
    sch.queue_declare("rpc.q"); sch.queue_purge("rpc.q")
    replies = []
    ch.basic_consume("amq.rabbitmq.reply-to", lambda c_, m, p, b: replies.append((p.correlation_id, b)), auto_ack=True)
    ch.basic_publish("", "rpc.q", b"ping", properties=pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id="42"))
    m, p, b = sch.basic_get("rpc.q", auto_ack=True)
    assert p.reply_to.startswith("amq.rabbitmq.reply-to."), p.reply_to
    sch.basic_publish("", p.reply_to, b"pong", properties=pika.BasicProperties(correlation_id=p.correlation_id))
    deadline = time.monotonic() + 5
    while not replies and time.monotonic() < deadline:
        c.process_data_events(0.1)
    assert replies == [("42", b"pong")], replies
    # publishing with reply_to on a channel without reply consumer -> 406
    ch2 = c.channel()
    ch2.basic_publish("", "rpc.q", b"x", properties=pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    try:
        ch2.queue_declare("rpc.q", passive=True); raise AssertionError("no error")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 406 and "fast reply consumer does not exist" in e.reply_text, e
    sch.queue_delete("rpc.q"); c.close(); srv.close()

if __name__ == "__main__":
    with broker(stomp=False, http=False) as b:
        B["b"] = b
        run_tests([test_heartbeat_sent_and_silent_peer_closed, test_pika_heartbeat_idle, test_global_qos,
                   test_per_consumer_qos_and_global_combined, test_tx_ack_rollback_then_close_requeues,
                   test_double_ack_406_connection_survives, test_slow_consumer_backpressure,
                   test_garbage_then_good_client, test_channel_max, test_amqplain_auth,
                   test_many_publishes_confirms_coalesced, test_direct_reply_to, test_shutdown_sends_320])
