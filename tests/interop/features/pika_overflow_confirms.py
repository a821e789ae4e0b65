"""x-overflow reject-publish and reject-publish-dlx through python3-pika with publisher confirms:
a publish to a full queue is nacked (RabbitMQ), and with reject-publish-dlx also dead-lettered."""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp"))

import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402

from amqp_util import connect, expect_eq, main, uniq, wait_for  # noqa: E402


from features_util import bodies, count, fresh, get_one  # noqa: E402,F401


def test_reject_publish_nacks():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = fresh(ch, "len.reject", **{"x-max-length": 2, "x-overflow": "reject-publish"})
    ch.basic_publish("", q, b"1")
    ch.basic_publish("", q, b"2")
    try:
        ch.basic_publish("", q, b"3")
        raise AssertionError("publish to a full reject-publish queue was confirmed")
    except pex.NackError:
        pass
    expect_eq(bodies(ch, q), ["1", "2"], "queue content")
    ch.basic_publish("", q, b"4")  # room again
    expect_eq(bodies(ch, q), ["4"], "after draining")
    conn.close()


def test_reject_publish_dlx():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    dlq = fresh(ch, "len.rdlx.dlq")
    q = fresh(ch, "len.rdlx", **{"x-max-length": 1, "x-overflow": "reject-publish-dlx",
                                 "x-dead-letter-exchange": "",
                                 "x-dead-letter-routing-key": dlq})
    ch.basic_publish("", q, b"1")
    try:
        ch.basic_publish("", q, b"2")
        raise AssertionError("publish to a full reject-publish-dlx queue was confirmed")
    except pex.NackError:
        pass
    expect_eq(bodies(ch, q), ["1"], "queue content")
    m, p, b = get_one(ch, dlq)
    expect_eq(b, b"2", "rejected message dead-lettered")
    conn.close()


if __name__ == "__main__":
    main([test_reject_publish_nacks, test_reject_publish_dlx])
