"""warren-perf against a real broker: runs a few thousand messages through the scenarios' shapes
(auto-ack, manual ack with prefetch, confirms with persistent messages, fanout, fill mode, idle
connections) and checks from the --json summary that every message arrived and nothing failed.

Run against RabbitMQ to validate the test itself:  WARREN_EXTERNAL=127.0.0.1:5672 python3 perf_smoke.py
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import broker, run_tests, scaled  # noqa: E402


def find_perf():
    build = os.environ.get("WARREN_BUILD")
    cands = []
    if build:
        cands.append(os.path.join(build, "warren-perf"))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    for sub in ("build/release", "build/debug", "build/asan"):
        cands.append(os.path.join(root, sub, "warren-perf"))
    for c in cands:
        if os.path.exists(c):
            return c
    raise RuntimeError("warren-perf not found (set WARREN_BUILD)")


PERF = find_perf()


def perf(b, *args, timeout=90):
    cmd = [PERF, "--host", b.host, "--port", str(b.amqp_port), "--json", "--quiet"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not p.stdout.strip():
        raise AssertionError(f"no JSON from {cmd}: rc {p.returncode}\n{p.stderr}")
    summary = json.loads(p.stdout)
    assert p.returncode == 0, f"rc {p.returncode}: {summary['errors']}\n{p.stderr}"
    assert summary["errors"] == [], summary["errors"]
    return summary


def assert_all_arrived(s, expected):
    assert s["sent"] == expected, (s["sent"], expected)
    assert s["received"] == s["expected"] == expected, (s["received"], s["expected"], expected)
    assert s["latency_ns"]["count"] == expected, s["latency_ns"]
    assert 0 < s["latency_ns"]["p50"] <= s["latency_ns"]["p99"] <= s["latency_ns"]["max"]
    assert s["queue_depth_end"] == s["queue_depth_start"], s


def test_auto_ack():
    with broker() as b:
        s = perf(b, "-u", "smoke-auto", "-C", "3000", "-a")
        assert_all_arrived(s, 3000)


def test_manual_ack_prefetch():
    with broker() as b:
        s = perf(b, "-u", "smoke-manual", "-C", "3000", "-q", "100", "--multi-ack", "10")
        assert_all_arrived(s, 3000)
        assert s["acks_sent"] >= 3000 // 10


def test_confirms_persistent():
    with broker() as b:
        s = perf(b, "-u", "smoke-durable", "-C", "2000", "-s", "1024", "--persistent",
                 "-c", "100", "-q", "200")
        assert_all_arrived(s, 2000)
        assert s["confirmed"] == 2000 and s["nacked"] == 0, s
        assert s["confirm_latency_ns"]["count"] == 2000


def test_fanout_two_producers():
    with broker() as b:
        s = perf(b, "-x", "2", "-y", "4", "--queues", "4", "--queue-pattern", "smoke-fan-%d",
                 "--exchange", "smoke-fanout", "--type", "fanout", "-C", "500", "-a")
        assert s["sent"] == 1000
        assert_all_arrived(dict(s, sent=4000), 4000)


def test_fixed_rate():
    with broker() as b:
        s = perf(b, "-u", "smoke-rate", "-r", "2000", "-C", "2000", "-a")
        assert_all_arrived(s, 2000)
        # 2000 messages at 2000 msg/s take about a second, not less
        assert 0.9 < s["duration_s"] < scaled(10), s["duration_s"]


def test_fill_mode():
    with broker() as b:
        s = perf(b, "-u", "smoke-fill", "--no-consume", "-C", "5000")
        assert s["sent"] == 5000
        assert s["queue_depth_end"] - s["queue_depth_start"] == 5000, s
        assert s["throughput"] > 0


def test_idle_connections():
    with broker() as b:
        s = perf(b, "-x", "0", "-y", "0", "--connections", "50", "-z", "0.5")
        assert s["idle_connections_open"] == 50, s


if __name__ == "__main__":
    run_tests([test_auto_ack, test_manual_ack_prefetch, test_confirms_persistent,
               test_fanout_two_producers, test_fixed_rate, test_fill_mode, test_idle_connections])
