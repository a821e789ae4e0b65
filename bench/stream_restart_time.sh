#!/bin/bash
# Restart time of warrend on a data dir holding a large stream (docs/benchmarks.md, "Streams:
# time to first delivery on a 10 GB stream"): drops the page cache (root), starts warrend, times
# until its AMQP port accepts, prints the peak RSS (VmHWM) and the recovery log lines, stops it.
#   WARREND=build/release/warrend DATA=/tmp/stream-big/data PORT=5691 bench/stream_restart_time.sh
WARREND=${WARREND:-build/release/warrend}
DATA=${DATA:-/tmp/stream-big/data}
PORT=${PORT:-5691}
LOG=$(mktemp)
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"
t0=$(date +%s.%N)
"$WARREND" --bind 127.0.0.1 --data-dir "$DATA" --amqp-port "$PORT" --stomp-port off \
  --http-port off --log-level info > "$LOG" 2>&1 &
pid=$!
until (echo > /dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; do sleep 0.02; done
t1=$(date +%s.%N)
echo "port open after $(echo "$t1 - $t0" | bc) s; $(grep VmHWM /proc/$pid/status)"
kill -TERM $pid; wait $pid
grep -i "stream\|recovery done" "$LOG" | tail -3
rm -f "$LOG"
