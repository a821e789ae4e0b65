"""warrend as a process: flags, config errors (exit 2, one clear line), listening, clean
shutdown on SIGTERM/SIGINT, and the AMQP port answering a TCP client."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import broker, find_warrend, free_port, run_tests, wait_listening  # noqa: E402

WARREND = find_warrend()


def run_warrend(*args, timeout=10):
    return subprocess.run([WARREND, *args], capture_output=True, text=True, timeout=timeout)


def write_config(text):
    fd, path = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def test_version_and_help():
    r = run_warrend("--version")
    assert r.returncode == 0 and r.stdout.startswith("warrend "), r
    r = run_warrend("--help")
    assert r.returncode == 0, r
    for word in ("--config", "--data-dir", "--amqp-port", "amqp.port", "log.level"):
        assert word in r.stdout, f"--help lacks {word}"


def test_malformed_config_exits_2_with_one_line():
    path = write_config("amqp.port = 5999\nthis line is not a setting\n")
    r = run_warrend("--config", path)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"{path}:2" in lines[0] and "expected 'key = value'" in lines[0], lines[0]


def test_unknown_key_exits_2_naming_the_key():
    path = write_config("amqp.prot = 5999\n")
    r = run_warrend("--config", path)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'amqp.prot'" in lines[0], lines


def test_bad_value_and_bad_flag_exit_2():
    path = write_config("amqp.port = 99999\n")
    r = run_warrend("--config", path)
    assert r.returncode == 2 and "amqp.port" in r.stderr and "out of range" in r.stderr, r
    r = run_warrend("--amqp-port", "nope")
    assert r.returncode == 2 and "amqp.port" in r.stderr, r
    r = run_warrend("--no-such-flag")
    assert r.returncode == 2, r
    r = run_warrend("--config", "/nonexistent/warren.conf")
    assert r.returncode == 2 and "cannot read" in r.stderr, r


def test_listens_and_stops_cleanly_on_sigterm_and_sigint():
    for sig in (signal.SIGTERM, signal.SIGINT):
        data = tempfile.mkdtemp()
        port, http = free_port(), free_port()
        p = subprocess.Popen([WARREND, "--data-dir", data, "--amqp-port", str(port),
                              "--stomp-port", "off", "--http-port", str(http)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_listening(port, proc=p)
        wait_listening(http, proc=p)
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/health", timeout=5) as r:
            assert r.status == 200
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, (p.returncode, err)
        assert "listening protocol=amqp" in err, err
        assert "warrend stopped" in err, err
        assert os.path.isdir(data)


def test_port_in_use_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_warrend("--data-dir", tempfile.mkdtemp(), "--amqp-port", str(port),
                        "--stomp-port", "off", "--http-port", "off")
        assert r.returncode == 1, r
        assert "cannot listen" in r.stderr and str(port) in r.stderr, r.stderr


def test_amqp_port_answers_wrong_protocol_header_with_its_own():
    with broker() as b:
        with socket.create_connection(("127.0.0.1", b.amqp_port), timeout=5) as s:
            s.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
            got = b""
            while len(got) < 8:
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
            assert got[:8] == b"AMQP\x00\x00\x09\x01", got
            # ...and then the broker closes the connection.
            s.settimeout(5)
            assert s.recv(64) == b""


if __name__ == "__main__":
    run_tests([test_version_and_help, test_malformed_config_exits_2_with_one_line,
               test_unknown_key_exits_2_naming_the_key, test_bad_value_and_bad_flag_exit_2,
               test_listens_and_stops_cleanly_on_sigterm_and_sigint,
               test_port_in_use_is_a_clear_error,
               test_amqp_port_answers_wrong_protocol_header_with_its_own])
