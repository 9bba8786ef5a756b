#!/usr/bin/env python3
"""Webhook delivery benchmark (docs/benchmarks.md, "Other benchmarks").

1. Deliveries/s: K webhook subscriptions (1 and 100) on one topic, N events
   published with POST /v1/events/batch; the time from the first publish to
   the last delivery acknowledged by a fast Node receiver (204, keep-alive).
2. Fan-out beside webhooks: `sluice bench fanout` (1,000 subscribers) alone,
   then with 100 webhook subscriptions on another topic fed 10 events/s
   (1,000 webhook deliveries/s), alternating, in the same run.

Server pinned to core 0, receiver and load to core 1; loopback only; stops
everything it starts. Usage: bench/webhook/webhook_bench.py [--sluice PATH]
[--events N] [--duration S]
"""
import argparse, json, os, subprocess, sys, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from local_processes import free_port, wait_port  # noqa: E402


def request(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


class Run:
    def __init__(self, sluice):
        self.sluice, self.procs = sluice, []

    def start(self, args, core, port):
        p = subprocess.Popen(["taskset", "-c", str(core)] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(port, p)
        return p

    def server(self):
        port = free_port()
        p = self.start([self.sluice, "serve", "--store", "memory", "--threads", "1", "--port", str(port),
                        "--webhook-allow", "127.0.0.0/8", "--history-max-events", "1000000",
                        "--history-max-bytes", str(1 << 30), "--rate-limit", "0", "--ping-interval", "0",
                        "--max-connections", "30000"], 0, port)
        return p, f"http://127.0.0.1:{port}"

    def receiver(self):
        port = free_port()
        self.start(["node", os.path.join(HERE, "receiver.mjs"), str(port)], 1, port)
        return f"http://127.0.0.1:{port}"

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []


def count(receiver):
    return int(request("GET", receiver + "/count"))


def subscribe(api, receiver, topic, k):
    for i in range(k):
        request("POST", api + "/v1/subscriptions",
                {"topics": [topic], "webhook": {"url": f"{receiver}/hook/{i}"}})


def deliveries_per_second(sluice, k, events):
    run = Run(sluice)
    try:
        _, api = run.server()
        receiver = run.receiver()
        subscribe(api, receiver, "wh.bench", k)
        batch = {"events": [{"topic": "wh.bench", "data": {"pad": "x" * 64}} for _ in range(1000)]}
        start = time.monotonic()
        for _ in range(events // 1000):
            request("POST", api + "/v1/events/batch", batch)
        want = k * (events // 1000) * 1000
        while count(receiver) < want:
            if time.monotonic() - start > 600:
                sys.exit(f"timed out: {count(receiver)} of {want} delivered")
            time.sleep(0.05)
        seconds = time.monotonic() - start
        return want, seconds
    finally:
        run.stop()


def fanout(sluice, api, duration, server_pid):
    out = subprocess.run(["taskset", "-c", "1", sluice, "bench", "fanout", "--url",
                          api.replace("http://", "ws://") + "/v1/ws", "-n", "1000", "--warmup", "1",
                          "--duration", str(duration), "--server-pid", str(server_pid), "--json", "--no-progress"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        sys.exit("sluice bench failed: " + out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fanout_beside_webhooks(sluice, with_webhooks, duration):
    run = Run(sluice)
    stop = threading.Event()
    feeder = None
    try:
        server, api = run.server()
        if with_webhooks:
            receiver = run.receiver()
            subscribe(api, receiver, "wh.steady", 100)

            def feed():  # 10 events/s on the webhooks' topic: 1,000 deliveries/s to the receiver
                batch = {"events": [{"topic": "wh.steady", "data": {"n": 1}}]}
                while not stop.is_set():
                    try:
                        request("POST", api + "/v1/events/batch", batch)
                    except OSError:
                        if stop.is_set():
                            return  # the server is being stopped
                        raise
                    stop.wait(0.1)
            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
        return fanout(sluice, api, duration, server.pid)
    finally:
        stop.set()
        if feeder:
            feeder.join(timeout=30)
        run.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", default=os.path.join(ROOT, "build", "release", "sluice"))
    ap.add_argument("--events", type=int, default=20000, help="events published per delivery run (multiple of 1000)")
    ap.add_argument("--duration", type=float, default=5, help="seconds of each fan-out window")
    a = ap.parse_args()
    print(f"machine load before: {os.getloadavg()[0]:.1f}")
    print("| webhook subscriptions | deliveries | seconds | deliveries/s |\n|---|---|---|---|")
    for k in (1, 100):
        events = a.events if k == 1 else max(1000, a.events // 10)
        n, s = deliveries_per_second(a.sluice, k, events)
        print(f"| {k} | {n} | {s:.2f} | {n / s:,.0f} |", flush=True)
    print("\n| fan-out, 1,000 subscribers | deliveries/s | server CPU % | per server CPU-second |\n|---|---|---|---|")
    for label, on in (("alone", False), ("beside 100 webhooks (1,000 deliveries/s)", True),
                      ("alone", False), ("beside 100 webhooks (1,000 deliveries/s)", True)):
        r = fanout_beside_webhooks(a.sluice, on, a.duration)
        cpu = r.get("server_cpu_pct", 0)
        per = r["rate"] / (cpu / 100) if cpu else 0
        print(f"| {label} | {r['rate']:,.0f} | {cpu:.0f} | {per:,.0f} |", flush=True)
    print(f"machine load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
