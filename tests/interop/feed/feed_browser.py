"""Runs feed_browser.js (headless Chromium) against feedd + warren-outbox + Redis + a warrend
started by the harness (issue #17: the seed's feed, pushed through the broker)."""
import os
import shutil
import subprocess
import sys

from feed_util import HERE, feed_app, redis  # feed_util sets up sys.path
from harness import broker  # noqa: E402

TTL_MS = 2500


def main():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which("node") or not os.path.exists(chromium):
        print(f"FAIL: node or {chromium} missing (make deps installs them)")
        sys.exit(1)
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with broker() as b, redis() as r, feed_app(b, r, ttl_ms=TTL_MS) as app:
        ann = app.api("POST", "/api/users", {"name": "ann"})["id"]
        bob = app.api("POST", "/api/users", {"name": "bob"})["id"]
        app.api("POST", "/api/follows", {"follower": bob, "followee": ann})
        args = ["node", os.path.join(HERE, "feed_browser.js"), app.url, str(ann), str(bob),
                str(TTL_MS)]
        if os.environ.get("FEED_SCREENSHOT"):
            args.append(os.environ["FEED_SCREENSHOT"])
        rc = subprocess.call(args, env=env, timeout=150)
        if rc != 0:
            print(app.output())
    sys.exit(rc)


if __name__ == "__main__":
    main()
