"""RabbitMQ parity for STOMP (issue #11): ERROR texts word for word, NACK requeue:false and the
True/False boolean headers Python clients send, RECEIPTs of transactional frames at COMMIT,
large messages (16 MiB to a topic; max_message_size), and receipts/ERRORs that survive the close.

Every test also runs against RabbitMQ 3.10 with rabbitmq_stomp
(WARREN_EXTERNAL=127.0.0.1:AMQP:STOMP) except the ones marked "Warren only", which cover the
deliberate differences listed in docs/compatibility.md."""
import socket
import threading
import time

import pika
from stomp.exception import ConnectFailedException

from stomp_util import Raw, close, current_broker, main, uniq
from stomp_util import connect as util_connect

VERSIONS = "1.0,1.1,1.2"


def connect(version="1.2", **kw):
    """stomp.py 1.2 naming the vhost (RabbitMQ refuses the dialled host name as a vhost)."""
    kw.setdefault("vhost", "/")
    return util_connect(version, **kw)


def raw_error(payloads, connect_first=True, version="1.2"):
    """Sends each payload on a fresh connection; returns the first ERROR (headers, body)."""
    r = Raw()
    try:
        if connect_first:
            r.connect(version)
        for p in payloads:
            r.send(p)
        while True:
            cmd, h, body = r.frame()
            if cmd == "ERROR":
                return h, body.decode()
            assert cmd in ("RECEIPT", "MESSAGE"), (cmd, h, body)
    finally:
        r.close()


def amqp_channel():
    b = current_broker()
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    return conn, conn.channel()


def queue_depth(name):
    conn, ch = amqp_channel()
    try:
        return ch.queue_declare(name, passive=True).method.message_count
    finally:
        conn.close()


def queue_exists(name):
    conn, ch = amqp_channel()
    try:
        ch.queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
        return False
    finally:
        if conn.is_open:
            conn.close()


# ---- ERROR frames: RabbitMQ's `message` header and body, word for word ----

def error_cases():
    q = uniq("errq")
    dup = "/queue/" + uniq("dup")
    absent = uniq("absent")
    return [
        # (name, payloads, connect first, version, message, body)
        ("frame before CONNECT", ["SEND\ndestination:/queue/x\n\nhi\0"], False, "1.2",
         "Illegal command", "You must log in using CONNECT first"),
        ("unknown command before CONNECT", ["FROB\n\n\0"], False, "1.2",
         "Illegal command", "You must log in using CONNECT first"),
        ("unknown command", ["FROB\n\n\0"], True, "1.2",
         "Bad command", 'Could not interpret command "FROB"\n'),
        ("server command from client", ["MESSAGE\n\n\0"], True, "1.2",
         "Bad command", 'Could not interpret command "MESSAGE"\n'),
        ("unsupported version", ["CONNECT\naccept-version:3.0\nhost:/\n\n\0"], False, "1.2",
         "Version mismatch", "Supported versions are 1.0,1.1,1.2\n"),
        ("bad login", ["CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:nope\n\n\0"],
         False, "1.2", "Bad CONNECT", "Access refused for user 'guest'\n"),
        ("unknown vhost",
         ["CONNECT\naccept-version:1.2\nhost:novh\nlogin:guest\npasscode:guest\n\n\0"], False,
         "1.2", "Bad CONNECT", "Virtual host 'novh' access denied"),
        ("bad heart-beat",
         ["CONNECT\naccept-version:1.2\nhost:/\nheart-beat:x\nlogin:guest\npasscode:guest\n\n\0"],
         False, "1.2", "Processing error", "Processing error"),
        ("SEND without destination", ["SEND\n\nhi\0"], True, "1.2",
         "Missing destination", "\"SEND\" must include a 'destination' header\n"),
        ("SUBSCRIBE without destination", ["SUBSCRIBE\nid:1\n\n\0"], True, "1.2",
         "Missing destination", "\"SUBSCRIBE\" must include a 'destination' header\n"),
        ("unknown destination type", ["SEND\ndestination:/nonsense/x\n\nhi\0"], True, "1.2",
         "Unknown destination",
         "'/nonsense/x' is not a valid destination.\nValid destination types are: /temp-queue, "
         "/exchange, /topic, /queue, /amq/queue, /reply-queue/.\n"),
        ("slash in queue name", ["SEND\ndestination:/queue/bah/baz\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/bah/baz' is not a valid queue destination\n"),
        ("empty queue name", ["SEND\ndestination:/queue/\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/' is not a valid queue destination\n"),
        ("no queue name", ["SEND\ndestination:/queue\n\nhi\0"], True, "1.2",
         "Invalid destination", "'' is not a valid queue destination\n"),
        ("blank destination", ["SEND\ndestination:\n\nhi\0"], True, "1.2",
         "Invalid destination", "Destination cannot be blank"),
        ("slash in topic", ["SEND\ndestination:/topic/a/b\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/a/b' is not a valid topic destination\n"),
        ("empty exchange name", ["SEND\ndestination:/exchange//x\n\nhi\0"], True, "1.2",
         "Invalid destination", "'//x' is not a valid exchange destination\n"),
        ("exchange with two slashes", ["SEND\ndestination:/exchange/a/b/c\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/a/b/c' is not a valid exchange destination\n"),
        ("slash in amq queue", ["SEND\ndestination:/amq/queue/a/b\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/a/b' is not a valid amqqueue destination\n"),
        ("empty reply queue", ["SEND\ndestination:/reply-queue/\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/' is not a valid reply_queue destination\n"),
        ("SEND to temp queue", ["SEND\ndestination:/temp-queue/x\n\nhi\0"], True, "1.2",
         "Invalid destination", "'/temp-queue/x' is not a valid destination for 'SEND'\n"),
        ("SUBSCRIBE to temp queue", ["SUBSCRIBE\ndestination:/temp-queue/x\nid:1\n\n\0"], True,
         "1.2", "Invalid destination",
         "'/temp-queue/x' is not a valid destination for 'SUBSCRIBE'\n"),
        ("message-id on SEND", [f"SEND\ndestination:/queue/{q}\nmessage-id:1\n\nhi\0"], True,
         "1.2", "Invalid header", "'message-id' is not allowed on 'SEND'.\n"),
        ("duplicate subscription id", [f"SUBSCRIBE\ndestination:{dup}\nid:d1\n\n\0",
                                       f"SUBSCRIBE\ndestination:{dup}\nid:d1\n\n\0"], True, "1.2",
         "Duplicated subscription identifier", "A subscription identified by 'T_d1' already exists."),
        ("durable topic subscription without id",
         ["SUBSCRIBE\ndestination:/topic/x\ndurable:true\n\n\0"], True, "1.2",
         "Missing Header", "Header 'id' is required for durable subscriptions"),
        ("persistent queue subscription without id",
         ["SUBSCRIBE\ndestination:/queue/x\npersistent:true\n\n\0"], True, "1.2",
         "Missing Header", "Header 'id' is required for durable subscriptions"),
        ("durable UNSUBSCRIBE without id",
         ["UNSUBSCRIBE\ndestination:/topic/x\ndurable:true\n\n\0"], True, "1.2",
         "Missing Header", "Header 'id' is required for durable subscriptions"),
        ("bad ack mode", [f"SUBSCRIBE\ndestination:/queue/{q}\nid:1\nack:sometimes\n\n\0"], True,
         "1.2", "Processing error", "Processing error"),
        ("bad prefetch-count",
         [f"SUBSCRIBE\ndestination:/queue/{q}\nid:1\nprefetch-count:zz\n\n\0"], True, "1.2",
         "Processing error", "Processing error"),
        ("UNSUBSCRIBE without id", ["UNSUBSCRIBE\n\n\0"], True, "1.2",
         "Missing destination or id", "UNSUBSCRIBE must include a 'destination' or 'id' header"),
        ("UNSUBSCRIBE temp queue id", ["UNSUBSCRIBE\nid:/temp-queue/x\n\n\0"], True, "1.2",
         "Invalid id", "UNSUBSCRIBE 'id' may not start with /temp-queue/\n"),
        ("UNSUBSCRIBE unknown id", ["UNSUBSCRIBE\nid:nope\n\n\0"], True, "1.2",
         "No subscription found",
         "UNSUBSCRIBE must refer to an existing subscription.\nSubscription to \"id='nope'\" "
         "not found.\n"),
        ("UNSUBSCRIBE unknown destination", ["UNSUBSCRIBE\ndestination:/queue/zz\n\n\0"], True,
         "1.2", "No subscription found",
         "UNSUBSCRIBE must refer to an existing subscription.\nSubscription to "
         "\"destination='/queue/zz'\" not found.\n"),
        ("ACK without id", ["ACK\n\n\0"], True, "1.2",
         "Missing header", '"ACK" must include the "id" header\n'),
        ("ACK without message-id (1.1)", ["ACK\n\n\0"], True, "1.1",
         "Missing header", '"ACK" must include the "message-id" header\n'),
        ("NACK without id", ["NACK\n\n\0"], True, "1.2",
         "Missing header", '"NACK" must include the "id" header\n'),
        ("ACK with a foreign id", ["ACK\nid:garbage\n\n\0"], True, "1.2",
         "Invalid header", '"ACK" must include a valid "id" header\n'),
        ("ACK for no subscription", ["ACK\nid:T_a@@s@@1\n\n\0"], True, "1.2",
         "Subscription not found", 'Message with id "T_a@@s@@1" has no subscription'),
        ("ACK of an unknown delivery tag",
         [f"SUBSCRIBE\ndestination:/queue/{q}\nid:a\nack:client\n\n\0",
          "ACK\nid:T_a@@s@@99\n\n\0"], True, "1.2",
         "precondition_failed", "PRECONDITION_FAILED - unknown delivery tag 99"),
        ("BEGIN without transaction", ["BEGIN\n\n\0"], True, "1.2",
         "Missing transaction", "\"BEGIN\" must include a 'transaction' header\n"),
        ("COMMIT without transaction", ["COMMIT\n\n\0"], True, "1.2",
         "Missing transaction", "\"COMMIT\" must include a 'transaction' header\n"),
        ("ABORT without transaction", ["ABORT\n\n\0"], True, "1.2",
         "Missing transaction", "\"ABORT\" must include a 'transaction' header\n"),
        ("COMMIT of an unknown transaction", ["COMMIT\ntransaction:never\n\n\0"], True, "1.2",
         "Bad transaction", 'Invalid transaction identifier: "never"\n'),
        ("SEND in an unknown transaction",
         [f"SEND\ndestination:/queue/{q}\ntransaction:never\n\nhi\0"], True, "1.2",
         "Bad transaction", 'Invalid transaction identifier: "never"\n'),
        ("SUBSCRIBE to an absent queue",
         [f"SUBSCRIBE\ndestination:/amq/queue/{absent}\nid:1\n\n\0"], True, "1.2",
         "not_found", f"NOT_FOUND - no queue '{absent}' in vhost '/'"),
        ("SEND to an absent exchange", [f"SEND\ndestination:/exchange/{absent}/k\n\nhi\0"], True,
         "1.2", "not_found", f"NOT_FOUND - no exchange '{absent}' in vhost '/'"),
        ("SUBSCRIBE to an absent exchange",
         [f"SUBSCRIBE\ndestination:/exchange/{absent}/k\nid:1\n\n\0"], True, "1.2",
         "not_found", f"NOT_FOUND - no exchange '{absent}' in vhost '/'"),
        ("user-id of another user", [f"SEND\ndestination:/queue/{q}\nuser-id:bob\n\nhi\0"], True,
         "1.2", "precondition_failed",
         "PRECONDITION_FAILED - user_id property set to 'bob' but authenticated user was 'guest'"),
        ("non-numeric priority", [f"SEND\ndestination:/queue/{q}\npriority:zz\n\nhi\0"], True,
         "1.2", "Processing error", "Processing error"),
    ]


def test_error_texts_match_rabbitmq():
    wrong = []
    for name, payloads, connect_first, version, message, body in error_cases():
        h, got = raw_error(payloads, connect_first, version)
        if h.get("message") != message or got != body or h.get("version") != VERSIONS:
            wrong.append(f"{name}: got message={h.get('message')!r} body={got!r} "
                         f"version={h.get('version')!r}; want {message!r} {body!r}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_error_texts_through_stomp_py():
    # Bad login and unknown vhost, as a stomp.py user sees them.
    c, l = connect("1.2", wait=False)
    try:
        c.connect("nosuchuser", "pw", wait=True)
        raise AssertionError("connect with an unknown user succeeded")
    except ConnectFailedException:
        pass
    e = l.error()
    assert e.headers["message"] == "Bad CONNECT", e.headers
    assert e.body == b"Access refused for user 'nosuchuser'\n", e.body
    close(c)
    c, l = connect("1.2", vhost="no-such-vhost", wait=False)
    try:
        c.connect("guest", "guest", wait=True)
        raise AssertionError("connect to an unknown vhost succeeded")
    except ConnectFailedException:
        pass
    e = l.error()
    assert (e.headers["message"], e.body) == (
        "Bad CONNECT", b"Virtual host 'no-such-vhost' access denied"), (e.headers, e.body)
    close(c)
    # Duplicate subscription id and a header SEND may not carry.
    c, l = connect("1.2")
    q = "/queue/" + uniq("dup")
    c.subscribe(q, id="same")
    c.subscribe(q, id="same")
    e = l.error()
    assert e.headers["message"] == "Duplicated subscription identifier", e.headers
    assert e.body == b"A subscription identified by 'T_same' already exists.", e.body
    close(c)
    c, l = connect("1.2")
    c.send("/queue/bah/baz", b"x")
    e = l.error()
    assert (e.headers["message"], e.body) == (
        "Invalid destination", b"'/bah/baz' is not a valid queue destination\n"), e.body
    close(c)
    c, l = connect("1.2")
    c.send("/queue/" + uniq("mid"), b"x", headers={"message-id": "m1"})
    e = l.error()
    assert (e.headers["message"], e.body) == (
        "Invalid header", b"'message-id' is not allowed on 'SEND'.\n"), e.body
    close(c)


def test_subscribe_without_id_uses_the_destination():
    # RabbitMQ keys such a subscription by its destination (consumer tag Q_<destination>), in
    # every version; UNSUBSCRIBE by destination ends it.
    q = "/queue/" + uniq("noid")
    r = Raw()
    r.connect("1.2")
    r.send(f"SUBSCRIBE\ndestination:{q}\nreceipt:s\n\n\0")
    assert r.frame()[:2] == ("RECEIPT", {"receipt-id": "s"})
    r.send(f"SEND\ndestination:{q}\n\nhello\0")
    cmd, h, body = r.frame()
    assert cmd == "MESSAGE" and body == b"hello", (cmd, h, body)
    assert "subscription" not in h, h
    assert h["message-id"].startswith(f"Q_{q}@@"), h
    r.send(f"UNSUBSCRIBE\ndestination:{q}\nreceipt:u\n\n\0")
    assert r.frame()[:2] == ("RECEIPT", {"receipt-id": "u"})
    r.close()


# ---- NACK requeue:false and the booleans Python clients send ----

def test_nack_requeue_false_discards_for_good():
    for requeue in ("false", False):  # stomp.py sends the bool as "False"
        c, l = connect("1.2")
        name = uniq("nackdrop")
        q = "/queue/" + name
        c.send(q, b"only once", receipt="s")
        l.receipt("s")
        c.subscribe(q, id="s", ack="client-individual")
        m = l.next_message()
        c.nack(m.headers["ack"], requeue=requeue, receipt="n")
        l.receipt("n")
        l.no_message(0.5)
        c.unsubscribe("s", receipt="u")
        l.receipt("u")
        c.subscribe(q, id="s2", ack="client-individual")
        l.no_message(0.5)
        c.disconnect()
        assert queue_depth(name) == 0, (requeue, queue_depth(name))
    # requeue defaults to true: redelivered.
    c, l = connect("1.2")
    q = "/queue/" + uniq("nackdefault")
    c.send(q, b"again")
    c.subscribe(q, id="s", ack="client-individual")
    c.nack(l.next_message().headers["ack"])
    m = l.next_message()
    assert m.body == b"again" and m.headers["redelivered"] == "true", m.headers
    c.disconnect()


def test_nack_requeue_false_dead_letters():
    name, dlq = uniq("dlx-src"), uniq("dlx-dst")
    conn, ch = amqp_channel()
    ch.queue_declare(dlq)
    ch.queue_declare(name, arguments={"x-dead-letter-exchange": "",
                                      "x-dead-letter-routing-key": dlq})
    c, l = connect("1.2")
    c.send(f"/amq/queue/{name}", b"to the dlq")
    c.subscribe(f"/amq/queue/{name}", id="s", ack="client-individual")
    c.nack(l.next_message().headers["ack"], requeue=False, receipt="n")
    l.receipt("n")
    l.no_message(0.5)
    c.disconnect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and queue_depth(dlq) == 0:
        time.sleep(0.05)
    method, _, body = ch.basic_get(dlq, auto_ack=True)
    assert method is not None and body == b"to the dlq", (method, body)
    assert queue_depth(name) == 0
    ch.queue_delete(name)
    ch.queue_delete(dlq)
    conn.close()


def test_capitalised_boolean_headers():
    # persistent:True is delivery mode 2.
    c, l = connect("1.2")
    q = "/queue/" + uniq("pers")
    c.subscribe(q, id="s")
    c.send(q, b"p", headers={"persistent": True})
    assert l.next_message().headers.get("persistent") == "true"
    c.disconnect()
    # auto-delete:True: the queue goes with its last subscriber.
    name = uniq("autodel")
    c, l = connect("1.2")
    c.subscribe("/queue/" + name, id="s", headers={"auto-delete": True}, receipt="s")
    l.receipt("s")
    assert queue_exists(name)
    c.unsubscribe("s", receipt="u")
    l.receipt("u")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and queue_exists(name):
        time.sleep(0.05)
    assert not queue_exists(name), "auto-delete:True queue still exists"
    c.disconnect()
    # exclusive:True: another connection cannot consume from it.
    name = uniq("excl")
    a, la = connect("1.2")
    a.subscribe("/queue/" + name, id="s", headers={"exclusive": True}, receipt="s")
    la.receipt("s")
    b, lb = connect("1.2")
    b.subscribe("/queue/" + name, id="s")
    assert lb.error().headers["message"] == "resource_locked"
    close(b)
    a.disconnect()


# ---- RECEIPT of a frame inside a transaction: at COMMIT ----

def receipts(listener, n, timeout=5.0):
    """The receipt ids of the next n RECEIPTs, in any order."""
    got = set()
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only receipts {got} within {timeout}s"
        try:
            got.add(listener.receipts.get(timeout=left).headers.get("receipt-id"))
        except Exception:
            raise AssertionError(f"only receipts {got} within {timeout}s") from None
    return got


def test_send_receipt_in_transaction_waits_for_commit():
    c, l = connect("1.2")
    q = "/queue/" + uniq("txr")
    tx = c.begin()
    c.send(q, b"a", transaction=tx, receipt="send-1")
    c.send(q, b"b", transaction=tx, receipt="send-2")
    try:
        l.receipt("send-1", timeout=0.5)
        raise AssertionError("RECEIPT for a transactional SEND before COMMIT")
    except AssertionError as e:
        if "before COMMIT" in str(e):
            raise
    c.commit(tx, receipt="commit")
    # RabbitMQ sends the COMMIT's receipt before the SENDs' (those wait for confirms).
    assert receipts(l, 3) == {"send-1", "send-2", "commit"}
    # Aborted: the receipt never comes.
    tx = c.begin()
    c.send(q, b"c", transaction=tx, receipt="send-3")
    c.abort(tx, receipt="abort")
    l.receipt("abort")
    time.sleep(0.3)
    rids = []
    while not l.receipts.empty():
        rids.append(l.receipts.get().headers.get("receipt-id"))
    assert "send-3" not in rids, rids
    c.disconnect()


def test_ack_receipt_in_transaction_waits_for_commit():
    # Warren only: RabbitMQ sends these receipts at once (the issue asks for COMMIT time).
    c, l = connect("1.2")
    q = "/queue/" + uniq("txack")
    c.send(q, b"1")
    c.send(q, b"2")
    c.subscribe(q, id="s", ack="client-individual")
    m1, m2 = l.next_message(), l.next_message()
    tx = c.begin()
    c.ack(m1.headers["ack"], transaction=tx, receipt="ack-1")
    c.nack(m2.headers["ack"], transaction=tx, receipt="nack-2", requeue=False)
    time.sleep(0.5)
    assert l.receipts.empty(), l.receipts.get().headers
    c.commit(tx, receipt="commit")
    assert receipts(l, 3) == {"ack-1", "nack-2", "commit"}
    c.disconnect()


# ---- large messages ----

def test_16mib_body_to_topic_reaches_every_subscriber():
    topic = "/topic/" + uniq("big").replace(".", "_")
    # No NUL bytes: stomp.py's receiver is quadratic on bodies that contain them.
    body = (bytes(range(1, 256)) * (16 * 1024 * 1024 // 255 + 1))[:16 * 1024 * 1024]
    subs = []
    for i in range(3):
        c, l = connect("1.2")
        c.subscribe(topic, id="s", receipt="s")
        l.receipt("s")
        subs.append((c, l))
    p, pl = connect("1.2")
    p.send(topic, body, receipt="sent")
    pl.receipt("sent", timeout=30)
    for c, l in subs:
        m = l.next_message(timeout=30)
        assert len(m.body) == len(body) and m.body == body, len(m.body)
        c.disconnect()
    p.disconnect()


def test_large_body_is_not_limited_by_frame_size():
    # 5 MiB is over the 4 MiB header-block limit but far below max_message_size.
    c, l = connect("1.2")
    q = "/queue/" + uniq("five")
    c.subscribe(q, id="s")
    body = b"y" * (5 * 1024 * 1024)
    c.send(q, body, receipt="r")
    l.receipt("r", timeout=20)
    assert l.next_message(timeout=20).body == body
    c.disconnect()


def expect_too_large(declared, send_bytes):
    """SEND with content-length `declared`, writing `send_bytes` of it from a thread (the server
    may stop reading), and return the ERROR."""
    b = current_broker()
    s = socket.create_connection((b.host, b.stomp_port), timeout=30)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")

    def writer():
        try:
            s.sendall(f"SEND\ndestination:/queue/{uniq('big')}\ncontent-length:{declared}\n\n"
                      .encode())
            chunk = b"z" * (1 << 20)
            left = send_bytes
            while left > 0:
                s.sendall(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))
            if send_bytes >= declared:
                s.sendall(b"\0")
        except OSError:
            pass

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    buf = b""
    try:
        while b"ERROR" not in buf or not buf.rstrip(b"\n").endswith(b"\0"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except ConnectionResetError:
        pass
    s.close()
    t.join(30)
    frame = buf[buf.find(b"ERROR"):].split(b"\0")[0].decode()
    head, _, body = frame.partition("\n\n")
    headers = dict(line.split(":", 1) for line in head.split("\n")[1:])
    return headers, body


def test_message_above_max_message_size_is_refused():
    limit = 128 * 1024 * 1024
    h, body = expect_too_large(limit + 1, limit + 1)
    assert h.get("message") == "precondition_failed", h
    assert body == (f"PRECONDITION_FAILED - message size {limit + 1} is larger than "
                    f"configured max size {limit}"), body


def test_oversized_header_block_is_refused():
    # Warren only (RabbitMQ 3.10 has no frame limit): the 4 MiB frame limit covers the command
    # and headers.
    r = Raw()
    r.connect()
    hdrs = "".join(f"h{i}:{'v' * 60000}\n" for i in range(80))  # 4.8 MB of headers
    try:
        r.send(f"SEND\ndestination:/queue/x\n{hdrs}\n\0")
    except (BrokenPipeError, ConnectionResetError):
        pass
    cmd, h, _ = r.frame()
    assert cmd == "ERROR" and h["message"] == "Frame too large", (cmd, h)
    r.close()


# ---- the last frame survives the close ----

def test_disconnect_receipt_while_client_keeps_writing():
    # Persistent SENDs with receipts make the DISCONNECT's receipt wait for the store; frames
    # written after the DISCONNECT must not be acted on, and the connection must still close
    # after the receipt.
    b = current_broker()
    for _ in range(3):
        s = socket.create_connection((b.host, b.stomp_port), timeout=10)
        s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
        q = "/queue/" + uniq("bye")
        stop = threading.Event()

        def send(rid):
            return (f"SEND\ndestination:{q}\npersistent:true\nreceipt:{rid}\n\n"
                    f"{'x' * 2000}\0").encode()

        def writer():
            try:
                for i in range(200):
                    s.sendall(send(f"pre-{i}"))
                s.sendall(b"DISCONNECT\nreceipt:bye\n\n\0")
                i = 0
                while not stop.is_set():  # keeps writing after the DISCONNECT
                    s.sendall(send(f"post-{i}"))
                    i += 1
            except OSError:
                pass

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        buf = b""
        closed = False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                buf += chunk
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        stop.set()
        s.close()
        t.join(10)
        assert b"RECEIPT\nreceipt-id:bye\n" in buf, buf[-300:]
        assert b"receipt-id:post-" not in buf, "a frame after DISCONNECT was acted on"
        assert b"ERROR" not in buf, buf[-300:]
        assert closed, "connection still open 10 s after DISCONNECT"


def test_error_survives_a_client_that_keeps_writing():
    b = current_broker()
    for _ in range(5):
        s = socket.create_connection((b.host, b.stomp_port), timeout=10)
        s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0")
        frame = f"SEND\ndestination:/queue/{uniq('x')}\n\n{'x' * 4000}\0".encode()
        stop = threading.Event()

        def writer():
            try:
                s.sendall(b"FROB\n\n\0")
                while not stop.is_set():
                    s.sendall(frame)
            except OSError:
                pass

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.3)  # the ERROR is written while we are not reading
        buf = b""
        try:
            while b"ERROR" not in buf or b"\0" not in buf[buf.find(b"ERROR"):]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except ConnectionResetError:
            pass
        stop.set()
        s.close()
        t.join(10)
        err = buf[buf.find(b"ERROR"):] if b"ERROR" in buf else b""
        assert b"message:Bad command" in err and b"\0" in err, buf[-300:]


if __name__ == "__main__":
    main([
        test_error_texts_match_rabbitmq, test_error_texts_through_stomp_py,
        test_subscribe_without_id_uses_the_destination,
        test_nack_requeue_false_discards_for_good, test_nack_requeue_false_dead_letters,
        test_capitalised_boolean_headers,
        test_send_receipt_in_transaction_waits_for_commit,
        test_ack_receipt_in_transaction_waits_for_commit,
        test_16mib_body_to_topic_reaches_every_subscriber,
        test_large_body_is_not_limited_by_frame_size,
        test_message_above_max_message_size_is_refused, test_oversized_header_block_is_refused,
        test_disconnect_receipt_while_client_keeps_writing,
        test_error_survives_a_client_that_keeps_writing,
    ])
