#!/usr/bin/env python3
"""Draws docs/feed.png's companion chart from feed-bench JSON lines:
    /usr/bin/python3 bench/feed/chart.py results.jsonl docs/feed-bench.png
Needs python3-matplotlib (a `soak` line in scripts/deps.txt)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if r["mode"] in ("push", "pull")]  # not the offline and fault runs
groups = sorted({r["users"] for r in rows})
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
width = 0.35
for i, mode in enumerate(["push", "pull"]):
    sel = [next(r for r in rows if r["users"] == g and r["mode"] == mode) for g in groups]
    xs = [k + (i - 0.5) * width for k in range(len(groups))]
    axes[0].bar(xs, [r["latency_ms"]["p99"] for r in sel], width, label=f"{mode} p99")
    axes[0].scatter(xs, [r["latency_ms"]["p50"] for r in sel], color="black", zorder=3,
                    marker="_", s=300, label="p50" if i == 0 else None)
    axes[1].bar(xs, [r["db_queries_per_s"] for r in sel], width, label=mode)
for ax, title, unit in [(axes[0], "post to follower latency", "ms (log)"),
                        (axes[1], "database statements per second", "statements/s (log)")]:
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{g:,} users" for g in groups])
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.legend()
fig.suptitle("feed-bench: push through Warren vs pull from the database (10 posts/s, 20 follows "
             "each, pull every 2 s)", fontsize=10)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
