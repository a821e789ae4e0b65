"""A tiny hand-rolled AMQP 0-9-1 client for sending frames no well-behaved client library would:
methods on unopened channels, bodies without headers, oversized frames, bad frame-end octets,
wrong protocol headers. It encodes only what the error tests need.

    c = RawConnection("127.0.0.1", 5672)
    c.handshake()                       # header, start/start-ok, tune/tune-ok, open/open-ok
    c.send_method(1, 20, 10, shortstr(""))   # channel.open on channel 1
    c.expect_method(1, 20, 11)
    code, text, cls, mth = c.expect_connection_close()
"""
import socket
import struct

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"


# ---- field encoders -------------------------------------------------------------------------
def octet(v):
    return struct.pack(">B", v)


def short(v):
    return struct.pack(">H", v)


def long_(v):
    return struct.pack(">I", v)


def longlong(v):
    return struct.pack(">Q", v)


def shortstr(s):
    b = s.encode() if isinstance(s, str) else s
    return octet(len(b)) + b


def longstr(s):
    b = s.encode() if isinstance(s, str) else s
    return long_(len(b)) + b


def bits(*flags):
    v = 0
    for i, f in enumerate(flags):
        if f:
            v |= 1 << i
    return octet(v)


def table(d=None):
    out = b""
    for k, v in (d or {}).items():
        out += shortstr(k)
        if isinstance(v, bool):
            out += b"t" + octet(1 if v else 0)
        elif isinstance(v, int):
            out += b"l" + struct.pack(">q", v)
        elif isinstance(v, dict):
            out += b"F" + table(v)
        else:
            out += b"S" + longstr(v)
    return long_(len(out)) + out


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + octet(end)


def method_frame(channel, class_id, method_id, args=b""):
    return frame(FRAME_METHOD, channel, struct.pack(">HH", class_id, method_id) + args)


def header_frame(channel, body_size, class_id=60, flags=0, props=b""):
    return frame(FRAME_HEADER, channel,
                 struct.pack(">HHQH", class_id, 0, body_size, flags) + props)


def body_frame(channel, data):
    return frame(FRAME_BODY, channel, data)


# ---- decoding helpers -----------------------------------------------------------------------
class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        v = self.data[self.pos:self.pos + n]
        if len(v) != n:
            raise ValueError("truncated")
        self.pos += n
        return v

    def octet(self):
        return self.take(1)[0]

    def short(self):
        return struct.unpack(">H", self.take(2))[0]

    def long(self):
        return struct.unpack(">I", self.take(4))[0]

    def shortstr(self):
        return self.take(self.octet()).decode("utf-8", "replace")

    def longstr(self):
        return self.take(self.long())


class Closed(Exception):
    """The server closed the socket."""


class RawConnection:
    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.frame_max = 131072
        self.channel_max = 2047
        self.server_properties = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def recv_some(self):
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            raise Closed()
        self.buf += data

    def read_exact(self, n):
        while len(self.buf) < n:
            self.recv_some()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """Returns (type, channel, payload); skips heartbeats."""
        while True:
            ftype, channel, size = struct.unpack(">BHI", self.read_exact(7))
            payload = self.read_exact(size)
            end = self.read_exact(1)[0]
            if end != FRAME_END:
                raise AssertionError(f"server sent bad frame end {end:#x}")
            if ftype != FRAME_HEARTBEAT:
                return ftype, channel, payload

    def read_method(self):
        ftype, channel, payload = self.read_frame()
        assert ftype == FRAME_METHOD, f"expected a method frame, got type {ftype}"
        cls, mth = struct.unpack(">HH", payload[:4])
        return channel, cls, mth, Reader(payload[4:])

    def expect_method(self, channel, cls, mth):
        ch, c, m, r = self.read_method()
        if (ch, c, m) != (channel, cls, mth):
            extra = ""
            if (c, m) in ((10, 50), (20, 40)):
                extra = f" code={r.short()} text={r.shortstr()!r}"
            raise AssertionError(f"expected {cls}.{mth} on channel {channel}, "
                                 f"got {c}.{m} on channel {ch}{extra}")
        return r

    def send_method(self, channel, cls, mth, args=b""):
        self.send(method_frame(channel, cls, mth, args))

    # -- connection negotiation -----------------------------------------------------------
    def handshake(self, user="guest", password="guest", vhost="/", frame_max=None,
                  channel_max=None, open_vhost=True):
        self.send(PROTOCOL_HEADER)
        r = self.expect_method(0, 10, 10)  # connection.start
        r.octet(), r.octet()
        self.server_properties = r.longstr()
        mechanisms = r.longstr()
        assert b"PLAIN" in mechanisms.split(), f"server mechanisms {mechanisms!r}"
        client_props = table({"product": "rawamqp", "capabilities": {
            "authentication_failure_close": True, "consumer_cancel_notify": True}})
        self.send_method(0, 10, 11, client_props + shortstr("PLAIN") +
                         longstr(b"\x00" + user.encode() + b"\x00" + password.encode()) +
                         shortstr("en_US"))
        r = self.expect_method(0, 10, 30)  # connection.tune
        server_channel_max, server_frame_max = r.short(), r.long()
        self.channel_max = channel_max or server_channel_max
        self.frame_max = frame_max or server_frame_max
        self.send_method(0, 10, 31, short(self.channel_max) + long_(self.frame_max) + short(0))
        if open_vhost:
            self.send_method(0, 10, 40, shortstr(vhost) + shortstr("") + bits(False))
            self.expect_method(0, 10, 41)
        return self

    def read_content(self, channel):
        """After basic.deliver/get-ok/return: reads the header and body frames; returns body."""
        ftype, ch, payload = self.read_frame()
        assert (ftype, ch) == (FRAME_HEADER, channel), f"expected a header frame, got {ftype}"
        _cls, _weight, size = struct.unpack(">HHQ", payload[:12])
        body = b""
        while len(body) < size:
            ftype, ch, payload = self.read_frame()
            assert (ftype, ch) == (FRAME_BODY, channel), f"expected a body frame, got {ftype}"
            body += payload
        assert len(body) == size, f"body of {len(body)} bytes, header said {size}"
        return body

    def publish(self, channel, exchange, routing_key, body, mandatory=False):
        self.send_method(channel, 60, 40, short(0) + shortstr(exchange) + shortstr(routing_key) +
                         bits(mandatory, False))
        self.send(header_frame(channel, len(body)))
        step = self.frame_max - 8
        for i in range(0, len(body), step):
            self.send(body_frame(channel, body[i:i + step]))

    def open_channel(self, channel):
        self.send_method(channel, 20, 10, shortstr(""))
        self.expect_method(channel, 20, 11)

    # -- errors ---------------------------------------------------------------------------
    def expect_connection_close(self):
        """Reads until connection.close; answers close-ok; returns (code, text, class, method).
        Then the server must close the socket."""
        while True:
            ch, c, m, r = self.read_method()
            if (ch, c, m) == (0, 10, 50):
                code, text, cls, mth = r.short(), r.shortstr(), r.short(), r.short()
                try:
                    self.send_method(0, 10, 51)
                except OSError:
                    pass
                return code, text, cls, mth

    def expect_channel_close(self, channel):
        """Reads until channel.close on channel; answers close-ok; returns (code, text, c, m)."""
        while True:
            ch, c, m, r = self.read_method()
            if (c, m) == (10, 50):
                raise AssertionError(f"expected channel.close, got connection.close "
                                     f"{r.short()} {r.shortstr()!r}")
            if (ch, c, m) == (channel, 20, 40):
                code, text, cls, mth = r.short(), r.shortstr(), r.short(), r.short()
                self.send_method(channel, 20, 41)
                return code, text, cls, mth

    def wait_closed(self, timeout=5.0):
        """True once the server has closed the socket (reading EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self.recv_some()
        except Closed:
            return True
        except socket.timeout:
            return False
        except OSError:
            return True
