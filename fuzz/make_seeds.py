#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: a few handcrafted valid inputs per target
(the first byte of each is the target's mode byte, see the target's header comment). Re-run it
after changing a target's input format; the files are committed."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- AMQP 0-9-1 ----
def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def longstr(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack(">I", len(b)) + b


def table(entries):
    body = b""
    for k, tag, v in entries:
        body += shortstr(k) + tag + v
    return struct.pack(">I", len(body)) + body


def frame(t, ch, payload):
    return struct.pack(">BHI", t, ch, len(payload)) + payload + b"\xce"


def method(ch, cls, mid, args=b""):
    return frame(1, ch, struct.pack(">HH", cls, mid) + args)


def header(ch, size, flags=0, props=b""):
    return frame(2, ch, struct.pack(">HHQH", 60, 0, size, flags) + props)


def body(ch, data):
    return frame(3, ch, data)


ARGS = table([("x-max-length", b"I", struct.pack(">i", 10)),
              ("x-dead-letter-exchange", b"S", longstr("dlx")),
              ("x-queue-mode", b"S", longstr("lazy")),
              ("flags", b"t", b"\x01"),
              ("nested", b"F", table([("n", b"l", struct.pack(">q", -5))])),
              ("list", b"A", longstr(b"I\x00\x00\x00\x01" + b"d" + struct.pack(">d", 1.5)))])
# content-type, delivery-mode 2, priority 5, headers, message-id, expiration
PROPS_FLAGS = 0x8000 | 0x2000 | 0x1000 | 0x0800 | 0x0100 | 0x0080
PROPS = (shortstr("text/plain") + table([("k", b"S", longstr("v"))]) + b"\x02" + b"\x05"
         + shortstr("60000") + shortstr("m-1"))


def publish(ch, ex, rk, data, flags=0, props=b""):
    return (method(ch, 60, 40, struct.pack(">H", 0) + shortstr(ex) + shortstr(rk) + b"\x00")
            + header(ch, len(data), flags, props) + body(ch, data))


def session_ops():
    ch = 1
    s = method(ch, 20, 10, shortstr(""))                                   # channel.open
    s += method(ch, 85, 10, b"\x00")                                        # confirm.select
    s += method(ch, 40, 10, struct.pack(">H", 0) + shortstr("x") + shortstr("topic")
                + b"\x02" + table([]))                                      # exchange.declare
    s += method(ch, 50, 10, struct.pack(">H", 0) + shortstr("q") + b"\x00" + ARGS)  # queue.declare
    s += method(ch, 50, 20, struct.pack(">H", 0) + shortstr("q") + shortstr("x")
                + shortstr("a.#") + b"\x00" + table([]))                    # queue.bind
    s += method(ch, 60, 10, struct.pack(">IHB", 0, 10, 0))                  # basic.qos
    s += publish(ch, "x", "a.b", b"hello", PROPS_FLAGS, PROPS)
    s += publish(ch, "", "q", b"world")
    s += method(ch, 60, 20, struct.pack(">H", 0) + shortstr("q") + shortstr("c1")
                + b"\x00" + table([]))                                      # basic.consume
    s += method(ch, 60, 80, struct.pack(">QB", 1, 0))                       # basic.ack
    s += method(ch, 60, 120, struct.pack(">QB", 2, 2))                      # basic.nack requeue
    s += method(ch, 60, 70, struct.pack(">H", 0) + shortstr("q") + b"\x01")  # basic.get no-ack
    s += method(ch, 60, 30, shortstr("c1") + b"\x00")                       # basic.cancel
    s += method(ch, 50, 40, struct.pack(">H", 0) + shortstr("q") + b"\x00")  # queue.delete
    s += method(ch, 20, 40, struct.pack(">H", 200) + shortstr("bye") + struct.pack(">HH", 0, 0))
    return s


def tx_ops():
    ch = 2
    s = method(ch, 20, 10, shortstr(""))
    s += method(ch, 90, 10)                                                 # tx.select
    s += method(ch, 50, 10, struct.pack(">H", 0) + shortstr("") + b"\x08" + table([]))
    s += publish(ch, "", "amq.gen-x", b"t" * 300)
    s += method(ch, 90, 20)                                                 # tx.commit
    s += method(ch, 90, 30)                                                 # tx.rollback
    s += frame(8, 0, b"")                                                   # heartbeat
    s += method(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") + struct.pack(">HH", 0, 0))
    return s


def handshake_raw():
    props = table([("capabilities", b"F", table([("publisher_confirms", b"t", b"\x01")]))])
    s = method(0, 10, 11, props + shortstr("PLAIN") + longstr(b"\0guest\0guest") + shortstr("en_US"))
    s += method(0, 10, 31, struct.pack(">HIH", 2047, 131072, 60))
    s += method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00")
    return s


write("amqp_frame", "ops", b"\x00" + session_ops())
write("amqp_frame", "tx", b"\x01" + tx_ops())
write("amqp_frame", "handshake", b"\x00" + handshake_raw())
# amqp_session: bit 0 = handshake done by the target; (mode >> 1) & 7 = 7: one read.
write("amqp_session", "ops", b"\x0f" + session_ops())
write("amqp_session", "tx", b"\x0f" + tx_ops())
write("amqp_session", "handshake", b"\x0e" + handshake_raw() + session_ops())
write("amqp_session", "split_reads", b"\x05" + session_ops())

write("field_table", "table", b"\x00" + ARGS)
write("field_table", "array", b"\x01" + longstr(b"I\x00\x00\x00\x01" + b"S" + longstr("s")
                                                  + b"T" + struct.pack(">Q", 1700000000)
                                                  + b"D\x02" + struct.pack(">i", 314)))
write("field_table", "value", b"\x02" + b"F" + ARGS)
write("field_table", "properties", b"\x03" + struct.pack(">H", PROPS_FLAGS) + PROPS)

# ---- STOMP ----
CONNECT12 = "CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0"
STOMP_OPS = ("SUBSCRIBE\ndestination:/queue/fz\nid:0\nack:client\nreceipt:r1\n\n\0"
             "SEND\ndestination:/queue/fz\ncontent-type:text/plain\npersistent:true\n\nhello\0"
             "SEND\ndestination:/queue/fz\ncontent-length:5\n\na\0b\0c\0"
             "SEND\ndestination:/exchange/amq.topic/a.b\nx-custom:esc\\c\\n\\\\\n\nhi\0\n\n"
             "ACK\nid:T_0@@session@@1\n\n\0"
             "NACK\nid:T_0@@session@@2\n\n\0"
             "BEGIN\ntransaction:tx1\n\n\0"
             "SEND\ndestination:/topic/t\ntransaction:tx1\n\nin tx\0"
             "COMMIT\ntransaction:tx1\n\n\0"
             "BEGIN\ntransaction:tx2\n\n\0ABORT\ntransaction:tx2\n\n\0"
             "SEND\ndestination:/amq/queue/fz\nreply-to:/temp-queue/r\n\nx\0"
             "SUBSCRIBE\ndestination:/queue/d\nid:1\nx-queue-type:classic\nx-max-length:2\n\n\0"
             "UNSUBSCRIBE\nid:0\n\n\0"
             "DISCONNECT\nreceipt:bye\n\n\0")
# stomp_parser: mode & 3 = version (2 = 1.2), mode >> 2 = read size - 1.
write("stomp_parser", "frames12", "\x0e" + CONNECT12 + STOMP_OPS)
write("stomp_parser", "frames10", "\x00" + "CONNECT\nlogin:guest\n\n\0" + STOMP_OPS)
write("stomp_parser", "crlf11", "\x01" + "\r\n\nSEND\r\ndestination:/queue/a\r\nk:a\\cb\r\n\r\nbody\0\n")
# stomp_session: bit 0 = CONNECT sent by the target, (mode >> 1) & 7 = 7: one read.
write("stomp_session", "ops", "\x0f" + STOMP_OPS)
write("stomp_session", "connect", "\x0e" + CONNECT12 + STOMP_OPS)
write("stomp_session", "timed", "\x3f" + STOMP_OPS)
write("stomp_session", "stomp10", "\x0e" + "STOMP\naccept-version:1.0\nheart-beat:0,0\n\n\0"
      + "SEND\ndestination:/queue/fz\n\nold\0")


# ---- store ----
def msg_bytes(ex, rk, props, data):
    return (b"\x02" + struct.pack("<Q", 1700000000000) + struct.pack("<H", len(ex)) + ex
            + struct.pack("<H", len(rk)) + rk + struct.pack("<I", len(props)) + props + data)


def rec(t, payload):
    return bytes([t]) + struct.pack("<H", len(payload)) + payload


def message_rec(mid, queues, data):
    return rec(1, struct.pack("<QH", mid, len(queues))
               + b"".join(struct.pack("<Q", q) for q in queues) + data)


def ack_rec(q, mids):
    return rec(2, struct.pack("<QI", q, len(mids)) + b"".join(struct.pack("<Q", m) for m in mids))


props = struct.pack(">H", 0x1000) + b"\x02"
m1 = message_rec(1, [3, 4], msg_bytes(b"", b"q", props, b"one"))
m2 = message_rec(2, [3], msg_bytes(b"ex", b"rk", b"\x00\x00", b"two"))
m3 = message_rec(3, [4], msg_bytes(b"", b"q4", b"\x00\x00", b"three" * 20))
# bit 0 = the target frames records (u8 type, u16 length, payload) behind a valid header.
write("segment_recovery", "messages", b"\x01" + m1 + m2 + m3 + ack_rec(3, [1]))
write("segment_recovery", "two_segments", b"\x01" + m1 + m2 + b"WRNSPLIT" + ack_rec(3, [1, 2])
      + rec(3, struct.pack("<Q", 4)) + m3)
write("segment_recovery", "torn_tail", b"\x01" + m1 + m2 + b"\xff" + b"\x12\x34\x56\x78\x09")


CRC_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def raw_segment(n, records):
    h = b"WRNSEG" + struct.pack("<HQQI", 1, n, 0, 0)
    out = h + struct.pack("<I", masked(h))
    for r in records:
        t, ln = r[0], struct.unpack("<H", r[1:3])[0]
        body_ = struct.pack("<I", ln) + bytes([t]) + r[3:3 + ln]
        out += struct.pack("<I", masked(body_)) + body_
    return out


write("segment_recovery", "raw_file", b"\x00" + raw_segment(1, [m1, m2, ack_rec(4, [1])]))

SNAPSHOT = """{"format_version": 1, "next_queue_id": 17, "log_generation": 4, "vhosts": [{
 "name": "/",
 "exchanges": [{"name": "orders", "type": "topic", "auto_delete": false, "internal": false,
   "arguments": [["alternate-exchange", {"type": "longstr", "value": "ae"}]]}],
 "queues": [{"name": "q1", "id": 3, "auto_delete": false,
   "arguments": [["x-max-length", {"type": "int64", "value": 1000}],
                 ["t", {"type": "table", "value": [["d", {"type": "decimal", "value": {"scale": 2, "value": 5}}]]}],
                 ["f", {"type": "double", "value": "nan"}], ["b", {"type": "bytes", "value": "00ff"}]]}],
 "bindings": [{"source": "orders", "destination": "q1", "destination_type": "queue",
   "routing_key": "a.*.c", "arguments": []}],
 "policies": [{"name": "ttl", "pattern": "^q", "apply_to": "queues", "priority": 5,
   "definition": {"message-ttl": 1000}}]}],
 "users": [{"name": "guest", "password_hash": "abc", "hashing_algorithm": "rabbit_password_hashing_sha256",
   "tags": ["administrator"]}],
 "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}]}"""
CHANGES = ('[{"op":"put_queue","vhost":"/","queue":{"name":"q","id":9,"auto_delete":false,'
           '"arguments":[]}},{"op":"next_queue_id","value":10}]')
CHANGES2 = ('[{"op":"put_binding","vhost":"/","binding":{"source":"orders","destination":"q",'
            '"destination_type":"queue","routing_key":"k","arguments":[]}},'
            '{"op":"delete_exchange","vhost":"/","name":"gone"},'
            '{"op":"put_vhost","vhost":"v2","delayed_store_id":3}]')
# bit 0 = the target frames the log (u8 generation, then u8 type, u16 length, payload).
write("metadata_recovery", "snapshot_and_log", b"\x01" + SNAPSHOT.encode() + b"WRNSPLIT" + b"\x04"
      + rec(1, CHANGES.encode()) + rec(1, CHANGES2.encode()))
write("metadata_recovery", "snapshot_only", b"\x00" + SNAPSHOT.encode())
write("metadata_recovery", "log_only", b"\x03" + b"WRNSPLIT" + b"\x00" + rec(1, CHANGES.encode())
      + b"\xff" + b"torn")

# ---- config ----
with open(os.path.join(HERE, "..", "warren.conf"), "rb") as f:
    write("config", "warren_conf", f.read())
write("config", "all_kinds", """# every kind of value
amqp.port = 5673
stomp.port = off
http.port = 15673
bind = 0.0.0.0
data_dir = /tmp/x
queue_memory_limit = 64MB
log.level = debug
amqp.frame_max = 4096
amqp.channel_max = 16
amqp.heartbeat = 0
default_user = u
default_pass = p
default_vhost = /
max_message_size = 1048576
max_connections = 100
stomp.max_frame_size = 65536
tls.verify = none
policy = ttl ^q\\. queues 5 {"message-ttl": 1000, "max-length": 10, "overflow": "reject-publish"}
policy = ha .* all 0 {"dead-letter-exchange": "dlx", "expires": 60000}
""")
# Found by fuzz_config: a back-reference number that overflowed int in std::regex (now RE2).
write("config", "regex_backref_overflow",
      '# \npolicy = ttl ^q\\11111111111120472518. queues 6 {"message-ttl": 1000, "expires": 6001}\n')

# ---- management API (mode byte: 0 administrator, 1 management user) ----
def requests(*reqs):
    return "\n--\n".join(f"{m}\n{t}\n{b}" for m, t, b in reqs)


with open(os.path.join(HERE, "..", "tests", "interop", "server", "data",
                       "rabbitmq-3.10.8-definitions.json")) as f:
    rabbit_defs = f.read()
write("management_api", "import_rabbitmq_3_10", "\x00" + requests(
    ("POST", "/api/definitions", rabbit_defs), ("GET", "/api/definitions", ""),
    ("GET", "/api/queues?page=1&page_size=2&sort=messages&name=ord&use_regex=true", ""),
    ("GET", "/api/overview", "")))
write("management_api", "queue_publish_get", "\x00" + requests(
    ("PUT", "/api/queues/%2F/q1", '{"durable":false,"arguments":{"x-max-length":3}}'),
    ("POST", "/api/exchanges/%2F/amq.default/publish",
     '{"routing_key":"q1","payload":"aGk=","payload_encoding":"base64","properties":{"headers":{"a":1}}}'),
    ("POST", "/api/queues/%2F/q1/get", '{"count":2,"ackmode":"ack_requeue_true","encoding":"auto"}'),
    ("DELETE", "/api/queues/%2F/q1/contents", "")))
write("management_api", "policies", "\x00" + requests(
    ("PUT", "/api/policies/%2F/p", '{"pattern":"^q","definition":{"max-length":1,"ha-mode":"all"},"priority":2,"apply-to":"queues"}'),
    ("PUT", "/api/operator-policies/%2F/op", '{"pattern":".*","definition":{"message-ttl":5}}'),
    ("PUT", "/api/parameters/vhost-limits/%2F/limits", '{"value":{"max-queues":10}}'),
    ("GET", "/api/queues/%2F", "")))
write("management_api", "bindings_users", "\x01" + requests(
    ("PUT", "/api/exchanges/%2F/x", '{"type":"topic","durable":true}'),
    ("POST", "/api/bindings/%2F/e/x/q/amq.gen", '{"routing_key":"a.#","arguments":{"x-match":"any"}}'),
    ("PUT", "/api/users/u", '{"password":"p","tags":"administrator"}'),
    ("GET", "/api/bindings/%2F/e/x/q/amq.gen/a.%23", "")))

# ---- HTTP listener (mode byte: bits 0-2 write size 1 << n, 7 = whole; bit 3: the server
# shuts down instead of the client half-closing) ----
AUTH = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n"


def http_req(method, target, body="", headers="", version="1.1"):
    h = f"{method} {target} HTTP/{version}\r\nHost: localhost:15672\r\n{AUTH}{headers}"
    if body:
        h += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return h + "\r\n" + body


def chunked(body, size=7):
    out = ""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += f"{len(part):x}\r\n{part}\r\n"
    return out + "0\r\n\r\n"


UPGRADE = ("GET /ws HTTP/1.1\r\nHost: localhost:15672\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
write("http_request", "health", "\x07" + http_req("GET", "/api/health"))
write("http_request", "pipelined", "\x07" + http_req("GET", "/api/health")
      + http_req("PUT", "/api/queues/%2F/q1", '{"durable":true,"arguments":{"x-max-length":3}}')
      + http_req("GET", "/api/queues/%2F/q1")
      + http_req("POST", "/api/exchanges/%2F/amq.default/publish",
                 '{"routing_key":"q1","payload":"hi","payload_encoding":"string","properties":{}}')
      + http_req("HEAD", "/api/health")
      + http_req("DELETE", "/api/queues/%2F/q1")
      + http_req("GET", "/api/overview", headers="Connection: close\r\n"))
write("http_request", "split_reads", "\x02" + http_req("GET", "/api/whoami")
      + http_req("PUT", "/api/users/u", '{"password":"p","tags":"management"}')
      + http_req("GET", "/api/users"))
body_ = '{"type":"topic","durable":true,"auto_delete":false,"arguments":{}}'
write("http_request", "chunked", "\x03" + http_req("PUT", "/api/exchanges/%2F/x", headers=
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") + chunked(body_)
      + http_req("GET", "/api/exchanges/%2F/x"))
write("http_request", "http10", "\x07" + http_req("GET", "/api/health", version="1.0")
      + http_req("GET", "/", version="1.0"))
write("http_request", "keep_alive_shutdown", "\x0f" + http_req("GET", "/api/vhosts")
      + http_req("GET", "/js/app.js", headers="Connection: keep-alive\r\n"))
write("http_request", "upgrade", "\x07" + http_req("GET", "/api/health") + UPGRADE
      + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n"
      + "\x81\x85\x00\x00\x00\x00hello")
write("http_request", "upgrade_bad_key", "\x07" + UPGRADE
      + "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\nSec-WebSocket-Protocol: amqp\r\n\r\n")
write("http_request", "upgrade_bad_version", "\x07" + UPGRADE.replace("13", "8")
      + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
write("http_request", "expect_continue", "\x05" + http_req(
      "PUT", "/api/vhosts/v2", '{"description":"d","tags":"a,b"}', headers="Expect: 100-continue\r\n")
      + http_req("GET", "/api/vhosts/v2?columns=name"))


# ---- WebSocket (mode byte: bit 0 amqp, bit 1 raw, bit 2 prologue, bits 3-5 write size,
# bit 6 server shutdown; framed records: byte 0, [bit 7 unmasked | length (127: u16 follows)]) ----
def ws_rec(b0, payload, unmasked=False):
    p = payload if isinstance(payload, bytes) else payload.encode()
    n = len(p)
    flag = 0x80 if unmasked else 0
    ln = bytes([flag | n]) if n < 127 else bytes([flag | 127]) + struct.pack(">H", n)
    return bytes([b0]) + ln + p


def ws_raw(b0, payload, mask=b"\x01\x02\x03\x04", length=None):
    p = payload if isinstance(payload, bytes) else payload.encode()
    n = len(p) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        p = bytes(c ^ mask[i % 4] for i, c in enumerate(p))
        h += mask
    return h + p


STOMP_FRAMES = [f.lstrip("\n") + "\0" for f in STOMP_OPS.split("\0")
                if f.strip().split("\n")[0].isupper() and "content-length" not in f]
WHOLE = 7 << 3
write("websocket_frames", "stomp", bytes([WHOLE]) + ws_rec(0x81, CONNECT12)
      + b"".join(ws_rec(0x81, f) for f in STOMP_FRAMES))
write("websocket_frames", "stomp_prologue", bytes([WHOLE | 4])
      + b"".join(ws_rec(0x82, f) for f in STOMP_FRAMES[:6]))
send = "SEND\ndestination:/queue/fz\ncontent-type:text/plain\n\n" + "x" * 200 + "\0"
write("websocket_frames", "stomp_fragmented", bytes([(2 << 3) | 4]) + ws_rec(0x01, send[:20])
      + ws_rec(0x89, "ping") + ws_rec(0x00, send[20:150]) + ws_rec(0x80, send[150:])
      + ws_rec(0x8a, "pong") + ws_rec(0x81, "\n") + ws_rec(0x88, b"\x03\xe8bye"))
write("websocket_frames", "stomp_bad_close", bytes([WHOLE | 4]) + ws_rec(0x81, STOMP_FRAMES[0])
      + ws_rec(0x88, b"\x03\xed\xff\xfe"))
write("websocket_frames", "stomp_unmasked", bytes([WHOLE | 4]) + ws_rec(0x81, STOMP_FRAMES[1], True))
write("websocket_frames", "stomp_shutdown", bytes([WHOLE | 64 | 4])
      + ws_rec(0x81, STOMP_FRAMES[0]) + ws_rec(0x81, STOMP_FRAMES[1]))
write("websocket_frames", "stomp_raw", bytes([WHOLE | 2]) + ws_raw(0x81, CONNECT12)
      + ws_raw(0x81, STOMP_FRAMES[1]) + ws_raw(0x83, "bad opcode")
      + ws_raw(0x82, b"", length=1 << 40))
write("websocket_frames", "stomp_raw_big", bytes([(4 << 3) | 2 | 4])
      + ws_raw(0x81, "SEND\ndestination:/queue/big\n\n" + "b" * 70000 + "\0"))
ops = session_ops()
write("websocket_frames", "amqp", bytes([WHOLE | 1])
      + ws_rec(0x82, b"AMQP\x00\x00\x09\x01" + handshake_raw()) + ws_rec(0x82, ops[:300])
      + ws_rec(0x82, ops[300:]))
write("websocket_frames", "amqp_prologue", bytes([WHOLE | 4 | 1]) + ws_rec(0x82, tx_ops()))
write("websocket_frames", "amqp_split", bytes([(3 << 3) | 4 | 1]) + ws_rec(0x02, ops[:50])
      + ws_rec(0x80, ops[50:]) + ws_rec(0x88, b""))
write("websocket_frames", "amqp_raw", bytes([WHOLE | 4 | 2 | 1]) + ws_raw(0x82, ops)
      + ws_raw(0x82, ops, mask=None) + ws_raw(0xc2, b"rsv1"))
write("websocket_frames", "amqp_shutdown", bytes([WHOLE | 64 | 4 | 1]) + ws_rec(0x82, ops[:200]))
