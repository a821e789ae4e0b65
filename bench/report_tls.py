#!/usr/bin/env python3
"""Turns `TLS=1 bench/run`'s results (warren-perf --json summaries of scenarios 1 and 3 over AMQPS
and over plain TCP, per broker and run) into the "TLS (AMQPS)" section of docs/benchmarks.md:
per-run figures, medians, Warren/RabbitMQ ratios over TLS and plain, and the cost of TLS for each
broker. Only that section of the document is replaced (or added); bench/report.py keeps it when
it rewrites the rest."""
import argparse
import datetime
import glob
import json
import os
import re
import statistics
from collections import defaultdict

HEADING = "## TLS (AMQPS)"
SCENARIOS = {
    1: "1 producer -> 1 queue -> 1 consumer, 16 B transient, auto-ack",
    3: "1 KB persistent, durable queue, confirms (window 1000), manual ack",
}
KINDS = [("warren", "tls"), ("rabbitmq", "tls"), ("warren", "plain"), ("rabbitmq", "plain")]
NAMES = {"warren": "Warren", "rabbitmq": "RabbitMQ"}


def load(results):
    """(scenario, broker, transport) -> [(run, summary or None, extra)] sorted by run."""
    runs = defaultdict(list)
    for path in glob.glob(os.path.join(results, "s*-*-*.json")):
        m = re.match(r"s(\d+)-(warren|rabbitmq)(_tls)?-(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        s, b, tls, r = int(m.group(1)), m.group(2), "tls" if m.group(3) else "plain", int(m.group(4))
        try:
            with open(path) as f:
                summary = json.load(f)
        except (OSError, ValueError):
            summary = None
        extra = {}
        try:
            with open(path[:-5] + ".rss.json") as f:
                extra = json.load(f)
        except (OSError, ValueError):
            pass
        runs[(s, b, tls)].append((r, summary, extra))
    for v in runs.values():
        v.sort(key=lambda t: t[0])
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rate(v):
    return "-" if v is None else f"{v:,.0f}"


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    lo, hi = min(values), max(values)
    return rate(m) if lo == hi else f"{rate(m)} ({rate(lo)}..{rate(hi)})"


def ratio(a, b):
    if a is None or not b:
        return "-"
    return f"{a / b:.2f}x"


def ms(ns):
    if ns is None:
        return "-"
    v = ns / 1e6
    return f"{v:.3f}" if v < 1 else f"{v:.2f}"


def ok(summary):
    return summary is not None and not summary.get("errors")


def section(args, runs):
    L = [HEADING, ""]
    L.append("*Produced by `TLS=1 bench/run` (`bench/report_tls.py` writes this section only; a "
             "full `bench/run` keeps it as it is).*")
    L.append("")
    L.append("Scenarios 1 and 3 over AMQPS (AMQP 0-9-1 over TLS) and, in the same session, over "
             "plain TCP, so that the cost of TLS is measured on the same machine under the same "
             "conditions. Each round ran Warren over TLS, RabbitMQ over TLS, Warren plain, "
             f"RabbitMQ plain, one broker at a time, each started fresh; {args.runs} round(s), "
             f"{args.duration} s per run. warren-perf's flags are the plain scenarios' (see "
             "`bench/run`) plus `--tls --tls-ca ca.pem`: it verifies the server certificate "
             "against the throwaway CA (TLS 1.2+, no client certificate). Throughput is "
             "messages consumed plus growth of the queue depth, per second, as above.")
    L.append("")
    loads = [ex.get("loadavg_1m") for lst in runs.values() for _, _, ex in lst
             if isinstance(ex.get("loadavg_1m"), (int, float))]
    load_range = f", {min(loads):.2f}..{max(loads):.2f} at the start of the runs" if loads else ""
    L.append(f"- Command: `{args.command}`")
    L.append(f"- Measured: {datetime.date.today().isoformat()}; the 2-core benchmark machine; "
             f"1/5/15-minute load average {args.loadavg} at the start, {args.loadavg_end} at the "
             f"end{load_range} (each run's in the per-run table). Other work on the machine "
             "skews absolute numbers; the alternation spreads it over the four kinds of run, so "
             "the ratios are the figures to compare")
    L.append("- Certificates: a throwaway CA and a server certificate (RSA 2048, "
             "`subjectAltName = DNS:localhost, IP:127.0.0.1`) made with `openssl` in the bench's "
             "temp dir")
    L.append(f"- Warren: {args.warren_version}, `--amqp-tls-port {args.warren_tls_port} "
             "--tls-cert-file server.pem "
             "--tls-key-file server.key` (TLS defaults otherwise: TLS 1.2 and 1.3, no client "
             "certificates)")
    L.append(f"- RabbitMQ: {args.rabbit_version} (Debian), `listeners.ssl.default = "
             f"127.0.0.1:{args.rabbit_tls_port}`, `ssl_options.cacertfile/certfile/keyfile`, "
             "`ssl_options.verify = "
             "verify_none`, `ssl_options.fail_if_no_peer_cert = false` (other `ssl_options` at "
             "their defaults)")
    negotiated = []
    for b in ("warren", "rabbitmq"):
        seen = sorted({su.get("tls") for s in SCENARIOS for _, su, _ in runs.get((s, b, "tls"), [])
                       if su and su.get("tls")})
        if seen:
            negotiated.append(f"{NAMES[b]}: {' / '.join(seen)}")
    if negotiated:
        L.append(f"- Negotiated (as warren-perf reports it): {'; '.join(negotiated)}")
    L.append("")
    L.append("**Reading these figures.** (1) Scenario 3 (1 KB persistent messages with confirms) "
             "is the measure of what TLS costs: every byte is encrypted and decrypted by both "
             "ends, and warren-perf pays for its side of TLS on the same 2 cores (its CPU per "
             "message, last table). (2) Scenario 1 does not measure TLS cost for Warren. Over "
             "plain TCP the producer outruns the consumer, Warren's queue grows (seconds of "
             "latency, a growing RSS) and the broker spends its time on the backlog (caveat 3 "
             "and the profile in this document); over TLS the queue stays short (latency in "
             "milliseconds, small RSS), so messages pass through warm memory and Warren "
             "delivers more than over plain TCP. Why the TLS path keeps the backlog short was "
             "not investigated; a likely cause is that the broker then reads a publisher one "
             "TLS record (at most 16 KiB) at a time instead of up to 128 KiB of publishes per "
             "turn, which is what publisher flow control (profile, item 1) would do for plain "
             "TCP. (3) RabbitMQ over TLS, scenario 1, took publishes off the socket several "
             "times faster than they reached the queue (sent against throughput) and ended with "
             "more memory: its TLS connection process buffers data ahead of the AMQP reader. "
             "Throughput counts only what was consumed or queued.")
    L.append("")

    def tput(s, b, t):
        return [su["throughput"] if ok(su) else None for _, su, _ in runs.get((s, b, t), [])]

    L.append("Throughput (msg/s), median (min..max):")
    L.append("")
    L.append("| # | scenario | Warren TLS | RabbitMQ TLS | Warren/RabbitMQ, TLS | Warren plain | "
             "RabbitMQ plain | Warren/RabbitMQ, plain |")
    L.append("|---|---|---|---|---|---|---|---|")
    for s, name in SCENARIOS.items():
        if not any(runs.get((s, b, t)) for b, t in KINDS):
            continue
        m = {(b, t): med(tput(s, b, t)) for b, t in KINDS}
        L.append(f"| {s} | {name} | {spread(tput(s, 'warren', 'tls'))} | "
                 f"{spread(tput(s, 'rabbitmq', 'tls'))} | "
                 f"{ratio(m[('warren', 'tls')], m[('rabbitmq', 'tls')])} | "
                 f"{spread(tput(s, 'warren', 'plain'))} | {spread(tput(s, 'rabbitmq', 'plain'))} | "
                 f"{ratio(m[('warren', 'plain')], m[('rabbitmq', 'plain')])} |")
    L.append("")
    L.append("What TLS costs each broker (medians; TLS / plain below 1 means slower over TLS):")
    L.append("")
    L.append("| # | broker | plain msg/s | TLS msg/s | TLS / plain | change with TLS |")
    L.append("|---|---|---|---|---|---|")
    for s in SCENARIOS:
        for b in ("warren", "rabbitmq"):
            p, t = med(tput(s, b, "plain")), med(tput(s, b, "tls"))
            if p is None and t is None:
                continue
            lost = "-" if p is None or t is None or not p else f"{100 * (t / p - 1):+.0f}%"
            L.append(f"| {s} | {NAMES[b]} | {rate(p)} | {rate(t)} | {ratio(t, p)} | {lost} |")
    L.append("")
    nruns = max([len(v) for v in runs.values()] or [0])
    L.append("Every run (msg/s; in brackets the 1-minute load average when the run started):")
    L.append("")
    L.append("| # | broker | transport | " + " | ".join(f"run {i + 1}" for i in range(nruns)) + " |")
    L.append("|---|---|---|" + "---|" * nruns)
    for s in SCENARIOS:
        for b, t in KINDS:
            lst = runs.get((s, b, t))
            if not lst:
                continue
            cells = []
            for _, su, extra in lst:
                load = extra.get("loadavg_1m")
                load_s = f" (load {load:.2f})" if isinstance(load, (int, float)) else ""
                if su is None:
                    cells.append("no result" + load_s)
                elif su.get("errors"):
                    cells.append(f"error: {su['errors'][0]}" + load_s)
                else:
                    cells.append(rate(su["throughput"]) + load_s)
            cells += [""] * (nruns - len(cells))
            L.append(f"| {s} | {NAMES[b]} | {'TLS' if t == 'tls' else 'plain'} | "
                     + " | ".join(cells) + " |")
    L.append("")
    L.append("Latency (end to end, p50 / p99 ms; scenario 3 also the publisher-confirm latency), "
             "the rate at which the broker took publishes off the socket (sent), its resident "
             "memory after the run, and warren-perf's own CPU per message; medians. Scenario 1 "
             "publishes as fast as the broker reads, so its latency is mostly queueing, and a "
             "sent rate far above the throughput means the broker read publishes it had not yet "
             "queued by the end of the run (buffered inside the broker):")
    L.append("")
    L.append("| # | broker | transport | p50 | p99 | confirm p50 | confirm p99 | sent msg/s | "
             "broker RSS after | warren-perf CPU per message |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for s in SCENARIOS:
        for b, t in KINDS:
            good = [su for _, su, _ in runs.get((s, b, t), []) if ok(su)]
            if not good:
                continue
            lat = lambda k, key: med([su[k][key] for su in good])  # noqa: E731
            conf = s == 3
            cpu = med([su.get("cpu_ns_per_message") for su in good])
            sent = med([su.get("send_rate") for su in good])
            rss = med([ex.get("rss_after_kb") for _, su, ex in runs.get((s, b, t), []) if ok(su)])
            rss_s = "-" if not rss else f"{rss / 1024:,.0f} MiB"
            L.append(f"| {s} | {NAMES[b]} | {'TLS' if t == 'tls' else 'plain'} | "
                     f"{ms(lat('latency_ns', 'p50'))} | {ms(lat('latency_ns', 'p99'))} | "
                     f"{ms(lat('confirm_latency_ns', 'p50')) if conf else '-'} | "
                     f"{ms(lat('confirm_latency_ns', 'p99')) if conf else '-'} | "
                     f"{rate(sent)} | {rss_s} | {'-' if cpu is None else f'{cpu:,.0f} ns'} |")
    errs = [(s, b, t, r, su["errors"][0]) for (s, b, t), lst in sorted(runs.items())
            for r, su, _ in lst if su and su.get("errors")]
    if errs:
        L.append("")
        L.append("Runs with errors:")
        L.append("")
        for s, b, t, r, e in errs:
            L.append(f"- scenario {s}, {NAMES[b]} {t}, run {r}: {e}")
    return "\n".join(L) + "\n"


def splice(doc, text):
    """Replaces the TLS section of `doc` (up to the next level-2 heading), or inserts it before
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
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", default="10")
    ap.add_argument("--warren-version", default="unknown")
    ap.add_argument("--rabbit-version", default="unknown")
    ap.add_argument("--loadavg", default="?")
    ap.add_argument("--loadavg-end", default="?")
    ap.add_argument("--command", default="TLS=1 bench/run")
    ap.add_argument("--warren-tls-port", default="5682")
    ap.add_argument("--rabbit-tls-port", default="5674")
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
