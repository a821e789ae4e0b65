#!/usr/bin/env python3
"""Turns bench/run's results (warren-perf --json summaries plus broker RSS readings) into
docs/benchmarks.md and docs/benchmarks.png: per scenario and broker the median over the runs,
the spread (min..max) and the Warren/RabbitMQ ratio. Throughput scenarios are reported by what
the consumers got (consumed msg/s, the headline ratio), next to what the broker took in (ingest),
the backlog left at the end and the end-to-end latency; scenario 10 (1 MiB bodies) in MB/s.
Sections of the old document that this script does not write (TLS, long-lived broker,
hand-written measurements) are kept, in their order, after the generated ones."""
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
    10: ("1 producer -> 1 queue -> 1 consumer, 1 MiB transient, manual ack, prefetch 10", "large"),
}
# Level-2 headings this script writes (and older versions wrote): every other section of the old
# document is kept. The profile comes from docs/profile.md.
GENERATED = ("Throughput", "Consumed", "Ingest", "Latency at a fixed", "Memory",
             "Persistent fill and recovery", "Large messages", "Is warren-perf the bottleneck",
             "Runs with errors", "Profile: where the broker's time")
BACKLOG_GOAL = 100000  # issue #15: the backlog left at the end of a run stays under this
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
    out["throughput"] = summary.get("throughput", 0)  # ingest: consumed + queue growth
    out["consumed"] = summary.get("receive_rate", 0)
    out["send"] = summary.get("send_rate", 0)
    out["backlog"] = summary.get("queue_depth_end")  # None when it could not be read
    out["after_close"] = summary.get("queue_depth_after_close")
    size = summary.get("size", 0)
    out["consumed_mb"] = out["consumed"] * size / 1e6
    out["ingest_mb"] = out["throughput"] * size / 1e6
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


def frac(a, b):
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}"


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
             f"lasted {args.duration} s. **Consumed** is messages delivered to the consumers per "
             "second: what users get from a broker, the headline figure and ratio. **Ingest** is "
             "what the broker took in: consumed plus the growth of the queue depth (read back from "
             "the broker at the start and end of the run), per second; ingest above consumed means "
             "a backlog grew during the run. **Backlog at end** is the messages ready in the queues "
             "when the measured time ended, clients still connected (a passive declare, which "
             "counts no unacked delivery); **after close** is the depth again once every client "
             "closed: the consumers' unacked deliveries (up to prefetch each) are requeued and the "
             "broker has read what the producers had already written to their sockets. Latency is end "
             "to end (publish to delivery, monotonic clock, producer and consumer in one process). "
             "The ratio column is Warren / RabbitMQ: above 1 is better for throughput, below 1 is "
             "better for latency and memory.")
    L.append("")
    L.append("**Read these caveats first.** (1) Scenario 3 is like-for-like in what the client is promised but not in how: Warren sends a publisher confirm for a persistent message only after its record is written and fsynced (group commit: one fsync covers every message appended while the previous one ran), while RabbitMQ's classic queues confirm after writing without an fsync per confirm. (2) The machine has 2 cores shared with other work; the load average at the start of the run is given below. RabbitMQ (an Erlang VM wanting both cores) suffers more from a loaded machine than Warren's single broker thread, so compare ratios from quiet runs. (3) Warren pages message bodies to disk beyond `queue_memory_limit` (16 MiB per queue by default): in scenarios 1 and 2 the producer outruns the consumer and the queue grows, so part of the backlog is written to and read back from the message log, as RabbitMQ's classic queues also do; in scenario 10 (1 MiB bodies) that limit is 16 messages. (4) Scenario 7: both brokers run with the same open-file limit. bench/run raises the shell's to 200,000 (or the hard limit) for warrend, and RabbitMQ's node, which its start script's `su` would leave at a soft limit of 1,024 (under 1,000 connections: the cause of the missing RabbitMQ figure in earlier versions of this page), to the 65,536 of its Debian systemd unit (or the hard limit). Warren refuses connections beyond its default `max_connections`, the descriptor limit less a reserve for its own files (9,936 under a hard limit of 20,000), so on such a machine set IDLE_CONNECTIONS below that.")
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
    large = [s for s in sorted(table) if SCENARIOS.get(s, ("", ""))[1] == "large"]
    if tp:
        L.append("## Throughput: consumed (msg/s)")
        L.append("")
        L.append("Messages delivered to the consumers per second (warren-perf's `receive_rate`; "
                 "scenario 4 counts the deliveries to all 10 queues). What the brokers took in, "
                 "the backlog they were left with and the latency are in the next table.")
        L.append("")
        L.append("| # | scenario | Warren | RabbitMQ | Warren/RabbitMQ | relay baseline |")
        L.append("|---|---|---|---|---|---|")
        for s in tp:
            row = table[s]
            get = lambda b: [m["consumed"] for m in row.get(b, [])]
            L.append(f"| {s} | {SCENARIOS[s][0]} | {cell(get('warren'), fmt_rate)} | "
                     f"{cell(get('rabbitmq'), fmt_rate)} | "
                     f"{ratio(med(get('warren'))[0], med(get('rabbitmq'))[0])} | "
                     f"{cell(get('relay'), fmt_rate)} |")
        if table.get(1, {}).get("splice"):
            L.append(f"| 1 | same bytes through a trivial TCP relay (splice) | | | | "
                     f"{cell([m['consumed'] for m in table[1]['splice']], fmt_rate)} |")
        L.append("")
    if tp or large:
        L.append("## Ingest, backlog and end-to-end latency")
        L.append("")
        L.append("Per throughput scenario and broker (medians): consumed and ingest msg/s, "
                 "consumed / ingest (1.00 when the consumers keep up), the backlog left in the "
                 f"queues at the end of the run (issue #15's goal: under {BACKLOG_GOAL:,} "
                 "messages) and end-to-end latency p50 / p99 in ms. These runs publish as fast as "
                 "the broker accepts, so when a backlog grows the latency is mostly queueing.")
        L.append("")
        L.append("| # | broker | consumed msg/s | ingest msg/s | consumed / ingest | "
                 "backlog at end | after close | p50 ms | p99 ms |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for s in tp + large:
            for b in BROKERS:
                ms = table[s].get(b)
                if not ms:
                    continue
                g = lambda k: med([m[k] for m in ms])[0]
                backlog = [m["backlog"] for m in ms]
                after = [m.get("after_close") for m in ms]
                L.append(f"| {s} | {NAMES[b]} | {cell([m['consumed'] for m in ms], fmt_rate)} | "
                         f"{cell([m['throughput'] for m in ms], fmt_rate)} | "
                         f"{frac(g('consumed'), g('throughput'))} | "
                         f"{cell(backlog, fmt_rate)} | {cell(after, fmt_rate)} | "
                         f"{fmt_ms(g('p50'))} | "
                         f"{fmt_ms(g('p99'))} |")
        L.append("")

    for s in large:
        row = table[s]
        g = lambda b, k: [m[k] for m in row.get(b, [])]
        mb = lambda v: f"{v:,.1f}"
        L.append(f"## Large messages (scenario {s}, MB/s)")
        L.append("")
        L.append("One producer publishing 1 MiB (1,048,576 B) transient bodies as fast as the "
                 "broker accepts into one queue, one consumer with manual acks and prefetch 10 "
                 "(what a RabbitMQ user moving large payloads runs: acks so that a consumer crash "
                 "loses nothing, a small prefetch so that a consumer does not sit on many "
                 "megabytes). Both brokers offer frame_max 131,072 (their default), so each body "
                 "travels as 9 body frames of at most 131,064 bytes. MB/s = 10^6 bytes of body per second; issue #15's goal is "
                 "Warren at 3x RabbitMQ's consumed MB/s or more.")
        L.append("")
        L.append("| measure | Warren | RabbitMQ | Warren/RabbitMQ | relay baseline |")
        L.append("|---|---|---|---|---|")
        for key, label, f in (("consumed_mb", "consumed MB/s", mb),
                              ("ingest_mb", "ingest MB/s", mb),
                              ("consumed", "consumed msg/s", lambda v: f"{v:,.1f}"),
                              ("backlog", "backlog at end (messages)", fmt_rate),
                              ("p50", "end-to-end p50 ms", fmt_ms),
                              ("p99", "end-to-end p99 ms", fmt_ms),
                              ("rss_mb", "broker RSS after the run (MiB)", lambda v: f"{v:,.0f}")):
            is_rate = key in ("consumed_mb", "ingest_mb", "consumed")
            r = ratio(med(g("warren", key))[0], med(g("rabbitmq", key))[0]) \
                if key != "backlog" else ""
            L.append(f"| {label} | {cell(g('warren', key), f)} | {cell(g('rabbitmq', key), f)} | "
                     f"{r} | {cell(g('relay', key), f) if is_rate else ''} |")
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
             "warren-perf can push. msg/s is what was consumed (scenario 0: sent; 7-9, with no "
             "consumer: ingest).")
    L.append("")
    L.append("| # | against | msg/s | warren-perf CPU per message | warren-perf CPU |")
    L.append("|---|---|---|---|---|")
    for s in sorted(table):
        for b in BROKERS:
            ms = table[s].get(b)
            if not ms:
                continue
            kind = SCENARIOS.get(s, ("", ""))[1]
            key = "send" if s == 0 else "consumed" if kind in ("throughput", "large",
                                                               "latency") else "throughput"
            rate = [m[key] for m in ms]
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
             "for a quick look; `LONG_LIVED=1 bench/run` for the long-lived broker section, "
             "`TLS=1 bench/run` for the TLS one. Each scenario's exact warren-perf flags are in "
             "`bench/run`.")
    # Sections this script does not write are kept as they are, in their order: "TLS (AMQPS)"
    # (`TLS=1 bench/run`, bench/report_tls.py), "Long-lived broker" (`LONG_LIVED=1 bench/run`,
    # bench/report_long.py) and hand-written measurements.
    if os.path.exists(args.doc):
        with open(args.doc) as f:
            old = f.read()
        for part in old.split("\n## ")[1:]:
            heading = part.split("\n", 1)[0]
            if not heading.startswith(GENERATED):
                L.append("")
                L.append("## " + part.rstrip("\n"))
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
            vals = [med([m["consumed"] for m in table[s].get(b, [])])[0] for b in ("warren", "rabbitmq", "relay")]
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
set title 'Consumed msg/s by scenario (log scale, median)'
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
