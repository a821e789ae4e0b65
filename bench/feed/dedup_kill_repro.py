#!/usr/bin/env python3
"""Minimal reproduction of the duplicate found by feed-bench's fault run (docs/feed.md).

A durable deduplicating exchange, one durable queue bound to it, one consumer. Per trial: publish
one persistent message with x-deduplication-header = k (no confirm awaited, as a relay that is
still waiting for it); SIGKILL warrend as soon as the consumer has the message; restart it;
publish k again (what the relay does for a row it never saw confirmed). If the first copy was
delivered before its record (and its deduplication key) reached the disk, the key is gone after
the restart and the repeat is delivered as a new message: the consumer has k twice, the second
copy not flagged redelivered.

    WARREND=/tmp/feed-snap/warrend /usr/bin/python3 bench/feed/dedup_kill_repro.py [trials]

Prints one line per trial and a summary; exit 1 if a repeat was delivered as a new message.
(A copy flagged redelivered is the other, documented case: the consumer's auto-ack was not yet
on disk at the kill.)
"""
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "interop"))

import pika  # noqa: E402
from harness import broker  # noqa: E402


def frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def shortstr(t):
    return struct.pack(">B", len(t)) + t.encode()


def method(cls, mid, args=b""):
    return struct.pack(">HH", cls, mid) + args


class Consumer:
    """A raw AMQP consumer of q (no-ack) on a blocking socket, read by the main thread, so that
    warrend can be killed within microseconds of a delivery. Each body carries its key."""

    def __init__(self, port):
        s = socket.create_connection(("127.0.0.1", port))
        self.s = s
        s.sendall(b"AMQP\x00\x00\x09\x01")
        self.read_frame()  # connection.start
        s.sendall(frame(1, 0, method(10, 11, struct.pack(">I", 0) + shortstr("PLAIN") +
                                     struct.pack(">I", 12) + b"\x00guest\x00guest" +
                                     shortstr("en_US"))))
        self.read_frame()  # tune
        s.sendall(frame(1, 0, method(10, 31, struct.pack(">HIH", 2047, 131072, 0))) +
                  frame(1, 0, method(10, 40, shortstr("/") + shortstr("") + b"\x00")))
        self.read_frame()  # open-ok
        s.sendall(frame(1, 1, method(20, 10, shortstr(""))))
        self.read_frame()  # channel.open-ok
        s.sendall(frame(1, 1, method(60, 20, struct.pack(">H", 0) + shortstr("q") +
                                     shortstr("") + b"\x02" + struct.pack(">I", 0))))
        self.read_frame()  # consume-ok

    def read_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def read_frame(self):
        ftype, ch, size = struct.unpack(">BHI", self.read_exact(7))
        return ftype, self.read_exact(size + 1)[:-1]

    def next_message(self, timeout):
        """(key, redelivered) of the next delivery, or None after `timeout` s."""
        self.s.settimeout(timeout)
        try:
            redelivered = False
            while True:
                ftype, p = self.read_frame()
                if ftype == 1 and struct.unpack_from(">HH", p) == (60, 60):
                    n = p[4]
                    redelivered = bool(p[5 + n + 8])
                elif ftype == 3:
                    return int(p.decode()), redelivered
        except (socket.timeout, ConnectionError, OSError):
            return None

    def close(self):
        self.s.close()


def publish(b, key):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.amqp_port))
    ch = conn.channel()
    ch.basic_publish("dx", "", str(key).encode(), pika.BasicProperties(
        delivery_mode=2, headers={"x-deduplication-header": key}))
    return conn  # left open: closing it would wait for nothing, and the kill comes next


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    dups = 0
    fresh = 0  # second copy not flagged redelivered: the key was gone, a new message
    with broker() as b:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.amqp_port))
        ch = conn.channel()
        ch.exchange_declare("dx", "fanout", durable=True,
                            arguments={"x-message-deduplication": True,
                                       "x-cache-size": 100000})
        ch.queue_declare("q", durable=True)
        ch.queue_bind("q", "dx")
        conn.close()
        for k in range(1, trials + 1):
            c = Consumer(b.amqp_port)
            pc = publish(b, k)
            first = c.next_message(10)
            b.kill()  # at once: the delivery is on the consumer's socket
            c.close()
            try:
                pc.close()
            except Exception:
                pass
            b.start()
            m = [ln for ln in b.log_text().splitlines() if "recovered messages" in ln][-1]
            keys = int(m.split("dedup_keys=")[1].split()[0])
            c = Consumer(b.amqp_port)
            publish(b, k).close()  # the retry of a publisher that never saw the confirm
            copies = [first] if first else []
            while True:
                got = c.next_message(1.0)
                if got is None:
                    break
                copies.append(got)
            c.close()
            copies = [x for x in copies if x[0] == k]
            dup = len(copies) > 1
            dups += dup
            fresh += dup and not any(r for _, r in copies[1:])
            print(f"trial {k}: first copy {'yes' if first else 'NO'}, dedup keys after restart "
                  f"{keys} (of {k}), copies {len(copies)} "
                  f"redelivered={[r for _, r in copies]}{'  DUPLICATE' if dup else ''}",
                  flush=True)
    print(f"{dups} duplicates in {trials} trials: {fresh} delivered again as a new message "
          f"(its deduplication key lost in the kill), {dups - fresh} redelivered (an auto-ack "
          f"not yet on disk)")
    sys.exit(1 if fresh else 0)


if __name__ == "__main__":
    main()
