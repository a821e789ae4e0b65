"""Helpers shared by the durability interop tests (restart, kill -9, damaged files, memory).

Every test starts its own broker (harness.broker) so it can restart or kill it. Names carry a
per-process suffix (uniq()) so the restart-independent parts can run against an external broker
too (WARREN_EXTERNAL=127.0.0.1:5672, e.g. RabbitMQ). Tests that need restart() skip there unless
WARREN_EXTERNAL_RESTART names a shell command that restarts the external broker (for RabbitMQ:
"rabbitmqctl stop_app && rabbitmqctl start_app"); kill -9 and file damage always need warrend.

Contents:
  connect(b), uniq(), restart(b), needs_warrend(b) / Skip, wait_for(), expect_channel_error()
  body(tag, i, size) / check_body(): self-describing bodies whose every byte is verified
  ConfirmPublisher: pipelined publisher confirms (pika SelectConnection), records what was acked
  drain(): everything in a queue, via basic_get
  segment files: crc32c(), parse_segment(), message_records()
  rss(pid): VmRSS / VmHWM in bytes
"""
import os
import re
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402

from harness import Skip, broker, run_tests, scaled, wait_listening  # noqa: E402,F401

RUN_ID = uuid.uuid4().hex[:8]


def uniq(base):
    """A name unique to this process (tests may share an external broker)."""
    return f"dur.{base}.{RUN_ID}"


def skippable(fn):
    """Marks a test that may raise Skip (harness.Skip: run_tests counts it as skipped)."""
    return fn


def needs_warrend(b, what="this test"):
    if b.external:
        raise Skip(f"{what} needs a warrend started by the harness (WARREN_EXTERNAL is set)")


def params(b, **kw):
    kw.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    kw.setdefault("connection_attempts", 1)
    kw.setdefault("blocked_connection_timeout", 30)
    kw.setdefault("heartbeat", 0)
    return pika.ConnectionParameters(b.host, b.amqp_port, **kw)


def connect(b, **kw):
    return pika.BlockingConnection(params(b, **kw))


def restart(b):
    """Clean stop and start (same ports, same data dir)."""
    if b.external:
        cmd = os.environ.get("WARREN_EXTERNAL_RESTART")
        if not cmd:
            raise Skip("needs restart(): set WARREN_EXTERNAL_RESTART for an external broker")
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        wait_listening(b.amqp_port, timeout=60)
        wait_for(lambda: _can_connect(b), timeout=60, step=0.2, what="broker accepting AMQP")
        return
    b.restart()


def stop(b):
    """Clean stop; start(b) brings the broker back (external broker: stop_app / start_app,
    given as WARREN_EXTERNAL_STOP / WARREN_EXTERNAL_START)."""
    if b.external:
        cmd = os.environ.get("WARREN_EXTERNAL_STOP")
        if not cmd:
            raise Skip("needs stop(): set WARREN_EXTERNAL_STOP for an external broker")
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        return
    rc = b.stop()
    assert rc == 0, f"warrend exited with {rc} on SIGTERM"


def start(b):
    if b.external:
        subprocess.run(os.environ["WARREN_EXTERNAL_START"], shell=True, check=True,
                       stdout=subprocess.DEVNULL)
        wait_for(lambda: _can_connect(b), timeout=60, step=0.2, what="broker accepting AMQP")
        return
    b.start()


def _can_connect(b):
    try:
        connect(b).close()
        return True
    except Exception:
        return False


def data_path(b, *parts):
    """Path inside the broker's data dir (the harness passes <b.data_dir>/data)."""
    return os.path.join(b.data_dir, "data", *parts)


def wait_for(pred, timeout=10.0, step=0.02, what="condition"):
    timeout = scaled(timeout)  # harness.scaled: longer on a sanitizer build
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def expect_eq(actual, expected, what):
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


def expect_channel_error(conn, fn, code, text=None):
    """Runs fn(channel) on a fresh channel of conn; it must close the channel with `code`."""
    ch = conn.channel()
    try:
        fn(ch)
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == code, f"expected {code}, got {e.reply_code} {e.reply_text}"
        if text is not None:
            assert text in e.reply_text, f"expected {text!r} in {e.reply_text!r}"
        return e
    raise AssertionError(f"expected channel error {code}, the call succeeded")


def exists(conn, queue=None, exchange=None):
    """Passive declare: True if it exists, False on 404."""
    ch = conn.channel()
    try:
        if queue is not None:
            ch.queue_declare(queue, passive=True)
        else:
            ch.exchange_declare(exchange, passive=True)
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == 404, f"passive declare: {e.reply_code} {e.reply_text}"
        return False
    ch.close()
    return True


def count(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def drain(ch, q, ack=True, limit=None):
    """Everything in q via basic_get: list of (method, properties, body)."""
    out = []
    while limit is None or len(out) < limit:
        m, p, body_ = ch.basic_get(q, auto_ack=False)
        if m is None:
            break
        out.append((m, p, body_))
        if ack:
            ch.basic_ack(m.delivery_tag)
    return out


# ---- bodies ------------------------------------------------------------------------------------
# A body is "<tag>|<i>|<size>|<crc32 of payload, 8 hex>|" + payload, where the payload is
# size bytes of a pattern that depends on i. check_body() rebuilds the exact expected bytes, so
# any changed, missing or extra byte is caught (and the crc makes a damaged header obvious).
_PATTERN = bytes(range(256)) * 256 + bytes(range(256))


def _payload(i, size):
    start = (i * 7919) % 256
    if size <= 65536:
        return _PATTERN[start:start + size]
    reps = size // 65536 + 1
    return (_PATTERN[start:start + 65536] * reps)[:size]


def body(tag, i, size=64):
    p = _payload(i, size)
    return b"%s|%d|%d|%08x|" % (tag.encode(), i, size, zlib.crc32(p)) + p


_BODY_RE = re.compile(rb"^([^|]*)\|(\d+)\|(\d+)\|([0-9a-f]{8})\|")


def check_body(b):
    """Returns (tag, i) if b is exactly a body() output, else raises AssertionError."""
    m = _BODY_RE.match(b)
    assert m, f"body does not start with a valid header: {b[:60]!r}"
    tag, i, size = m.group(1).decode(), int(m.group(2)), int(m.group(3))
    expected = body(tag, i, size)
    if b != expected:
        p = b[m.end():]
        raise AssertionError(
            f"corrupt body for {tag}#{i}: {len(b)} bytes (expected {len(expected)}), payload crc "
            f"{zlib.crc32(p):08x} (header says {m.group(4).decode()})")
    return tag, i


def size_for(i, lo=16, hi=3000):
    """A size that varies with i (deterministic)."""
    return lo + (i * 2654435761) % (hi - lo)


# ---- pipelined publisher confirms --------------------------------------------------------------
class ConfirmPublisher:
    """Publishes messages with up to `window` unconfirmed, over a pika SelectConnection driven in
    the calling thread (run()) or a background thread (start()/join()).

    make(i) -> (exchange, routing_key, body, BasicProperties) for i = first, first+1, ...
    Stops after `count` messages are confirmed (if given), when stop() is called, or when the
    connection is lost (e.g. the broker was killed). Afterwards:
      published: ids sent, in order;  confirmed / nacked: sets of ids;  error: why it stopped
      first_confirm: threading.Event set once the first ack arrived
    """

    def __init__(self, b, make, count=None, first=0, window=500):
        self.b = b
        self.make = make
        self.count = count
        self.next_i = first
        self.end_i = None if count is None else first + count
        self.window = window
        self.published = []
        self.confirmed = set()
        self.nacked = set()
        self.error = None
        self.first_confirm = threading.Event()
        self.done = threading.Event()
        self._tags = {}      # outstanding delivery tag -> id
        self._next_tag = 1
        self._low = 1        # every tag below this one is settled
        self._stopping = False
        self._conn = None
        self._ch = None
        self._thread = None

    # -- driving
    def run(self, timeout=120):
        self._conn = pika.SelectConnection(
            params(self.b), on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error, on_close_callback=self._on_closed)
        self._timeout = self._conn.ioloop.call_later(scaled(timeout), self._on_timeout)
        try:
            self._conn.ioloop.start()
        except Exception as e:  # noqa: BLE001 - record anything, the test decides
            self.error = self.error or e
        finally:
            self.done.set()
            self.first_confirm.set()
        return self

    def start(self, timeout=120):
        self._thread = threading.Thread(target=self.run, args=(timeout,), daemon=True)
        self._thread.start()
        return self

    def join(self, timeout=30):
        self._thread.join(scaled(timeout))
        assert not self._thread.is_alive(), "publisher thread did not finish"
        return self

    def stop(self):
        """Thread-safe: stop publishing, wait for outstanding confirms, close."""
        if self._conn is not None:
            try:
                self._conn.ioloop.add_callback_threadsafe(self._begin_stop)
            except Exception:  # noqa: BLE001 - loop already gone
                pass

    def abort(self):
        """Thread-safe: close the connection now, whatever is still unconfirmed."""
        def _abort():
            self._stopping = True
            self._close()
        if self._conn is not None:
            try:
                self._conn.ioloop.add_callback_threadsafe(_abort)
            except Exception:  # noqa: BLE001 - loop already gone
                pass

    @property
    def outstanding(self):
        return len(self._tags)

    # -- callbacks
    def _on_timeout(self):
        self.error = self.error or TimeoutError("publisher timed out")
        self._close()

    def _on_open(self, conn):
        conn.channel(on_open_callback=self._on_channel)

    def _on_open_error(self, conn, err):
        self.error = err
        conn.ioloop.stop()

    def _on_closed(self, conn, reason):
        if not (self._stopping and isinstance(reason, pex.ConnectionClosedByClient)):
            self.error = self.error or reason
        conn.ioloop.stop()

    def _on_channel(self, ch):
        self._ch = ch
        ch.add_on_close_callback(self._on_channel_closed)
        ch.confirm_delivery(self._on_confirm, callback=lambda _f: self._fill())

    def _on_channel_closed(self, ch, reason):
        if not self._stopping:
            self.error = self.error or reason
        self._close()

    def _finished_publishing(self):
        return self._stopping or (self.end_i is not None and self.next_i >= self.end_i)

    def _fill(self):
        ch = self._ch
        try:
            while not self._finished_publishing() and self.outstanding < self.window:
                i = self.next_i
                ex, rk, body_, props = self.make(i)
                ch.basic_publish(ex, rk, body_, props)
                self.next_i += 1
                self.published.append(i)
                self._tags[self._next_tag] = i
                self._next_tag += 1
        except Exception as e:  # noqa: BLE001 - connection gone under us
            self.error = self.error or e
            self._close()
            return
        self._maybe_finish()

    def _on_confirm(self, frame):
        m = frame.method
        is_ack = isinstance(m, pika.spec.Basic.Ack)
        settled = self.confirmed if is_ack else self.nacked
        tags = range(self._low, m.delivery_tag + 1) if m.multiple else (m.delivery_tag,)
        for t in tags:
            i = self._tags.pop(t, None)
            if i is not None:
                settled.add(i)
        while self._low < self._next_tag and self._low not in self._tags:
            self._low += 1
        if is_ack:
            self.first_confirm.set()
        self._fill()

    def _begin_stop(self):
        self._stopping = True
        self._maybe_finish()

    def _maybe_finish(self):
        if self._finished_publishing() and self.outstanding == 0:
            self._stopping = True
            self._close()

    def _close(self):
        self._stopping = True
        try:
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
            elif self._conn is not None and not self._conn.is_closing:
                self._conn.ioloop.stop()
        except Exception:  # noqa: BLE001
            self._conn.ioloop.stop()


# ---- segment files (docs/storage.md, src/store/log_format.h) -----------------------------------
SEG_HEADER = 32
REC_HEADER = 9
REC_MESSAGE, REC_ACK, REC_QUEUE_DELETED = 1, 2, 3


def _crc_table():
    poly = 0x82F63B78
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for byte in data:
        c = t[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def segment_files(b):
    d = data_path(b, "msgs")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".seg"))


class Record:
    def __init__(self, offset, size, type_, payload):
        self.offset, self.size, self.type, self.payload = offset, size, type_, payload
        self.message_id = None
        self.queue_ids = []
        self.body = None
        self.body_offset = None   # in the file

    def __repr__(self):
        return (f"Record(off={self.offset}, size={self.size}, type={self.type}, "
                f"id={self.message_id})")


def parse_segment(path, verify=True):
    """The records of one segment file, checking header and (verify) every checksum. Raises
    AssertionError if the file is not well-formed as docs/storage.md describes."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) >= SEG_HEADER, f"{path}: shorter than a header"
    assert data[:6] == b"WRNSEG", f"{path}: bad magic {data[:6]!r}"
    version, seg = struct.unpack_from("<HQ", data, 6)
    assert version == 1, f"{path}: format version {version}"
    assert seg == int(os.path.basename(path).split(".")[0]), f"{path}: segment number {seg}"
    if verify:
        assert struct.unpack_from("<I", data, 28)[0] == masked_crc(data[:28]), \
            f"{path}: header checksum"
    recs = []
    off = SEG_HEADER
    while off < len(data):
        assert off + REC_HEADER <= len(data), f"{path}: short record header at {off}"
        crc, length, type_ = struct.unpack_from("<IIB", data, off)
        end = off + REC_HEADER + length
        assert end <= len(data), f"{path}: record at {off} runs past the end"
        if verify:
            assert crc == masked_crc(data[off + 4:end]), f"{path}: checksum of record at {off}"
        r = Record(off, REC_HEADER + length, type_, data[off + REC_HEADER:end])
        if type_ == REC_MESSAGE:
            p = r.payload
            r.message_id, n = struct.unpack_from("<QH", p, 0)
            r.queue_ids = list(struct.unpack_from("<%dQ" % n, p, 10))
            pos = 10 + 8 * n
            # stored message bytes: version, exchange, routing key, properties, body
            # (version 2 adds a u64 publish time after the version byte)
            assert p[pos] in (1, 2), f"{path}: stored message version {p[pos]} at {off}"
            pos += 1 + (8 if p[pos] == 2 else 0)
            for _ in range(2):
                (ln,) = struct.unpack_from("<H", p, pos)
                pos += 2 + ln
            (ln,) = struct.unpack_from("<I", p, pos)
            pos += 4 + ln
            r.body = p[pos:]
            r.body_offset = off + REC_HEADER + pos
        recs.append(r)
        off = end
    return recs


def message_records(b):
    """[(path, Record)] of every message record in every segment, in file order."""
    out = []
    for path in segment_files(b):
        out += [(path, r) for r in parse_segment(path) if r.type == REC_MESSAGE]
    return out


# ---- process memory ----------------------------------------------------------------------------
def proc_status(pid):
    """{'VmRSS': bytes, 'VmHWM': bytes, ...} from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            v = v.strip()
            if v.endswith(" kB"):
                out[k] = int(v[:-3]) * 1024
    return out


def consume(ch, q, n, on_msg, prefetch=500, timeout=30.0):
    """Takes n messages from q with basic.consume (acking them), calling on_msg(method, props,
    body) for each, then cancels; messages prefetched beyond n are requeued with the channel's
    close. Fails if fewer than n arrive within scaled(`timeout`) of inactivity."""
    if n <= 0:
        return 0
    ch.basic_qos(prefetch_count=prefetch)
    got = 0
    last_acked = 0
    for m, p, bd in ch.consume(q, inactivity_timeout=scaled(timeout)):
        if m is None:
            raise AssertionError(f"{q}: only {got} of {n} messages arrived")
        on_msg(m, p, bd)
        got += 1
        if got == n or got % 100 == 0:
            ch.basic_ack(m.delivery_tag, multiple=True)
            last_acked = m.delivery_tag
        if got == n:
            break
    assert last_acked, "nothing acked"
    ch.cancel()
    return got


class BackgroundConsumer:
    """A consumer with manual acks in its own thread (its own connection): calls
    on_msg(method, props, body) then acks each message, until stop() or the connection dies."""

    def __init__(self, b, q, on_msg, prefetch=100):
        self.b, self.q, self.on_msg, self.prefetch = b, q, on_msg, prefetch
        self.error = None
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()

    def join(self, timeout=30):
        self._thread.join(scaled(timeout))
        assert not self._thread.is_alive(), "consumer thread did not finish"
        return self

    def _on(self, ch, m, p, bd):
        self.on_msg(m, p, bd)
        self.received += 1
        ch.basic_ack(m.delivery_tag)

    def _run(self):
        try:
            conn = connect(self.b)
            ch = conn.channel()
            ch.basic_qos(prefetch_count=self.prefetch)
            ch.basic_consume(self.q, self._on)
            while not self._stop.is_set():
                conn.process_data_events(time_limit=0.05)
            conn.close()
        except Exception as e:  # noqa: BLE001 - e.g. the broker was killed
            self.error = e
