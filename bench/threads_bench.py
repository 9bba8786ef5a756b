#!/usr/bin/python3
"""Sluice on one event loop against two, side by side in one sitting.

Runs `sluice serve --store memory` and `sluice bench` in three set-ups,
interleaved round by round:

  1 loop, pinned   --threads 1 on core 0, the load client on core 1 (the
                   suite's set-up: each has a core of its own)
  1 loop, shared   --threads 1, server and load client on both cores
  2 loops, shared  --threads 2, server and load client on both cores

The load client runs 2 threads in the shared set-ups. Scenarios: fan-out to
1,000 and 10,000 subscribers (64-byte events, 64 in flight) and HTTP publish
(50 keep-alive connections). Writes results.md (medians, with the server's and
the load client's CPU) and threads.png into --out-dir.

Usage: bench/threads_bench.py [--sluice build/release/sluice] [--rounds 3]
         [--duration 5] [--out-dir docs/benchmarks/threads]
Needs 2 cores or more (taskset), python3-matplotlib for the plot.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local_processes import free_port, wait_port  # noqa: E402

SETUPS = [
    # name, server loops, server cores, load cores, load threads
    ("1 loop, pinned", 1, "0", "1", 1),
    ("1 loop, shared", 1, "0,1", "0,1", 2),
    ("2 loops, shared", 2, "0,1", "0,1", 2),
]
SCENARIOS = [
    # name, sluice bench arguments
    ("fanout 1k", ["fanout", "-n", "1000"]),
    ("fanout 10k", ["fanout", "-n", "10000", "--connect-timeout", "60"]),
    ("publish", ["publish", "-n", "50"]),
]


def run_one(sluice, setup, scenario, duration):
    """One measurement: a fresh server, one `sluice bench`, its JSON result."""
    _name, loops, server_cores, load_cores, load_threads = setup
    scenario_args = scenario[1]
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sluice-threads-") as work:
        log = open(os.path.join(work, "server.log"), "w")
        server = subprocess.Popen(
            ["taskset", "-c", server_cores, sluice, "serve", "--port", str(port), "--store", "memory",
             "--threads", str(loops), "--log-level", "warn", "--insecure"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(port, server)
            path = "/v1/events" if scenario_args[0] == "publish" else "/v1/ws"
            scheme = "http" if scenario_args[0] == "publish" else "ws"
            command = ["taskset", "-c", load_cores, sluice, "bench", *scenario_args,
                       "--url", f"{scheme}://127.0.0.1:{port}{path}", "--threads", str(load_threads),
                       "--warmup", "1", "--duration", str(duration), "--server-pid", str(server.pid),
                       "--json", "--no-progress"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 180)
            if done.returncode != 0:
                sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
            return json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def si(value):
    for limit, suffix in ((1e6, " M"), (1e3, " k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def report(results, args, out_dir):
    lines = ["# One event loop against two", "",
             f"`bench/threads_bench.py --rounds {args.rounds} --duration {args.duration}`: "
             f"{args.rounds} interleaved rounds of 1 s warm-up + {args.duration} s, medians; "
             "`sluice serve --store memory`. Server CPU is the sum over its threads (200 % = both cores); "
             "per server CPU-second is the rate divided by it; messages per read (fan-out) is what one "
             "read of a subscriber's socket brought the load client: about what the server wrote to it at once.", "",
             "| scenario | set-up | rate | vs 1 loop, pinned | per server CPU-second | server CPU | load client CPU | p99 "
             "| messages per read |",
             "|---|---|---|---|---|---|---|---|---|"]
    for scenario, _ in SCENARIOS:
        base = median(results[(scenario, SETUPS[0][0])], "rate")
        for setup in SETUPS:
            rows = results[(scenario, setup[0])]
            rate = median(rows, "rate")
            cpu = median(rows, "server_cpu_pct")
            unit = "deliveries/s" if scenario.startswith("fanout") else "events/s"
            per_read = f"{median(rows, 'per_read'):.0f}" if scenario.startswith("fanout") else "-"
            lines.append(f"| {scenario} | {setup[0]} | {si(rate)} {unit} | {rate / base:.2f} | "
                         f"{si(rate * 100 / cpu) if cpu else '-'} | {cpu:.0f} % | "
                         f"{median(rows, 'loadgen_cpu_pct'):.0f} % | {median(rows, 'p99_us') / 1000:.1f} ms | {per_read} |")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no matplotlib: results.md only")
        return
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.25
    for i, setup in enumerate(SETUPS):
        rates, per_cpu = [], []
        for scenario, _ in SCENARIOS:
            base = median(results[(scenario, SETUPS[0][0])], "rate")
            base_cpu = base * 100 / median(results[(scenario, SETUPS[0][0])], "server_cpu_pct")
            rows = results[(scenario, setup[0])]
            rates.append(median(rows, "rate") / base)
            per_cpu.append(median(rows, "rate") * 100 / median(rows, "server_cpu_pct") / base_cpu)
        x = [j + (i - 1) * width for j in range(len(SCENARIOS))]
        axes[0].bar(x, rates, width, label=setup[0])
        axes[1].bar(x, per_cpu, width, label=setup[0])
    for axis, title in ((axes[0], "rate"), (axes[1], "per server CPU-second")):
        axis.set_xticks(range(len(SCENARIOS)), [s for s, _ in SCENARIOS])
        axis.axhline(1.0, color="grey", linewidth=0.8)
        axis.set_title(f"{title}, ÷ 1 loop pinned")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / "threads.png", dpi=100, metadata={"Software": None})
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sluice", default="build/release/sluice")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--out-dir", default="docs/benchmarks/threads")
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 cores")
    sluice = os.path.abspath(args.sluice)
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for round_ in range(args.rounds):
        for scenario in SCENARIOS:
            for setup in SETUPS:
                r = run_one(sluice, setup, scenario, args.duration)
                results.setdefault((scenario[0], setup[0]), []).append(r)
                print(f"round {round_ + 1} {scenario[0]:<10} {setup[0]:<16} rate {si(r['rate']):>8} "
                      f"server {r['server_cpu_pct']:.0f} % load {r['loadgen_cpu_pct']:.0f} %", flush=True)
    report(results, args, out_dir)
    print((out_dir / "results.md").read_text())


if __name__ == "__main__":
    main()
