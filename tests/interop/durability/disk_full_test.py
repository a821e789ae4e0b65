"""A full disk (the data dir on a small tmpfs; needs root to mount, skipped otherwise), through
python3-pika: warrend must never acknowledge what it could not write.

- test_declare_ok_only_if_saved: with no space left, a durable queue / exchange / binding that
  got declare-ok / bind-ok must still be there after space is freed and warrend restarted
  (failing the declare is fine; acknowledging it and forgetting it is not).
- test_no_confirm_without_disk: publishing persistent messages with confirms until the log
  cannot write: every confirmed message is there (byte-exact) after a restart with space, and
  nothing that was never published shows up; a publisher still waiting for confirms when the
  log fails gets its connection closed with 541 instead of waiting forever.
"""
import contextlib
import os
import subprocess
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
def test_no_confirm_without_disk():
    with broker_on_tmpfs("3m") as (b, d):
        q = uniq("full.msgs")
        conn = connect(b)
        conn.channel().queue_declare(q, durable=True)
        conn.close()
        pub = ConfirmPublisher(b, lambda i: ("", q, body("full", i, 1000),
                                             pika.BasicProperties(delivery_mode=2)),
                               count=10000, window=200).start(timeout=60)
        # until the store reports the full disk (or, if it never does, everything is confirmed)
        wait_for(lambda: pub.done.is_set() or "No space left" in b.log_text(), timeout=30,
                 what="the message log to fail on the full disk")
        if not pub.done.is_set():
            # Publishes waiting for a confirm must be told, not left waiting forever: the
            # broker closes the connection with 541 INTERNAL_ERROR.
            wait_for(lambda: pub.done.is_set(), timeout=15,
                     what="the waiting publisher to be closed after the store failed")
            assert "541" in str(pub.error) or "INTERNAL_ERROR" in str(pub.error), pub.error
        pub.abort()
        pub.join()
        confirmed = set(pub.confirmed)
        published = set(pub.published)
        assert confirmed, "nothing was confirmed before the disk filled up"
        b.stop()
        subprocess.run(["mount", "-o", "remount,size=64m", d], check=True)
        b.start()
        conn = connect(b)
        got = set()
        for _m, _p, bd in drain(conn.channel(), q, ack=False):
            got.add(check_body(bd)[1])
        missing = sorted(confirmed - got)
        assert not missing, (f"{len(missing)} of {len(confirmed)} confirmed messages lost, e.g. "
                             f"{missing[:10]}")
        assert got <= published, f"never published: {sorted(got - published)[:10]}"
        print(f"  published {len(published)}, confirmed {len(confirmed)}, after restart "
              f"{len(got)}", flush=True)
        conn.close()


@skippable
def test_waiting_publisher_is_closed_when_the_log_fails():
    """One publish waiting for its confirm when the disk is already full: the log's write fails,
    so the confirm can never come; the broker must close the connection (541), not leave the
    publisher blocked forever."""
    import threading
    with broker_on_tmpfs("3m") as (b, d):
        q = uniq("full.wait")
        conn = connect(b)
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        ch.confirm_delivery()
        filler = _fill(d)
        outcome = {}

        def publish():
            # The segment file's last page may still take a message or two: publish (one at a
            # time, each waiting for its confirm) until the write that needs new space fails.
            try:
                for i in range(1000):
                    ch.basic_publish("", q, b"x" * 16384, pika.BasicProperties(delivery_mode=2))
                    outcome["confirmed"] = i + 1
                outcome["result"] = "all confirmed"
            except Exception as e:  # noqa: BLE001
                outcome["result"] = e
        t = threading.Thread(target=publish, daemon=True)
        t.start()
        t.join(20)
        assert not t.is_alive(), (f"publisher still waiting for a confirm 20 s after the disk "
                                  f"filled ({outcome.get('confirmed', 0)} confirmed before)")
        r = outcome["result"]
        assert r != "all confirmed", "1000 x 16 KB persistent messages confirmed on a full disk"
        assert "541" in str(r) or "INTERNAL_ERROR" in str(r), repr(r)
        os.remove(filler)


if __name__ == "__main__":
    run_tests([test_declare_ok_only_if_saved, test_no_confirm_without_disk,
               test_waiting_publisher_is_closed_when_the_log_fails])
