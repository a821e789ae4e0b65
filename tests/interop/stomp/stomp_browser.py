"""Runs stomp_browser.js (headless Chromium + @stomp/stompjs over WebSocket) against a broker
started by the harness."""
import os
import shutil
import subprocess
import sys

from stomp_util import HERE, RUN_ID, broker  # noqa: F401  (stomp_util sets up sys.path)


def main():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which("node") or not os.path.exists(chromium):
        # scripts/deps.txt installs both: a missing one is a broken machine, not a pass.
        print(f"FAIL: node or {chromium} missing (make deps installs them)")
        sys.exit(1)
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with broker() as b:
        rc = subprocess.call(["node", os.path.join(HERE, "stomp_browser.js"), str(b.http_port),
                              RUN_ID], env=env, timeout=150)
    sys.exit(rc)


if __name__ == "__main__":
    main()
