"""Correctness under load with python3-pika: asynchronous publisher confirms (the broker may ack
several delivery tags at once with multiple=true; every tag must be confirmed exactly once),
several publishers and competing consumers (every message delivered exactly once, per-publisher
order kept), fanout to many queues, and a consumer that acks out of order."""
import threading
import time

import pika

from amqp_util import connect, expect_eq, main, params, uniq


def test_async_confirms_exactly_once():
    q = uniq("stress.confirms")
    n = 5000
    state = {"acked": set(), "nacked": set(), "multiple_acks": 0, "published": 0,
             "error": None}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        state["ch"] = ch
        ch.queue_declare(q, durable=True, callback=lambda _f: ch.queue_purge(
            q, callback=lambda _f2: ch.confirm_delivery(on_confirm, callback=start)))

    def start(_frame):
        ch = state["ch"]
        for i in range(n):
            ch.basic_publish("", q, f"{i}".encode(),
                             properties=pika.BasicProperties(delivery_mode=2))
            state["published"] += 1

    def on_confirm(frame):
        m = frame.method
        tags = ({t for t in range(1, m.delivery_tag + 1)
                 if t not in state["acked"] and t not in state["nacked"]}
                if m.multiple else {m.delivery_tag})
        if m.multiple:
            state["multiple_acks"] += 1
        target = state["acked"] if isinstance(m, pika.spec.Basic.Ack) else state["nacked"]
        dup = tags & (state["acked"] | state["nacked"])
        if dup:
            state["error"] = f"delivery tags confirmed twice: {sorted(dup)[:5]}"
        if not tags:
            state["error"] = f"confirm for nothing outstanding: {m}"
        target |= tags
        if len(state["acked"]) + len(state["nacked"]) >= n or state["error"]:
            conn.close()

    conn = pika.SelectConnection(params(), on_open_callback=on_open,
                                 on_open_error_callback=lambda c, e: state.update(error=repr(e)),
                                 on_close_callback=lambda c, r: c.ioloop.stop())
    timer = conn.ioloop.call_later(60, lambda: (state.update(error="timeout"), conn.close()))
    conn.ioloop.start()
    conn.ioloop.remove_timeout(timer)
    assert state["error"] is None, state["error"]
    expect_eq(state["nacked"], set(), "nacked tags")
    expect_eq(state["acked"], set(range(1, n + 1)), "acked tags")
    print(f"  {n} confirms, {state['multiple_acks']} with multiple=true", flush=True)
    c = connect()
    ch = c.channel()
    expect_eq(ch.queue_declare(q, durable=True, passive=True).method.message_count, n,
              "messages in queue")
    ch.queue_delete(q)
    c.close()


def test_competing_consumers_exactly_once():
    q = uniq("stress.compete")
    publishers, per_pub, consumers = 4, 2000, 3
    total = publishers * per_pub
    setup = connect()
    sch = setup.channel()
    sch.queue_declare(q)
    sch.queue_purge(q)
    received = [[] for _ in range(consumers)]
    lock = threading.Lock()
    count = {"n": 0}
    done = threading.Event()
    errors = []

    def consumer(idx):
        try:
            c = connect()
            ch = c.channel()
            ch.basic_qos(prefetch_count=50)
            pending = []

            def on_msg(ch_, m, p, body):
                assert not m.redelivered, "unexpected redelivery"
                received[idx].append(body)
                pending.append(m.delivery_tag)
                if len(pending) >= 10:
                    ch_.basic_ack(pending[-1], multiple=True)
                    pending.clear()
                with lock:
                    count["n"] += 1
                    if count["n"] == total:
                        done.set()

            ch.basic_consume(q, on_msg)
            while not done.is_set():
                c.process_data_events(time_limit=0.05)
                if pending:
                    ch.basic_ack(pending[-1], multiple=True)
                    pending.clear()
            c.close()
        except Exception as e:
            errors.append(e)
            done.set()

    def publisher(idx):
        try:
            c = connect()
            ch = c.channel()
            for i in range(per_pub):
                ch.basic_publish("", q, f"{idx}:{i}".encode())
            c.close()
        except Exception as e:
            errors.append(e)

    cts = [threading.Thread(target=consumer, args=(i,), daemon=True) for i in range(consumers)]
    pts = [threading.Thread(target=publisher, args=(i,), daemon=True) for i in range(publishers)]
    for t in cts + pts:
        t.start()
    ok = done.wait(90)
    done.set()
    for t in cts + pts:
        t.join(15)
    assert not errors, f"client errors: {errors!r}"
    assert ok, f"only {count['n']} of {total} messages arrived"
    all_bodies = [b for r in received for b in r]
    expect_eq(len(all_bodies), total, "deliveries")
    expect_eq(len(set(all_bodies)), total, "distinct messages (no duplicates)")
    for idx, r in enumerate(received):
        last = {}
        for body in r:
            pub, seq = map(int, body.split(b":"))
            assert seq > last.get(pub, -1), f"consumer {idx}: {body} after {pub}:{last[pub]}"
            last[pub] = seq
    assert all(received), f"some consumer got nothing: {[len(r) for r in received]}"
    time.sleep(0.2)
    ok = sch.queue_declare(q, passive=True).method
    expect_eq((ok.message_count, ok.consumer_count), (0, 0), "queue after the run")
    sch.queue_delete(q)
    setup.close()


def test_fanout_to_many_queues():
    conn = connect()
    ch = conn.channel()
    ex = uniq("stress.fanout")
    ch.exchange_declare(ex, "fanout")
    queues = []
    for _ in range(50):
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, ex)
        queues.append(q)
    ch.confirm_delivery()
    bodies = [f"f{i}".encode() * 10 for i in range(200)]
    for b in bodies:
        ch.basic_publish(ex, "", b)
    for q in queues:
        expect_eq(ch.queue_declare(q, passive=True).method.message_count, len(bodies),
                  f"messages in {q}")
    seen = {q: [] for q in queues}
    for q in queues:
        ch.basic_consume(q, lambda c, m, p, b, q=q: seen[q].append(b), auto_ack=True)
    deadline = time.monotonic() + 30
    while any(len(v) < len(bodies) for v in seen.values()) and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    for q in queues:
        assert seen[q] == bodies, f"{q}: {len(seen[q])} messages, order or content differs"
    ch.exchange_delete(ex)
    conn.close()


def test_out_of_order_acks():
    conn = connect()
    ch = conn.channel()
    q = uniq("stress.ooo")
    ch.queue_declare(q)
    ch.queue_purge(q)
    ch.confirm_delivery()
    for i in range(100):
        ch.basic_publish("", q, f"{i}".encode())
    c = conn.channel()
    c.basic_qos(prefetch_count=100)
    got = []
    c.basic_consume(q, lambda ch_, m, p, b: got.append((m.delivery_tag, b)))
    deadline = time.monotonic() + 10
    while len(got) < 100 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    expect_eq(len(got), 100, "deliveries")
    # ack evens from the top down, reject odd ones > 50 (drop), nack the rest with requeue
    for tag, _ in reversed(got):
        if tag % 2 == 0:
            c.basic_ack(tag)
    for tag, _ in got:
        if tag % 2 == 1 and tag > 50:
            c.basic_reject(tag, requeue=False)
    c.basic_nack(0, multiple=True, requeue=True)  # odd tags <= 50 come back
    c.close()
    left = []
    while True:
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            break
        left.append((int(body), m.redelivered))
    expect_eq(left, [(i, True) for i in range(0, 50, 2)], "requeued messages")
    ch.queue_delete(q)
    conn.close()


if __name__ == "__main__":
    main([test_async_confirms_exactly_once, test_competing_consumers_exactly_once,
          test_fanout_to_many_queues, test_out_of_order_acks])
