"""Deduplication across restarts and kill -9, through pika (issue #17): unlike the plugin and
LavinMQ, the cache of a durable deduplicating exchange is part of the durable state, so a
publisher that retries after a crash never creates a duplicate. A durable deduplicating queue
rebuilds its keys from the messages it recovers.

  - exchange: confirmed persistent messages with keys, kill -9, the same keys again: none is
    routed; a transient message's key is not kept (its message was not either); keys evicted
    by x-cache-size before the crash stay evicted (recovery keeps the newest x-cache-size);
  - queue: confirmed persistent messages, kill -9, the same keys again: not enqueued; a key
    whose message was acked before the crash is accepted.

Run: WARREND=build/release/warrend /usr/bin/python3 tests/interop/durability/dedup_restart_test.py
"""
import time

import pika

from durability_util import (broker, connect, drain, needs_warrend, parse_segment, run_tests,
                             segment_files, skippable, uniq)

KEY = "x-deduplication-header"


def publish(ch, x, rk, body, key, persistent=True, ttl=None):
    h = {KEY: key}
    if ttl is not None:
        h["x-cache-ttl"] = ttl
    ch.basic_publish(x, rk, body, pika.BasicProperties(delivery_mode=2 if persistent else 1,
                                                        headers=h))


def bodies(b, q):
    conn = connect(b)
    out = [m[2] for m in drain(conn.channel(), q)]
    conn.close()
    return out


@skippable
def test_exchange_cache_survives_kill():
    with broker() as b:
        needs_warrend(b, "kill -9")
        x, q = uniq("dedup.x"), uniq("dedup.x.q")
        x2, q2 = uniq("dedup.x2"), uniq("dedup.x2.q")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        for name, queue, size in [(x, q, 3), (x2, q2, 10)]:
            ch.exchange_declare(name, "x-message-deduplication", durable=True,
                                arguments={"x-cache-size": size})
            ch.queue_declare(queue, durable=True)
            ch.queue_bind(queue, name)
        publish(ch, x, "", b"a", "a")
        publish(ch, x, "", b"short", "short", ttl=300)
        publish(ch, x, "", b"b", "b")
        publish(ch, x, "", b"c", "c")    # size 3: evicts a
        publish(ch, x, "", b"d", "d")    # evicts short
        publish(ch, x2, "", b"transient", "t", persistent=False)
        publish(ch, x2, "", b"p", "p")
        publish(ch, x2, "", b"w", "w", ttl=300)
        publish(ch, x2, "", b"long", "long", ttl=120000)
        b.kill()
        time.sleep(0.4)                  # w's 300 ms run out while the broker is down
        b.start()
        assert bodies(b, q) == [b"a", b"short", b"b", b"c", b"d"], "x before"
        got = bodies(b, q2)
        assert got == [b"p", b"w", b"long"], f"x2 before (the transient one is lost): {got}"
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        # The remembered ones first: a routed retry is cached and evicts the oldest.
        for k in ["d", "c", "b", "a", "short"]:
            publish(ch, x, "", f"{k}-retry".encode(), k)
        for k in ["t", "p", "w", "long"]:
            publish(ch, x2, "", f"{k}-retry".encode(), k)
        conn.close()
        # a and short were evicted before the crash: routed. b, c, d: remembered.
        got = bodies(b, q)
        assert got == [b"a-retry", b"short-retry"], got
        # t's message was lost with the crash, so its key must not block the retry; w's key
        # expired while the broker was down; long's has two minutes left.
        got = bodies(b, q2)
        assert got == [b"t-retry", b"w-retry"], got


@skippable
def test_queue_keys_rebuilt_after_kill():
    with broker() as b:
        needs_warrend(b, "kill -9")
        q = uniq("dedup.q")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare(q, durable=True, arguments={"x-message-deduplication": True})
        for k in ["k1", "k2", "k3"]:
            publish(ch, "", q, k.encode(), k)
        m, _, _ = ch.basic_get(q, auto_ack=False)
        ch.basic_ack(m.delivery_tag)     # k1 leaves the queue
        conn.process_data_events(0.1)
        # The ack must be on disk before the kill: a confirmed publish after it orders it.
        publish(ch, "", q, b"k2-dup-before", "k2")
        b.kill()
        b.start()
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        for k in ["k1", "k2", "k3"]:
            publish(ch, "", q, f"{k}-retry".encode(), k)
        conn.close()
        got = bodies(b, q)
        assert got == [b"k2", b"k3", b"k1-retry"], got


@skippable
def test_clean_restart_keeps_the_cache():
    with broker() as b:
        needs_warrend(b, "restart")
        x, q = uniq("dedup.clean"), uniq("dedup.clean.q")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.exchange_declare(x, "fanout", durable=True,
                            arguments={"x-message-deduplication": True, "x-cache-ttl": 60000})
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, x)
        publish(ch, x, "", b"one", 1)
        conn.close()
        b.restart()
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        publish(ch, x, "", b"one-again", 1)
        publish(ch, x, "", b"two", 2)
        conn.close()
        assert bodies(b, q) == [b"one", b"two"], "after a clean restart"


@skippable
def test_key_cut_off_from_its_message_by_a_crash_is_put_back():
    """The key record is written right after its message; a crash (or a torn write) between
    the two leaves the message in the log without its key. Here the log is cut by hand after
    kill -9, so the newest record, the key, is gone: recovery must put the key back from the
    message, or a retry of the unconfirmed publish would be a duplicate."""
    with broker() as b:
        needs_warrend(b, "kill -9")
        x, q = uniq("dedup.torn"), uniq("dedup.torn.q")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.exchange_declare(x, "x-message-deduplication", durable=True,
                            arguments={"x-cache-size": 100})
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, x)
        publish(ch, x, "", b"first", "k1")
        publish(ch, x, "", b"last", "k2")
        b.kill()
        last_seg = segment_files(b)[-1]
        recs = parse_segment(last_seg)
        key_rec, msg_rec = recs[-1], recs[-2]
        assert b"x-warren-dedup-key" in key_rec.payload, "the last record is not k2's key"
        assert msg_rec.body == b"last", "the record before it is not k2's message"
        with open(last_seg, "r+b") as f:
            f.truncate(key_rec.offset)
        b.start()
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        publish(ch, x, "", b"first-retry", "k1")
        publish(ch, x, "", b"last-retry", "k2")
        # The key put back is written under a fresh id: the store must still take writes (it
        # once reused a live id there and failed every later publish).
        publish(ch, x, "", b"new", "k3")
        conn.close()
        got = bodies(b, q)
        assert got == [b"first", b"last", b"new"], got


if __name__ == "__main__":
    run_tests([test_exchange_cache_survives_kill, test_queue_keys_rebuilt_after_kill,
               test_clean_restart_keeps_the_cache,
               test_key_cut_off_from_its_message_by_a_crash_is_put_back])
