#!/usr/bin/env python3
"""bench/report_server_bench.py on a synthetic results CSV: the six PNG plots
are well-formed PNG files (signature, chunk CRCs, IHDR first, IEND last), and
results.md holds, for every scenario and server, Sluice's ratio and the load
client's CPU as computed here from the CSV; each server's deflate ÷
uncompressed ratio (rates, and rates per server CPU-second); churn like for
like (Sluice without the subscribe ÷ each peer); HTTP publish against nginx
(each Sluice store ÷ nginx answering `return 201`); the reconnect storm's
time until all are back, as a duration, with a round that lost events counted
as failed; plus the run's machine, commit and command. Exit 77 (skipped) only when matplotlib is missing.

Usage: report_test.py PATH/TO/bench/report_server_bench.py
"""
import csv
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import zlib

COLUMNS = ("time,rep,scenario,server,connections,payload,in_flight,rate,p50_us,p99_us,loadgen_cpu_pct,"
           "loadgen_wait_pct,server_cpu_pct,server_wait_pct,rss_before_kib,rss_after_kib,kib_per_conn,status,load_threads,lost,"
           "duplicates").split(",")
# The report's display names of the servers used here.
NAMES = {"sluice": "Sluice", "sluice-memory": "Sluice, --store memory", "uws": "uWebSockets", "beast": "Boost.Beast",
         "sluice-handshake": "Sluice, no subscribe (the peers' cycle)", "websocketpp": "websocketpp",
         "nginx": "nginx, return 201", "sluice-base": "Sluice (baseline)"}
# scenario -> (connections, payload, servers, title the table starts the scenario's first row with)
SCENARIOS = {
    "fanout100": (100, 64, ["sluice", "sluice-memory", "uws", "beast"], "Fan-out, 100 subscribers, 64 B"),
    "fanout1k": (1000, 64, ["sluice", "sluice-memory", "uws", "beast"], "Fan-out, 1,000 subscribers, 64 B"),
    "fanout10k": (10000, 64, ["sluice", "uws", "beast"], "Fan-out, 10,000 subscribers, 64 B"),
    "idle": (19000, 64, ["sluice", "uws", "beast"], "Idle, 19,000 connections"),
    "churn": (100, 64, ["sluice", "sluice-handshake", "uws", "beast"], "Churn, 100 workers"),
    "nodeflate1k": (1000, 1024, ["sluice", "uws", "beast", "websocketpp"], "Fan-out, uncompressed, 1,000 subscribers, 1024 B"),
    "deflate1k": (1000, 1024, ["sluice", "uws", "beast"], "Fan-out, permessage-deflate, 1,000 subscribers, 1024 B"),
    "publish": (500, 64, ["sluice", "sluice-memory", "nginx"], "HTTP publish, 500 connections, 64 B"),
    "tls1k": (1000, 64, ["sluice", "sluice-memory", "beast"], "Fan-out over wss://, 1,000 subscribers, 64 B"),
    "storm": (1000, 64, ["sluice", "sluice-base"], "Reconnect storm, 1,000 subscribers cut at once"),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_rows():
    rng = random.Random(18)
    rows = []
    for rep in (1, 2, 3):
        for scenario, (connections, payload, servers, _) in SCENARIOS.items():
            for server in servers:
                rate = {"idle": rng.uniform(0.3, 9.0), "storm": rng.uniform(50, 3000)}.get(scenario, rng.uniform(2e4, 8e6))
                row = dict.fromkeys(COLUMNS, "")
                row.update(time="12:00:00", rep=rep, scenario=scenario, server=server, connections=connections,
                           payload=payload, rate=f"{rate:.2f}", loadgen_cpu_pct=f"{rng.uniform(10, 99):.1f}",
                           loadgen_wait_pct=f"{rng.uniform(0, 50):.1f}",
                           server_cpu_pct=f"{rng.uniform(40, 100):.1f}", server_wait_pct=f"{rng.uniform(0, 30):.1f}",
                           status="ok")
                if scenario == "storm":
                    row.update(p50_us=f"{rate * rng.uniform(300, 900):.0f}", lost=0, duplicates=0)
                elif scenario != "idle":
                    p50 = rng.uniform(100, 50000)
                    row.update(in_flight=64, p50_us=f"{p50:.0f}", p99_us=f"{p50 * rng.uniform(1.5, 4):.0f}")
                rows.append(row)
    failed = dict.fromkeys(COLUMNS, "")
    failed.update(time="12:00:00", rep=3, scenario="fanout10k", server="beast", connections=10000, payload=64,
                  status="loadgen-failed")
    rows.append(failed)
    lost = dict.fromkeys(COLUMNS, "")
    lost.update(time="12:00:00", rep=3, scenario="storm", server="sluice-base", connections=1000, payload=64,
                rate="10.00", lost=3, duplicates=0, status="events-lost-or-duplicated")
    rows.append(lost)
    return rows


def check_png(path):
    """Fails unless path is a PNG file: its signature, then chunks with correct CRCs, IHDR first, IEND last."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(PNG_SIGNATURE), f"{path}: no PNG signature"
    position, chunks = len(PNG_SIGNATURE), []
    while position < len(data):
        assert position + 12 <= len(data), f"{path}: truncated chunk at {position}"
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in chunk {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", f"{path}: chunks {[k for k, _ in chunks]}"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert width > 100 and height > 100, f"{path}: {width}x{height}"
    assert any(kind == b"IDAT" for kind, _ in chunks), f"{path}: no image data"


def table_rows(markdown):
    """(scenario title, server name) -> the row's cells, from the table whose header starts '| Scenario |'."""
    rows, scenario, in_table = {}, None, False
    for line in markdown.splitlines():
        if line.startswith("| Scenario | Server |"):
            header = [c.strip() for c in line.strip("|").split("|")]
            in_table = True
            continue
        if not in_table or line.startswith("|---"):
            continue
        if not line.startswith("|"):
            break
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        scenario = cells["Scenario"] or scenario
        rows[(scenario, cells["Server"].strip("*"))] = cells
    return rows


def server_table(markdown, header_start):
    """Server name -> the row's cells, from the first table whose header starts with header_start."""
    rows, header = {}, None
    for line in markdown.splitlines():
        if header is None:
            if line.startswith(header_start):
                header = [c.strip() for c in line.strip("|").split("|")]
            continue
        if line.startswith("|---"):
            continue
        if not line.startswith("|"):
            break
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        rows[cells["Server"].strip("*")] = cells
    return rows


def per_cpu_second(rows, scenario, server):
    return statistics.median(float(r["rate"]) / (float(r["server_cpu_pct"]) / 100) for r in rows
                             if r["scenario"] == scenario and r["server"] == server and r["status"] == "ok")


def median(rows, scenario, server, key):
    return statistics.median(float(r[key]) for r in rows
                             if r["scenario"] == scenario and r["server"] == server and r["status"] == "ok")


def main():
    report = sys.argv[1]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is missing (Debian: python3-matplotlib): skipped")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        rows = synthetic_rows()
        results = os.path.join(tmp, "results.csv")
        with open(results, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        meta = {"command": "bench/run_server_bench.sh --quick --plots", "commit": "0123abc",
                "cpu": "Test CPU 9000", "cores": "2 (1 thread(s) per core)"}
        with open(os.path.join(tmp, "results.meta"), "w") as f:
            f.writelines(f"{key}: {value}\n" for key, value in meta.items())
        out = os.path.join(tmp, "report")
        # The meta file is found beside the CSV, as run_server_bench.sh leaves it.
        subprocess.run([sys.executable, report, "--out", out, results], check=True, timeout=100)

        plots = ("fanout.png", "latency.png", "idle.png", "churn.png", "deflate.png", "publish.png")
        for name in plots:
            check_png(os.path.join(out, name))
        with open(os.path.join(out, "results.md")) as f:
            markdown = f.read()
        for name in plots:
            assert f"]({name})" in markdown, f"results.md does not link {name}"
        for value in meta.values():
            assert value in markdown, f"results.md lacks the run's {value!r}"

        table = table_rows(markdown)
        checked = 0
        for scenario, (_, _, servers, title) in SCENARIOS.items():
            own = median(rows, scenario, "sluice", "rate")
            for server in servers:
                key = next((k for k in table if k[0].startswith(title) and k[1] == NAMES[server]), None)
                assert key, f"no row for {scenario} {server} in\n{markdown}"
                cells = table[key]
                expected_ratio = "-" if server == "sluice" else f"{own / median(rows, scenario, server, 'rate'):.2f}"
                assert cells["Sluice ÷ server"] == expected_ratio, (scenario, server, cells, expected_ratio)
                expected_cpu = (f"{median(rows, scenario, server, 'loadgen_cpu_pct'):.0f} % "
                                f"({median(rows, scenario, server, 'loadgen_wait_pct'):.0f} %)")
                assert cells["Load client CPU (waiting)"] == expected_cpu, (scenario, server, cells, expected_cpu)
                checked += 1
        assert table[next(k for k in table if k[0].startswith("Fan-out, 10,000") and k[1] == "Boost.Beast")][
            "Runs"] == "3 (+1 failed)"
        # The storm's figure is a duration (ms until the last subscriber was back), lower is better; a
        # round that lost events is a failure, not a fast time.
        storm = {server: table[next(k for k in table if k[0].startswith("Reconnect storm") and k[1] == NAMES[server])]
                 for server in ("sluice", "sluice-base")}
        for server, cells in storm.items():
            ms = median(rows, "storm", server, "rate")
            shown = f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
            assert cells["Median"] == shown, (server, cells, shown)
            assert cells["Per server CPU-second"] == "-", cells
        assert storm["sluice-base"]["Runs"] == "3 (+1 failed)", storm

        # Deflate beside uncompressed: one row per server measured with deflate (websocketpp was not).
        deflate = server_table(markdown, "| Server | Uncompressed | Deflate |")
        assert set(deflate) == {NAMES[s] for s in SCENARIOS["deflate1k"][2]}, deflate
        for server in SCENARIOS["deflate1k"][2]:
            cells = deflate[NAMES[server]]
            ratio = median(rows, "deflate1k", server, "rate") / median(rows, "nodeflate1k", server, "rate")
            per_cpu = per_cpu_second(rows, "deflate1k", server) / per_cpu_second(rows, "nodeflate1k", server)
            assert cells["Deflate ÷ uncompressed"] == f"{ratio:.2f}", (server, cells, ratio)
            assert cells["Same, per server CPU-second"] == f"{per_cpu:.2f}", (server, cells, per_cpu)
            cpu = ", ".join(f"{median(rows, s, server, 'loadgen_cpu_pct'):.0f} % "
                            f"({median(rows, s, server, 'loadgen_wait_pct'):.0f} %)" for s in ("nodeflate1k", "deflate1k"))
            assert cells["Load client CPU (waiting): uncompressed, deflate"] == cpu, (server, cells, cpu)
            checked += 1

        # wss:// beside ws://, the same way: every server measured over TLS, its own ratio.
        tls = server_table(markdown, "| Server | ws:// | wss:// |")
        assert set(tls) == {NAMES[s] for s in SCENARIOS["tls1k"][2]}, tls
        for server in SCENARIOS["tls1k"][2]:
            ratio = median(rows, "tls1k", server, "rate") / median(rows, "fanout1k", server, "rate")
            assert tls[NAMES[server]]["wss:// ÷ ws://"] == f"{ratio:.2f}", (server, tls, ratio)
            checked += 1

        # Churn like for like: Sluice's cycle without the subscribe against each peer, not against Sluice.
        churn = server_table(markdown, "| Server | Sluice (no subscribe) ÷ server |")
        assert set(churn) == {"uWebSockets", "Boost.Beast"}, churn
        for server in ("uws", "beast"):
            ratio = median(rows, "churn", "sluice-handshake", "rate") / median(rows, "churn", server, "rate")
            assert churn[NAMES[server]]["Sluice (no subscribe) ÷ server"] == f"{ratio:.2f}", (server, churn)
            checked += 1
        # HTTP publish against the anchor: each Sluice store ÷ nginx answering `return 201`.
        publish = server_table(markdown, "| Server | Sluice ÷ nginx |")
        assert set(publish) == {"Sluice", "Sluice, --store memory"}, publish
        for server in ("sluice", "sluice-memory"):
            ratio = median(rows, "publish", server, "rate") / median(rows, "publish", "nginx", "rate")
            per_cpu = per_cpu_second(rows, "publish", server) / per_cpu_second(rows, "publish", "nginx")
            cells = publish[NAMES[server]]
            assert cells["Sluice ÷ nginx"] == f"{ratio:.2f}", (server, cells, ratio)
            assert cells["Same, per server CPU-second"] == f"{per_cpu:.2f}", (server, cells, per_cpu)
            checked += 1
        print(f"ok: {len(plots)} PNG files, {checked} ratios and load-client CPU figures as computed from the CSV")
    return 0


if __name__ == "__main__":
    sys.exit(main())
