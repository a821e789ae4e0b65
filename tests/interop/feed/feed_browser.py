"""Runs feed_browser.js (headless Chromium) against feedd + warren-outbox + Redis + a warrend
started by the harness (issue #17: the seed's feed, pushed through the broker), first with feedd
in push mode, then (a fresh broker, Redis and database) in pull mode: the page polls the
database every POLL_MS."""
import os
import shutil
import subprocess
import sys

from feed_util import HERE, feed_app, redis  # feed_util sets up sys.path
from harness import TIME_SCALE, broker, scaled  # noqa: E402

TTL_MS = 2500
POLL_MS = 1000


def run_js(app, mode_args, env, extra=()):
    """Creates ann and bob (bob follows ann) and runs feed_browser.js; returns its exit code."""
    ann = app.api("POST", "/api/users", {"name": "ann"})["id"]
    bob = app.api("POST", "/api/users", {"name": "bob"})["id"]
    app.api("POST", "/api/follows", {"follower": bob, "followee": ann})
    args = ["node", os.path.join(HERE, "feed_browser.js")] + mode_args + \
        [app.url, str(ann), str(bob)] + list(extra)
    rc = subprocess.call(args, env=env, timeout=scaled(75))
    if rc != 0:
        print(app.output())
    return rc


def main():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which("node") or not os.path.exists(chromium):
        print(f"FAIL: node or {chromium} missing (make deps installs them)")
        sys.exit(1)
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    # The page's bounds are stretched by the same factor as harness.scaled().
    env = dict(os.environ, NODE_PATH=node_path, WARREN_TIME_SCALE=str(TIME_SCALE))
    with broker() as b, redis() as r, feed_app(b, r, ttl_ms=TTL_MS) as app:
        shot = [os.environ["FEED_SCREENSHOT"]] if os.environ.get("FEED_SCREENSHOT") else []
        rc = run_js(app, [], env, [str(TTL_MS)] + shot)
    print("-- pull mode --", flush=True)
    with broker() as b, redis() as r, feed_app(b, r, mode="pull", poll_ms=POLL_MS) as app:
        rc = run_js(app, ["pull"], env, [str(POLL_MS)]) or rc
    sys.exit(rc)


if __name__ == "__main__":
    main()
