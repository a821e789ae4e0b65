"""queue.declare with a bad-typed or out-of-range x-argument: the channel is closed with 406
PRECONDITION_FAILED and RabbitMQ's text (rabbit_amqqueue check_* functions), and the queue is
not created. The broker stays up and the connection stays usable."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika.exceptions as pex  # noqa: E402

from amqp_util import connect, expect_eq, main, uniq  # noqa: E402

CASES = [
    ({"x-max-length": -1}, "x-max-length", "{value_negative,-1}"),
    ({"x-max-length": "10"}, "x-max-length", "{unacceptable_type,longstr}"),
    ({"x-max-length-bytes": -7}, "x-max-length-bytes", "{value_negative,-7}"),
    ({"x-max-priority": 256}, "x-max-priority", "{max_value_exceeded,256}"),
    ({"x-max-priority": -1}, "x-max-priority", "{value_negative,-1}"),
    ({"x-overflow": "drop-tail"}, "x-overflow", "invalid_overflow"),
    ({"x-overflow": 1}, "x-overflow", "{unacceptable_type,signedint}"),
    ({"x-message-ttl": -1}, "x-message-ttl", "{value_negative,-1}"),
    ({"x-message-ttl": 2 ** 32}, "x-message-ttl", "{value_too_big,4294967296}"),
    ({"x-expires": 0}, "x-expires", "{value_zero,0}"),
    ({"x-expires": -5}, "x-expires", "{value_negative,-5}"),
    ({"x-single-active-consumer": "true"}, "x-single-active-consumer",
     "{unacceptable_type,longstr}"),
    ({"x-single-active-consumer": 1}, "x-single-active-consumer",
     "{unacceptable_type,signedint}"),
    ({"x-delivery-limit": -1}, "x-delivery-limit", "{value_negative,-1}"),
    ({"x-dead-letter-routing-key": "k"}, "x-dead-letter-routing-key",
     "routing_key_but_no_dlx_defined"),
]


def test_bad_arguments_close_the_channel_with_406():
    conn = connect()
    for args, key, term in CASES:
        q = uniq("badarg")
        ch = conn.channel()
        try:
            ch.queue_declare(q, arguments=args)
            raise AssertionError(f"{args}: declare succeeded")
        except pex.ChannelClosedByBroker as e:
            expect_eq(e.reply_code, 406, f"{args} code")
            expect_eq(e.reply_text,
                      f"PRECONDITION_FAILED - invalid arg '{key}' for queue '{q}' in vhost '/': "
                      f"{term}", f"{args} text")
        ch = conn.channel()
        try:
            ch.queue_declare(q, passive=True)
            raise AssertionError(f"{args}: the queue was created")
        except pex.ChannelClosedByBroker as e:
            expect_eq(e.reply_code, 404, "not created")
    conn.close()


def test_bad_dlx_type_and_alternate_exchange_type():
    conn = connect()
    ch = conn.channel()
    q = uniq("baddlx")
    try:
        ch.queue_declare(q, arguments={"x-dead-letter-exchange": 5})
        raise AssertionError("declare succeeded")
    except pex.ChannelClosedByBroker as e:
        expect_eq((e.reply_code, e.reply_text),
                  (406, f"PRECONDITION_FAILED - invalid type 'signedint' for arg "
                        f"'x-dead-letter-exchange' in queue '{q}' in vhost '/'"), "dlx")
    ch = conn.channel()
    x = uniq("badae")
    try:
        ch.exchange_declare(x, "direct", arguments={"alternate-exchange": 5})
        raise AssertionError("declare succeeded")
    except pex.ChannelClosedByBroker as e:
        expect_eq((e.reply_code, e.reply_text),
                  (406, f"PRECONDITION_FAILED - invalid type 'signedint' for arg "
                        f"'alternate-exchange' in exchange '{x}' in vhost '/'"), "ae")
    conn.close()


def test_valid_arguments_are_accepted():
    conn = connect()
    ch = conn.channel()
    q = uniq("goodargs")
    args = {"x-max-length": 0, "x-max-priority": 255, "x-overflow": "reject-publish",
            "x-message-ttl": 0, "x-expires": 60000, "x-single-active-consumer": True,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "k",
            "x-delivery-limit": 0, "x-queue-mode": "lazy"}
    ch.queue_declare(q, arguments=args)
    ch.queue_declare(q, arguments=args)  # equivalent redeclare
    ch.queue_delete(q)
    conn.close()


def test_bad_consumer_priority():
    conn = connect()
    ch = conn.channel()
    q = uniq("badprio")
    ch.queue_declare(q)
    try:
        ch.basic_consume(q, lambda *a: None, arguments={"x-priority": "high"})
        raise AssertionError("consume succeeded")
    except pex.ChannelClosedByBroker as e:
        expect_eq((e.reply_code, e.reply_text),
                  (406, f"PRECONDITION_FAILED - invalid arg 'x-priority' for queue '{q}' in "
                        f"vhost '/': {{unacceptable_type,longstr}}"), "x-priority")
    ch = conn.channel()
    ch.queue_delete(q)
    conn.close()


if __name__ == "__main__":
    main([test_bad_arguments_close_the_channel_with_406,
          test_bad_dlx_type_and_alternate_exchange_type,
          test_valid_arguments_are_accepted,
          test_bad_consumer_priority])
