#!/usr/bin/env python3
"""Turns `LONG_LIVED=1 bench/run`'s results into the "Long-lived broker" section of
docs/benchmarks.md: each broker ran every scenario on one process (queues deleted after each),
with scenario 5 (fixed 10,000 msg/s) first and last. The section compares the first and last
scenario-5 latency and the broker's RSS fresh, after each scenario and once every queue is
deleted (issue #15: scenario 5 p99 under 0.5 ms on the long-lived broker, RSS after the run
within 20% of the fresh broker's). Only that section is replaced (or added); bench/report.py
keeps it when it rewrites the rest.

Input (bench/run's results dir): ll-<broker>-<run>-<step>-s<scenario>.json (warren-perf --json)
with .rss.json beside it ({scenario, step, rss_before_kb, rss_after_kb, rss_deleted_kb}) and
ll-<broker>-<run>.json ({rss_fresh_kb, rss_end_kb, alive, pid, loadavg_1m, settle_s})."""
import argparse
import datetime
import glob
import json
import os
import re
import statistics
from collections import defaultdict

HEADING = "## Long-lived broker"
BROKERS = ["warren", "rabbitmq"]
NAMES = {"warren": "Warren", "rabbitmq": "RabbitMQ"}
SHORT = {
    1: "16 B, auto-ack",
    2: "16 B, ack, prefetch 1000",
    3: "1 KB persistent, confirms",
    4: "fanout to 10 queues",
    5: "fixed 10,000 msg/s",
    6: "100 x 100 on 100 queues",
    7: "idle connections",
    8: "fill, 16 B, no consumer",
    9: "persistent fill, 1 KB (no restart here)",
    10: "1 MiB bodies, ack, prefetch 10",
}
P99_GOAL_MS = 0.5
RSS_GOAL = 1.2


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load(results):
    """steps: broker -> run -> [(step, scenario, summary or None, rss)]; rounds: broker -> [round]"""
    steps = defaultdict(lambda: defaultdict(list))
    rounds = defaultdict(list)
    for path in glob.glob(os.path.join(results, "ll-*.json")):
        name = os.path.basename(path)
        m = re.match(r"ll-([a-z]+)-(\d+)-(\d+)-s(\d+)\.json$", name)
        if m:
            b, r, step, s = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
            rss = read_json(path[:-5] + ".rss.json") or {}
            deleted = read_json(path[:-5] + ".delete.json")
            if deleted and "deleted" in deleted:
                rss["deleted_messages"] = sum(deleted["deleted"].values())
            steps[b][r].append((step, s, read_json(path), rss))
            continue
        m = re.match(r"ll-([a-z]+)-(\d+)\.json$", name)
        if m:
            j = read_json(path)
            if j:
                rounds[m.group(1)].append(j)
    for b in steps:
        for r in steps[b]:
            steps[b][r].sort(key=lambda t: t[0])
    return steps, rounds


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell(values, f):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m, lo, hi = statistics.median(values), min(values), max(values)
    return f(m) if lo == hi else f"{f(m)} ({f(lo)}..{f(hi)})"


def ms(v):
    return "-" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.2f}")


def mib(kb):
    return "-" if kb is None else f"{kb / 1024:,.1f}"


def rate(v):
    return "-" if v is None else f"{v:,.0f}"


def p99(summary):
    return summary["latency_ns"]["p99"] / 1e6 if summary else None


def p50(summary):
    return summary["latency_ns"]["p50"] / 1e6 if summary else None


def section(args, steps, rounds):
    brokers = [b for b in BROKERS if b in steps or b in rounds] or BROKERS
    L = [HEADING, ""]
    L.append("*Produced by `LONG_LIVED=1 bench/run` (`bench/report_long.py` writes this section "
             "only; a full `bench/run` keeps it as it is).*")
    L.append("")
    order = " -> ".join(["5"] + [s for s in args.scenarios.split() if s != "0"] + ["5"])
    L.append("Each broker ran every scenario on **one process**, started once per round, instead "
             f"of a fresh process per run: scenario order {order}, {args.duration} s per timed "
             "run, the scenarios' usual warren-perf flags (see `bench/run`), except that scenario 9 "
             "fills its queue without the restart, and with `--keep-queues`: after each scenario "
             "the broker's RSS was read with the scenario's queues and their backlog still there, "
             "then the queues and exchange were deleted (`bench/delete_queues.py`) and the RSS "
             "read again, so every scenario starts on an empty broker that has already carried "
             "the previous ones. RSS is VmRSS of the broker process (`/proc/<pid>/status`): "
             "*fresh* 2 s after start, *highest* the largest reading 1 s after a scenario ended "
             "(its queues still there), *after deletion* "
             f"{args.settle} s after every bench queue was deleted at the end. Issue #15's goals: "
             f"scenario 5 p99 under {P99_GOAL_MS} ms on the long-lived broker (last run) and RSS "
             f"after deletion within {round((RSS_GOAL - 1) * 100)}% of the fresh broker's.")
    L.append("")
    L.append(f"- Command: `{args.command}`")
    L.append(f"- Measured: {datetime.date.today().isoformat()}; load average "
             f"{args.loadavg} at the start, {args.loadavg_end} at the end")
    L.append(f"- Warren: {args.warren_version}; RabbitMQ: {args.rabbit_version} (default "
             "configuration, classic queues)")
    n_rounds = {b: len(rounds.get(b, [])) for b in brokers}
    L.append("- Rounds per broker: " + ", ".join(f"{NAMES[b]} {n_rounds[b]}" for b in brokers))
    L.append("")

    def first_last(b, which):
        """Scenario-5 summaries of the first or last step of each round."""
        out = []
        for r, lst in sorted(steps.get(b, {}).items()):
            fives = [t for t in lst if t[1] == 5]
            if len(fives) >= (1 if which == 0 else 2):
                out.append(fives[which][2])
        return out

    def peak(b):
        vals, where = [], []
        for r, lst in sorted(steps.get(b, {}).items()):
            best = max(lst, key=lambda t: t[3].get("rss_after_kb", 0), default=None)
            if best:
                vals.append(best[3].get("rss_after_kb"))
                where.append(best[1])
        return vals, where

    L.append("| measure | " + " | ".join(NAMES[b] for b in brokers) + " |")
    L.append("|---|" + "---|" * len(brokers))
    row = lambda label, f: L.append(f"| {label} | " + " | ".join(f(b) for b in brokers) + " |")
    row("scenario 5 p50, first run (fresh process), ms",
        lambda b: cell([p50(s) for s in first_last(b, 0)], ms))
    row("scenario 5 p50, last run (long-lived), ms",
        lambda b: cell([p50(s) for s in first_last(b, -1)], ms))
    row("scenario 5 p99, first run (fresh process), ms",
        lambda b: cell([p99(s) for s in first_last(b, 0)], ms))
    row(f"**scenario 5 p99, last run (long-lived), ms** (goal < {P99_GOAL_MS})",
        lambda b: cell([p99(s) for s in first_last(b, -1)], ms))

    def last_first(b):
        f, l = first_last(b, 0), first_last(b, -1)
        vals = [p99(y) / p99(x) for x, y in zip(f, l) if p99(x) and p99(y) is not None]
        return cell(vals, lambda v: f"{v:.2f}")
    row("scenario 5 p99, last / first", last_first)
    row("RSS fresh, MiB", lambda b: cell([j.get("rss_fresh_kb") for j in rounds.get(b, [])], mib))

    def peak_cell(b):
        vals, where = peak(b)
        return "-" if not vals else f"{cell(vals, mib)} (after scenario " \
            f"{', '.join(str(w) for w in sorted(set(where)))})"
    row("RSS highest after a scenario, MiB", peak_cell)
    row("**RSS after every queue was deleted, MiB**",
        lambda b: cell([j.get("rss_end_kb") for j in rounds.get(b, [])], mib))
    row(f"RSS after deletion / fresh (goal <= {RSS_GOAL:.2f})",
        lambda b: cell([j["rss_end_kb"] / j["rss_fresh_kb"] for j in rounds.get(b, [])
                        if j.get("rss_fresh_kb") and j.get("rss_end_kb")], lambda v: f"{v:.2f}"))
    row("broker process alive at the end",
        lambda b: ", ".join("yes" if j.get("alive") else "**no**" for j in rounds.get(b, []))
        or "-")
    L.append("")

    # Per step: medians over the rounds.
    L.append("Every step (medians over the rounds): msg/s is what was consumed (scenarios 8 and "
             "9, with no consumer: ingest; scenario 7: idle connections opened); backlog is the "
             "queue depth at the end of the run as warren-perf read it / the messages its queues "
             "held when they were deleted a second or more later (publishes the broker had "
             "buffered but not yet queued at the end count there); RSS in MiB 1 s after the "
             "scenario (its queues still there) and 1 s after its queues were deleted.")
    L.append("")
    hdr = "| step | # | scenario |"
    sep = "|---|---|---|"
    for b in brokers:
        hdr += f" {NAMES[b]} msg/s | {NAMES[b]} backlog at end / deleted | {NAMES[b]} p99 ms | " \
               f"{NAMES[b]} RSS after / deleted |"
        sep += "---|---|---|---|"
    L.append(hdr)
    L.append(sep)
    by_step = defaultdict(lambda: defaultdict(list))  # step -> broker -> [(s, summary, rss)]
    for b in brokers:
        for r, lst in steps.get(b, {}).items():
            for step, s, su, rss in lst:
                by_step[step][b].append((s, su, rss))
    for step in sorted(by_step):
        s = next(t[0] for lst in by_step[step].values() for t in lst)
        line = f"| {step} | {s} | {SHORT.get(s, '')} |"
        for b in brokers:
            lst = by_step[step].get(b, [])
            sums = [su for _, su, _ in lst if su]
            key = "throughput" if s in (8, 9) else "receive_rate"
            r_ = cell([su.get(key) for su in sums], rate) if s != 7 else \
                cell([su.get("idle_connections_open") for su in sums], rate) + " open"
            backlog = "-" if s == 7 else \
                f"{cell([su.get('queue_depth_end') for su in sums], rate)} / " \
                f"{rate(med([x.get('deleted_messages') for _, _, x in lst]))}"
            lat = cell([p99(su) for su in sums if su["latency_ns"]["count"]], ms)
            after = med([x.get("rss_after_kb") for _, _, x in lst])
            deleted = med([x.get("rss_deleted_kb") for _, _, x in lst])
            line += f" {r_} | {backlog} | {lat} | {mib(after)} / {mib(deleted)} |"
        L.append(line)
    errs = []
    for b in brokers:
        for r, lst in sorted(steps.get(b, {}).items()):
            for step, s, su, _ in lst:
                if su is None:
                    errs.append(f"- {NAMES[b]}, round {r}, step {step} (scenario {s}): no result")
                elif su.get("errors"):
                    errs.append(f"- {NAMES[b]}, round {r}, step {step} (scenario {s}): "
                                f"{'; '.join(su['errors'][:2])}")
    if errs:
        L.append("")
        L.append("Runs with errors:")
        L.append("")
        L.extend(errs)
    return "\n".join(L) + "\n"


def splice(doc, text):
    """Replaces this section of `doc` (up to the next level-2 heading), or inserts it before the
    TLS section or the hand-kept sections, or appends it."""
    start = doc.find("\n" + HEADING + "\n")
    if start >= 0:
        start += 1
        nxt = doc.find("\n## ", start + len(HEADING))
        end = nxt + 1 if nxt >= 0 else len(doc)
        return doc[:start] + text + ("\n" if nxt >= 0 else "") + doc[end:]
    for marker in ("\n## TLS (AMQPS)", "\n## Before/after", "\n## Profile"):
        at = doc.find(marker)
        if at >= 0:
            return doc[:at + 1] + text + "\n" + doc[at + 1:]
    return doc.rstrip("\n") + "\n\n" + text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--duration", default="10")
    ap.add_argument("--scenarios", default="1 2 3 4 5 6 7 8 9 10")
    ap.add_argument("--settle", default="5")
    ap.add_argument("--warren-version", default="unknown")
    ap.add_argument("--rabbit-version", default="unknown")
    ap.add_argument("--loadavg", default="?")
    ap.add_argument("--loadavg-end", default="?")
    ap.add_argument("--command", default="LONG_LIVED=1 bench/run")
    args = ap.parse_args()
    steps, rounds = load(args.results)
    text = section(args, steps, rounds)
    doc = ""
    if os.path.exists(args.doc):
        with open(args.doc) as f:
            doc = f.read()
    with open(args.doc, "w") as f:
        f.write(splice(doc, text) if doc else "# Benchmarks: Warren and RabbitMQ\n\n" + text)


if __name__ == "__main__":
    main()
