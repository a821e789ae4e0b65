"""A full disk (the data dir on a small tmpfs; needs root to mount, skipped otherwise), through
python3-pika: warrend must never acknowledge what it could not write, and must resume by
itself when space comes back (publishers blocked meanwhile, as RabbitMQ's disk alarm does).

- test_declare_ok_only_if_saved: with no space left, a durable queue / exchange / binding that
  got declare-ok / bind-ok must still be there after space is freed and warrend restarted
  (failing the declare is fine; acknowledging it and forgetting it is not).
- test_a_full_disk_blocks_publishers_until_space_is_freed: confirms stop while the store cannot
  write, the publisher is blocked rather than closed, and once space is freed (no restart)
  everything is confirmed and survives a restart.
- test_a_waiting_publisher_is_blocked_not_failed: connection.blocked "low on disk", then the
  confirms when space is back.
"""
import contextlib
import os
import subprocess
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from durability_util import (  # noqa: E402
    ConfirmPublisher, Skip, body, check_body, connect, drain, exists, pex, pika, run_tests,
    skippable, uniq, wait_for)
import harness  # noqa: E402


@contextlib.contextmanager
def broker_on_tmpfs(size):
    """A harness broker whose data dir is a tmpfs of `size` (e.g. "2m"); yields (broker, dir)."""
    if os.environ.get("WARREN_EXTERNAL"):
        raise Skip("needs a warrend started by the harness")
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs needs root")
    # No disk alarm: this test is about what the store does when a write fails, which the
    # default 50 MB free-space limit would otherwise keep publishers from reaching.
    b = harness.Broker(config_text="disk_free_limit.absolute = 0\n")
    d = os.path.join(b.data_dir, "data")
    os.makedirs(d)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        b.close()
        raise Skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    ok = False
    rc = None
    try:
        b.start()
        yield b, d
        ok = True
    finally:
        try:
            if b.proc is not None:
                crashed = b.proc.poll() is not None
                rc = b.stop()
                ok = ok and not crashed
        finally:
            subprocess.run(["umount", "-l", d], capture_output=True)
            b.close(failed=not ok)
    if rc not in (0, None):
        raise AssertionError(f"warrend exited with {rc} on SIGTERM")


def _fill(d):
    path = os.path.join(d, "filler")
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return path


@skippable
def test_declare_ok_only_if_saved():
    with broker_on_tmpfs("1m") as (b, d):
        x, q = uniq("full.x"), uniq("full.q")
        filler = _fill(d)
        conn = connect(b)
        acked = {}
        for what, call in (("exchange", lambda c: c.exchange_declare(x, "direct", durable=True)),
                           ("queue", lambda c: c.queue_declare(q, durable=True)),
                           ("binding", lambda c: c.queue_bind(q, x, "k"))):
            try:
                call(conn.channel())
                acked[what] = True
            except (pex.ChannelClosedByBroker, pex.ConnectionClosedByBroker):
                acked[what] = False
                if not conn.is_open:
                    conn = connect(b)
        os.remove(filler)
        b.restart()
        conn = connect(b)
        if acked["exchange"]:
            assert exists(conn, exchange=x), "durable exchange declare-ok'd on a full disk is lost"
        if acked["queue"]:
            assert exists(conn, queue=q), "durable queue declare-ok'd on a full disk is lost"
        if acked["binding"] and acked["queue"] and acked["exchange"]:
            ch = conn.channel()
            ch.confirm_delivery()
            ch.basic_publish(x, "k", b"m", pika.BasicProperties(delivery_mode=2))
            m, _p, bd = ch.basic_get(q, auto_ack=True)
            assert bd == b"m", "binding bind-ok'd on a full disk is lost"
        print(f"  acknowledged on a full disk: {acked}", flush=True)
        conn.close()


@skippable
def test_a_full_disk_blocks_publishers_until_space_is_freed():
    """Publishing persistent messages with confirms until the disk is full: the store keeps
    retrying its write instead of failing for good, nothing more is confirmed while it cannot
    write, the publisher is blocked (not closed), and when space is freed (the tmpfs grown, no
    restart) the store resumes and every message gets its confirm. After a restart every
    confirmed message is there, byte-exact."""
    with broker_on_tmpfs("3m") as (b, d):
        q = uniq("full.msgs")
        conn = connect(b)
        conn.channel().queue_declare(q, durable=True)
        conn.close()
        count = 6000
        pub = ConfirmPublisher(b, lambda i: ("", q, body("full", i, 1000),
                                             pika.BasicProperties(delivery_mode=2)),
                               count=count, window=200).start(timeout=120)
        wait_for(lambda: "retrying until it succeeds" in b.log_text(), timeout=30,
                 what="the message log to stall on the full disk")
        time.sleep(2)
        stalled_at = len(pub.confirmed)
        time.sleep(1)
        assert len(pub.confirmed) == stalled_at, "confirms went on while the disk was full"
        assert not pub.done.is_set(), f"the publisher stopped: {pub.error!r}"
        assert stalled_at < count
        subprocess.run(["mount", "-o", "remount,size=64m", d], check=True)
        wait_for(lambda: pub.done.is_set(), timeout=60,
                 what="every publish to be confirmed once space was freed")
        assert pub.error is None or len(pub.confirmed) == count, pub.error
        assert len(pub.confirmed) == count, (len(pub.confirmed), pub.error)
        assert "message log writes resumed" in b.log_text()
        pub.join()
        b.restart()
        conn = connect(b)
        got = set()
        for _m, _p, bd in drain(conn.channel(), q, ack=False):
            got.add(check_body(bd)[1])
        assert got == set(range(count)), (len(got), sorted(set(range(count)) - got)[:10])
        print(f"  stalled with {stalled_at} confirmed; all {count} confirmed after space was "
              f"freed and all there after a restart", flush=True)
        conn.close()


@skippable
def test_a_waiting_publisher_is_blocked_not_failed():
    """A publisher waiting for a confirm when the disk is already full stays connected and
    waiting (no 541), and gets its confirms once the space is back."""
    import threading
    with broker_on_tmpfs("3m") as (b, d):
        q = uniq("full.wait")
        conn = connect(b)
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        blocked = []
        conn.add_on_connection_blocked_callback(lambda c, f: blocked.append(f.method.reason))
        filler = _fill(d)
        outcome = {}

        def publish():
            # The segment file's last page may still take a message or two. 60 x 16 KB fits in
            # the space the filler gives back.
            try:
                for i in range(60):
                    ch.basic_publish("", q, b"x" * 16384, pika.BasicProperties(delivery_mode=2))
                    outcome["confirmed"] = i + 1
                outcome["result"] = "all confirmed"
            except Exception as e:  # noqa: BLE001
                outcome["result"] = e
        t = threading.Thread(target=publish, daemon=True)
        t.start()
        t.join(5)
        assert t.is_alive(), f"the publisher did not wait on the full disk: {outcome}"
        assert "retrying until it succeeds" in b.log_text()
        os.remove(filler)
        t.join(60)
        assert not t.is_alive(), f"the publisher still waits after space was freed: {outcome}"
        assert outcome["result"] == "all confirmed", repr(outcome["result"])
        # It waited for a confirm, so it never published under the alarm: never blocked (as in
        # RabbitMQ, a connection is blocked at its next publish); the STOMP and AMQP alarm tests
        # show the blocking itself.
        assert blocked in ([], ["low on disk"]), blocked
        conn.close()


if __name__ == "__main__":
    run_tests([test_declare_ok_only_if_saved,
               test_a_full_disk_blocks_publishers_until_space_is_freed,
               test_a_waiting_publisher_is_blocked_not_failed])
