"""Interop test harness: start a real warrend on free ports with a temporary data dir, wait until
it listens, hand the ports to the test, and always stop it.

    from harness import broker
    with broker() as b:
        conn = pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', b.amqp_port))
        ...
        b.restart()          # clean stop (SIGTERM) and start again on the same ports and data dir
        b.kill()             # SIGKILL, for crash tests; then b.start()

Environment:
  WARREND          path to the warrend binary (ctest sets it)
  WARREN_EXTERNAL  "host:amqp_port[:stomp_port[:http_port]]": use an already running broker
                   (e.g. RabbitMQ, to validate a test) instead of starting warrend; restart/kill
                   are then unavailable and tests needing them should skip.
  WARREN_KEEP_LOGS set to keep the data dir and log after the test.
  WARREN_SANITIZED "1" on a sanitizer build (make asan; ctest sets it), which runs several times
                   slower: WARREN_TIME_SCALE (ctest sets it, 3 there) multiplies wall-clock bounds.

Wall-clock bounds: a test's upper bound on how long something may take is written scaled(seconds)
so that it holds on the sanitizer build too; lower bounds (not before N s) are not scaled. A bound
that measures performance itself checks only under not SANITIZED (the functional part still runs).

Tests run in parallel under ctest: every broker gets its own ports and data dir.
"""
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"

SANITIZED = os.environ.get("WARREN_SANITIZED") == "1"
TIME_SCALE = float(os.environ.get("WARREN_TIME_SCALE") or (3 if SANITIZED else 1))


def scaled(seconds):
    """An upper bound on wall-clock time, stretched on a sanitizer build (WARREN_TIME_SCALE)."""
    return seconds * TIME_SCALE


SANITIZER_REPORT = re.compile(r"^.*(ERROR: (Address|Leak)Sanitizer|: runtime error: ).*$", re.M)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10.0, proc=None):
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"warrend exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout}s")


def find_warrend():
    path = os.environ.get("WARREND")
    if path:
        return path
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for cand in ("build/release/warrend", "build/debug/warrend", "build/asan/warrend"):
        p = os.path.join(root, cand)
        if os.path.exists(p):
            return p
    raise RuntimeError("warrend not found: set WARREND")


class Broker:
    def __init__(self, extra_args=(), config_text=None, stomp=True, http=True):
        self.host = HOST
        self.extra_args = list(extra_args)
        self.external = os.environ.get("WARREN_EXTERNAL")
        self.proc = None
        self.log_path = None
        if self.external:
            parts = self.external.split(":")
            self.host = parts[0]
            self.amqp_port = int(parts[1])
            self.stomp_port = int(parts[2]) if len(parts) > 2 else None
            self.http_port = int(parts[3]) if len(parts) > 3 else None
            self.data_dir = None
            return
        self.binary = find_warrend()
        self.data_dir = tempfile.mkdtemp(prefix="warren-test-")
        self._stomp, self._http = stomp, http
        self._config_text = config_text
        self.config_path = None
        self.config_ports = []
        self._pick_ports()
        self.log_path = os.path.join(self.data_dir, "warrend.log")

    def _pick_ports(self):
        """Free ports, and the config file. config_text is the text, or a function returning
        (text, ports it names): called again for fresh ports after a bind conflict."""
        self.amqp_port = free_port()
        self.stomp_port = free_port() if self._stomp else None
        self.http_port = free_port() if self._http else None
        if self._config_text is not None:
            text = self._config_text
            if callable(text):
                text, self.config_ports = text()
            self.config_path = os.path.join(self.data_dir, "warren.conf")
            with open(self.config_path, "w") as f:
                f.write(text)

    @property
    def amqp_url(self):
        return f"amqp://guest:guest@{self.host}:{self.amqp_port}/%2F"

    def args(self):
        a = [self.binary, "--bind", HOST, "--data-dir", os.path.join(self.data_dir, "data"),
             "--amqp-port", str(self.amqp_port),
             "--stomp-port", str(self.stomp_port) if self.stomp_port else "off",
             "--http-port", str(self.http_port) if self.http_port else "off",
             "--log-level", os.environ.get("WARREN_LOG_LEVEL", "info")]
        if self.config_path:
            a += ["--config", self.config_path]
        return a + self.extra_args

    def start(self, timeout=15.0):
        """Starts warrend and waits for every port. A port that free_port() found free can be
        taken before warrend binds it (by a client's ephemeral port of a test running beside
        this one): then warrend exits with "Address already in use", and it is started again
        on fresh ports, up to three times."""
        if self.external:
            return
        for attempt in range(3):
            self._log = open(self.log_path, "ab" if attempt == 0 else "wb")
            self.proc = subprocess.Popen(self.args(), stdout=self._log, stderr=subprocess.STDOUT)
            try:
                for port in [self.amqp_port, self.stomp_port, self.http_port] + self.config_ports:
                    if port:
                        wait_listening(port, timeout, self.proc)
                return
            except RuntimeError:
                if attempt == 2 or self.proc.poll() is None or \
                        "Address already in use" not in self.log_text():
                    raise
                self._log.close()
                self._pick_ports()

    def stop(self, timeout=15.0):
        """Clean stop (SIGTERM); returns the exit code."""
        if self.external or self.proc is None:
            return 0
        timeout = scaled(timeout)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("warrend did not stop within %ss of SIGTERM" % timeout)
        rc = self.proc.returncode
        self.proc = None
        self._log.close()
        return rc

    def kill(self):
        """SIGKILL, no clean-up: for crash tests."""
        if self.external:
            raise RuntimeError("kill() needs a warrend started by the harness")
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self._log.close()

    def restart(self):
        self.stop()
        self.start()

    def alive(self):
        return self.external or (self.proc is not None and self.proc.poll() is None)

    def log_text(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def sanitizer_report(self):
        """The first line of an ASan/UBSan report in the log (every start appends to it), or None:
        a report fails the test even when warrend was killed or kept running after it."""
        m = SANITIZER_REPORT.search(self.log_text())
        return m.group(0) if m else None

    def close(self, failed=False):
        rc = 0
        try:
            if self.proc is not None:
                crashed = self.proc.poll() is not None and self.proc.returncode not in (0, None)
                rc = self.stop()
                if crashed:
                    failed = True
            if self.sanitizer_report():
                failed = True
                rc = rc or -1
        finally:
            if self.data_dir:
                if failed or os.environ.get("WARREN_KEEP_LOGS"):
                    sys.stderr.write(f"--- warrend log ({self.log_path}) ---\n")
                    sys.stderr.write(self.log_text()[-20000:])
                if not os.environ.get("WARREN_KEEP_LOGS"):
                    shutil.rmtree(self.data_dir, ignore_errors=True)
        return rc


@contextlib.contextmanager
def broker(*extra_args, config_text=None, stomp=True, http=True, **_):
    b = Broker(extra_args, config_text=config_text, stomp=stomp, http=http)
    b.start()
    failed = False
    try:
        yield b
        if not b.alive():
            failed = True
            raise AssertionError("warrend died during the test")
    except BaseException:
        failed = True
        raise
    finally:
        report = b.sanitizer_report()
        rc = b.close(failed)
        if not failed and report:
            raise AssertionError(f"sanitizer report in the warrend log: {report}")
        if not failed and rc not in (0, None):
            raise AssertionError(f"warrend exited with code {rc} on SIGTERM")


class Skip(Exception):
    """Raised by a test that cannot run here (e.g. needs kill -9 under WARREN_EXTERNAL): reported
    as SKIP and counted as skipped, never as passed."""


def run_tests(tests):
    """Tiny runner: each test is a function taking nothing. Prints a line per test and a
    'N passed, N failed' summary; exit code 1 if any failed. Usage at the bottom of a script:

        if __name__ == "__main__":
            run_tests([test_a, test_b])
    """
    import traceback
    only = sys.argv[1:]
    passed = failed = skipped = 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            t()
            passed += 1
            print(f"PASS {t.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Skip as e:
            skipped += 1
            print(f"SKIP {t.__name__}: {e}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
            traceback.print_exc()
    unknown = [n for n in only if n not in {t.__name__ for t in tests}]
    if unknown or (only and passed + failed == 0):
        # A filter that selects nothing must not pass as a green run.
        print(f"no such test: {', '.join(unknown) or ' '.join(only)}", flush=True)
        failed += 1
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""),
          flush=True)
    # 77: nothing ran but skips; ctest reports the test as skipped (SKIP_RETURN_CODE), not passed.
    sys.exit(1 if failed else (77 if skipped and not passed else 0))
