#!/usr/bin/env python3
"""Writes the report of a bench/run_server_bench.sh run into a directory
(docs/benchmarks/ for the committed one): results.md, the table of every
scenario and server with Sluice's ratio to each, the load client's CPU beside
every figure, the machine, the commit and the exact command; and PNG plots:
fanout.png (deliveries/s against subscribers, from two fanoutN sizes on),
latency.png (p50/p99 at 1,000 subscribers), idle.png (KiB per idle
connection), churn.png (connect + subscribe + close cycles/s),
deflate.png (each server's fan-out with permessage-deflate beside its
uncompressed one), publish.png (HTTP publish: the durable default, the
memory store and nginx answering `return 201`, the anchor). A plot whose scenario was not run is not written. Needs
matplotlib (Debian: python3-matplotlib).

Usage: report_server_bench.py [--out DIR] [--meta FILE] CSV [CSV ...]
--meta: the run's key: value lines (run_server_bench.sh writes results.meta
beside results.csv, the default).
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench_results import (Results, deflate_pairs, fanout_subscribers, fmt_ms, fmt_pct, fmt_rate,  # noqa: E402
                           fmt_ratio, latency_ms, median_of, number, per_server_cpu_second, server_name, tls_pairs)

META_FIELDS = [("command", "Command"), ("commit", "Commit"), ("cpu", "CPU"), ("cores", "Cores"),
               ("memory", "Memory"), ("os", "OS"), ("compiler", "Compiler"), ("rounds", "Rounds"),
               ("sluice", "Sluice"), ("load client", "Load client"), ("load average", "Load average"),
               ("date", "Date")]
CODE_FIELDS = {"command", "commit", "sluice"}
LATENCY_SCENARIO = "fanout1k"
LIKE_FOR_LIKE_CHURN = "sluice-handshake"  # Sluice's churn without the subscribe: the peers' cycle
ANCHOR = "nginx"  # HTTP publish's anchor: nginx answering `return 201`
# One colour per server in every plot; Sluice's variants in shades of blue.
COLOURS = {"sluice": "#1f4e9c", "sluice-memory": "#5b8fd9", "sluice-base": "#8c8c8c",
           "sluice-centrifugo": "#3aa0a0", "sluice-scraped": "#9bbbe8", "sluice-handshake": "#2c7fb8", "uws": "#d95f02",
           "beast": "#7570b3", "websocketpp": "#e7298a", "ws": "#66a61e", "nginx": "#a6761d"}


def read_meta(path):
    meta = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    meta[key.strip()] = value.strip()
    return meta


def colour(server):
    return COLOURS.get(server, "#444444")


def save(figure, path):
    figure.tight_layout()
    # No software version or date in the file: a rerun with the same figures gives the same bytes.
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def si(value, _position=None):
    for limit, suffix in ((1e6, " M"), (1e3, " k")):
        if value >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def plot_fanout(results, path):
    """Deliveries/s against subscribers (log x), one line per server; bars from the worst to the best round."""
    fanouts = [s for s in results.scenarios() if fanout_subscribers(s.name) is not None]
    if len(fanouts) < 2:
        return False  # one size is a column of dots: the table says it better
    servers = []
    for scenario in fanouts:
        servers += [s for s in results.servers(scenario.name) if s not in servers and results.rows(scenario.name, s)]
    if not servers:
        return False
    figure, axes = plt.subplots(figsize=(9.5, 4.5))
    for server in servers:
        xs, ys, low, high = [], [], [], []
        for scenario in fanouts:
            rows = results.rows(scenario.name, server)
            if not rows:
                continue
            rates = [number(r["rate"]) for r in rows]
            median = median_of(rows, "rate")
            xs.append(fanout_subscribers(scenario.name))
            ys.append(median)
            low.append(median - min(rates))
            high.append(max(rates) - median)
        axes.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, color=colour(server), label=server_name(server))
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(sorted({fanout_subscribers(s.name) for s in fanouts}))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes.yaxis.set_major_formatter(FuncFormatter(si))
    axes.set_xlabel("subscribers (one topic, 64 B payloads)")
    axes.set_ylabel("deliveries/s (median of the rounds)")
    axes.set_title("Fan-out: deliveries per second, server on one core")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines, not over them
    save(figure, path)
    return True


def plot_latency(results, path):
    """p50 and p99 of the median run at 1,000 subscribers, one pair of bars per server (log y)."""
    servers = [s for s in results.servers(LATENCY_SCENARIO) if results.rows(LATENCY_SCENARIO, s)]
    if not servers:
        return False
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    width = 0.38
    for i, server in enumerate(servers):
        rows = results.rows(LATENCY_SCENARIO, server)
        for offset, key, hatch in ((-width / 2, "p50_us", None), (width / 2, "p99_us", "//")):
            value = latency_ms(rows, key)
            if value is not None:
                axes.bar(i + offset, value, width, color=colour(server), hatch=hatch, edgecolor="white")
    axes.set_xticks(range(len(servers)))
    axes.set_xticklabels([server_name(s) for s in servers], rotation=20, ha="right", fontsize="small")
    axes.set_yscale("log")
    axes.set_ylabel("latency, ms (publish to receipt; log scale)")
    axes.set_title("Fan-out latency at 1,000 subscribers: p50 (plain), p99 (hatched)")
    axes.grid(True, axis="y", which="both", alpha=0.3)
    save(figure, path)
    return True


def plot_bars(results, scenario_name, path, ylabel, title, fmt, names=None):
    """One bar per server (the median), labelled with it and the load client's CPU; names: labels by server."""
    names = names or {}
    servers = [s for s in results.servers(scenario_name) if results.rows(scenario_name, s)]
    if not servers:
        return False
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    medians = [results.median(scenario_name, s) for s in servers]
    bars = axes.bar(range(len(servers)), medians, color=[colour(s) for s in servers])
    for bar, server, median in zip(bars, servers, medians):
        cpu = results.median(scenario_name, server, "loadgen_cpu_pct")
        label = fmt(median) + ("" if cpu is None else f"\nload client {cpu:.0f} %")
        axes.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                      fontsize="small", xytext=(0, 2), textcoords="offset points")
    axes.set_xticks(range(len(servers)))
    axes.set_xticklabels([names.get(s, server_name(s)) for s in servers], rotation=20, ha="right", fontsize="small")
    axes.set_ylim(0, max(medians) * 1.3)
    axes.yaxis.set_major_formatter(FuncFormatter(si))
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, axis="y", alpha=0.3)
    save(figure, path)
    return True


def plot_deflate(results, path):
    """Per server, its uncompressed and its permessage-deflate fan-out (median) side by side, labelled
    with the ratio of the two (rates, and rates per server CPU-second) and the load client's CPU with
    deflate; the first deflateN measured."""
    pairs = deflate_pairs(results)
    if not pairs:
        return False
    deflate, plain, n = pairs[0]
    servers = [s for s in results.servers(deflate) if results.rows(deflate, s)]
    if not servers:
        return False
    figure, axes = plt.subplots(figsize=(8.5, 4.5))
    width = 0.38
    top = 0
    for i, server in enumerate(servers):
        off, on = results.median(plain, server), results.median(deflate, server)
        for offset, value, hatch in ((-width / 2, off, None), (width / 2, on, "//")):
            if value is not None:
                axes.bar(i + offset, value, width, color=colour(server), hatch=hatch, edgecolor="white")
                top = max(top, value)
        ratio, per_cpu = results.own_ratio(deflate, plain, server), results.own_ratio(deflate, plain, server, "per_cpu")
        cpu = results.median(deflate, server, "loadgen_cpu_pct")
        label = "\n".join(part for part in (
            None if ratio is None else f"{ratio:.2f}×",
            None if per_cpu is None else f"{per_cpu:.2f}× per CPU-s",
            None if cpu is None else f"load client {cpu:.0f} %") if part)
        axes.annotate(label, (i + width / 2, on or 0), ha="center", va="bottom", fontsize="x-small",
                      xytext=(0, 2), textcoords="offset points")
    axes.set_xticks(range(len(servers)))
    axes.set_xticklabels([server_name(s) for s in servers], rotation=20, ha="right", fontsize="small")
    axes.set_ylim(0, top * 1.35)
    axes.yaxis.set_major_formatter(FuncFormatter(si))
    axes.set_ylabel("deliveries/s (median of the rounds)")
    axes.set_title(f"Fan-out to {n:,}, 1 KiB events: uncompressed (plain), permessage-deflate (hatched)")
    axes.grid(True, axis="y", alpha=0.3)
    save(figure, path)
    return True


def cpu_share(rows, who="server"):
    """The CPU share of `who` ("server" or "loadgen", the load client) and, in brackets, the time it
    was runnable but another process had its core."""
    used, waiting = median_of(rows, f"{who}_cpu_pct"), median_of(rows, f"{who}_wait_pct")
    return fmt_pct(used) + ("" if waiting is None else f" ({fmt_pct(waiting)})")


def table(results):
    lines = ["| Scenario | Server | Median | Sluice ÷ server | p50 | p99 | Load client CPU (waiting) "
             "| Server CPU (waiting) | Per server CPU-second | Runs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for scenario in results.scenarios():
        first = True
        for server in results.servers(scenario.name):
            rows = results.rows(scenario.name, server)
            failed = results.failures(scenario.name, server)
            runs = f"{len(rows)}" + (f" (+{failed} failed)" if failed else "")
            per_cpu = per_server_cpu_second(rows) if scenario.higher_better else None
            title = f"{scenario.title} ({scenario.unit})" if first else ""
            name = f"**{server_name(server)}**" if server == "sluice" else server_name(server)
            lines.append(
                f"| {title} | {name} | {fmt_rate(results.median(scenario.name, server), scenario.unit)} "
                f"| {fmt_ratio(results.ratio(scenario.name, server))} | {fmt_ms(latency_ms(rows, 'p50_us'))} "
                f"| {fmt_ms(latency_ms(rows, 'p99_us'))} | {cpu_share(rows, 'loadgen')} "
                f"| {cpu_share(rows)} | {fmt_rate(per_cpu, scenario.unit)} | {runs} |")
            first = False
    return lines


def deflate_table(results):
    """Each server's deflateN figure beside its nodeflateN one, and their ratio; empty without a pair."""
    return own_table(results, deflate_pairs(results), "permessage-deflate against uncompressed",
                     "Each server's own fan-out with permessage-deflate divided by its uncompressed one, "
                     "1 KiB events. The load client inflates every delivery: watch its CPU.",
                     ("Uncompressed", "Deflate"))


def tls_table(results):
    """Each server's tlsN figure beside its fanoutN one, and their ratio; empty without a pair."""
    return own_table(results, tls_pairs(results), "wss:// against ws://",
                     "Each server's own fan-out over TLS 1.3 divided by its plain-TCP one. The load client "
                     "decrypts every delivery: watch its CPU.", ("ws://", "wss://"))


def own_table(results, pairs, heading, text, names):
    """Per pair (scenario, baseline, N): each server's two figures and their ratio."""
    lines = []
    off_name, on_name = names
    for top, base, n in pairs:
        lines += ["", f"### {heading}, {n:,} subscribers", "", text, "",
                  f"| Server | {off_name} | {on_name} | {on_name} ÷ {off_name.lower()} | Same, per server CPU-second "
                  f"| Load client CPU (waiting): {off_name.lower()}, {on_name.lower()} "
                  f"| Server CPU (waiting): {off_name.lower()}, {on_name.lower()} |",
                  "|---|---|---|---|---|---|---|"]
        for server in results.servers(top):
            off_rows, on_rows = results.rows(base, server), results.rows(top, server)
            name = f"**{server_name(server)}**" if server == "sluice" else server_name(server)
            lines.append(
                f"| {name} | {fmt_rate(results.median(base, server), 'deliveries/s')} "
                f"| {fmt_rate(results.median(top, server), 'deliveries/s')} "
                f"| {fmt_ratio(results.own_ratio(top, base, server))} "
                f"| {fmt_ratio(results.own_ratio(top, base, server, 'per_cpu'))} "
                f"| {cpu_share(off_rows, 'loadgen')}, {cpu_share(on_rows, 'loadgen')} "
                f"| {cpu_share(off_rows)}, {cpu_share(on_rows)} |")
    return lines


def churn_table(results):
    """Churn like for like: Sluice without the subscribe (the peers' cycle) divided by each peer."""
    if not results.rows("churn", LIKE_FOR_LIKE_CHURN):
        return []
    lines = ["", "### Churn like for like", "",
             f"The peers have nothing to subscribe to: their cycle is connect, handshake, close. "
             f"**{server_name(LIKE_FOR_LIKE_CHURN)}** runs that cycle on Sluice's `/v1/ws`.", "",
             "| Server | Sluice (no subscribe) ÷ server | Same, per server CPU-second |", "|---|---|---|"]
    own_per_cpu = per_server_cpu_second(results.rows("churn", LIKE_FOR_LIKE_CHURN))
    for server in results.servers("churn"):
        if server.startswith("sluice"):
            continue
        per_cpu = per_server_cpu_second(results.rows("churn", server))
        lines.append(f"| {server_name(server)} | {fmt_ratio(results.ratio('churn', server, LIKE_FOR_LIKE_CHURN))} "
                     f"| {fmt_ratio(own_per_cpu / per_cpu if own_per_cpu and per_cpu else None)} |")
    return lines


def publish_table(results):
    """HTTP publish against the anchor: each Sluice store's rate divided by nginx answering `return 201`."""
    anchor = results.rows("publish", ANCHOR)
    if not anchor:
        return []
    lines = ["", "### HTTP publish against nginx", "",
             f"**{server_name(ANCHOR)}** answers every request of the same load with an empty 201: "
             "the ceiling of an HTTP request on this machine.", "",
             "| Server | Sluice ÷ nginx | Same, per server CPU-second |", "|---|---|---|"]
    anchor_per_cpu = per_server_cpu_second(anchor)
    for server in results.servers("publish"):
        if server == ANCHOR:
            continue
        per_cpu = per_server_cpu_second(results.rows("publish", server))
        # ratio(scenario, server, reference): the reference's median ÷ the server's, here Sluice's ÷ nginx's.
        lines.append(f"| {server_name(server)} | {fmt_ratio(results.ratio('publish', ANCHOR, server))} "
                     f"| {fmt_ratio(per_cpu / anchor_per_cpu if per_cpu and anchor_per_cpu else None)} |")
    return lines


def markdown(results, meta, plots):
    lines = ["# Benchmark results", "",
             "Written by `bench/report_server_bench.py` from one run of `bench/run_server_bench.sh`; "
             "rerun the command below (with `--plots`) to replace it. What the figures mean: "
             "[../benchmarks.md](../benchmarks.md).", "",
             "| Run | |", "|---|---|"]
    for key, label in META_FIELDS:
        value = meta.get(key)
        if value:
            lines.append(f"| {label} | {f'`{value}`' if key in CODE_FIELDS else value} |")
    lines += ["", "## Table", ""] + table(results) + [
        "",
        "- **Sluice ÷ server**: Sluice's median divided by that server's, both from this run "
        "(idle: memory per connection, and storm: time until all are back, lower is better, so below 1 is Sluice's lead; "
        "publish: the default durable store ÷ `--store memory`, and ÷ nginx). **Sluice** runs its default "
        "durable store (sqlite) unless the Sluice line above says otherwise.",
        "- **Load client CPU (waiting)**: of its one core over the measured window, and in brackets the "
        "share it was ready to run while another process had its core; when the two add up to about "
        "100 %, the load client, not the server, is the limit and the figure is a lower bound.",
        "- **Server CPU (waiting)**: the server's share of its core, and in brackets the share of the "
        "window it was ready to run while another process had the core: a busy machine shows here.",
        "- **Per server CPU-second**: the rate divided by the server's CPU share, the median over "
        "the rounds: what a whole core would give.",
        "- p50 and p99 are those of the round with the median rate.",
        "- **Reconnect storm**: every subscriber is cut at once and resumes from its last offset; the "
        "median is the time until the last one was back and resubscribed (lower is better), p50 the "
        "median subscriber's; a round that lost or duplicated an event counts as failed."]
    lines += deflate_table(results) + tls_table(results) + churn_table(results) + publish_table(results) + [""]
    titles = {"fanout.png": "Deliveries/s against subscribers",
              "latency.png": "Fan-out latency at 1,000 subscribers",
              "idle.png": "Memory per idle connection",
              "churn.png": "Connection churn",
              "deflate.png": "Fan-out with permessage-deflate beside uncompressed",
              "publish.png": "HTTP publish: durable default, memory store, nginx return 201"}
    if plots:
        lines += ["## Plots", ""]
        for name in plots:
            lines += [f"### {titles[name]}", "", f"![{titles[name]}]({name})", ""]
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="+", help="results.csv of run_server_bench.sh (several are pooled)")
    parser.add_argument("--out", default="docs/benchmarks", help="directory to write into (default: %(default)s)")
    parser.add_argument("--meta", help="the run's key: value lines (default: results.meta beside the first CSV)")
    args = parser.parse_args(argv)
    meta_path = args.meta or os.path.splitext(args.csv[0])[0] + ".meta"
    results = Results(args.csv)
    os.makedirs(args.out, exist_ok=True)
    written = []
    plots = [("fanout.png", lambda p: plot_fanout(results, p)),
             ("latency.png", lambda p: plot_latency(results, p)),
             ("idle.png", lambda p: plot_bars(results, "idle", p, "server RSS per connection, KiB",
                                              "Memory per idle connection (lower is better)", lambda v: f"{v:.2f} KiB")),
             ("churn.png", lambda p: plot_bars(results, "churn", p, "cycles/s",
                                               "Churn: connect, handshake, subscribe (Sluice), close",
                                               lambda v: fmt_rate(v, "cycles/s") + "/s")),
             ("deflate.png", lambda p: plot_deflate(results, p)),
             ("publish.png", lambda p: plot_bars(results, "publish", p, "events/s acknowledged",
                                                 "HTTP publish: durable default, --store memory, nginx return 201",
                                                 lambda v: fmt_rate(v, "events/s") + "/s",
                                                 {"sluice": "Sluice, default store (sqlite)"}))]
    for name, plot in plots:
        path = os.path.join(args.out, name)
        if plot(path):
            written.append(name)
        elif os.path.exists(path):
            os.remove(path)  # a plot of an earlier run would sit beside a table without its figures
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(markdown(results, read_meta(meta_path), written))
    print(f"wrote {os.path.join(args.out, 'results.md')} and {', '.join(written) or 'no plots'}")


if __name__ == "__main__":
    main(sys.argv[1:])
