#!/usr/bin/env python3
"""Time to first delivery on a large stream (issue #18: "a new consumer from `first` on a 10 GB
stream starts delivering within 100 ms").

Runs its own warrend on an existing data dir that holds a stream (build one with warren-perf:
`warren-perf --port P -x 1 -y 0 --no-consume -u big -s 1024 -c 1000 --queue-args
x-queue-type=stream --keep-queues -C 10000000 --drain-timeout 120`, then stop that warrend). For
each x-stream-offset (first, a number in the middle, last) it:
  1. restarts warrend (cold: nothing in its memory) and times the start until a passive declare
     of the stream answers (recovery of the stream's segments included);
  2. drops the page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`, root only; said so if not);
  3. opens a consumer (pika, basic.qos prefetch, manual ack) and times basic.consume (sent) to
     the first delivery, checks its x-stream-offset header, reads on for --read-seconds and
     reports the read rate; meanwhile a second connection times passive declares of the stream
     back to back (a probe of the broker loop: a stall there shows as a slow round trip);
  4. reads the broker's RSS (VmRSS, RssAnon, RssFile) before and after;
  5. does 3-4 again on the same broker without a restart (warm: page cache and broker state).
Prints one JSON object per measurement and a table at the end (--json: the list on stdout).

  /usr/bin/python3 bench/stream_first_delivery.py --warrend build/release/warrend \\
      --data-dir /tmp/stream-big/data --port 5691 --queue big
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pika


def rss(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[k] = int(v.split()[0]) // 1024  # MiB
    except OSError:
        pass
    return out


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def params(port):
    return pika.ConnectionParameters("127.0.0.1", port, connection_attempts=1, heartbeat=0,
                                     blocked_connection_timeout=None, socket_timeout=600)


def stream_length(port, queue):
    c = pika.BlockingConnection(params(port))
    n = c.channel().queue_declare(queue, passive=True, durable=True,
                                  arguments={"x-queue-type": "stream"}).method.message_count
    c.close()
    return n


class broker:
    def __init__(self, args):
        self.args = args
        self.proc = None

    def start(self):
        t0 = time.monotonic()
        self.log = open(os.path.join(os.path.dirname(os.path.abspath(self.args.data_dir)),
                                     "warrend-first-delivery.log"), "a")
        self.proc = subprocess.Popen(
            [self.args.warrend, "--bind", "127.0.0.1", "--data-dir", self.args.data_dir,
             "--amqp-port", str(self.args.port), "--stomp-port", "off", "--http-port", "off",
             "--log-level", "warn"], stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(self.args.port, 600):
            raise SystemExit("warrend did not open its port")
        t_port = time.monotonic()
        n = None
        while n is None and time.monotonic() - t0 < 600:
            try:
                n = stream_length(self.args.port, self.args.queue)
            except Exception:
                time.sleep(0.05)
        return {"start_to_port_s": round(t_port - t0, 3),
                "start_to_declare_s": round(time.monotonic() - t0, 3), "length": n}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def probe(port, queue, stop, out):
    """Passive declares back to back on another connection: round trips in ms."""
    try:
        c = pika.BlockingConnection(params(port))
        ch = c.channel()
        while not stop.is_set():
            t = time.monotonic()
            ch.queue_declare(queue, passive=True, durable=True,
                             arguments={"x-queue-type": "stream"})
            out.append((time.monotonic() - t) * 1e3)
            time.sleep(0.005)
        c.close()
    except Exception as e:  # noqa: BLE001 (report, do not crash the measurement)
        out.append(-1)
        print(f"probe: {e}", file=sys.stderr)


def measure(args, pid, offset, label):
    before = rss(pid)
    stop, rtts = threading.Event(), []
    pt = threading.Thread(target=probe, args=(args.port, args.queue, stop, rtts))
    pt.start()
    time.sleep(0.2)
    c = pika.BlockingConnection(params(args.port))
    ch = c.channel()
    ch.basic_qos(prefetch_count=args.prefetch)
    st = {"first": None, "first_offset": None, "n": 0, "last_tag": 0, "unacked": 0}

    def on_msg(chan, method, props, body):
        st["last_tag"] = method.delivery_tag
        if st["first"] is None:
            st["first"] = time.monotonic()
            st["first_offset"] = (props.headers or {}).get("x-stream-offset")
        st["n"] += 1
        st["unacked"] += 1
        if st["unacked"] >= args.prefetch // 2:
            chan.basic_ack(method.delivery_tag, multiple=True)
            st["unacked"] = 0

    t0 = time.monotonic()
    ch.basic_consume(args.queue, on_msg, arguments={"x-stream-offset": offset})
    t_ok = time.monotonic()
    deadline = t0 + args.timeout
    while st["first"] is None and time.monotonic() < deadline:
        c.process_data_events(time_limit=0.001)
    first_ms = (st["first"] - t0) * 1e3 if st["first"] else None
    at_first = rss(pid)
    t_read = time.monotonic()
    n0 = st["n"]
    while time.monotonic() - t_read < args.read_seconds:
        c.process_data_events(time_limit=0.05)
    rate = (st["n"] - n0) / (time.monotonic() - t_read)
    after = rss(pid)
    # Ack what was read, then close. pika's channel close rejects the deliveries it has buffered,
    # which a stream refuses (540, as RabbitMQ does): the broker closes the connection, fine here.
    try:
        if st["unacked"]:
            ch.basic_ack(0, multiple=True)
        c.close()
    except Exception:  # noqa: BLE001
        pass
    stop.set()
    pt.join()
    good = sorted(x for x in rtts if x >= 0)
    res = {"case": label, "x_stream_offset": offset, "first_delivery_ms": first_ms,
           "consume_ok_ms": round((t_ok - t0) * 1e3, 2),
           "first_x_stream_offset": st["first_offset"], "read_msg_per_s": round(rate),
           "read_s": args.read_seconds, "rss_before_mib": before, "rss_at_first_mib": at_first,
           "rss_after_read_mib": after,
           "probe_rtt_ms": {"count": len(good),
                            "p50": good[len(good) // 2] if good else None,
                            "max": good[-1] if good else None}}
    if first_ms is not None:
        res["first_delivery_ms"] = round(first_ms, 2)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warrend", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--port", type=int, default=5691)
    ap.add_argument("--queue", default="big")
    ap.add_argument("--prefetch", type=int, default=1000)
    ap.add_argument("--read-seconds", type=float, default=3)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--offsets", default="first,middle,last")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    b = broker(args)
    results = []
    try:
        for o in args.offsets.split(","):
            b.stop()
            start = b.start()
            length = start["length"] or 0
            offset = length // 2 if o == "middle" else (int(o) if o.isdigit() else o)
            dropped = drop_caches()
            cold = measure(args, b.proc.pid, offset, "cold: after a restart" +
                           (" and drop_caches" if dropped else " (page cache NOT dropped)"))
            cold.update(start)
            cold["page_cache_dropped"] = dropped
            results.append(cold)
            print(json.dumps(cold), file=sys.stderr)
            warm = measure(args, b.proc.pid, offset, "warm: same broker, no restart")
            results.append(warm)
            print(json.dumps(warm), file=sys.stderr)
    finally:
        b.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| x-stream-offset | case | first delivery ms | consume-ok ms | read msg/s | "
          "RSS before / at first / after MiB | probe max ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        rb, rf, ra = r["rss_before_mib"], r["rss_at_first_mib"], r["rss_after_read_mib"]
        print(f"| {r['x_stream_offset']} | {r['case']} | {r['first_delivery_ms']} | "
              f"{r['consume_ok_ms']} | {r['read_msg_per_s']:,} | {rb.get('VmRSS')} / "
              f"{rf.get('VmRSS')} / {ra.get('VmRSS')} | {r['probe_rtt_ms']['max']} |")


if __name__ == "__main__":
    main()
