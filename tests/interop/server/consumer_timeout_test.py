"""consumer_timeout (issue #16's limits), as RabbitMQ has it: a consumer that holds a delivery
unacknowledged longer than the timeout gets its channel closed with 406 PRECONDITION_FAILED and
RabbitMQ's text, the delivery goes back to the queue, and the connection stays usable; a consumer
that acks in time is left alone. Set to 1 s here (RabbitMQ's default is 30 minutes)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402

from harness import broker, run_tests, scaled  # noqa: E402

B = {}
TEXT = ("PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value "
        "used: 1000 ms. This timeout value can be configured, see consumers doc guide to learn "
        "more")


def connect():
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(b.host, b.amqp_port,
                                                             connection_attempts=1, heartbeat=0))


def test_unacked_delivery_times_out_with_rabbitmqs_406():
    c = connect()
    ch = c.channel()
    ch.queue_declare("ct-q")
    ch.queue_purge("ct-q")
    ch.basic_publish("", "ct-q", b"slow")
    got = []
    ch.basic_consume("ct-q", lambda chan, m, p, body: got.append(body))
    c.call_later(scaled(10), ch.stop_consuming)  # a bound, if the broker never closes the channel
    t0 = time.monotonic()
    try:
        ch.start_consuming()  # raises when the broker closes the channel, as pika users see it
        raise AssertionError(f"the channel was not closed within {scaled(10)} s")
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == 406 and e.reply_text == TEXT, (e.reply_code, e.reply_text)
    elapsed = time.monotonic() - t0
    assert got == [b"slow"], got
    assert 1.0 <= elapsed < scaled(4.0), elapsed
    ch2 = c.channel()  # the connection is still usable, and the message is back
    m = ch2.basic_get("ct-q", auto_ack=True)
    assert m[2] == b"slow" and m[0].redelivered, m
    c.close()


def test_acking_in_time_is_never_timed_out():
    c = connect()
    ch = c.channel()
    ch.queue_declare("ct-ok")
    ch.queue_purge("ct-ok")

    def on_msg(chan, m, p, body):
        chan.basic_ack(m.delivery_tag)
    ch.basic_consume("ct-ok", on_msg)
    end = time.monotonic() + 3
    i = 0
    while time.monotonic() < end:
        ch.basic_publish("", "ct-ok", b"m%d" % i)
        i += 1
        c.process_data_events(time_limit=0.2)
    assert ch.is_open
    c.close()


if __name__ == "__main__":
    code = 1
    with broker(config_text="consumer_timeout = 1000\n") as b:
        B["b"] = b
        try:
            run_tests([test_unacked_delivery_times_out_with_rabbitmqs_406,
                       test_acking_in_time_is_never_timed_out])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
