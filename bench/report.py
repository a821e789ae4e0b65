#!/usr/bin/env python3
"""Turns bench/run's results (warren-perf --json summaries plus broker RSS readings) into
docs/benchmarks.md and docs/benchmarks.png: per scenario and broker the median over the runs,
the spread (min..max) and the Warren/RabbitMQ ratio."""
import argparse
import glob
import json
import os
import platform
import re
import statistics
import subprocess
from collections import defaultdict

SCENARIOS = {
    0: ("warren-perf alone: 1 producer into a sink, 16 B", "send"),
    1: ("1 producer -> 1 queue -> 1 consumer, 16 B transient, auto-ack", "throughput"),
    2: ("same, manual ack, prefetch 1000", "throughput"),
    3: ("1 KB persistent, durable queue, confirms (window 1000), manual ack", "throughput"),
    4: ("fanout to 10 queues, 1 consumer each (deliveries/s)", "throughput"),
    5: ("latency at a fixed 10,000 msg/s", "latency"),
    6: ("100 producers + 100 consumers on 100 queues, 256 B", "throughput"),
    7: ("idle connections: broker memory per connection", "memory_conn"),
    8: ("messages queued with no consumer, 16 B: fill time, memory per message", "fill"),
    9: ("1 KB persistent messages with confirms: fill, then restart until all are back", "recovery"),
}
BROKERS = ["warren", "rabbitmq", "relay", "splice"]
NAMES = {"warren": "Warren", "rabbitmq": "RabbitMQ", "relay": "relay (baseline)",
         "splice": "TCP splice (baseline)"}


def load(results):
    runs = defaultdict(list)  # (scenario, broker) -> [(summary, rss)]
    for path in sorted(glob.glob(os.path.join(results, "s*-*-*.json"))):
        m = re.match(r"s(\d+)-([a-z]+)-(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        s, b = int(m.group(1)), m.group(2)
        try:
            with open(path) as f:
                summary = json.load(f)
        except (OSError, ValueError):
            summary = None
        rss = {}
        rss_path = path[:-5] + ".rss.json"
        if os.path.exists(rss_path):
            with open(rss_path) as f:
                rss = json.load(f)
        runs[(s, b)].append((summary, rss))
    return runs


def metric(s, kind, summary, rss, args):
    """The scenario's main numbers for one run, as a dict."""
    if summary is None:
        return None
    out = {"errors": len(summary.get("errors", [])),
           "error_text": "; ".join(summary.get("errors", [])[:2]),
           "cpu_ns": summary.get("cpu_ns_per_message", 0),
           "cpu_pct": summary.get("cpu_percent", 0)}
    lat = summary.get("latency_ns", {})
    out.update(p50=lat.get("p50", 0) / 1e6, p99=lat.get("p99", 0) / 1e6,
               p999=lat.get("p999", 0) / 1e6, max=lat.get("max", 0) / 1e6)
    out["throughput"] = summary.get("throughput", 0)
    out["send"] = summary.get("send_rate", 0)
    delta_kb = rss.get("rss_after_kb", 0) - rss.get("rss_before_kb", 0)
    if kind == "memory_conn":
        n = summary.get("idle_connections_open", 0)
        # A run whose connections did not all open measures something else: leave it out.
        out["bytes_per_conn"] = delta_kb * 1024 / n if n and not out["errors"] else None
        out["open"] = n
        out["connect_s"] = summary.get("connect_s", 0)
    if kind == "fill":
        n = summary.get("queue_depth_end", 0) - summary.get("queue_depth_start", 0) if summary.get("queue_depth_end") is not None else 0
        out["fill_s"] = summary.get("duration_s", 0)
        out["depth"] = n
        out["bytes_per_msg"] = delta_kb * 1024 / n if n and not out["errors"] else None
    if kind == "recovery":
        out["recovery_s"] = rss.get("recovery_s")
        out["recovered"] = rss.get("recovered", 0)
    out["rss_mb"] = rss.get("rss_after_kb", 0) / 1024
    return out


def med(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def fmt_rate(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_ms(v):
    return "-" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.2f}")


def cell(values, f):
    m, lo, hi = med(values)
    if m is None:
        return "-"
    if lo == hi:
        return f(m)
    return f"{f(m)} ({f(lo)}..{f(hi)})"


def ratio(a, b):
    if a is None or b in (None, 0):
        return "-"
    r = a / b
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024 // 1024
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB RAM, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="10")
    ap.add_argument("--warren-version", default="unknown")
    ap.add_argument("--rabbit-version", default="unknown")
    ap.add_argument("--erlang-version", default="unknown")
    ap.add_argument("--idle", default="10000")
    ap.add_argument("--fill", default="1000000")
    ap.add_argument("--recover", type=int, default=1000000)
    ap.add_argument("--loadavg", default="")
    args = ap.parse_args()

    runs = load(args.results)
    table = defaultdict(dict)  # scenario -> broker -> [metric dicts]
    for (s, b), lst in runs.items():
        kind = SCENARIOS.get(s, ("", ""))[1]
        table[s][b] = [m for m in (metric(s, kind, su, rss, args) for su, rss in lst) if m]

    L = []
    L.append("# Benchmarks: Warren and RabbitMQ")
    L.append("")
    L.append("Produced by `bench/run` (scenarios from the benchmark issue) with `warren-perf`, "
             "Warren's AMQP 0-9-1 load generator; both brokers ran on the same machine, one at a "
             "time, alternating, each started fresh for every run. Numbers are the **median** of "
             f"the runs (up to {args.runs} per broker, counts below) with the spread (min..max) in brackets; each throughput run "
             f"lasted {args.duration} s. Throughput = messages consumed plus growth of the queue "
             "depth (read back from the broker), per second. Latency is end to end (publish to "
             "delivery, monotonic clock, producer and consumer in one process). The ratio column is "
             "Warren / RabbitMQ: above 1 is better for throughput, below 1 is better for latency "
             "and memory.")
    L.append("")
    L.append("**Read these caveats first.** (1) Scenario 3 is like-for-like in what the client is promised but not in how: Warren sends a publisher confirm for a persistent message only after its record is written and fsynced (group commit: one fsync covers every message appended while the previous one ran), while RabbitMQ's classic queues confirm after writing without an fsync per confirm. (2) The machine has 2 cores shared with other work; the load average at the start of the run is given below. RabbitMQ (an Erlang VM wanting both cores) suffers more from a loaded machine than Warren's single broker thread, so compare ratios from quiet runs. (3) Warren pages message bodies to disk beyond `queue_memory_limit` (16 MiB per queue by default): in scenarios 1 and 2 the producer outruns the consumer and the queue grows, so part of the backlog is written to and read back from the message log, as RabbitMQ's classic queues also do. (4) Scenario 7: warren-perf could not open 10,000 connections to RabbitMQ within its 80 s limit (in the recorded run, well under 1,000 opened), so RabbitMQ has no per-connection memory figure.")
    L.append("")
    L.append(f"- Machine: {machine()}")
    if args.loadavg:
        L.append(f"- Load average when the run started: {args.loadavg} (other work on the machine "
                 "skews absolute numbers; the alternation spreads it over both brokers)")
    counts = ", ".join(f"{sc}: {max(len(v) for v in table[sc].values())}" for sc in sorted(table))
    L.append(f"- Runs per broker, by scenario: {counts}")
    L.append(f"- Warren: {args.warren_version}")
    L.append(f"- RabbitMQ: {args.rabbit_version} (Debian package, Erlang {args.erlang_version}), "
             "default configuration, classic queues")
    L.append("- Baselines: `warren-relay --mode deliver` re-frames each publish as a delivery with no "
             "queue (the least a broker can do); `--mode splice` copies the publisher's bytes to "
             "the consumer unchanged (a trivial TCP relay: the machine's ceiling). Both run on one thread "
             "and look up routes per message, so with many connections (scenario 6) they are a "
             "reference, not a ceiling")
    L.append("")

    tp = [s for s in sorted(table) if SCENARIOS.get(s, ("", ""))[1] == "throughput"]
    if tp:
        L.append("## Throughput (msg/s)")
        L.append("")
        L.append("| # | scenario | Warren | RabbitMQ | Warren/RabbitMQ | relay baseline |")
        L.append("|---|---|---|---|---|---|")
        for s in tp:
            row = table[s]
            get = lambda b: [m["throughput"] for m in row.get(b, [])]
            L.append(f"| {s} | {SCENARIOS[s][0]} | {cell(get('warren'), fmt_rate)} | "
                     f"{cell(get('rabbitmq'), fmt_rate)} | "
                     f"{ratio(med(get('warren'))[0], med(get('rabbitmq'))[0])} | "
                     f"{cell(get('relay'), fmt_rate)} |")
        if table.get(1, {}).get("splice"):
            L.append(f"| 1 | same bytes through a trivial TCP relay (splice) | | | | "
                     f"{cell([m['throughput'] for m in table[1]['splice']], fmt_rate)} |")
        L.append("")
        L.append("Latency in the throughput runs (p50 / p99 ms, medians): these runs publish as "
                 "fast as the broker accepts, so latency here is mostly queueing.")
        L.append("")
        L.append("| # | Warren p50 | Warren p99 | RabbitMQ p50 | RabbitMQ p99 |")
        L.append("|---|---|---|---|---|")
        for s in tp:
            row = table[s]
            g = lambda b, k: med([m[k] for m in row.get(b, [])])[0]
            L.append(f"| {s} | {fmt_ms(g('warren', 'p50'))} | {fmt_ms(g('warren', 'p99'))} | "
                     f"{fmt_ms(g('rabbitmq', 'p50'))} | {fmt_ms(g('rabbitmq', 'p99'))} |")
        L.append("")

    if 5 in table:
        L.append("## Latency at a fixed 10,000 msg/s (scenario 5, ms)")
        L.append("")
        L.append("The producer follows a fixed schedule and stamps each message with its *intended* "
                 "send time, so a stall shows up in the latency instead of being omitted.")
        L.append("")
        L.append("| broker | p50 | p99 | p99.9 | max | achieved msg/s |")
        L.append("|---|---|---|---|---|---|")
        for b in BROKERS:
            ms = table[5].get(b)
            if not ms:
                continue
            L.append(f"| {NAMES[b]} | {cell([m['p50'] for m in ms], fmt_ms)} | "
                     f"{cell([m['p99'] for m in ms], fmt_ms)} | {cell([m['p999'] for m in ms], fmt_ms)} | "
                     f"{cell([m['max'] for m in ms], fmt_ms)} | {cell([m['throughput'] for m in ms], fmt_rate)} |")
        w, r = table[5].get("warren"), table[5].get("rabbitmq")
        if w and r:
            L.append(f"| Warren/RabbitMQ | {ratio(med([m['p50'] for m in w])[0], med([m['p50'] for m in r])[0])} | "
                     f"{ratio(med([m['p99'] for m in w])[0], med([m['p99'] for m in r])[0])} | "
                     f"{ratio(med([m['p999'] for m in w])[0], med([m['p999'] for m in r])[0])} | | |")
        L.append("")

    if 7 in table or 8 in table:
        L.append("## Memory")
        L.append("")
        L.append("Broker resident memory (VmRSS from /proc/<pid>/status) before and after; per "
                 "item = difference / count.")
        L.append("")
        L.append("| # | measure | Warren | RabbitMQ | Warren/RabbitMQ |")
        L.append("|---|---|---|---|---|")
        if 7 in table:
            row = table[7]
            g = lambda b, k: [m[k] for m in row.get(b, [])]
            kib = lambda v: f"{v / 1024:,.1f} KiB"
            L.append(f"| 7 | memory per idle connection ({args.idle} connections) | "
                     f"{cell(g('warren', 'bytes_per_conn'), kib)} | {cell(g('rabbitmq', 'bytes_per_conn'), kib)} | "
                     f"{ratio(med(g('warren', 'bytes_per_conn'))[0], med(g('rabbitmq', 'bytes_per_conn'))[0])} |")
            sec = lambda v: f"{v:.2f} s"
            L.append(f"| 7 | time to open them | {cell(g('warren', 'connect_s'), sec)} | "
                     f"{cell(g('rabbitmq', 'connect_s'), sec)} | |")
        if 8 in table:
            row = table[8]
            g = lambda b, k: [m[k] for m in row.get(b, [])]
            byt = lambda v: f"{v:,.0f} B"
            sec = lambda v: f"{v:.2f} s"
            L.append(f"| 8 | memory per queued 16 B message ({args.fill} messages) | "
                     f"{cell(g('warren', 'bytes_per_msg'), byt)} | {cell(g('rabbitmq', 'bytes_per_msg'), byt)} | "
                     f"{ratio(med(g('warren', 'bytes_per_msg'))[0], med(g('rabbitmq', 'bytes_per_msg'))[0])} |")
            L.append(f"| 8 | fill time | {cell(g('warren', 'fill_s'), sec)} | "
                     f"{cell(g('rabbitmq', 'fill_s'), sec)} | "
                     f"{ratio(med(g('warren', 'fill_s'))[0], med(g('rabbitmq', 'fill_s'))[0])} |")
            L.append(f"| 8 | fill rate (msg/s) | {cell(g('warren', 'throughput'), fmt_rate)} | "
                     f"{cell(g('rabbitmq', 'throughput'), fmt_rate)} | "
                     f"{ratio(med(g('warren', 'throughput'))[0], med(g('rabbitmq', 'throughput'))[0])} |")
        L.append("")

    if 9 in table:
        row = table[9]
        g = lambda b, k: [m[k] for m in row.get(b, []) if m.get(k) is not None]
        sec = lambda v: f"{v:.2f} s"
        L.append("## Persistent fill and recovery (scenario 9)")
        L.append("")
        L.append(f"{args.recover:,} persistent 1 KB messages published with confirms (window 1000) "
                 "into one durable queue, no consumer; then a clean stop and a start on the same "
                 "data, timed until a passive declare reports every message back (this includes "
                 "each broker's own start-up: a few seconds of Erlang VM boot for RabbitMQ).")
        L.append("")
        L.append("| measure | Warren | RabbitMQ | Warren/RabbitMQ |")
        L.append("|---|---|---|---|")
        L.append(f"| fill rate, confirmed (msg/s) | {cell(g('warren', 'throughput'), fmt_rate)} | "
                 f"{cell(g('rabbitmq', 'throughput'), fmt_rate)} | "
                 f"{ratio(med(g('warren', 'throughput'))[0], med(g('rabbitmq', 'throughput'))[0])} |")
        L.append(f"| restart until all back | {cell(g('warren', 'recovery_s'), sec)} | "
                 f"{cell(g('rabbitmq', 'recovery_s'), sec)} | "
                 f"{ratio(med(g('warren', 'recovery_s'))[0], med(g('rabbitmq', 'recovery_s'))[0])} |")
        L.append(f"| messages back | {cell(g('warren', 'recovered'), lambda v: f'{v:,.0f}')} | "
                 f"{cell(g('rabbitmq', 'recovered'), lambda v: f'{v:,.0f}')} | |")
        L.append("")

    L.append("## Is warren-perf the bottleneck?")
    L.append("")
    L.append("Its own CPU time (getrusage) per message sent or received, and its share of one core. "
             "Scenario 0 drives a sink that drops everything: the most one producer connection of "
             "warren-perf can push.")
    L.append("")
    L.append("| # | against | msg/s | warren-perf CPU per message | warren-perf CPU |")
    L.append("|---|---|---|---|---|")
    for s in sorted(table):
        for b in BROKERS:
            ms = table[s].get(b)
            if not ms:
                continue
            rate = [m["send"] if s == 0 else m["throughput"] for m in ms]
            L.append(f"| {s} | {NAMES[b]} | {cell(rate, fmt_rate)} | "
                     f"{cell([m['cpu_ns'] for m in ms], lambda v: f'{v:,.0f} ns')} | "
                     f"{cell([m['cpu_pct'] for m in ms], lambda v: f'{v:.0f}%')} |")
    L.append("")
    errs = [(s, b, m["errors"], m["error_text"]) for s in table for b in table[s]
            for m in table[s][b] if m["errors"]]
    failed = [(s, b) for (s, b), lst in runs.items() for su, _ in lst if su is None]
    if errs or failed:
        L.append("## Runs with errors")
        L.append("")
        for s, b, n, text in errs:
            L.append(f"- scenario {s} on {NAMES.get(b, b)}: {n} error(s) reported by warren-perf: {text}")
        for s, b in failed:
            L.append(f"- scenario {s} on {NAMES.get(b, b)}: no result (warren-perf failed to run)")
        L.append("")
    L.append("![throughput and latency](benchmarks.png)")
    L.append("")
    L.append("Reproduce: `bench/run` (or `make bench`); `RUNS=1 DURATION=3 SCENARIOS=\"1 5\" bench/run` "
             "for a quick look. Each scenario's exact warren-perf flags are in `bench/run`.")
    # The TLS section (written by `TLS=1 bench/run`, bench/report_tls.py) is kept as it is.
    if os.path.exists(args.doc):
        with open(args.doc) as f:
            old = f.read()
        start = old.find("\n## TLS (AMQPS)\n")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            L.append("")
            L.append(old[start + 1:end if end >= 0 else len(old)].rstrip("\n"))
    # Hand-written sections kept across runs: the profile of scenarios 1 and 2 (docs/profile.md).
    profile = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                           "profile.md")
    if os.path.exists(profile):
        with open(profile) as f:
            L.append("")
            L.append(f.read().rstrip("\n"))
    with open(args.doc, "w") as f:
        f.write("\n".join(L) + "\n")

    # Chart: throughput per scenario (log scale) and scenario-5 latency percentiles.
    png = os.path.join(os.path.dirname(args.doc), "benchmarks.png")
    dat = os.path.join(args.results, "throughput.dat")
    with open(dat, "w") as f:
        f.write("scenario Warren RabbitMQ relay\n")
        for s in tp:
            vals = [med([m["throughput"] for m in table[s].get(b, [])])[0] for b in ("warren", "rabbitmq", "relay")]
            f.write(f"S{s} " + " ".join("NaN" if v is None else f"{v:.0f}" for v in vals) + "\n")
    lat = os.path.join(args.results, "latency.dat")
    with open(lat, "w") as f:
        f.write("pct Warren RabbitMQ\n")
        for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
            vals = [med([m[key] for m in table.get(5, {}).get(b, [])])[0] for b in ("warren", "rabbitmq")]
            f.write(f"{label} " + " ".join("NaN" if v is None else f"{v:.4f}" for v in vals) + "\n")
    colors = {"warren": "#2b7bba", "rabbitmq": "#e8743b", "relay": "#9a9a9a"}

    def plot_cmd(path, brokers, scen):
        cols = [(i + 2, b) for i, b in enumerate(brokers)
                if any(table[s].get(b) for s in scen)]
        parts = [f"'{path}' using {c}:xtic(1) lc rgb '{colors[b]}'" for c, b in cols]
        return ", ".join(parts) if parts else ""

    tp_plot = plot_cmd(dat, ["warren", "rabbitmq", "relay"], tp)
    lat_plot = plot_cmd(lat, ["warren", "rabbitmq"], [5] if 5 in table else [])
    panels = []
    if tp_plot:
        panels.append(f"""set logscale y
set yrange [100:*]
set key top right autotitle columnheader
set title 'Throughput by scenario (msg/s, log scale, median)'
plot """ + tp_plot + "\n")
    if lat_plot:
        panels.append(f"""set logscale y
set yrange [*:*]
set key top left autotitle columnheader
set title 'Scenario 5: latency at 10,000 msg/s (ms, log scale, median)'
plot """ + lat_plot + "\n")
    if panels:
        gp = f"""set terminal pngcairo size {600 * len(panels)},500 font ",10" noenhanced
set output '{png}'
set multiplot layout 1,{len(panels)}
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
""" + "".join(panels) + "unset multiplot\n"
        try:
            subprocess.run(["gnuplot"], input=gp, text=True, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"gnuplot failed: {e} {getattr(e, 'stderr', '')}")


if __name__ == "__main__":
    main()
