"""Prometheus /metrics (issue #14): the text exposition format passes `promtool check metrics`
(Debian's prometheus package), RabbitMQ's rabbitmq_* names are there, no login is needed, and
the counters move when pika publishes, consumes and gets confirms. /metrics/per-object adds
one series per queue."""
import os
import re
import shutil
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def scrape(path="/metrics"):
    b = B["b"]
    with urllib.request.urlopen(f"http://{b.host}:{b.http_port}{path}", timeout=10) as r:
        assert r.status == 200
        ctype = r.headers["content-type"]
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        return r.read().decode()


def values(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, f"promtool: {p.stdout} {p.stderr}"


def test_metrics_pass_promtool_and_use_rabbitmq_names():
    text = scrape()
    promtool_check(text)
    v = values(text)
    for name in ("rabbitmq_queues", "rabbitmq_queue_messages_ready",
                 "rabbitmq_queue_messages_unacked", "rabbitmq_connections", "rabbitmq_channels",
                 "rabbitmq_consumers", "rabbitmq_global_messages_received_total",
                 "rabbitmq_global_messages_delivered_total",
                 "rabbitmq_global_messages_acknowledged_total",
                 "rabbitmq_global_messages_confirmed_total", "warren_store_fsync_seconds_count",
                 "warren_store_batches_total", "warren_store_appends_total",
                 "warren_store_batch_records_count", "rabbitmq_queue_messages_paged_out_bytes"):
        assert name in v, name


def test_counters_move_when_messages_flow():
    before = values(scrape())
    b = B["b"]
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("flow", durable=True)
    for i in range(5):
        ch.basic_publish("", "flow", b"m%d" % i, pika.BasicProperties(delivery_mode=2))
    during = values(scrape())
    assert during["rabbitmq_connections"] == before["rabbitmq_connections"] + 1
    assert during["rabbitmq_channels"] >= 1
    assert during["rabbitmq_queue_messages_ready"] == before["rabbitmq_queue_messages_ready"] + 5
    for _ in range(3):
        method, _, _ = ch.basic_get("flow")
        ch.basic_ack(method.delivery_tag)
    conn.close()
    after = values(scrape())
    d = {k: after[k] - before.get(k, 0) for k in after}
    assert d["rabbitmq_global_messages_received_total"] == 5, d
    assert d["rabbitmq_global_messages_confirmed_total"] == 5, d
    assert d["rabbitmq_global_messages_delivered_total"] == 3, d
    assert d["rabbitmq_global_messages_acknowledged_total"] == 3, d
    assert d["rabbitmq_queue_messages_ready"] == 2, d
    # Persistent messages on a durable queue went through the store's group commit.
    assert d["warren_store_appends_total"] >= 5 and d["warren_store_fsync_seconds_count"] >= 1, d
    # Group-commit batch sizes: every written batch counted once, its records summed.
    assert d["warren_store_batch_records_count"] == d["warren_store_batches_total"] >= 1, d
    assert d["warren_store_batch_records_sum"] >= 5, d
    promtool_check(scrape())


def test_per_object_metrics_label_each_queue():
    text = scrape("/metrics/per-object")
    promtool_check(text)
    v = values(text)
    assert v['rabbitmq_detailed_queue_messages_ready{vhost="/",queue="flow"}'] == 2, \
        [k for k in v if "flow" in k]
    assert v['rabbitmq_detailed_queue_messages_published_total{vhost="/",queue="flow"}'] == 5
    assert not re.search(r'^rabbitmq_detailed_queue', scrape(), re.M)


if __name__ == "__main__":
    if not os.path.exists(PROMTOOL):
        print(f"FAIL: promtool missing (scripts/deps.txt: apt prometheus)")
        sys.exit(1)
    code = 1
    with broker() as b:
        B["b"] = b
        try:
            run_tests([test_metrics_pass_promtool_and_use_rabbitmq_names,
                       test_counters_move_when_messages_flow,
                       test_per_object_metrics_label_each_queue])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
