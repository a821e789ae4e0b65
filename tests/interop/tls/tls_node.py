"""Runs tls_node.js (amqplib over amqps://, @stomp/stompjs over WSS in headless Chromium, HTTPS)
against a broker started with TLS listeners and test certificates. Fails, rather than skips,
when node or Chromium is missing: they are in scripts/deps.txt."""
import os
import shutil
import subprocess
import sys

from tls_util import HERE, RUN_ID, certs, tls_broker


def main():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which("node") or not os.path.exists(chromium):
        print("FAIL: node or chromium missing (scripts/install-deps installs them)")
        sys.exit(1)
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with certs() as c, tls_broker(c) as b:
        rc = subprocess.call(["node", os.path.join(HERE, "tls_node.js"), c.dir,
                              str(b.amqps_port), str(b.https_port), RUN_ID,
                              c.spki_hash("server")], env=env, timeout=150)
        if rc != 0:
            sys.stderr.write(b.log_text()[-8000:])
    sys.exit(rc)


if __name__ == "__main__":
    main()
