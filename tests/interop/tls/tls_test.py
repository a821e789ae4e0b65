"""TLS on every listener, with real clients and certificates made by the openssl CLI: pika over
AMQPS (PLAIN and SASL EXTERNAL), stomp.py over TLS (passcode and certificate login), HTTPS,
openssl s_client (TLS 1.1 refused), and the failure cases: a plain-TCP client on a TLS port, an
expired or untrusted client certificate, a stalled handshake, and a SIGHUP certificate reload
while an old connection stays up.
"""
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pika
import pika.credentials
import pika.exceptions
import stomp
import stomp.exception

from tls_util import (HOST, OPENSSL, certs, closed_within, run_tests, tls_broker, uniq,
                      wait_for_log)
from harness import scaled  # noqa: E402

CERTS = None
BROKER = None


def amqps_params(b, client=None, credentials=None):
    ctx = CERTS.client_context(client)
    return pika.ConnectionParameters(
        host=HOST, port=b.amqps_port, ssl_options=pika.SSLOptions(ctx, "localhost"),
        credentials=credentials or pika.PlainCredentials("guest", "guest"),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)


def roundtrip(conn, body=b"over tls"):
    ch = conn.channel()
    q = ch.queue_declare(uniq("q"), exclusive=True).method.queue
    ch.basic_publish("", q, body)
    for _ in range(50):
        method, _, got = ch.basic_get(q, auto_ack=True)
        if method:
            return got
        time.sleep(0.02)
    raise AssertionError("message not back")


def expect_amqp_refused(params):
    try:
        conn = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError:
        return
    conn.close()
    raise AssertionError("the connection was accepted")


# ---- AMQPS ----------------------------------------------------------------------------------

def test_pika_amqps_with_password():
    conn = pika.BlockingConnection(amqps_params(BROKER))
    assert roundtrip(conn, b"\x00binary\xff") == b"\x00binary\xff"
    conn.close()


def test_pika_amqps_large_message_spans_many_tls_records():
    conn = pika.BlockingConnection(amqps_params(BROKER))
    body = bytes(range(256)) * 4096 * 3  # 3 MiB: about 190 TLS records, frames of 128 KiB
    assert roundtrip(conn, body) == body
    conn.close()


def test_pika_external_login_with_client_certificate():
    conn = pika.BlockingConnection(
        amqps_params(BROKER, "guest", pika.credentials.ExternalCredentials()))
    assert roundtrip(conn) == b"over tls"
    conn.close()
    wait_for_log(BROKER, "user 'guest' authenticated")


def test_external_is_not_offered_without_a_client_certificate():
    # pika refuses by itself when the server does not list EXTERNAL in connection.start.
    expect_amqp_refused(amqps_params(BROKER, None, pika.credentials.ExternalCredentials()))


def test_external_for_a_certificate_naming_no_user_is_refused():
    expect_amqp_refused(amqps_params(BROKER, "nobody", pika.credentials.ExternalCredentials()))
    wait_for_log(BROKER, "EXTERNAL login refused: user 'nobody'")


def test_expired_client_certificate_is_refused_and_logged():
    expect_amqp_refused(amqps_params(BROKER, "expired"))
    wait_for_log(BROKER, "certificate has expired")


def test_untrusted_client_certificate_is_refused_and_logged():
    expect_amqp_refused(amqps_params(BROKER, "untrusted"))
    wait_for_log(BROKER, "unable to get local issuer certificate")


def test_plain_tcp_client_on_a_tls_port_is_closed_and_logged():
    other = pika.BlockingConnection(amqps_params(BROKER))  # must not be affected
    s = socket.create_connection((HOST, BROKER.amqps_port))
    port = s.getsockname()[1]
    s.sendall(b"AMQP\x00\x00\x09\x01")
    assert closed_within(s, 5), "plain TCP client not closed"
    s.close()
    wait_for_log(BROKER, f"amqp TLS handshake failed peer=127.0.0.1:{port}")
    assert roundtrip(other) == b"over tls"
    other.close()


def test_tls_1_1_is_refused_and_1_2_and_1_3_are_accepted():
    def s_client(*args):
        return subprocess.run(
            [OPENSSL, "s_client", "-connect", f"{HOST}:{BROKER.amqps_port}", "-CAfile",
             CERTS.path("ca.pem"), *args], input=b"", capture_output=True, timeout=20)
    # SECLEVEL=0: let the client offer TLS 1.1 at all (Debian's default forbids it), so the
    # refusal is the server's.
    old = s_client("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    out = (old.stdout + old.stderr).decode(errors="replace")
    assert old.returncode != 0, out
    assert "alert protocol version" in out or "unsupported protocol" in out, out
    for version, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        r = s_client(version)
        text = (r.stdout + r.stderr).decode(errors="replace")
        assert f"Protocol  : {name}" in text or f"New, {name}" in text, text
        assert "Verify return code: 0 (ok)" in text, text


def test_weak_tls12_cipher_is_refused():
    r = subprocess.run(
        [OPENSSL, "s_client", "-connect", f"{HOST}:{BROKER.amqps_port}", "-tls1_2", "-cipher",
         "AES128-SHA"], input=b"", capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0 and "handshake failure" in out, out


# ---- STOMP over TLS -------------------------------------------------------------------------

class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = []
        self.errors = []
        self.event = threading.Event()

    def on_message(self, frame):
        self.messages.append(frame)
        self.event.set()

    def on_error(self, frame):
        self.errors.append(frame)
        self.event.set()


def stomp_tls(client=None, port=None):
    port = port or BROKER.stomps_port
    # Scaled: on the sanitizer build beside a CPU-heavy test, a TLS handshake and CONNECT took
    # longer than a fixed 5 s (the failure seen beside durability_kill_loop_test in stop 25).
    conn = stomp.Connection12([(HOST, port)], heartbeats=(0, 0), timeout=scaled(5))
    kw = {"ca_certs": CERTS.path("ca.pem")}
    if client:
        kw.update(cert_file=CERTS.path(f"{client}.pem"), key_file=CERTS.path(f"{client}.key"))
    conn.set_ssl(for_hosts=[(HOST, port)], **kw)
    listener = Listener()
    conn.set_listener("l", listener)
    return conn, listener


def stomp_roundtrip(conn, listener):
    q = "/queue/" + uniq("s")
    conn.subscribe(q, id="1", ack="auto")
    conn.send(q, "hello over tls")
    assert listener.event.wait(scaled(5)), "no MESSAGE"
    assert listener.messages[0].body == "hello over tls"


def test_stomp_py_over_tls_with_passcode():
    conn, listener = stomp_tls()
    conn.connect("guest", "guest", wait=True)
    stomp_roundtrip(conn, listener)
    conn.disconnect()


def test_stomp_certificate_login_connect_without_login():
    conn, listener = stomp_tls("guest")
    conn.connect(wait=True)  # no login header: the certificate's CN
    stomp_roundtrip(conn, listener)
    conn.disconnect()
    wait_for_log(BROKER, "stomp connection opened peer=tls:")


def test_stomp_certificate_naming_no_user_is_refused():
    # Without the certificate, CONNECT without login would be the default user guest.
    conn, listener = stomp_tls("nobody")
    try:
        conn.connect(wait=True)
    except stomp.exception.ConnectFailedException:
        pass
    assert listener.event.wait(5), "no ERROR frame"
    assert listener.errors, "logged in without a valid certificate user"
    assert "Access refused for user 'nobody'" in listener.errors[0].body, listener.errors[0].body
    if conn.is_connected():
        conn.disconnect()


# ---- HTTPS ----------------------------------------------------------------------------------

def test_https_management_api():
    ctx = CERTS.client_context()
    with urllib.request.urlopen(f"https://localhost:{BROKER.https_port}/api/health",
                                context=ctx, timeout=5) as r:
        assert r.status == 200
        assert b'"ok"' in r.read()


def test_https_plain_http_client_is_closed_and_logged():
    s = socket.create_connection((HOST, BROKER.https_port))
    s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed_within(s, 5)
    s.close()
    wait_for_log(BROKER, "http TLS handshake failed")


# ---- brokers of their own ---------------------------------------------------------------------

def test_stalled_handshake_is_closed_after_the_timeout_without_blocking_others():
    with tls_broker(CERTS, extra_config="tls.handshake_timeout = 1500\n") as b:
        stalled = [socket.create_connection((HOST, p))
                   for p in (b.amqps_port, b.stomps_port, b.https_port)]
        t0 = time.monotonic()
        # Others get through meanwhile, on every listener.
        conn = pika.BlockingConnection(amqps_params(b))
        assert roundtrip(conn) == b"over tls"
        sc, sl = stomp_tls(port=b.stomps_port)
        sc.connect("guest", "guest", wait=True)
        with urllib.request.urlopen(f"https://localhost:{b.https_port}/api/health",
                                    context=CERTS.client_context(), timeout=5) as r:
            assert r.status == 200
        for s in stalled:
            assert closed_within(s, 6), "stalled handshake not closed"
            s.close()
        elapsed = time.monotonic() - t0
        assert 1.2 < elapsed < scaled(6), elapsed
        wait_for_log(b, "amqp TLS handshake failed")
        wait_for_log(b, 'error="timed out after 1500 ms"')
        assert roundtrip(conn) == b"over tls"  # still up
        conn.close()
        sc.disconnect()


def server_fingerprint(port):
    ctx = CERTS.client_context()
    with socket.create_connection((HOST, port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            import hashlib
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def test_sighup_reloads_the_certificate_and_old_connections_stay_up():
    with tls_broker(CERTS) as b:
        assert server_fingerprint(b.amqps_port) == CERTS.fingerprint("server")
        old = pika.BlockingConnection(amqps_params(b))
        old_stomp, old_listener = stomp_tls(port=b.stomps_port)
        old_stomp.connect("guest", "guest", wait=True)
        # A renewed certificate: written over the files the config names, then SIGHUP.
        with open(CERTS.path("server2.pem"), "rb") as f, open(b.live_cert + ".pem", "wb") as o:
            o.write(f.read())
        with open(CERTS.path("server2.key"), "rb") as f, open(b.live_cert + ".key", "wb") as o:
            o.write(f.read())
        b.proc.send_signal(signal.SIGHUP)
        wait_for_log(b, "SIGHUP: TLS certificate reloaded")
        for port in (b.amqps_port, b.stomps_port, b.https_port):
            assert server_fingerprint(port) == CERTS.fingerprint("server2"), port
        assert roundtrip(old) == b"over tls"  # the old connection, on the old certificate
        stomp_roundtrip(old_stomp, old_listener)
        new = pika.BlockingConnection(amqps_params(b))
        assert roundtrip(new) == b"over tls"
        # A broken reload keeps the current certificate.
        with open(b.live_cert + ".key", "w") as o:
            o.write("not a key\n")
        b.proc.send_signal(signal.SIGHUP)
        wait_for_log(b, "SIGHUP: TLS reload failed, keeping the previous certificate")
        assert server_fingerprint(b.amqps_port) == CERTS.fingerprint("server2")
        assert roundtrip(old) == b"over tls"
        for c in (old, new):
            c.close()
        old_stomp.disconnect()


def test_external_with_the_full_dn_when_login_from_is_dn():
    # tls.login_from = dn: the user is the certificate's whole subject (RFC 4514).
    config = "tls.login_from = dn\ndefault_user = CN=dnuser,O=Warren Test\ndefault_pass = x\n"
    with tls_broker(CERTS, extra_config=config) as b:
        conn = pika.BlockingConnection(
            amqps_params(b, "dnuser", pika.credentials.ExternalCredentials()))
        assert roundtrip(conn) == b"over tls"
        conn.close()
        wait_for_log(b, "user 'CN=dnuser,O=Warren Test' authenticated")
        expect_amqp_refused(amqps_params(b, "guest", pika.credentials.ExternalCredentials()))
        wait_for_log(b, "EXTERNAL login refused: user 'CN=guest,O=Warren Test'")


def test_fail_if_no_peer_cert_requires_a_client_certificate():
    with tls_broker(CERTS, verify="fail_if_no_peer_cert") as b:
        expect_amqp_refused(amqps_params(b))
        wait_for_log(b, "amqp TLS handshake failed")
        conn = pika.BlockingConnection(amqps_params(b, "guest"))  # PLAIN, with a certificate
        assert roundtrip(conn) == b"over tls"
        conn.close()


def test_startup_with_a_missing_certificate_is_a_config_error():
    import tempfile
    import os
    from harness import find_warrend, free_port
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([find_warrend(), "--data-dir", d, "--amqp-port", str(free_port()),
                            "--stomp-port", "off", "--http-port", "off",
                            "--amqp-tls-port", str(free_port()),
                            "--tls-cert-file", os.path.join(d, "missing.pem"),
                            "--tls-key-file", os.path.join(d, "missing.key")],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "config error: tls.cert_file" in r.stderr, r.stderr
        r = subprocess.run([find_warrend(), "--data-dir", d, "--amqp-tls-port", "5671"],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "a TLS listener needs tls.cert_file and tls.key_file" in r.stderr, r.stderr


def main():
    global CERTS, BROKER
    with certs() as c:
        CERTS = c
        with tls_broker(c) as b:
            BROKER = b
            run_tests_no_exit([
                test_pika_amqps_with_password,
                test_pika_amqps_large_message_spans_many_tls_records,
                test_pika_external_login_with_client_certificate,
                test_external_is_not_offered_without_a_client_certificate,
                test_external_for_a_certificate_naming_no_user_is_refused,
                test_expired_client_certificate_is_refused_and_logged,
                test_untrusted_client_certificate_is_refused_and_logged,
                test_plain_tcp_client_on_a_tls_port_is_closed_and_logged,
                test_tls_1_1_is_refused_and_1_2_and_1_3_are_accepted,
                test_weak_tls12_cipher_is_refused,
                test_stomp_py_over_tls_with_passcode,
                test_stomp_certificate_login_connect_without_login,
                test_stomp_certificate_naming_no_user_is_refused,
                test_https_management_api,
                test_https_plain_http_client_is_closed_and_logged,
            ], b)
        run_tests_no_exit([
            test_stalled_handshake_is_closed_after_the_timeout_without_blocking_others,
            test_sighup_reloads_the_certificate_and_old_connections_stay_up,
            test_external_with_the_full_dn_when_login_from_is_dn,
            test_fail_if_no_peer_cert_requires_a_client_certificate,
            test_startup_with_a_missing_certificate_is_a_config_error,
        ])
    finish()


_totals = {"passed": 0, "failed": 0}


def run_tests_no_exit(tests, b=None):
    """harness.run_tests, without its exit: the totals are reported once at the end (with the
    broker's log when something failed)."""
    try:
        run_tests(tests)
    except SystemExit as e:
        failed = e.code != 0
        _totals["failed" if failed else "passed"] += 1
        if failed and b is not None:
            import sys
            sys.stderr.write("--- warrend log tail ---\n" + b.log_text()[-8000:])


def finish():
    import sys
    if _totals["failed"]:
        print("FAILED", flush=True)
        sys.exit(1)
    print("all TLS tests passed", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
