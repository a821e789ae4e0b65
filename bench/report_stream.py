#!/usr/bin/env python3
"""Turns `SCENARIOS=stream bench/run`'s results (warren-perf --json summaries of the publish and
the consume phase, plus broker RSS readings, per broker and run) into the "Streams (issue #18)"
section of docs/benchmarks.md: publish rate with confirms, each consumer's and the aggregate
read rate from `first`, time to the first delivery, memory per consumer, and the Warren/RabbitMQ
ratios. Only that section is replaced (or added); bench/report.py keeps it when it rewrites the
rest, and the hand-written sections after it (time to first delivery on a large stream) stay."""
import argparse
import datetime
import glob
import json
import os
import re
import statistics
from collections import defaultdict

HEADING = "## Streams (issue #18)"
NAMES = {"warren": "Warren", "rabbitmq": "RabbitMQ"}
GOAL = 4.0  # issue #18: at least 4x RabbitMQ's publish and consume rates


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load(results):
    """broker -> [run dict] sorted by run."""
    runs = defaultdict(list)
    for path in glob.glob(os.path.join(results, "stream-*-*.rss.json")):
        m = re.match(r"stream-(warren|rabbitmq)-(\d+)\.rss\.json$", os.path.basename(path))
        if not m:
            continue
        b, r = m.group(1), int(m.group(2))
        base = os.path.join(results, f"stream-{b}-{r}")
        runs[b].append({"run": r, "rss": read_json(path) or {},
                        "pub": read_json(base + "-publish.json"),
                        "con": read_json(base + "-consume.json")})
    for b in runs:
        runs[b].sort(key=lambda x: x["run"])
    return runs


def figures(run):
    """The numbers of one run, None where a phase failed."""
    pub, con, rss = run["pub"], run["con"], run["rss"]
    out = {"errors": []}
    if pub:
        out["errors"] += ["publish: " + e for e in pub.get("errors", [])]
        ok = not pub.get("errors") and pub.get("confirmed", 0) >= rss.get("messages", 0)
        out["pub_rate"] = pub.get("confirm_rate") if ok else None
        out["pub_mb"] = out["pub_rate"] * pub.get("size", 1024) / 1e6 if ok else None
        lat = pub.get("confirm_latency_ns", {})
        out["confirm_p50"] = lat.get("p50", 0) / 1e6 if ok else None
        out["confirm_p99"] = lat.get("p99", 0) / 1e6 if ok else None
    if con:
        out["errors"] += ["consume: " + e for e in con.get("errors", [])]
        ok = not con.get("errors")
        per = [c.get("receive_rate", 0) for c in con.get("consumer_results", [])]
        out["per_consumer"] = per if ok else []
        out["agg_rate"] = con.get("receive_rate") if ok else None
        out["agg_mb"] = out["agg_rate"] * 1024 / 1e6 if ok else None
        firsts = [c.get("first_delivery_ms") for c in con.get("consumer_results", [])]
        firsts = [f for f in firsts if f is not None]
        out["first_ms"] = max(firsts) if firsts and ok else None
    before = rss.get("rss_before_consumers_kb", 0)
    peak = rss.get("rss_peak_consumers_kb", 0)
    n = rss.get("consumers", 3) or 3
    out["rss_fresh_mb"] = rss.get("rss_fresh_kb", 0) / 1024
    out["rss_before_mb"] = before / 1024
    out["rss_peak_mb"] = peak / 1024
    out["rss_after_mb"] = rss.get("rss_after_kb", 0) / 1024
    out["per_consumer_mb"] = (peak - before) / 1024 / n if before and peak else None
    out["load"] = rss.get("loadavg_1m")
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def num(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def spread(values, digits=0):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return num(m, digits)
    return f"{num(m, digits)} ({num(min(values), digits)}..{num(max(values), digits)})"


def ratio(a, b):
    if a is None or not b:
        return "-"
    return f"**{a / b:.1f}x**" if a / b >= 1 else f"{a / b:.2f}x"


def section(args, runs):
    figs = {b: [figures(r) for r in runs.get(b, [])] for b in ("warren", "rabbitmq")}
    messages = next((r["rss"].get("messages") for b in runs for r in runs[b] if r["rss"]), 0)
    consumers = next((r["rss"].get("consumers") for b in runs for r in runs[b] if r["rss"]), 3)
    prefetch = next((r["rss"].get("prefetch") for b in runs for r in runs[b] if r["rss"]), 1000)
    L = [HEADING, ""]
    L.append(f"*Produced by `{args.command}` (`bench/report_stream.py` writes this section only), "
             f"{datetime.date.today().isoformat()}; Warren: {args.warren_version}, RabbitMQ: "
             f"{args.rabbit_version} (its streams, default configuration). Load average "
             f"{args.loadavg} at the start, {args.loadavg_end} at the end.*")
    L.append("")
    L.append(f"Per broker and round, on a fresh broker: **phase 1** publishes {messages:,} x 1 KB "
             f"messages with publisher confirms (window 1000, one producer) into a new stream "
             f"(`x-queue-type: stream`), timed until the last confirm; **phase 2** attaches "
             f"{consumers} consumers from `x-stream-offset: first`, each on its own connection "
             f"(manual ack, prefetch {prefetch}), and each reads all {messages:,} messages: a "
             f"consumer's rate is timed from its basic.consume to its last message, the aggregate "
             f"is {consumers} x {messages:,} over the time from the first basic.consume to the last "
             f"message. Memory per consumer = (broker RSS peak during phase 2 - RSS before it) / "
             f"{consumers}. Medians over the rounds, spread (min..max) in brackets; ratio = "
             f"Warren / RabbitMQ (issue #18's goal: at least {GOAL:.0f}x for publish and consume).")
    L.append("")
    L.append("| measure | Warren | RabbitMQ | Warren/RabbitMQ |")
    L.append("|---|---|---|---|")

    def row(label, key, digits=0, show_ratio=True, inverse=False):
        w = [f.get(key) for f in figs["warren"]]
        r = [f.get(key) for f in figs["rabbitmq"]]
        rt = "-"
        if show_ratio:
            a, b = med(w), med(r)
            if inverse and a and b:
                rt = f"{a / b:.2f}x"
            else:
                rt = ratio(a, b)
        L.append(f"| {label} | {spread(w, digits)} | {spread(r, digits)} | {rt} |")

    row("publish with confirms (msg/s)", "pub_rate")
    row("publish (MB/s of bodies)", "pub_mb", 1)
    row("confirm latency p50 (ms)", "confirm_p50", 2, inverse=True)
    row("confirm latency p99 (ms)", "confirm_p99", 2, inverse=True)
    for b in ("warren", "rabbitmq"):
        for f in figs[b]:
            f["consumer_med"] = med(f.get("per_consumer") or [None])
            f["consumer_min"] = min(f["per_consumer"]) if f.get("per_consumer") else None
    row(f"consume from first, per consumer (msg/s, median of the {consumers})", "consumer_med")
    row("consume, slowest consumer (msg/s)", "consumer_min")
    row(f"consume, aggregate of {consumers} (msg/s)", "agg_rate")
    row("consume, aggregate (MB/s of bodies)", "agg_mb", 1)
    row("basic.consume to first delivery, slowest consumer (ms)", "first_ms", 1, inverse=True)
    row("broker RSS fresh (MiB)", "rss_fresh_mb", 1, show_ratio=False)
    row("broker RSS after phase 1, before the consumers (MiB)", "rss_before_mb", 1,
        show_ratio=False)
    row("broker RSS peak with the consumers reading (MiB)", "rss_peak_mb", 1, show_ratio=False)
    row("broker RSS after they closed (MiB)", "rss_after_mb", 1, show_ratio=False)
    row("memory per consumer (MiB)", "per_consumer_mb", 2, inverse=True)
    L.append("")
    L.append("Per round (msg/s; consumers in index order):")
    L.append("")
    L.append("| broker | round | load | publish | consumers | aggregate | first delivery ms | "
             "RSS before / peak MiB | errors |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for b in ("warren", "rabbitmq"):
        for run, f in zip(runs.get(b, []), figs[b]):
            per = ", ".join(num(v) for v in f.get("per_consumer") or []) or "-"
            errs = "; ".join(f["errors"][:2]) or "none"
            L.append(f"| {NAMES[b]} | {run['run']} | {f['load']} | {num(f.get('pub_rate'))} | "
                     f"{per} | {num(f.get('agg_rate'))} | {num(f.get('first_ms'), 1)} | "
                     f"{num(f['rss_before_mb'], 1)} / {num(f['rss_peak_mb'], 1)} | {errs} |")
    L.append("")
    return "\n".join(L) + "\n"


def splice(doc, text):
    """Replaces the Streams section of `doc` (up to the next level-2 heading), or inserts it before
    the hand-kept sections (before/after tables, profile), or appends it."""
    start = doc.find("\n" + HEADING + "\n")
    if start >= 0:
        start += 1
        nxt = doc.find("\n## ", start + len(HEADING))
        end = nxt + 1 if nxt >= 0 else len(doc)
        return doc[:start] + text + ("\n" if nxt >= 0 else "") + doc[end:]
    for marker in ("\n## Before/after", "\n## Profile"):
        at = doc.find(marker)
        if at >= 0:
            return doc[:at + 1] + text + "\n" + doc[at + 1:]
    return doc.rstrip("\n") + "\n\n" + text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--warren-version", default="unknown")
    ap.add_argument("--rabbit-version", default="unknown")
    ap.add_argument("--loadavg", default="?")
    ap.add_argument("--loadavg-end", default="?")
    ap.add_argument("--command", default="SCENARIOS=stream bench/run")
    args = ap.parse_args()
    text = section(args, load(args.results))
    doc = ""
    if os.path.exists(args.doc):
        with open(args.doc) as f:
            doc = f.read()
    with open(args.doc, "w") as f:
        f.write(splice(doc, text) if doc else "# Benchmarks: Warren and RabbitMQ\n\n" + text)


if __name__ == "__main__":
    main()
