"""Shared helpers for the TLS interop tests: certificates made with the openssl CLI in a temp dir,
and a broker started with its TLS listeners on free ports.

    from tls_util import certs, tls_broker
    with certs() as c, tls_broker(c) as b:
        ctx = c.client_context("guest")          # ssl.SSLContext trusting the test CA
        ... b.amqps_port, b.stomps_port, b.https_port ...

The certificates (all under c.dir):
    ca.pem/ca.key            the test CA; the broker's tls.ca_file
    server.pem/server.key    CN=localhost, SAN 127.0.0.1 and localhost, signed by the CA
    server2.pem/server2.key  the same names, a new key: the "renewed" certificate for SIGHUP tests
    guest.pem/.key           client certificate CN=guest (a user that exists), O=Warren Test
    nobody.pem/.key          client certificate CN=nobody (no such user)
    dnuser.pem/.key          client certificate O=Warren Test, CN=dnuser (for tls.login_from = dn)
    expired.pem/.key         CN=guest, signed by the CA, expired
    untrusted.pem/.key       CN=guest, signed by another CA the broker does not trust
"""
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from harness import HOST, broker, free_port, run_tests, scaled, wait_listening  # noqa: E402,F401

RUN_ID = uuid.uuid4().hex[:8]
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def uniq(base):
    return f"it.{base}.{RUN_ID}.{uuid.uuid4().hex[:6]}"


def openssl(*args, cwd):
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


class Certs:
    def __init__(self, d):
        self.dir = d

    def path(self, name):
        return os.path.join(self.dir, name)

    def _key_and_csr(self, name, subject):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", subject, cwd=self.dir)

    def _sign(self, name, ca="ca", days="2", ext=None):
        args = ["x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", days]
        if ext:
            with open(self.path(f"{name}.ext"), "w") as f:
                f.write(ext)
            args += ["-extfile", f"{name}.ext"]
        openssl(*args, cwd=self.dir)

    def _ca(self, name, cn):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={cn}", cwd=self.dir)

    def make(self):
        self._ca("ca", "Warren Test CA")
        self._ca("rogue", "Rogue CA")
        server_ext = ("subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                      "extendedKeyUsage = serverAuth\n")
        client_ext = "extendedKeyUsage = clientAuth\n"
        for name in ("server", "server2"):
            self._key_and_csr(name, "/CN=localhost")
            self._sign(name, ext=server_ext)
        for name, subject in (("guest", "/O=Warren Test/CN=guest"),
                              ("nobody", "/O=Warren Test/CN=nobody"),
                              ("dnuser", "/O=Warren Test/CN=dnuser")):
            self._key_and_csr(name, subject)
            self._sign(name, ext=client_ext)
        self._key_and_csr("expired", "/O=Warren Test/CN=guest")
        self._sign("expired", days="-1", ext=client_ext)  # notAfter before notBefore: expired
        self._key_and_csr("untrusted", "/O=Warren Test/CN=guest")
        self._sign("untrusted", ca="rogue", ext=client_ext)
        return self

    def client_context(self, client=None):
        """An ssl.SSLContext that trusts the test CA and, given a name, presents that client
        certificate."""
        ctx = ssl.create_default_context(cafile=self.path("ca.pem"))
        if client:
            ctx.load_cert_chain(self.path(f"{client}.pem"), self.path(f"{client}.key"))
        return ctx

    def fingerprint(self, name):
        out = openssl("x509", "-in", f"{name}.pem", "-noout", "-fingerprint", "-sha256",
                      cwd=self.dir)
        return out.strip().split("=", 1)[1].replace(":", "").lower()

    def spki_hash(self, name):
        """base64(sha256(SubjectPublicKeyInfo)), for Chromium's
        --ignore-certificate-errors-spki-list."""
        der = subprocess.run([OPENSSL, "x509", "-in", self.path(f"{name}.pem"), "-pubkey",
                              "-noout"], capture_output=True, check=True).stdout
        der = subprocess.run([OPENSSL, "pkey", "-pubin", "-outform", "der"], input=der,
                             capture_output=True, check=True).stdout
        digest = subprocess.run([OPENSSL, "dgst", "-sha256", "-binary"], input=der,
                                capture_output=True, check=True).stdout
        import base64
        return base64.b64encode(digest).decode()


@contextlib.contextmanager
def certs():
    d = tempfile.mkdtemp(prefix="warren-tls-")
    try:
        yield Certs(d).make()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def tls_broker(c, verify="peer", extra_config="", cert="server"):
    """A broker with AMQPS, STOMP over TLS and HTTPS on free ports, its certificate copied to
    live.pem/live.key (so a test can replace them and send SIGHUP)."""
    live = os.path.join(c.dir, f"live-{uuid.uuid4().hex[:6]}")
    shutil.copy(c.path(f"{cert}.pem"), live + ".pem")
    shutil.copy(c.path(f"{cert}.key"), live + ".key")
    ports = {}

    def config():  # fresh ports each time the harness (re)starts warrend
        ports.update(amqps=free_port(), stomps=free_port(), https=free_port())
        return (f"amqp.tls.port = {ports['amqps']}\n"
                f"stomp.tls.port = {ports['stomps']}\n"
                f"http.tls.port = {ports['https']}\n"
                f"tls.cert_file = {live}.pem\n"
                f"tls.key_file = {live}.key\n"
                f"tls.ca_file = {c.path('ca.pem')}\n"
                f"tls.verify = {verify}\n" + extra_config), list(ports.values())

    with broker(config_text=config) as b:
        b.amqps_port = ports["amqps"]
        b.stomps_port = ports["stomps"]
        b.https_port = ports["https"]
        b.live_cert = live
        yield b


def wait_for_log(b, text, timeout=5.0):
    timeout = scaled(timeout)  # harness.scaled: longer on a sanitizer build
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in b.log_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"log has no line with {text!r}; log tail:\n{b.log_text()[-3000:]}")


def closed_within(sock, timeout):
    """True when the peer closes (EOF or reset) within scaled(`timeout`) seconds."""
    timeout = scaled(timeout)  # harness.scaled: longer on a sanitizer build
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
