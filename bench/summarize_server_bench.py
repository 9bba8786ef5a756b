#!/usr/bin/env python3
"""Summarizes build/bench/results.csv (written by run_server_bench.sh) as a table on stdout.
Several CSV files (runs of the same build) are pooled: their rounds count together.

For each scenario and server: the median over the rounds (and the best), the
median run's p99 latency, and the CPU use of the load client and the server
over the measured windows (median), plus Sluice's figure divided by the
server's, both medians from the same run; then each server's deflateN figure
divided by its nodeflateN one, and churn like for like (Sluice without the
subscribe, the peers' cycle, divided by each peer). report_server_bench.py
writes the same figures as Markdown with plots.
"""
import sys

from bench_results import (Results, deflate_pairs, fmt_pct, fmt_rate, fmt_ratio, latency_ms, median_of, number,
                           per_server_cpu_second, server_name, tls_pairs)

LIKE_FOR_LIKE_CHURN = "sluice-handshake"


def main(paths):
    results = Results(paths)
    print()
    print("| scenario | server | median | best | runs | Sluice/server | p99 ms (median run) "
          "| load client CPU % | load client waiting for CPU % | server CPU % | server waiting for CPU % "
          "| per server CPU-second |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario in results.scenarios():
        for server in results.servers(scenario.name):
            rows = results.rows(scenario.name, server)
            rates = [number(r["rate"]) for r in rows]
            median = median_of(rows, "rate")
            best = (max(rates) if scenario.higher_better else min(rates)) if rates else None
            p99 = latency_ms(rows, "p99_us")
            failed = results.failures(scenario.name, server)
            runs = f"{len(rows)}" + (f" (+{failed} failed)" if failed else "")
            per_cpu = per_server_cpu_second(rows) if scenario.higher_better else None
            print(f"| {scenario.title} ({scenario.unit}) | {server_name(server)} | {fmt_rate(median, scenario.unit)} "
                  f"| {fmt_rate(best, scenario.unit)} | {runs} | {fmt_ratio(results.ratio(scenario.name, server))} "
                  f"| {'-' if p99 is None else f'{p99:.1f}'} | {fmt_pct(median_of(rows, 'loadgen_cpu_pct'))} "
                  f"| {fmt_pct(median_of(rows, 'loadgen_wait_pct'))} "
                  f"| {fmt_pct(median_of(rows, 'server_cpu_pct'))} | {fmt_pct(median_of(rows, 'server_wait_pct'))} "
                  f"| {fmt_rate(per_cpu, scenario.unit)} |")
    print()
    for scenario in results.scenarios():
        own = results.median(scenario.name, "sluice")
        for variant, what in (("sluice-memory", "--store memory / default store"),
                              ("sluice-centrifugo", "Centrifugo protocol / /v1/ws"),
                              ("sluice-scraped", "scraped every second / not scraped")):
            rate = results.median(scenario.name, variant)
            if own and rate:
                print(f"{what}, {scenario.title}: {rate / own:.2f}")
    for (top, base, n), what, on_off in [(p, "permessage-deflate / uncompressed", ("with deflate", "without"))
                                         for p in deflate_pairs(results)] + \
                                        [(p, "wss:// / ws://", ("over TLS", "without"))
                                         for p in tls_pairs(results)]:
        for server in results.servers(top):
            rate, per_cpu = (results.own_ratio(top, base, server, key) for key in ("rate", "per_cpu"))
            if rate is not None:
                on, off = results.rows(top, server), results.rows(base, server)
                load_on = f"{fmt_pct(median_of(on, 'loadgen_cpu_pct'))} + waiting " \
                          f"{fmt_pct(median_of(on, 'loadgen_wait_pct'))}"
                load_off = (f"{fmt_pct(median_of(off, 'loadgen_cpu_pct'))} + "
                            f"{fmt_pct(median_of(off, 'loadgen_wait_pct'))}")
                print(f"{what}, {n:,} subscribers, {server_name(server)}: {fmt_ratio(rate)} (per server CPU-second "
                      f"{fmt_ratio(per_cpu)}; load client CPU {load_on} {on_off[0]}, {load_off} {on_off[1]})")
    for server in results.servers("churn"):
        ratio = results.ratio("churn", server, LIKE_FOR_LIKE_CHURN)
        if ratio is not None and not server.startswith("sluice"):
            print(f"churn like for like, {server_name(LIKE_FOR_LIKE_CHURN)} / {server_name(server)}: {ratio:.2f}")
    for server in results.servers("publish"):
        ratio = results.ratio("publish", "nginx", server)  # this Sluice's median / nginx's
        if ratio is not None:
            print(f"HTTP publish, {server_name(server)} / nginx answering return 201: {ratio:.2f}")
    print("Sluice/server: Sluice's median divided by the server's (idle, storm: lower is better).")
    print("CPU %: of one core over the measured window (idle: over the connect phase);")
    print("'waiting for CPU' is time the process was runnable but another process had its core.")
    print("Per server CPU-second: rate divided by the server's CPU share, median over the runs.")


if __name__ == "__main__":
    main(sys.argv[1:] or ["build/bench/results.csv"])
