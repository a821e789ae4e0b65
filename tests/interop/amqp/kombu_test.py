"""kombu (python3-kombu over py-amqp): Producer/Consumer round trip through a topic exchange with
JSON serialization, manual acks and requeue, plus kombu's SimpleQueue."""
import socket

from kombu import Connection, Consumer, Exchange, Producer, Queue

from amqp_util import amqp_url, expect_eq, main, uniq


def test_producer_consumer_topic():
    ex = Exchange(uniq("kombu.topic"), type="topic", durable=False, auto_delete=False)
    q_us = Queue(uniq("kombu.us"), exchange=ex, routing_key="stock.us.*", durable=False)
    q_all = Queue(uniq("kombu.all"), exchange=ex, routing_key="stock.#", durable=False)
    with Connection(amqp_url(), connect_timeout=5) as conn:
        ch = conn.channel()
        for q in (q_us, q_all):
            q(ch).declare()
            q(ch).purge()
        producer = Producer(ch, exchange=ex, serializer="json")
        sent = [("stock.us.aapl", {"sym": "AAPL", "px": 1.5}),
                ("stock.eu.sap", {"sym": "SAP", "px": 2}),
                ("stock.us.msft", {"sym": "MSFT", "px": [1, 2, 3]}),
                ("bond.us.t10", {"sym": "T10"})]
        for key, payload in sent:
            producer.publish(payload, routing_key=key, headers={"k": key})
        want_us = [(k, p, k) for k, p in sent if k.startswith("stock.us.")]
        want_all = [(k, p, k) for k, p in sent if k.startswith("stock.")]

        collected = {"us": [], "all": []}

        def make_cb(name):
            def cb(body, message):
                collected[name].append((message.delivery_info["routing_key"], body,
                                        message.headers.get("k")))
                message.ack()
            return cb

        with Consumer(conn.channel(), queues=[q_us], callbacks=[make_cb("us")],
                      accept=["json"]), \
                Consumer(conn.channel(), queues=[q_all], callbacks=[make_cb("all")],
                         accept=["json"]):
            while len(collected["us"]) < len(want_us) or len(collected["all"]) < len(want_all):
                conn.drain_events(timeout=10)
            try:  # nothing else arrives
                conn.drain_events(timeout=0.3)
            except socket.timeout:
                pass
        expect_eq(collected["us"], want_us, "stock.us.* queue")
        expect_eq(collected["all"], want_all, "stock.# queue")
        for q in (q_us, q_all):
            q(conn.channel()).delete()
        ex(conn.channel()).delete()


def test_reject_requeue_and_simple_queue():
    with Connection(amqp_url(), connect_timeout=5) as conn:
        name = uniq("kombu.simple")
        sq = conn.SimpleQueue(name, queue_opts={"durable": False, "auto_delete": False},
                              exchange_opts={"durable": False})
        sq.clear()
        sq.put({"n": 1})
        m = sq.get(block=True, timeout=10)
        expect_eq((m.payload, m.delivery_info["redelivered"]), ({"n": 1}, False), "first get")
        m.requeue()
        m = sq.get(block=True, timeout=10)
        expect_eq((m.payload, m.delivery_info["redelivered"]), ({"n": 1}, True),
                  "after requeue")
        m.ack()
        sq.put("text message")
        m = sq.get(block=True, timeout=10)
        expect_eq(m.payload, "text message", "second message")
        m.ack()
        expect_eq(sq.qsize(), 0, "queue size after draining")
        queue = sq.queue
        sq.close()  # cancels its consumer first, then the queue can go
        expect_eq(queue(conn.channel()).delete(), 0, "queue.delete-ok message count")


if __name__ == "__main__":
    main([test_producer_consumer_topic, test_reject_requeue_and_simple_queue])
