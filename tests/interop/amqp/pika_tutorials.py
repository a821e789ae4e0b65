"""The six RabbitMQ tutorials (https://www.rabbitmq.com/getstarted.html) with python3-pika's
BlockingConnection, each turned into assertions: hello world, work queues with fair dispatch,
fanout publish/subscribe, direct routing, topics, RPC."""
import threading
import time

import pika

from amqp_util import connect, expect_eq, main, uniq


def drain(ch, queue, until_body=None, timeout=10.0):
    """Consume from queue until a message with body until_body arrives (not returned) or, without
    until_body, until the queue stays empty; returns the bodies in order."""
    got = []
    deadline = time.monotonic() + timeout
    for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=0.5):
        if method is None:
            if until_body is None:
                break
            assert time.monotonic() < deadline, f"{queue}: no {until_body!r} after {got}"
            continue
        if until_body is not None and body == until_body:
            break
        got.append(body)
    ch.cancel()
    return got


def test_hello_world():
    q = uniq("hello")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(queue=q)
    ch.basic_publish(exchange="", routing_key=q, body=b"Hello World!")
    received = []

    def callback(ch_, method, properties, body):
        received.append(body)
        ch_.stop_consuming()

    ch.basic_consume(queue=q, on_message_callback=callback, auto_ack=True)
    timer = conn.call_later(10, ch.stop_consuming)
    ch.start_consuming()
    conn.remove_timeout(timer)
    expect_eq(received, [b"Hello World!"], "hello world delivery")
    ch.queue_delete(q)
    conn.close()


def test_work_queues_fair_dispatch():
    q = uniq("task_queue")
    total = 24
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(queue=q, durable=True)
    counts = {"slow": 0, "fast": 0}
    props_seen = []
    done = threading.Event()
    lock = threading.Lock()
    ready = threading.Barrier(3)
    errors = []

    def worker(name, delay):
        try:
            c = connect()
            wch = c.channel()
            wch.queue_declare(queue=q, durable=True)
            wch.basic_qos(prefetch_count=1)

            def callback(ch_, method, properties, body):
                time.sleep(delay)
                with lock:
                    counts[name] += 1
                    props_seen.append(properties.delivery_mode)
                    if counts["slow"] + counts["fast"] == total:
                        done.set()
                ch_.basic_ack(delivery_tag=method.delivery_tag)

            wch.basic_consume(queue=q, on_message_callback=callback)
            ready.wait(10)
            while not done.is_set():
                c.process_data_events(time_limit=0.1)
            c.close()
        except Exception as e:  # surfaced by the main thread
            errors.append(e)
            done.set()

    threads = [threading.Thread(target=worker, args=("slow", 0.25), daemon=True),
               threading.Thread(target=worker, args=("fast", 0.01), daemon=True)]
    for t in threads:
        t.start()
    try:
        ready.wait(10)
        for i in range(total):
            ch.basic_publish(exchange="", routing_key=q, body=f"task {i}".encode(),
                             properties=pika.BasicProperties(delivery_mode=2))
        assert done.wait(60), f"workers did not finish: {counts}"
    finally:
        done.set()
        for t in threads:
            t.join(10)
    assert not errors, f"worker failed: {errors!r}"
    expect_eq(counts["slow"] + counts["fast"], total, "tasks processed")
    assert counts["fast"] > 2 * counts["slow"], \
        f"prefetch=1 fair dispatch should favour the fast worker: {counts}"
    assert all(m == 2 for m in props_seen), f"delivery_mode not persistent: {props_seen}"
    ok = ch.queue_declare(queue=q, durable=True, passive=True)
    expect_eq(ok.method.message_count, 0, "messages left in task queue")
    ch.queue_delete(q)
    conn.close()


def test_publish_subscribe_fanout():
    ex = uniq("logs")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(exchange=ex, exchange_type="fanout")
    subs = []
    for _ in range(3):
        sub = conn.channel()
        r = sub.queue_declare(queue="", exclusive=True)
        name = r.method.queue
        assert name.startswith("amq.gen-"), f"server-named queue {name!r}"
        sub.queue_bind(exchange=ex, queue=name)
        subs.append((sub, name))
    assert len({n for _, n in subs}) == 3, "server-named queues must be distinct"
    msgs = [f"log {i}".encode() for i in range(10)]
    for m in msgs:
        ch.basic_publish(exchange=ex, routing_key="ignored", body=m)
    ch.basic_publish(exchange=ex, routing_key="", body=b"END")
    for sub, name in subs:
        expect_eq(drain(sub, name, until_body=b"END"), msgs, f"fanout copy in {name}")
    ch.exchange_delete(ex)
    conn.close()


def test_routing_direct():
    ex = uniq("direct_logs")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(exchange=ex, exchange_type="direct")
    # q_err gets only errors (the tutorial's "save to disk" receiver); q_all gets every severity.
    q_err = ch.queue_declare(queue="", exclusive=True).method.queue
    q_all = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.queue_bind(exchange=ex, queue=q_err, routing_key="error")
    for sev in ("info", "warning", "error"):
        ch.queue_bind(exchange=ex, queue=q_all, routing_key=sev)
    sent = [("info", b"i1"), ("error", b"e1"), ("warning", b"w1"), ("debug", b"d1"),
            ("error", b"e2"), ("info", b"i2")]
    for sev, body in sent:
        ch.basic_publish(exchange=ex, routing_key=sev, body=body)
    ch.queue_bind(exchange=ex, queue=q_err, routing_key="end")
    ch.queue_bind(exchange=ex, queue=q_all, routing_key="end")
    ch.basic_publish(exchange=ex, routing_key="end", body=b"END")
    expect_eq(drain(ch, q_err, until_body=b"END"), [b"e1", b"e2"], "error-only queue")
    expect_eq(drain(ch, q_all, until_body=b"END"), [b"i1", b"e1", b"w1", b"e2", b"i2"],
              "info/warning/error queue")
    ch.exchange_delete(ex)
    conn.close()


TOPIC_TABLE = [
    # routing key, goes to Q1 (*.orange.*), goes to Q2 (*.*.rabbit, lazy.#)
    ("quick.orange.rabbit", True, True),
    ("lazy.orange.elephant", True, True),
    ("quick.orange.fox", True, False),
    ("lazy.brown.fox", False, True),
    ("lazy.pink.rabbit", False, True),  # matches both Q2 bindings, delivered once
    ("quick.brown.fox", False, False),
    ("orange", False, False),
    ("quick.orange.male.rabbit", False, False),
    ("lazy.orange.male.rabbit", False, True),
    ("lazy", False, True),  # '#' matches zero words
    ("a.orange.b", True, False),
    (".orange.", True, False),  # empty words still count for '*'
]


def test_topics():
    ex = uniq("topic_logs")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(exchange=ex, exchange_type="topic")
    q1 = ch.queue_declare(queue="", exclusive=True).method.queue
    q2 = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.queue_bind(exchange=ex, queue=q1, routing_key="*.orange.*")
    ch.queue_bind(exchange=ex, queue=q2, routing_key="*.*.rabbit")
    ch.queue_bind(exchange=ex, queue=q2, routing_key="lazy.#")
    for key, _, _ in TOPIC_TABLE:
        ch.basic_publish(exchange=ex, routing_key=key, body=key.encode())
    # "end.orange.rabbit" reaches Q1 via *.orange.* and Q2 via *.*.rabbit: a sentinel for both.
    ch.basic_publish(exchange=ex, routing_key="end.orange.rabbit", body=b"END")
    want1 = [k.encode() for k, a, _ in TOPIC_TABLE if a]
    want2 = [k.encode() for k, _, b in TOPIC_TABLE if b]
    expect_eq(drain(ch, q1, until_body=b"END"), want1, "Q1 (*.orange.*)")
    expect_eq(drain(ch, q2, until_body=b"END"), want2, "Q2 (*.*.rabbit, lazy.#)")
    # Unbinding lazy.# leaves only *.*.rabbit.
    ch.queue_unbind(exchange=ex, queue=q2, routing_key="lazy.#")
    ch.basic_publish(exchange=ex, routing_key="lazy.brown.fox", body=b"gone")
    ch.basic_publish(exchange=ex, routing_key="lazy.pink.rabbit", body=b"kept")
    ch.basic_publish(exchange=ex, routing_key="end.orange.rabbit", body=b"END")
    expect_eq(drain(ch, q2, until_body=b"END"), [b"kept"], "Q2 after unbinding lazy.#")
    ch.exchange_delete(ex)
    conn.close()


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def test_rpc():
    rpc_q = uniq("rpc_queue")
    stop = threading.Event()
    started = threading.Event()
    errors = []

    def server():
        try:
            c = connect()
            sch = c.channel()
            sch.queue_declare(queue=rpc_q)
            sch.basic_qos(prefetch_count=1)

            def on_request(ch_, method, props, body):
                response = fib(int(body))
                ch_.basic_publish(exchange="", routing_key=props.reply_to,
                                  properties=pika.BasicProperties(
                                      correlation_id=props.correlation_id),
                                  body=str(response).encode())
                ch_.basic_ack(delivery_tag=method.delivery_tag)

            sch.basic_consume(queue=rpc_q, on_message_callback=on_request)
            started.set()
            while not stop.is_set():
                c.process_data_events(time_limit=0.1)
            sch.queue_delete(rpc_q)
            c.close()
        except Exception as e:
            errors.append(e)
            started.set()

    t = threading.Thread(target=server, daemon=True)
    t.start()
    try:
        assert started.wait(10), "rpc server did not start"
        assert not errors, f"rpc server failed: {errors!r}"
        conn = connect()
        ch = conn.channel()
        callback_queue = ch.queue_declare(queue="", exclusive=True).method.queue
        responses = {}

        def on_response(ch_, method, props, body):
            responses[props.correlation_id] = int(body)

        ch.basic_consume(queue=callback_queue, on_message_callback=on_response, auto_ack=True)
        # A stray reply with an unknown correlation id must be ignored by the client logic.
        ch.basic_publish(exchange="", routing_key=callback_queue, body=b"-1",
                         properties=pika.BasicProperties(correlation_id="stray"))
        want = {}
        for n in (0, 1, 2, 10, 20, 30):
            corr = f"corr-{n}"
            want[corr] = fib(n)
            ch.basic_publish(exchange="", routing_key=rpc_q,
                             properties=pika.BasicProperties(reply_to=callback_queue,
                                                             correlation_id=corr),
                             body=str(n).encode())
        deadline = time.monotonic() + 20
        while not all(k in responses for k in want) and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        for corr, value in want.items():
            expect_eq(responses.get(corr), value, f"rpc reply {corr}")
        expect_eq(responses.get("stray"), -1, "stray reply routed to callback queue")
        conn.close()
    finally:
        stop.set()
        t.join(10)
    assert not errors, f"rpc server failed: {errors!r}"


if __name__ == "__main__":
    main([test_hello_world, test_work_queues_fair_dispatch, test_publish_subscribe_fanout,
          test_routing_direct, test_topics, test_rpc])
