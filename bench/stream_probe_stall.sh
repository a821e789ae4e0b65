#!/bin/bash
# Does a consumer reading a cold stream from disk stall the broker? (docs/benchmarks.md,
# "Streams: time to first delivery on a 10 GB stream"). Starts warrend on DATA (a data dir with
# a large stream QUEUE), drops the page cache (root), and while one warren-perf consumer reads
# 2 M messages from `first`, a pika probe on another connection times a passive queue.declare
# every 5 ms for 20 s: prints its p50/p99/max (ms) and the consumer's rate.
#   WARREN_BUILD=build/release DATA=/tmp/stream-big/data QUEUE=big bench/stream_probe_stall.sh
B=${WARREN_BUILD:-build/release}
DATA=${DATA:-/tmp/stream-big/data}
QUEUE=${QUEUE:-big}
PORT=${PORT:-5691}
OUT=$(mktemp -d)
"$B/warrend" --bind 127.0.0.1 --data-dir "$DATA" --amqp-port "$PORT" --stomp-port off \
  --http-port off --log-level warn >> "$OUT/warrend.log" 2>&1 &
W=$!
until (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; do sleep 0.2; done
sleep 1
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"
PORT=$PORT QUEUE=$QUEUE /usr/bin/python3 - <<'PY' > "$OUT/probe.json" &
import json, os, time
import pika
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(os.environ["PORT"])))
ch = c.channel()
r = []
t_end = time.monotonic() + 20
while time.monotonic() < t_end:
    t = time.monotonic()
    ch.queue_declare(os.environ["QUEUE"], passive=True)
    r.append((time.monotonic() - t) * 1e3)
    time.sleep(0.005)
r.sort()
print(json.dumps({"count": len(r), "p50": r[len(r) // 2], "p99": r[int(len(r) * 0.99)],
                  "max": r[-1]}))
PY
P=$!
sleep 1
"$B/warren-perf" --port "$PORT" -u "$QUEUE" --queue-args x-queue-type=stream -x 0 -y 1 \
  --consumer-args x-stream-offset=first -q 1000 -D 2000000 --drain-timeout 60 --keep-queues \
  --json > "$OUT/perf.json" 2> "$OUT/perf.log"
wait $P
echo "probe: $(cat "$OUT/probe.json")"
/usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('consumer:', j['consumer_results'])" "$OUT/perf.json"
kill $W; wait $W 2>/dev/null
rm -rf "$OUT"
