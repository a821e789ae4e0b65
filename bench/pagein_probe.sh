#!/bin/bash
# bench/pagein_probe.sh: page-in probe (#12): a consumer drains a cold, paged-out backlog while a fixed-rate probe
# measures end-to-end latency on another queue of the same broker.
# usage: pagein_probe.sh <warrend> <tag> [messages] [size]
set -u
WARREND=$1; TAG=$2; N=${3:-300000}; SIZE=${4:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PERF=${PERF:-$ROOT/build/release/warren-perf}
T=$(mktemp -d /tmp/pagein.XXXX); PORT=$((20000 + RANDOM % 20000))
"$WARREND" --bind 127.0.0.1 --data-dir "$T/data" --amqp-port $PORT --stomp-port off --http-port off \
  --log-level warn >"$T/warrend.log" 2>&1 &
PID=$!
for i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
"$PERF" --port $PORT -u big -x 1 -y 0 -C $N -s $SIZE --keep-queues --no-consume --quiet --json >"$T/fill.json" 2>/dev/null
sleep 1
python3 - "$T/data" <<'PY'
import os, sys
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd); n += 1
print("evicted", n, "files", file=sys.stderr)
PY
RSS0=$(awk '/^VmRSS:/ {print $2}' /proc/$PID/status)
"$PERF" --port $PORT -u big -x 0 -y 1 -a -z 4 --quiet --json >"$T/drain.json" 2>"$T/drain.log" &
DP=$!
sleep 0.3
"$PERF" --port $PORT -u probe -x 1 -y 1 -r 2000 -s 16 -z 3.5 --quiet --json >"$T/probe.json" 2>/dev/null
wait $DP
kill $PID; wait $PID 2>/dev/null
python3 - "$T" "$TAG" <<'PY'
import json, sys
t, tag = sys.argv[1], sys.argv[2]
d = json.load(open(t + "/drain.json")); p = json.load(open(t + "/probe.json"))
L = p["latency_ns"]
print(f"{tag}: drain received={d['received']} rate={d['receive_rate']:.0f}/s | probe n={L['count']} "
      f"p50={L['p50']/1e3:.0f}us p99={L['p99']/1e3:.0f}us p999={L['p999']/1e3:.0f}us max={L['max']/1e3:.0f}us")
PY
rm -rf "$T"
