"""The measurements of bench/run_server_bench.sh (build/bench/results.csv), read
and grouped: one place for the scenario titles, the server names, medians and
the ratios that summarize_server_bench.py prints and report_server_bench.py
writes. Several CSV files (runs of the same build) are pooled: their rounds
count together. Nothing here keeps state between calls.
"""
import csv
import re
import statistics
from collections import defaultdict

# Display order and names; a server not listed here comes last, under its own name.
SERVERS = ["sluice", "sluice-memory", "sluice-base", "sluice-centrifugo", "sluice-scraped", "sluice-handshake",
           "uws", "beast", "websocketpp", "ws", "nginx"]
NAMES = {"sluice": "Sluice", "sluice-memory": "Sluice, --store memory", "sluice-base": "Sluice (baseline)",
         "sluice-centrifugo": "Sluice, Centrifugo protocol", "sluice-scraped": "Sluice, /metrics scraped every second",
         "sluice-handshake": "Sluice, no subscribe (the peers' cycle)",
         "uws": "uWebSockets", "beast": "Boost.Beast", "websocketpp": "websocketpp", "ws": "Node ws",
         "nginx": "nginx, return 201"}
# Every ratio is Sluice's figure (this server's) divided by the other server's.
REFERENCE = "sluice"


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def server_name(server):
    return NAMES.get(server, server)


def fanout_subscribers(scenario, kind="fanout"):
    """N of fanoutN (kind "fanout"; "deflate", "nodeflate": deflateN, nodeflateN): fanout100 is 100,
    deflate3k 3,000; None for a scenario of another kind."""
    match = re.fullmatch(kind + r"(\d+)(k?)", scenario)
    if not match:
        return None
    return int(match.group(1)) * (1000 if match.group(2) else 1)


def deflate_pairs(results):
    """(deflateN, nodeflateN, N) for every deflateN measured, by N: the same fan-out with and without
    permessage-deflate, whose ratio per server the summary and the report show."""
    return own_pairs(results, "deflate", "nodeflate")


def tls_pairs(results):
    """(tlsN, fanoutN, N) for every tlsN measured, by N: the same fan-out over wss:// and ws://."""
    return own_pairs(results, "tls", "fanout")


def own_pairs(results, kind, baseline_kind):
    """(kindN, baseline_kindN, N) for every kindN measured, by N."""
    pairs = []
    for scenario in results.scenarios():
        n = fanout_subscribers(scenario.name, kind)
        if n is not None:
            pairs.append((scenario.name, baseline_kind + scenario.name[len(kind):], n))
    return pairs


class Scenario:
    """What one scenario measures: its title, the unit of `rate`, and whether more is better."""

    def __init__(self, name, rows):
        self.name = name
        connections = int(number(rows[0]["connections"]) or 0) if rows else 0
        payload = rows[0]["payload"] if rows else "?"
        if fanout_subscribers(name) is not None:
            self.title, self.unit = f"Fan-out, {connections:,} subscribers, {payload} B", "deliveries/s"
        elif fanout_subscribers(name, "deflate") is not None:
            self.title = f"Fan-out, permessage-deflate, {connections:,} subscribers, {payload} B"
            self.unit = "deliveries/s"
        elif fanout_subscribers(name, "tls") is not None:
            self.title, self.unit = f"Fan-out over wss://, {connections:,} subscribers, {payload} B", "deliveries/s"
        elif fanout_subscribers(name, "nodeflate") is not None:
            self.title, self.unit = f"Fan-out, uncompressed, {connections:,} subscribers, {payload} B", "deliveries/s"
        elif name == "churn":
            self.title, self.unit = f"Churn, {connections:,} workers: connect, subscribe, close", "cycles/s"
        elif name == "echo":
            self.title, self.unit = f"Echo, {connections:,} connections, {payload} B", "messages/s"
        elif name == "idle":
            self.title, self.unit = f"Idle, {connections:,} connections", "KiB/connection"
        elif name == "publish":
            self.title, self.unit = f"HTTP publish, {connections:,} connections, {payload} B", "events/s"
        elif name == "storm":
            self.title = f"Reconnect storm, {connections:,} subscribers cut at once, resuming: time until all are back"
            self.unit = "ms"
        else:
            self.title, self.unit = name, "rate"
        self.higher_better = name not in ("idle", "storm")
        self.connections = connections

    def sort_key(self):
        """Fan-out by subscribers (each tlsN after its fanoutN), then each nodeflateN before its deflateN,
        then the rest."""
        order = {"echo": 2, "idle": 3, "churn": 4, "publish": 5, "storm": 6}
        for rank, kind in enumerate(("fanout", "tls")):
            if (n := fanout_subscribers(self.name, kind)) is not None:
                return (0, n, rank)
        for rank, kind in enumerate(("nodeflate", "deflate")):
            if (n := fanout_subscribers(self.name, kind)) is not None:
                return (1, n, rank)
        return (order.get(self.name, 7), 0, 0)


class Results:
    """Rows of one or more CSV files, grouped by (scenario, server)."""

    def __init__(self, paths):
        self.ok = defaultdict(list)        # (scenario, server) -> rows that measured a rate
        self.failed = defaultdict(int)     # (scenario, server) -> measurements that did not
        for path in paths:
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    key = (row["scenario"], row["server"])
                    if row["status"] == "ok" and number(row["rate"]) is not None:
                        self.ok[key].append(row)
                    else:
                        self.failed[key] += 1

    def scenarios(self):
        """The scenarios measured, fan-out by subscribers first, each as a Scenario."""
        names = {scenario for scenario, _ in list(self.ok) + list(self.failed)}
        found = [Scenario(name, self.rows(name)) for name in names]
        return sorted(found, key=Scenario.sort_key)

    def servers(self, scenario):
        """Servers with a measurement (or a failed one) in the scenario, in display order."""
        present = {server for s, server in list(self.ok) + list(self.failed) if s == scenario}
        return sorted(present, key=lambda s: (SERVERS.index(s) if s in SERVERS else len(SERVERS), s))

    def rows(self, scenario, server=None):
        if server is not None:
            return self.ok.get((scenario, server), [])
        return [row for (s, _), rows in self.ok.items() if s == scenario for row in rows]

    def failures(self, scenario, server):
        return self.failed.get((scenario, server), 0)

    def median(self, scenario, server, key="rate"):
        return median_of(self.rows(scenario, server), key)

    def ratio(self, scenario, server, reference=REFERENCE):
        """The reference server's median rate divided by this server's; None when either is missing."""
        if server == reference:
            return None
        own, other = self.median(scenario, reference), self.median(scenario, server)
        return own / other if own and other else None

    def own_ratio(self, scenario, baseline, server, key="rate"):
        """This server's median in `scenario` divided by its median in `baseline` (deflateN ÷ nodeflateN);
        key "per_cpu": the same for the rate per server CPU-second. None when either is missing."""
        if key == "per_cpu":
            top = per_server_cpu_second(self.rows(scenario, server))
            bottom = per_server_cpu_second(self.rows(baseline, server))
        else:
            top, bottom = self.median(scenario, server, key), self.median(baseline, server, key)
        return top / bottom if top and bottom else None


def median_of(rows, key):
    values = [number(r[key]) for r in rows if number(r[key]) is not None]
    return statistics.median(values) if values else None


def median_run(rows):
    """The run with the median rate (the lower middle one of an even count): its latencies go with the median."""
    if not rows:
        return None
    ordered = sorted(rows, key=lambda r: number(r["rate"]))
    return ordered[(len(ordered) - 1) // 2]


def latency_ms(rows, key):
    """p50_us or p99_us of the median run, in milliseconds."""
    run = median_run(rows)
    value = number(run[key]) if run else None
    return None if value is None else value / 1000


def per_server_cpu_second(rows):
    """The median of rate / server CPU share: throughput per second of server CPU,
    which other load on the machine disturbs less than the rate itself."""
    values = [number(r["rate"]) / (number(r["server_cpu_pct"]) / 100) for r in rows
              if number(r["server_cpu_pct"])]
    return statistics.median(values) if values else None


def fmt_rate(value, unit):
    if value is None:
        return "-"
    if unit == "KiB/connection":
        return f"{value:.2f}"
    if unit == "ms":
        return fmt_ms(value)
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}"


def fmt_pct(value):
    return "-" if value is None else f"{value:.0f} %"


def fmt_ms(value):
    if value is None:
        return "-"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
