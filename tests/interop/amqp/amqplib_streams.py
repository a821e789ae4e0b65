"""Runs amqplib_streams.js (stream queues through Node.js amqplib) against a broker started by the
harness. Validated against RabbitMQ 3.10.8 with WARREN_EXTERNAL: all its tests pass there."""
import os
import subprocess
import sys

from amqp_util import HERE, RUN_ID, broker  # noqa: F401  (amqp_util sets up sys.path)


def main():
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with broker() as b:
        rc = subprocess.call(["node", os.path.join(HERE, "amqplib_streams.js"), b.amqp_url, RUN_ID],
                             env=env, timeout=110)
    sys.exit(rc)


if __name__ == "__main__":
    main()
