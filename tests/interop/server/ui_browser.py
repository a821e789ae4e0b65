"""Runs ui_browser.js (headless Chromium + playwright-core) against the web management UI of a
broker started by the harness, with an AMQP and a STOMP client connected so the connections,
channels and consumers pages have something to show, and a second broker under a memory alarm
for the alarm banner. Fails, rather than skips, when node or
Chromium is missing: scripts/deps.txt installs both.

    WARREN_UI_SCREENSHOTS=docs ctest -R server_ui_browser   # refreshes docs/ui-*.png
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pika  # noqa: E402
import stomp  # noqa: E402

from harness import broker  # noqa: E402

# A 1 MB high watermark: the memory alarm goes off at once (as in alarms_test.py).
ALARMED = "resource_check_interval = 100\nvm_memory_high_watermark.absolute = 1MB\n"
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("WARREN_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(HERE))))


def main():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not shutil.which("node") or not os.path.exists(chromium):
        print(f"FAIL: node or {chromium} missing (make deps installs them)")
        sys.exit(1)
    shots = os.environ.get("WARREN_UI_SCREENSHOTS", "")
    if shots:
        shots = shots if os.path.isabs(shots) else os.path.join(SOURCE, shots)
        os.makedirs(shots, exist_ok=True)
    run_id = f"{os.getpid() % 10000}"
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with broker() as b, broker(config_text=ALARMED, stomp=False) as alarmed:
        # A worker with a consumer and unacknowledged deliveries, and a STOMP client.
        amqp = pika.BlockingConnection(pika.ConnectionParameters(
            b.host, b.amqp_port, heartbeat=0,
            client_properties={"connection_name": "billing-worker"}))
        ch = amqp.channel()
        ch.confirm_delivery()
        ch.queue_declare("invoices", durable=True)
        for i in range(25):
            ch.basic_publish("", "invoices", f"invoice {i}".encode(),
                             pika.BasicProperties(delivery_mode=2))
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume("invoices", lambda *a: None)
        amqp.process_data_events(time_limit=0.5)
        st = stomp.Connection([(b.host, b.stomp_port)])
        st.connect("guest", "guest", wait=True)
        st.subscribe("/queue/notifications", id="1", ack="client-individual")
        time.sleep(0.2)
        try:
            args = [str(b.http_port), run_id, str(alarmed.http_port)] + ([shots] if shots else [])
            rc = subprocess.call(["node", os.path.join(HERE, "ui_browser.js")] + args, env=env,
                                 timeout=170)
        finally:
            st.disconnect()
            amqp.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
