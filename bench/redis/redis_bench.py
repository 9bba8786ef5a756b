#!/usr/bin/env python3
"""The Redis engine's benchmarks (issue #17; docs/scale-out.md, "What it
carries here"), side by side in one run, loopback only:

1. HTTP publish through one node: one Redis shard against two (the publishes
   spread over 16 topics so both shards work), with `appendfsync everysec`
   and with `always` (no acknowledged event lost on a crash of Redis).
2. Cross-node fan-out: 1,000 subscribers on the publishing node against the
   same 1,000 split over two nodes (the publisher on the first): deliveries/s
   and delivery latency (the Redis hop included).
3. The Redis hop: 10 subscribers, one message in flight at a time, on the
   publishing node against on the other node: p50/p99 publish-to-deliver.
4. rediss://: HTTP publish and the hop to the other node with Redis over TLS
   (a CA and a certificate for localhost made with the openssl CLI; the
   nodes' TLS tunnel), beside the same over plain TCP.

Every configuration is measured --reps times, interleaved, and the medians
reported with ratios. Each run starts its own redis-servers and `sluice serve`
nodes on free ports, in a temp dir, and stops them. The machine's cores are
shared by Redis, the nodes and the load client (say so next to the figures).

Usage: bench/redis/redis_bench.py [--sluice build/release/sluice] [--reps 3]
       [--duration 5] [--warmup 1] [--json FILE]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from local_processes import free_port, wait_port  # noqa: E402


def wait_ready(port, seconds=30):
    import urllib.request
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"node on {port} never became ready")


def tls_files(work):
    """A CA and a certificate for localhost signed by it, made once per run: (ca, cert, key)."""
    ca, ca_key = os.path.join(work, "ca.pem"), os.path.join(work, "ca.key")
    cert, key, csr = os.path.join(work, "redis.pem"), os.path.join(work, "redis.key"), os.path.join(work, "redis.csr")
    if not os.path.exists(cert):
        ext = os.path.join(work, "san.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost\n")
        for command in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
                         "-subj", "/CN=sluice-bench-ca"],
                        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
                        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
                         "-days", "1", "-extfile", ext]):
            subprocess.run(["openssl", *command], check=True, capture_output=True)
    return ca, cert, key


class Cluster:
    """`shards` redis-servers and `nodes` sluice nodes on them; stop() ends all."""

    def __init__(self, args, work, shards, nodes, fsync, tls=False):
        self.processes = []
        self.redis_ports = []
        for i in range(shards):
            port = free_port()
            d = tempfile.mkdtemp(dir=work)
            listen = ["--port", str(port)]
            if tls:
                ca, cert, key = tls_files(work)
                listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", cert, "--tls-key-file", key,
                          "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
            p = subprocess.Popen([shutil.which("redis-server"), *listen, "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "yes", "--appendfsync", fsync, "--dir", d],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.processes.append(p)
            wait_port(port, p)
            self.redis_ports.append(port)
        self.node_ports = []
        if tls:
            engines = [a for port in self.redis_ports for a in ("--engine", f"rediss://localhost:{port}")]
            engines += ["--engine-ca-file", tls_files(work)[0]]
        else:
            engines = [a for port in self.redis_ports for a in ("--engine", f"redis://127.0.0.1:{port}")]
        for i in range(nodes):
            port = free_port()
            p = subprocess.Popen([args.sluice, "serve", "--address", "127.0.0.1", "--port", str(port), "--threads", "1",
                                  "--ping-interval", "0", "--max-connections", "30000", "--shutdown-drain", "1",
                                  "--log-level", "warn", *engines],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                 env={k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")})
            self.processes.append(p)
            wait_port(port, p)
            wait_ready(port)
            self.node_ports.append(port)

    def stop(self):
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.processes):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def bench(args, scenario, *flags):
    out = subprocess.run([args.sluice, "bench", scenario, "--warmup", str(args.warmup), "--duration",
                          str(args.duration), "--json", "--no-progress", *flags],
                         capture_output=True, text=True, timeout=args.duration * 4 + 120)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    try:
        return json.loads(last)
    except ValueError:
        sys.exit(f"sluice bench {scenario} {' '.join(flags)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")


def number(result, key):
    return float(result.get(key, 0) or 0)


# name -> (shards, nodes, fsync, what to run on the cluster[, Redis over TLS])
CONFIGS = {
    "publish, 1 shard, everysec": (1, 1, "everysec", "publish"),
    "publish, 2 shards, everysec": (2, 1, "everysec", "publish"),
    "publish, 1 shard, always": (1, 1, "always", "publish"),
    "fan-out 1,000 on 1 node": (1, 1, "everysec", "fanout1"),
    "fan-out 1,000 over 2 nodes": (1, 2, "everysec", "fanout2"),
    "hop: 10 subscribers on the publishing node": (1, 2, "everysec", "hop_same"),
    "hop: 10 subscribers on the other node": (1, 2, "everysec", "hop_other"),
    "publish, 1 shard, everysec, rediss://": (1, 1, "everysec", "publish", True),
    "hop: 10 subscribers on the other node, rediss://": (1, 2, "everysec", "hop_other", True),
}


def measure(args, work, name):
    shards, nodes, fsync, what, *tls = CONFIGS[name]
    cluster = Cluster(args, work, shards, nodes, fsync, tls=bool(tls and tls[0]))
    try:
        a = f"ws://127.0.0.1:{cluster.node_ports[0]}/v1/ws"
        if what == "publish":
            r = bench(args, "publish", "--url", f"http://127.0.0.1:{cluster.node_ports[0]}", "-n", "200",
                      "--pipeline", "4", "--topics", "16")
            return {"rate": number(r, "rate"), "p50_us": number(r, "p50_us"), "p99_us": number(r, "p99_us"),
                    "loadgen_cpu_pct": number(r, "loadgen_cpu_pct")}
        b = f"ws://127.0.0.1:{cluster.node_ports[-1]}/v1/ws"
        if what == "fanout1":
            r = bench(args, "fanout", "--url", a, "-n", "1000")
        elif what == "fanout2":  # half the subscribers on each node, the publisher on the first
            r = bench(args, "fanout", "--url", a, "-n", "1000", "--sub-url", a, "--sub-url", b)
        elif what == "hop_same":
            r = bench(args, "fanout", "--url", a, "-n", "10", "--in-flight", "1")
        else:  # hop_other: every subscriber on the node that did not take the publish
            r = bench(args, "fanout", "--url", a, "-n", "10", "--in-flight", "1", "--sub-url", b)
        return {"rate": number(r, "rate"), "p50_us": number(r, "p50_us"), "p99_us": number(r, "p99_us"),
                "loadgen_cpu_pct": number(r, "loadgen_cpu_pct")}
    finally:
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sluice", default=os.path.join(ROOT, "build", "release", "sluice"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--only", default="", help="comma-separated substrings of the configurations to run")
    parser.add_argument("--json", default="", help="also write every measurement to this file")
    args = parser.parse_args()
    if not shutil.which("openssl"):
        sys.exit("openssl (the command) is needed for the rediss:// configurations")
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed (scripts/install-deps.sh)")
    names = [n for n in CONFIGS if not args.only or any(s in n for s in args.only.split(","))]
    work = tempfile.mkdtemp(prefix="sluice-redis-bench-")
    runs = {n: [] for n in names}
    try:
        for rep in range(args.reps):
            for name in names:
                result = measure(args, work, name)
                runs[name].append(result)
                print(f"[redis-bench] round {rep + 1}: {name}: {result['rate']:.0f}/s, "
                      f"p50 {result['p50_us'] / 1000:.2f} ms, p99 {result['p99_us'] / 1000:.2f} ms", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {n: {k: statistics.median(r[k] for r in runs[n]) for k in runs[n][0]} for n in names}
    base = {"publish": "publish, 1 shard, everysec", "fan-out": "fan-out 1,000 on 1 node",
            "hop": "hop: 10 subscribers on the publishing node"}
    print("\n| configuration | median rate (/s) | vs baseline | p50 ms | p99 ms | load client CPU % |")
    print("|---|---|---|---|---|---|")
    for n in names:
        b = next((v for k, v in base.items() if n.startswith(k)), None)
        ratio = f"{med[n]['rate'] / med[b]['rate']:.2f}" if b in med and med[b]["rate"] and b != n else "-"
        print(f"| {n} | {med[n]['rate']:.0f} | {ratio} | {med[n]['p50_us'] / 1000:.2f} | "
              f"{med[n]['p99_us'] / 1000:.2f} | {med[n]['loadgen_cpu_pct']:.0f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
