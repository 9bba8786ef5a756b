#!/usr/bin/env python3
"""`sluice bench` against a real `sluice serve --store memory` on loopback:
fanout (over /v1/ws and over Centrifugo's protocol on /connection/websocket)
and idle finish with a JSON/CSV result whose figures are real (every delivery
in order, every connection open), and bad arguments exit 2."""
import csv, io, json, socket, subprocess, sys, time

SLUICE = sys.argv[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not listen")


def bench(*args):
    return subprocess.run([SLUICE, "bench", *args], capture_output=True, text=True, timeout=60)


port = free_port()
server = subprocess.Popen([SLUICE, "serve", "--store", "memory", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    wait_listening(port, server)
    url = f"ws://127.0.0.1:{port}/v1/ws"

    r = bench("fanout", "--url", url, "-n", "20", "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["mode"] == "fanout" and result["connections"] == 20, result
    assert result["deliveries"] > 0 and result["rate"] > 0, result
    assert result["out_of_order"] == 0 and result["unexpected"] == 0, result
    assert 0 < result["p50_us"] <= result["p99_us"], result
    assert "loadgen_cpu_pct" in result
    assert "deliveries" in r.stdout.splitlines()[1] or "  mode" in r.stdout  # the table comes first

    r = bench("fanout", "--preset", "centrifugo", "--url", f"ws://127.0.0.1:{port}/connection/websocket", "-n", "20",
              "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["deliveries"] > 0 and result["out_of_order"] == 0 and result["unexpected"] == 0, result

    r = bench("idle", "--url", url, "-n", "40", "--duration", "0.2", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and rows[0]["open"] == "40", rows

    for bad in (["fanout", "--url", "http://x"], ["fanout", "--url", f"wss://127.0.0.1:{port}/"],
                ["nonsense"], ["fanout", "--payload", "8"], ["echo", "--preset", "centrifugo"]):
        r = bench(*bad)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        assert "sluice bench" in r.stderr, r.stderr
finally:
    server.terminate()
    server.wait(timeout=30)
print("ok")
