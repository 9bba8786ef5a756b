#!/usr/bin/env python3
"""Summarizes build/bench/results.csv (written by run_server_bench.sh) as a table.
Several CSV files (runs of the same build) are pooled: their rounds count together.

For each scenario and server: the median over the rounds (and the best), the
median run's p99 latency, and the CPU use of the load client and the server
over the measured windows (median), plus Sluice's figure divided by the
peer's, both medians from the same run.
"""
import csv
import statistics
import sys
from collections import defaultdict

SCENARIOS = {
    "fanout1k": ("fan-out, 1,000 subscribers, 64 B", "deliveries/s", True),
    "fanout10k": ("fan-out, 10,000 subscribers, 64 B", "deliveries/s", True),
    "echo": ("echo, 500 connections, 512 B", "messages/s", True),
    "idle": ("idle, 19,000 connections", "KiB/connection", False),
}
SERVERS = ["sluice", "sluice-base", "sluice-centrifugo", "sluice-scraped", "uws", "beast", "websocketpp", "ws"]
NAMES = {"sluice": "Sluice", "sluice-base": "Sluice (baseline)", "sluice-centrifugo": "Sluice, Centrifugo protocol",
         "sluice-scraped": "Sluice, /metrics scraped every second", "uws": "uWebSockets", "beast": "Boost.Beast", "websocketpp": "websocketpp", "ws": "Node ws"}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def median_of(rows, key):
    values = [number(r[key]) for r in rows if number(r[key]) is not None]
    return statistics.median(values) if values else None


def fmt(value, unit):
    if value is None:
        return "-"
    if unit == "KiB/connection":
        return f"{value:.2f}"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def pct(value):
    return "-" if value is None else f"{value:.0f}"


def per_cpu(rows, higher_better, unit):
    """The median of rate / server CPU share: throughput per second of server CPU,
    which other load on the machine disturbs less than the rate itself."""
    if not higher_better:
        return "-"
    values = [number(r["rate"]) / (number(r["server_cpu_pct"]) / 100) for r in rows
              if number(r["server_cpu_pct"])]
    return fmt(statistics.median(values), unit) if values else "-"


def main(paths):
    groups = defaultdict(list)
    failures = defaultdict(int)
    rows_in = []
    for path in paths:
        with open(path, newline="") as f:
            rows_in.extend(csv.DictReader(f))
    if True:
        for row in rows_in:
            key = (row["scenario"], row["server"])
            if row["status"] == "ok" and number(row["rate"]) is not None:
                groups[key].append(row)
            else:
                failures[key] += 1

    print()
    print("| scenario | server | median | best | runs | Sluice/peer | p99 ms (median run) "
          "| load client CPU % | server CPU % | server waiting for CPU % | per server CPU-second |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario, (title, unit, higher_better) in SCENARIOS.items():
        sluice_rows = groups.get((scenario, "sluice"), [])
        sluice_median = median_of(sluice_rows, "rate")
        for server in SERVERS:
            rows = groups.get((scenario, server), [])
            if not rows and not failures.get((scenario, server)):
                continue
            rates = sorted(number(r["rate"]) for r in rows)
            median = statistics.median(rates) if rates else None
            best = (max(rates) if higher_better else min(rates)) if rates else None
            ratio = "-"
            if server != "sluice" and median and sluice_median:
                ratio = f"{sluice_median / median:.2f}"
            p99 = "-"
            if rows and rows[0]["p99_us"]:
                ordered = sorted(rows, key=lambda r: number(r["rate"]))
                p99_us = number(ordered[len(ordered) // 2]["p99_us"])
                p99 = "-" if p99_us is None else f"{p99_us / 1000:.1f}"
            runs = f"{len(rows)}" + (f" (+{failures[(scenario, server)]} failed)" if failures.get((scenario, server)) else "")
            print(f"| {title} ({unit}) | {NAMES[server]} | {fmt(median, unit)} | {fmt(best, unit)} | {runs} | {ratio} "
                  f"| {p99} | {pct(median_of(rows, 'loadgen_cpu_pct'))} | {pct(median_of(rows, 'server_cpu_pct'))} "
                  f"| {pct(median_of(rows, 'server_wait_pct'))} | {per_cpu(rows, higher_better, unit)} |")
    print()
    for scenario, (title, unit, _) in SCENARIOS.items():
        own = median_of(groups.get((scenario, "sluice"), []), "rate")
        for variant, what in (("sluice-centrifugo", "Centrifugo protocol / /v1/ws"),
                              ("sluice-scraped", "scraped every second / not scraped")):
            rate = median_of(groups.get((scenario, variant), []), "rate")
            if own and rate:
                print(f"{what}, {title}: {rate / own:.2f}")
    print("Sluice/peer: Sluice's median divided by the peer's (idle: lower is better).")
    print("CPU %: of one core over the measured window (idle: over the connect phase);")
    print("'waiting for CPU' is time the server was runnable but another process had its core.")
    print("Per server CPU-second: rate divided by the server's CPU share, median over the runs.")


if __name__ == "__main__":
    main(sys.argv[1:] or ["build/bench/results.csv"])
