"""Bad STOMP input: every kind gets an ERROR frame with a useful `message` header, then the
connection closes; the broker and other clients carry on. Raw sockets send what no client
library would."""
import socket
import time

from stomp_util import Raw, connect, main, uniq


class Watcher:
    """A well-behaved subscriber that must keep working while others misbehave."""

    def __init__(self):
        self.c, self.l = connect("1.2")
        self.q = "/queue/" + uniq("watch")
        self.c.subscribe(self.q, id="w", receipt="w")
        self.l.receipt("w")
        self.n = 0

    def check(self):
        self.n += 1
        body = f"still-{self.n}".encode()
        self.c.send(self.q, body)
        m = self.l.next_message()
        assert m.body == body, m.body

    def close(self):
        self.c.disconnect()


def expect_error(payload, message, connect_first=True, version="1.2", contains=None):
    r = Raw()
    if connect_first:
        r.connect(version)
    r.send(payload)
    cmd, h, body = r.frame()
    assert cmd == "ERROR", (cmd, h, body)
    assert h.get("message") == message, (h, body)
    if contains:
        assert contains in body.decode(errors="replace"), body
    r.expect_closed()
    r.close()
    return h, body


def test_frame_before_connect():
    expect_error("SEND\ndestination:/queue/x\n\nhi\0", "Illegal command", connect_first=False)


def test_unknown_command():
    expect_error("FROB\n\n\0", "Bad command", contains="FROB")


def test_unparseable_header():
    expect_error("SEND\ndestination:/queue/x\nthis line has no colon\n\n\0", "Invalid header")


def test_undefined_escape_is_fatal():
    expect_error("SEND\ndestination:/queue/x\nk:bad\\tescape\n\n\0", "Invalid header")


def test_bad_content_length():
    expect_error("SEND\ndestination:/queue/x\ncontent-length:zz\n\nabc\0",
                 "Invalid content-length")


def test_body_longer_than_content_length():
    expect_error("SEND\ndestination:/queue/x\ncontent-length:2\n\nabcdef\0", "Invalid frame")


def test_oversized_body_by_content_length():
    # Over max_message_size (128 MiB): refused from the header, before the body is read.
    expect_error(f"SEND\ndestination:/queue/x\ncontent-length:{128 * 1024 * 1024 + 1}\n\n",
                 "precondition_failed", contains="is larger than configured max size 134217728")


def test_oversized_headers_streamed():
    r = Raw()
    r.connect()
    r.send("SEND\ndestination:/queue/x\n")
    line = b"h:" + b"x" * 60000 + b"\n"
    try:
        for _ in range(80):  # 4.8 MB of headers > 4 MB default frame limit, no blank line
            r.send(line)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before we finish writing
    cmd, h, body = r.frame()
    assert cmd == "ERROR" and h["message"] == "Frame too large", (cmd, h)
    r.close()


def test_too_many_headers():
    hdrs = "".join(f"h{i}:v\n" for i in range(1100))
    expect_error(f"SEND\ndestination:/queue/x\n{hdrs}\n\0", "Too many headers")


def test_header_line_too_long():
    expect_error(f"SEND\ndestination:/queue/x\nbig:{'v' * 70000}\n\n\0", "Header too long")


def test_missing_destination():
    expect_error("SEND\n\nno destination\0", "Missing destination")
    expect_error("SUBSCRIBE\nid:1\n\n\0", "Missing destination")


def test_durable_subscription_without_id():
    # A plain SUBSCRIBE without id is keyed by its destination (as RabbitMQ); a durable one
    # must name itself.
    expect_error("SUBSCRIBE\ndestination:/topic/x\ndurable:true\n\n\0", "Missing Header")


def test_missing_ack_id():
    expect_error("ACK\n\n\0", "Missing header")


def test_missing_transaction():
    expect_error("BEGIN\n\n\0", "Missing transaction")
    expect_error("COMMIT\ntransaction:never-begun\n\n\0", "Bad transaction")


def test_bad_destinations():
    expect_error("SEND\ndestination:/nonsense/x\n\nhi\0", "Unknown destination",
                 contains="not a valid destination")
    expect_error("SEND\ndestination:/queue/\n\nhi\0", "Invalid destination")
    expect_error("SEND\ndestination:/temp-queue/x\n\nhi\0", "Invalid destination")
    expect_error(f"SUBSCRIBE\ndestination:/amq/queue/{uniq('absent')}\nid:1\n\n\0", "not_found",
                 contains="NOT_FOUND")
    expect_error(f"SEND\ndestination:/exchange/{uniq('absent')}/k\n\nhi\0", "not_found")


def test_bad_ack_mode_and_unknown_subscription():
    expect_error("SUBSCRIBE\ndestination:/queue/x\nid:1\nack:sometimes\n\n\0", "Processing error")
    expect_error("UNSUBSCRIBE\nid:nope\n\n\0", "No subscription found")


def test_error_carries_receipt_id():
    h, _ = expect_error("SEND\nreceipt:r-77\n\nno destination\0", "Missing destination")
    assert h.get("receipt-id") == "r-77", h


def test_version_mismatch():
    r = Raw()
    r.send("CONNECT\naccept-version:3.0\nhost:/\n\n\0")
    cmd, h, body = r.frame()
    assert cmd == "ERROR" and h["message"] == "Version mismatch", h
    assert h["version"] == "1.0,1.1,1.2"
    r.expect_closed()


def test_bad_login():
    r = Raw()
    r.send("CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:nope\n\n\0")
    cmd, h, _ = r.frame()
    assert cmd == "ERROR" and h["message"] == "Bad CONNECT", h
    r.expect_closed()


def test_garbage_bytes():
    r = Raw()
    r.send(bytes(range(256)) * 8)
    try:
        cmd, h, _ = r.frame()
        assert cmd == "ERROR", cmd
    except (EOFError, ConnectionResetError):
        pass  # closing without a parseable ERROR is acceptable for pure noise
    r.close()


def test_others_unaffected():
    w = Watcher()
    w.check()
    for payload in ("FROB\n\n\0", "SEND\nnocolon\n\n\0", "SEND\n\n\0",
                    "SEND\ndestination:/bad\n\n\0"):
        r = Raw()
        r.connect()
        r.send(payload)
        assert r.frame()[0] == "ERROR"
        r.close()
        w.check()
    # Half a frame and a vanished client.
    r = Raw()
    r.connect()
    r.send("SEND\ndestination:/queue/x\ncontent-length:100\n\nabc")
    r.sock.close()
    w.check()
    w.close()


if __name__ == "__main__":
    main([
        test_frame_before_connect, test_unknown_command, test_unparseable_header,
        test_undefined_escape_is_fatal, test_bad_content_length,
        test_body_longer_than_content_length, test_oversized_body_by_content_length,
        test_oversized_headers_streamed, test_too_many_headers, test_header_line_too_long,
        test_missing_destination, test_durable_subscription_without_id, test_missing_ack_id,
        test_missing_transaction, test_bad_destinations,
        test_bad_ack_mode_and_unknown_subscription, test_error_carries_receipt_id,
        test_version_mismatch, test_bad_login, test_garbage_bytes, test_others_unaffected,
    ])
