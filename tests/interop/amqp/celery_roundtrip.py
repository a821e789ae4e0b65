"""Celery (python3-celery, py-amqp transport) against the broker: a worker subprocess with the solo
pool consumes tasks, results come back through the rpc:// backend (reply queues + correlation
ids). This module is both the test and the Celery app the worker imports (-A celery_roundtrip)."""
import os
import subprocess
import sys
import time

from celery import Celery

BROKER_ENV, QUEUE_ENV = "WARREN_CELERY_BROKER", "WARREN_CELERY_QUEUE"

app = Celery("celery_roundtrip", broker=os.environ.get(BROKER_ENV, "amqp://localhost//"),
             backend="rpc://")
app.conf.update(task_default_queue=os.environ.get(QUEUE_ENV, "celery"),
                broker_connection_retry_on_startup=False, broker_connection_max_retries=3,
                worker_hijack_root_logger=False, result_expires=60)


@app.task(name="celery_roundtrip.add")  # explicit: the test runs as __main__
def add(x, y):
    return x + y


@app.task(name="celery_roundtrip.fail")
def fail():
    raise ValueError("boom")


def test_celery_roundtrip():
    from amqp_util import HERE, current_broker, expect_eq, uniq
    b = current_broker()
    url = f"amqp://guest:guest@{b.host}:{b.amqp_port}//"
    queue = uniq("celery")
    env = dict(os.environ, **{BROKER_ENV: url, QUEUE_ENV: queue})
    app.conf.update(broker_url=url, task_default_queue=queue)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_roundtrip", "worker", "-P", "solo",
         "-c", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"{queue}@%h", "-l", "info"],
        cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        t0 = time.monotonic()
        expect_eq(add.delay(2, 3).get(timeout=45), 5, "add.delay(2, 3).get()")
        print(f"first result after {time.monotonic() - t0:.2f}s", flush=True)
        results = [add.delay(i, i) for i in range(10)]
        expect_eq([r.get(timeout=30) for r in results], [2 * i for i in range(10)],
                  "ten results")
        r = fail.delay()
        try:
            r.get(timeout=30)
            raise AssertionError("failing task returned a result")
        except ValueError as e:
            expect_eq(str(e), "boom", "propagated task exception")
        assert worker.poll() is None, "celery worker exited early"
    finally:
        worker.terminate()
        try:
            out, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, _ = worker.communicate()
        text = out.decode("utf-8", "replace")
        if worker.returncode not in (0, -15) or os.environ.get("WARREN_KEEP_LOGS"):
            sys.stderr.write("--- celery worker output ---\n" + text[-8000:] + "\n")
        app.close()
        from amqp_util import connect
        conn = connect()
        conn.channel().queue_delete(queue)
        conn.close()


if __name__ == "__main__":
    from amqp_util import main
    main([test_celery_roundtrip])
