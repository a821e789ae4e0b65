"""WebSocket upgrade validation (RFC 6455 4.2.1, 4.4) at /ws, with raw sockets: a
Sec-WebSocket-Key that is not the base64 encoding of 16 bytes, or a missing version, gets 400;
a version other than 13 gets 426 with Sec-WebSocket-Version: 13; never 101. Each refusal is
logged. A valid upgrade still gets 101 and the accept value RFC 6455 defines (issue #16)."""
import base64
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import broker, run_tests  # noqa: E402

B = {}
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example


def upgrade(key=GOOD_KEY, version="13"):
    """Sends an upgrade request to /ws; returns (status, headers) of the response."""
    b = B["b"]
    lines = ["GET /ws HTTP/1.1", f"Host: {b.host}:{b.http_port}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Protocol: v12.stomp"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    with socket.create_connection((b.host, b.http_port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers


def wait_log(text):
    deadline = time.monotonic() + 5
    while text not in B["b"].log_text():
        assert time.monotonic() < deadline, f"no log line containing {text!r}"
        time.sleep(0.05)


def test_valid_upgrade_gets_101():
    status, h = upgrade()
    assert status == 101, status
    expected = base64.b64encode(hashlib.sha1((GOOD_KEY + GUID).encode()).digest()).decode()
    assert h["sec-websocket-accept"] == expected, h


def test_non_base64_key_is_400():
    # 24 characters ending in "==" (what Boost.Beast alone accepts), but not base64.
    status, _ = upgrade(key="not base64 at all!!!!!==")
    assert status == 400, status
    wait_log("websocket upgrade refused")
    wait_log("Sec-WebSocket-Key is not the base64 encoding of 16 bytes")


def test_key_of_wrong_length_is_400():
    for key in (base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"x" * 17).decode(),
                "dGhlIHNhbXBsZSBub25jZQ", ""):
        status, _ = upgrade(key=key)
        assert status == 400, (key, status)


def test_missing_key_is_400():
    status, _ = upgrade(key=None)
    assert status == 400, status


def test_other_version_is_426_naming_13():
    for version in ("8", "12", "14"):
        status, h = upgrade(version=version)
        assert status == 426, (version, status)
        assert h.get("sec-websocket-version") == "13", h
    wait_log("status=426")


def test_missing_version_is_400():
    status, _ = upgrade(version=None)
    assert status == 400, status


def test_broker_still_upgrades_after_refusals():
    for _ in range(3):
        assert upgrade(key="%" * 22 + "==")[0] == 400
    assert upgrade()[0] == 101


if __name__ == "__main__":
    code = 1
    with broker() as b:
        B["b"] = b
        try:
            run_tests([test_valid_upgrade_gets_101, test_non_base64_key_is_400,
                       test_key_of_wrong_length_is_400, test_missing_key_is_400,
                       test_other_version_is_426_naming_13, test_missing_version_is_400,
                       test_broker_still_upgrades_after_refusals])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
