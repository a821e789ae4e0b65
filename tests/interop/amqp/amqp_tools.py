"""rabbitmq-c's command-line tools (Debian amqp-tools) against the broker: amqp-declare-queue,
amqp-publish, amqp-get, amqp-consume -c N, amqp-delete-queue, each run with --server/--port."""
import subprocess
import time

import pika.exceptions as pex

from amqp_util import connect, current_broker, expect_eq, main, uniq


def tool(name, *args, stdin=None, timeout=20):
    b = current_broker()
    cmd = [name, "--server", b.host, "--port", str(b.amqp_port), *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ok(name, *args, **kw):
    rc, out, err = tool(name, *args, **kw)
    assert rc == 0, f"{name} {args} exited {rc}: {err.decode(errors='replace')}"
    return out


def test_declare_publish_get():
    q = uniq("tools.get")
    out = ok("amqp-declare-queue", "-q", q)
    expect_eq(out.decode().strip(), q, "amqp-declare-queue output")
    # Server-named queue: prints the generated name.
    out = ok("amqp-declare-queue", "-q", "")
    assert out.decode().strip().startswith("amq.gen-"), f"server-named: {out!r}"
    ok("amqp-publish", "-e", "", "-r", q, "-b", "hello tools")
    ok("amqp-publish", "-r", q, "-p", "-C", "text/plain", "-H", "x-origin: tools",
       "-b", "second")
    expect_eq(ok("amqp-get", "-q", q), b"hello tools", "amqp-get first")
    # Check the properties set by amqp-publish with pika before amqp-get takes it.
    conn = connect()
    ch = conn.channel()
    m, p, body = ch.basic_get(q, auto_ack=False)
    expect_eq((body, p.content_type, p.delivery_mode, (p.headers or {}).get("x-origin")),
              (b"second", "text/plain", 2, "tools"), "properties set by amqp-publish")
    ch.basic_nack(m.delivery_tag, requeue=True)
    conn.close()
    expect_eq(ok("amqp-get", "-q", q), b"second", "amqp-get second")
    rc, out, err = tool("amqp-get", "-q", q)
    assert rc != 0, f"amqp-get on an empty queue should fail, got rc 0 and {out!r}"
    ok("amqp-delete-queue", "-q", q)


def test_consume_count():
    q = uniq("tools.consume")
    ok("amqp-declare-queue", "-q", q)
    for i in range(3):
        ok("amqp-publish", "-r", q, "-b", f"msg-{i}")
    # -c 1: consume exactly one message, run `cat` with its body on stdin, exit.
    expect_eq(ok("amqp-consume", "-q", q, "-c", "1", "cat"), b"msg-0", "amqp-consume -c 1")
    expect_eq(ok("amqp-consume", "-q", q, "-c", "2", "-p", "1", "cat"), b"msg-1msg-2",
              "amqp-consume -c 2")
    conn = connect()
    ch = conn.channel()
    ok_ = ch.queue_declare(q, passive=True).method
    expect_eq((ok_.message_count, ok_.consumer_count), (0, 0), "queue after amqp-consume")
    conn.close()
    # Consumer bound to an exchange with -e/-r, fed while it waits.
    proc = subprocess.Popen(
        ["amqp-consume", "--server", current_broker().host, "--port",
         str(current_broker().amqp_port), "-e", "amq.topic", "-r", uniq("tools.key"), "-x",
         "-c", "1", "cat"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        conn = connect()
        ch = conn.channel()
        ch.confirm_delivery()
        deadline = time.monotonic() + 10
        while True:  # wait until amqp-consume has bound its queue
            try:
                ch.basic_publish("amq.topic", uniq("tools.key"), b"via topic", mandatory=True)
                break
            except pex.UnroutableError:
                assert time.monotonic() < deadline, "amqp-consume never bound its queue"
                time.sleep(0.05)
        out, err = proc.communicate(timeout=15)
        expect_eq((proc.returncode, out), (0, b"via topic"), "amqp-consume -e amq.topic")
        conn.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ok("amqp-delete-queue", "-q", q)


def test_durable_and_delete():
    q = uniq("tools.durable")
    ok("amqp-declare-queue", "-d", "-q", q)
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True, passive=True)
    ok("amqp-publish", "-r", q, "-b", "x")
    rc, _, _ = tool("amqp-delete-queue", "-q", q, "--if-empty")
    assert rc != 0, "amqp-delete-queue --if-empty on a non-empty queue succeeded"
    ok("amqp-delete-queue", "-q", q)
    ch = conn.channel()
    try:
        ch.queue_declare(q, passive=True)
        raise AssertionError("queue still there after amqp-delete-queue")
    except pex.ChannelClosedByBroker as e:
        expect_eq(e.reply_code, 404, "passive declare after amqp-delete-queue")
    conn.close()


if __name__ == "__main__":
    main([test_declare_publish_get, test_consume_count, test_durable_and_delete])
