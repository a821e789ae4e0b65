"""Resource alarms (issue #16): with the memory high watermark or the disk free limit crossed,
a connection that publishes is blocked after that publish, as RabbitMQ does it: AMQP clients
with the connection.blocked capability get connection.blocked ("low on memory", "low on disk",
"low on memory & disk"), the broker stops reading from them (later publishes wait in the
socket, nothing is lost), consumers keep draining, heartbeats are not held against a blocked
client, and when the alarm clears (here: new limits in the config file and SIGHUP) the client
gets connection.unblocked and its waiting publishes go through. STOMP SENDs are held the same
way."""
import base64
import json
import os
import signal
import urllib.error
import urllib.request
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402
import stomp  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}
BASE = "resource_check_interval = 100\n"
CLEAR = BASE + "vm_memory_high_watermark.absolute = 1000GB\ndisk_free_limit.absolute = 1kB\n"


def set_limits(text, expect_log=None):
    """Writes new limits, SIGHUPs the broker, and waits for one more `expect_log` line."""
    b = B["b"]
    before = b.log_text().count(expect_log) if expect_log else 0
    with open(b.config_path, "w") as f:
        f.write(text)
    b.proc.send_signal(signal.SIGHUP)
    if expect_log:
        deadline = time.monotonic() + 10
        while b.log_text().count(expect_log) <= before:
            assert time.monotonic() < deadline, f"no new log line {expect_log!r}"
            time.sleep(0.05)
    else:
        time.sleep(0.3)


def wait_log(text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in B["b"].log_text():
        assert time.monotonic() < deadline, f"no log line {text!r}"
        time.sleep(0.05)


def http_get(path):
    """(status, body) of a GET on the management API as guest."""
    b = B["b"]
    req = urllib.request.Request(f"http://{b.host}:{b.http_port}{path}")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def connect(**kw):
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port,
                                                             connection_attempts=1, **kw))


def depth(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def wait_for(pred, conns, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        for c in conns:
            c.process_data_events(time_limit=0.05)


def check_blocks_and_resumes(limits, reason):
    set_limits(CLEAR)
    watcher = connect()  # never publishes: never blocked
    wch = watcher.channel()
    wch.queue_declare("alarm-q")
    wch.queue_purge("alarm-q")
    set_limits(limits, "resource limit alarm set")

    pub = connect(heartbeat=1)
    events = []
    pub.add_on_connection_blocked_callback(lambda c, f: events.append(("blocked", f.method.reason)))
    pub.add_on_connection_unblocked_callback(lambda c, f: events.append(("unblocked", None)))
    pch = pub.channel()
    pch.basic_publish("", "alarm-q", b"first")  # handled, then the connection is blocked
    wait_for(lambda: events, [pub])
    assert events == [("blocked", reason)], events
    wait_for(lambda: depth(wch, "alarm-q") == 1, [watcher])
    for i in range(20):
        pch.basic_publish("", "alarm-q", b"held %d" % i)
    # Not read while blocked: nothing more arrives, and the blocked client is not closed for
    # missed heartbeats (it sends them; the broker does not read them) over 3 heartbeat periods.
    end = time.monotonic() + 3
    while time.monotonic() < end:
        pub.process_data_events(time_limit=0.1)
        assert depth(wch, "alarm-q") == 1, "a publish was read while the connection was blocked"
    # The management API and /metrics show it, as RabbitMQ's do.
    status, body = http_get("/api/health/checks/alarms")
    assert status == 503, (status, body)
    doc = json.loads(body)
    assert doc["status"] == "failed" and doc["reason"] == "There are alarms in effect in the cluster"
    resources = sorted(a["resource"] for a in doc["alarms"])
    assert resources == sorted(r for r in ("memory", "disk") if r in reason), resources
    status, body = http_get("/api/nodes")
    node = json.loads(body)[0]
    assert node["mem_alarm"] == ("memory" in reason), node
    assert node["disk_free_alarm"] == ("disk" in reason), node
    states = {c["state"] for c in json.loads(http_get("/api/connections")[1])}
    assert "blocked" in states, states
    metrics = http_get("/metrics")[1]
    want = "rabbitmq_alarms_memory_used_watermark " + ("1" if "memory" in reason else "0")
    assert want in metrics, [m for m in metrics.splitlines() if "alarms" in m]
    # Consumers are never blocked: the watcher drains the queue.
    m = wch.basic_get("alarm-q", auto_ack=True)
    assert m[2] == b"first", m

    set_limits(CLEAR)
    wait_for(lambda: ("unblocked", None) in events, [pub])
    assert http_get("/api/health/checks/alarms")[0] == 200
    wait_for(lambda: depth(wch, "alarm-q") == 20, [pub, watcher])
    bodies = [wch.basic_get("alarm-q", auto_ack=True)[2] for _ in range(20)]
    assert bodies == [b"held %d" % i for i in range(20)], bodies
    assert pub.is_open
    pub.close()
    watcher.close()


def test_memory_alarm_blocks_publishers_until_it_clears():
    check_blocks_and_resumes(BASE + "vm_memory_high_watermark.absolute = 1MB\n", "low on memory")
    wait_log("memory resource limit alarm cleared")


def test_disk_alarm_blocks_publishers_until_it_clears():
    check_blocks_and_resumes(BASE + "disk_free_limit.absolute = 1000000GB\n", "low on disk")
    wait_log("disk resource limit alarm cleared")


def test_both_alarms_name_both_resources():
    check_blocks_and_resumes(BASE + "vm_memory_high_watermark.relative = 0\n"
                             "disk_free_limit.absolute = 1000000GB\n", "low on memory & disk")


def test_stomp_sends_are_held_while_an_alarm_is_on():
    b = B["b"]
    set_limits(CLEAR)
    watcher = connect()
    wch = watcher.channel()
    wch.queue_declare("alarm-s")
    wch.queue_purge("alarm-s")
    set_limits(BASE + "vm_memory_high_watermark.absolute = 1MB\n",
               "memory resource limit alarm set")
    s = stomp.Connection([(b.host, b.stomp_port)], heartbeats=(0, 0))
    s.connect("guest", "guest", wait=True)
    s.send("/amq/queue/alarm-s", "one")
    wait_for(lambda: depth(wch, "alarm-s") == 1, [watcher])
    s.send("/amq/queue/alarm-s", "two")
    s.send("/amq/queue/alarm-s", "three")
    time.sleep(1)
    assert depth(wch, "alarm-s") == 1, "a SEND was read while the STOMP connection was blocked"
    wait_log("stomp connection blocked")
    set_limits(CLEAR)
    wait_for(lambda: depth(wch, "alarm-s") == 3, [watcher])
    s.disconnect()
    watcher.close()


def test_a_publisher_that_connects_during_an_alarm_is_blocked_at_its_first_publish():
    set_limits(CLEAR)
    set_limits(BASE + "disk_free_limit.absolute = 1000000GB\n", "disk resource limit alarm set")
    c = connect()
    events = []
    c.add_on_connection_blocked_callback(lambda conn, f: events.append(f.method.reason))
    ch = c.channel()
    ch.queue_declare("alarm-late")  # declares are not publishes: not blocked
    assert not events
    ch.basic_publish("", "alarm-late", b"x")
    wait_for(lambda: events, [c])
    assert events == ["low on disk"], events
    set_limits(CLEAR)
    c.process_data_events(time_limit=0.5)
    c.close()


if __name__ == "__main__":
    code = 1
    with broker(config_text=CLEAR) as b:
        B["b"] = b
        try:
            run_tests([test_memory_alarm_blocks_publishers_until_it_clears,
                       test_disk_alarm_blocks_publishers_until_it_clears,
                       test_both_alarms_name_both_resources,
                       test_stomp_sends_are_held_while_an_alarm_is_on,
                       test_a_publisher_that_connects_during_an_alarm_is_blocked_at_its_first_publish])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
