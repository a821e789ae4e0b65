"""Runs alarms_amqplib.js (amqplib) against a broker with a memory alarm on (a 1 MB high
watermark), and clears the alarm (new limit, SIGHUP) when the script asks for it by writing its
signal file: amqplib's 'blocked'/'unblocked' events (issue #16; the pika and stomp.py part is
alarms_test.py). Fails, rather than skips, when node is missing: it is in scripts/deps.txt."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import broker  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCKED = "resource_check_interval = 100\nvm_memory_high_watermark.absolute = 1MB\n"
CLEAR = "resource_check_interval = 100\nvm_memory_high_watermark.absolute = 1000GB\n"


def main():
    if not shutil.which("node"):
        print("FAIL: node missing (scripts/install-deps installs it)")
        sys.exit(1)
    node_path = os.path.join(os.path.dirname(os.path.dirname(HERE)), "node_modules")
    env = dict(os.environ, NODE_PATH=node_path)
    with broker(config_text=BLOCKED) as b, tempfile.TemporaryDirectory() as tmp:
        deadline = time.monotonic() + 10
        while "memory resource limit alarm set" not in b.log_text():
            assert time.monotonic() < deadline, "the memory alarm did not go off"
            time.sleep(0.05)
        signal_file = os.path.join(tmp, "clear")
        stop = threading.Event()

        def clear_when_asked():
            while not stop.is_set():
                if os.path.exists(signal_file):
                    with open(b.config_path, "w") as f:
                        f.write(CLEAR)
                    b.proc.send_signal(signal.SIGHUP)
                    return
                time.sleep(0.05)
        t = threading.Thread(target=clear_when_asked, daemon=True)
        t.start()
        rc = subprocess.call(["node", os.path.join(HERE, "alarms_amqplib.js"), str(b.amqp_port),
                              signal_file], env=env, timeout=120)
        stop.set()
        if rc != 0:
            sys.stderr.write(b.log_text()[-8000:])
    sys.exit(rc)


if __name__ == "__main__":
    main()
