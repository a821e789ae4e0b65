"""Runs access_amqplib.js (amqplib) against a broker where the management API has made user
alice with permissions on vhost v1 (issue #13's amqplib part; the pika, kombu and stomp.py part
is access_test.py). Fails, rather than skips, when node is missing: it is in scripts/deps.txt."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import access_test  # noqa: E402
from harness import broker  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if not shutil.which("node"):
        print("FAIL: node missing (scripts/install-deps installs it)")
        sys.exit(1)
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with broker() as b:
        access_test.B["b"] = b
        api = access_test.api
        assert api("PUT", "/api/vhosts/v1")[0] == 201
        assert api("PUT", "/api/users/alice", {"password": "pw", "tags": ""})[0] == 201
        assert api("PUT", "/api/permissions/v1/alice",
                   {"configure": "^alice-", "write": "^(alice-.*|amq\\.default)$",
                    "read": "^alice-"})[0] == 201
        rc = subprocess.call(["node", os.path.join(HERE, "access_amqplib.js"),
                              str(b.amqp_port)], env=env, timeout=120)
        if rc != 0:
            sys.stderr.write(b.log_text()[-8000:])
    sys.exit(rc)


if __name__ == "__main__":
    main()
