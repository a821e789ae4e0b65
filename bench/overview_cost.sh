#!/bin/bash
# bench/overview_cost.sh: what polling the management API costs a busy broker (#14).
# Scenario 1 (1 publisher -> 1 queue -> 1 consumer, 16 B, auto-ack; bench/run's arguments) on a
# fresh warrend, alternately without and with a poller that GETs /api/overview and
# /api/queues?page=1&page_size=100 every POLL_MS (default 1000: five times as often as
# RabbitMQ's UI refreshes). Prints each run's published and consumed msg/s, then the median
# ratio with/without.
#
#   bench/overview_cost.sh [rounds] [seconds]      # default 4 rounds of 10 s
# Environment: WARREN_BUILD (default build/release), POLL_MS.
set -u
ROUNDS=${1:-4}; D=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WARREN_BUILD:-$ROOT/build/release}
POLL_MS=${POLL_MS:-1000}
T=$(mktemp -d /tmp/ovcost.XXXX)
trap 'rm -rf "$T"' EXIT

run() {  # run <tag> <poll 0|1>
  local tag=$1 poll=$2 port=$((20000 + RANDOM % 20000)) http=$((40000 + RANDOM % 20000))
  rm -rf "$T/data"
  "$BUILD/warrend" --bind 127.0.0.1 --data-dir "$T/data" --amqp-port $port --stomp-port off \
    --http-port $http --log-level warn >"$T/warrend.log" 2>&1 &
  local pid=$! poller=""
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  if [ "$poll" = 1 ]; then
    python3 - "$http" "$POLL_MS" >"$T/poll.log" 2>&1 <<'PY' &
import base64, sys, time, urllib.request
port, every = int(sys.argv[1]), int(sys.argv[2]) / 1000
auth = "Basic " + base64.b64encode(b"guest:guest").decode()
n, spent = 0, 0.0
while True:
    for path in ("/api/overview", "/api/queues?page=1&page_size=100"):
        t0 = time.monotonic()
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"authorization": auth})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except Exception as e:
            print("poll error", e, flush=True)
        spent += time.monotonic() - t0
        n += 1
    print(f"polls={n} mean_ms={spent / n * 1000:.2f}", flush=True)
    time.sleep(every)
PY
    poller=$!
  fi
  "$BUILD/warren-perf" --port $port --json -x 1 -y 1 -u bench-q -s 16 -a -z "$D" \
    >"$T/$tag.json" 2>/dev/null
  [ -n "$poller" ] && kill $poller 2>/dev/null && wait $poller 2>/dev/null
  kill $pid; wait $pid 2>/dev/null
  python3 - "$T/$tag.json" "$tag" "$T/poll.log" "$poll" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
extra = ""
if sys.argv[4] == "1":
    lines = [l for l in open(sys.argv[3]).read().splitlines() if l.startswith("polls=")]
    extra = " " + (lines[-1] if lines else "no polls")
print(f"{sys.argv[2]}: published={d['send_rate']:.0f}/s consumed={d['receive_rate']:.0f}/s{extra}")
PY
}

for r in $(seq "$ROUNDS"); do
  run "r$r-off" 0 | tee -a "$T/results"
  run "r$r-on" 1 | tee -a "$T/results"
done
python3 - "$T/results" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def rates(kind, which):
    return [float(re.search(which + r"=(\d+)", l).group(1)) for l in rows if f"-{kind}:" in l]
for which in ("published", "consumed"):
    off, on = statistics.median(rates("off", which)), statistics.median(rates("on", which))
    print(f"{which}: median without polling {off:.0f}/s, with polling {on:.0f}/s, "
          f"ratio {on / off:.3f} ({(1 - on / off) * 100:+.1f}% cost)")
PY
