#!/usr/bin/env python3
"""Deletes queues and exchanges on an AMQP 0-9-1 broker (pika, guest/guest on 127.0.0.1), for
`LONG_LIVED=1 bench/run`, which runs every scenario on one broker process and must leave nothing
behind between them. Names prefixed with "x:" are exchanges. A name that does not exist is
skipped (RabbitMQ answers queue.delete-ok, a broker following the spec closes the channel with
404: the channel is reopened). Prints a JSON object: messages dropped per queue and what was
missing or failed.

    /usr/bin/python3 bench/delete_queues.py --port 5681 bench-q bench-fan-0 x:bench-fanout
"""
import argparse
import json
import sys
import time

import pika


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    out = {"deleted": {}, "exchanges": [], "missing": [], "errors": []}
    if not args.names:
        print(json.dumps(out))
        return 0
    params = pika.ConnectionParameters(args.host, args.port, connection_attempts=3, retry_delay=1,
                                       heartbeat=0, blocked_connection_timeout=300)
    t0 = time.monotonic()
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    for name in args.names:
        exchange = name.startswith("x:")
        real = name[2:] if exchange else name
        try:
            if exchange:
                ch.exchange_delete(real)
                out["exchanges"].append(real)
            else:
                ok = ch.queue_delete(real)
                out["deleted"][real] = ok.method.message_count
        except pika.exceptions.ChannelClosedByBroker as e:
            (out["missing"] if e.reply_code == 404 else out["errors"]).append(f"{name}: {e}")
            ch = conn.channel()
    conn.close()
    out["seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out))
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
