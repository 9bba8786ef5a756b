#!/usr/bin/env python3
"""`sluice bench` against a real `sluice serve --store memory` on loopback:
fanout (over /v1/ws and over Centrifugo's protocol on /connection/websocket,
on one load thread and on several: every subscriber gets every event),
idle, publish, churn and storm finish with a JSON/CSV result whose figures
are real and agree with what the server saw (every delivery in order, every
connection open, as many events in the topic as publishes answered 2xx, as
many clean closes as cycles, no event lost or duplicated across the cuts);
an API key reaches the server; bad arguments exit 2."""
import csv, io, json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

SLUICE = sys.argv[1]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadgen_test_util import free_port, wait_listening  # noqa: E402


def bench(*args):
    return subprocess.run([SLUICE, "bench", *args], capture_output=True, text=True, timeout=60)


def last_json(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


def get(port, path, headers=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def last_offset(port, topic, headers=None):
    topics = json.loads(get(port, "/v1/topics?limit=1000", headers))["topics"]
    return next((t["lastOffset"] for t in topics if t["topic"] == topic), 0)


def clean_closes(port):
    m = re.search(r'^sluice_connections_closed_total\{code="1000"\} (\d+)$', get(port, "/metrics"), re.M)
    return int(m.group(1)) if m else 0


def start_server(port, *extra):
    proc = subprocess.Popen([SLUICE, "serve", "--store", "memory", "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc


port = free_port()
server = start_server(port)
keyed = None
try:
    url = f"ws://127.0.0.1:{port}/v1/ws"
    http_url = f"http://127.0.0.1:{port}/v1/events"

    r = bench("fanout", "--url", url, "-n", "20", "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["mode"] == "fanout" and result["connections"] == 20, result
    assert result["deliveries"] > 0 and result["rate"] > 0, result
    assert result["out_of_order"] == 0 and result["unexpected"] == 0, result
    assert 0 < result["p50_us"] <= result["p99_us"], result
    assert "loadgen_cpu_pct" in result
    assert "deliveries" in r.stdout.splitlines()[1] or "  mode" in r.stdout  # the table comes first
    # After the window the stream drains: every subscriber has every event published.
    assert result["published"] > 0 and result["lost"] == 0, result
    assert result["deliveries_total"] == 20 * result["published"] >= result["deliveries"], result

    # --threads 2: the subscribers on two loops, the publisher on the first.
    # Every subscriber has every event (in order, so exactly 1..published), and
    # the server's topic holds exactly the events the bench published (data and sync).
    r = bench("fanout", "--url", url, "-n", "40", "--threads", "2", "--topic", "bench.fan2", "--warmup", "0.2",
              "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["threads"] == 2 and result["connections"] == 40, result
    assert result["out_of_order"] == 0 and result["unexpected"] == 0 and result["lost"] == 0, result
    assert result["published"] > 0 and result["deliveries_total"] == 40 * result["published"], result
    assert 0 < result["deliveries"] <= result["deliveries_total"] and result["rate"] > 0, result
    assert 0 < result["p50_us"] <= result["p99_us"] <= result["max_us"], result
    assert last_offset(port, "bench.fan2") == result["published"] + result["syncs"], result
    assert result["loadgen_busiest_thread_cpu_pct"] > 0 and "loadgen_busiest_thread_wait_pct" in result, result
    assert "% of one core, all threads" in r.stdout, r.stdout  # the table states the CPU figure's unit

    # The same with permessage-deflate (what the load threads are for), 1 KiB events, 3 threads.
    r = bench("fanout", "--url", url, "-n", "30", "--threads", "3", "--deflate", "--payload", "1024", "--topic",
              "bench.fan3", "--warmup", "0.2", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["threads"] == 3 and result["out_of_order"] == 0 and result["unexpected"] == 0, result
    assert result["published"] > 0 and result["deliveries_total"] == 30 * result["published"], result
    assert last_offset(port, "bench.fan3") == result["published"] + result["syncs"], result

    r = bench("fanout", "--preset", "centrifugo", "--url", f"ws://127.0.0.1:{port}/connection/websocket", "-n", "20",
              "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["deliveries"] > 0 and result["out_of_order"] == 0 and result["unexpected"] == 0, result

    # --sub-url: the subscribers on other nodes (here: the same server under
    # localhost and 127.0.0.1, round robin), the publisher on --url.
    r = bench("fanout", "--url", url, "-n", "10", "--sub-url", f"ws://localhost:{port}/v1/ws", "--sub-url", url,
              "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["deliveries"] > 0 and result["out_of_order"] == 0 and result["unexpected"] == 0, result
    # ... and over two load threads, Centrifugo's protocol.
    r = bench("fanout", "--preset", "centrifugo", "--url", f"ws://127.0.0.1:{port}/connection/websocket", "-n", "10",
              "--threads", "2", "--sub-url", f"ws://localhost:{port}/connection/websocket", "--sub-url",
              f"ws://127.0.0.1:{port}/connection/websocket", "--warmup", "0.2", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["out_of_order"] == 0 and result["unexpected"] == 0, result
    assert result["published"] > 0 and result["deliveries_total"] == 10 * result["published"], result

    r = bench("idle", "--url", url, "-n", "40", "--duration", "0.2", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and rows[0]["open"] == "40", rows
    # idle subscribes each connection and waits for the acks: a refused
    # subscription ends it with the server's answer; Centrifugo's protocol too.
    r = bench("idle", "--url", url, "-n", "3", "--duration", "0.2", "--topic", "no good", "--csv")
    assert r.returncode != 0 and "invalid_topic" in r.stderr, (r.returncode, r.stderr)
    r = bench("idle", "--preset", "centrifugo", "--url", f"ws://127.0.0.1:{port}/connection/websocket", "-n", "40",
              "--duration", "0.2", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and rows[0]["open"] == "40", rows

    # publish: every 2xx the bench counts is an event in the topic, and nothing more.
    r = bench("publish", "--url", http_url, "-n", "4", "--pipeline", "2", "--topic", "bench.pub",
              "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["mode"] == "publish" and result["connections"] == 4 and result["pipeline"] == 2, result
    assert result["published"] > 0 and result["rate"] > 0 and result["responses"] > 0, result
    assert result["published"] >= result["responses"], result  # the window is part of the run
    assert result["non_2xx"] == 0 and result["errors"] == 0 and result["unanswered"] == 0, result
    assert 0 < result["p50_us"] <= result["p99_us"] <= result["max_us"], result
    assert last_offset(port, "bench.pub") == result["published"], (last_offset(port, "bench.pub"), result)

    # Two load threads: the same count holds for their sum. The URL without a
    # path means the preset's endpoint (/v1/events).
    r = bench("publish", "--url", f"http://127.0.0.1:{port}", "-n", "4", "--threads", "2", "--topic", "bench.pub2",
              "--warmup", "0.1", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["threads"] == 2 and result["published"] > 0, result
    assert last_offset(port, "bench.pub2") == result["published"], result

    # --topics 3: the connections spread over bench.many.0..2; every 2xx is in one of them.
    r = bench("publish", "--url", http_url, "-n", "6", "--topic", "bench.many", "--topics", "3",
              "--warmup", "0.1", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    offsets = [last_offset(port, f"bench.many.{i}") for i in range(3)]
    assert all(o > 0 for o in offsets) and sum(offsets) == result["published"], (offsets, result)

    # Non-2xx answers are counted by status; with no 2xx at all the run fails.
    r = bench("publish", "--url", http_url, "-n", "2", "--topic", "no..topic", "--warmup", "0", "--duration",
              "0.3", "--json")
    assert r.returncode == 1, r.stderr
    result = last_json(r)
    assert result["published"] == 0 and result["non_2xx"] > 0 and result["status_400"] == result["non_2xx"], result

    # Centrifugo's server API: the same count; its errors come as 200 with {"error":...}.
    r = bench("publish", "--preset", "centrifugo", "--url", f"http://127.0.0.1:{port}/api/publish", "-n", "2",
              "--topic", "bench.cf", "--warmup", "0", "--duration", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["protocol"] == "centrifugo" and result["published"] > 0 and result["api_errors"] == 0, result
    assert last_offset(port, "bench.cf") == result["published"], result
    r = bench("publish", "--preset", "centrifugo", "--url", f"http://127.0.0.1:{port}/api/publish", "-n", "2",
              "--topic", "", "--warmup", "0", "--duration", "0.3", "--json")
    assert r.returncode == 1, r.stderr
    result = last_json(r)
    assert result["published"] == 0 and result["api_errors"] > 0, result

    # churn: every completed cycle is a clean close (1000) the server counted.
    closes_before = clean_closes(port)
    r = bench("churn", "--url", url, "-n", "8", "--warmup", "0.2", "--duration", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    closes = clean_closes(port) - closes_before
    assert result["mode"] == "churn" and result["cycles"] > 0 and result["rate"] > 0, result
    assert result["failures"] == 0 and result["cycles_total"] >= result["cycles"], result
    assert 0 < result["subscribed_p50_us"] <= result["p50_us"] <= result["p99_us"], result
    # Cycles cut short when the run ended may add up to one close per worker.
    assert result["cycles_total"] <= closes <= result["cycles_total"] + 8, (closes, result)

    r = bench("churn", "--preset", "centrifugo", "--url", f"ws://127.0.0.1:{port}/connection/websocket", "-n", "4",
              "--warmup", "0.1", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["protocol"] == "centrifugo" and result["cycles"] > 0 and result["failures"] == 0, result

    # storm: an event is published at each cut, so every subscriber misses at
    # least one per cut and its resume must replay it; none lost, none twice,
    # every subscriber back. (A URL without a path: the preset's /v1/ws.)
    r = bench("storm", "--url", f"ws://127.0.0.1:{port}", "-n", "20", "--rate", "1000", "--cuts", "2", "--warmup", "0.3",
              "--duration", "0.6", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = last_json(r)
    assert result["cuts"] == 2 and result["reconnected"] == 20, result
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["not_recovered"] == 0, result
    assert result["published"] > 0 and result["replayed"] >= 20 * 2, result
    assert result["deliveries"] == 20 * result["published"], result
    assert 0 < result["back_p50_ms"] <= result["back_max_ms"], result
    assert last_offset(port, result["topic"]) == result["published"], result

    # An API key goes on every request and upgrade.
    keys_dir = tempfile.mkdtemp()
    keys_file = os.path.join(keys_dir, "keys")
    key = subprocess.run([SLUICE, "key", "create", "--keys-file", keys_file, "--name", "bench", "--scopes", "admin"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1].strip()
    keyed_port = free_port()
    keyed = start_server(keyed_port, "--keys-file", keys_file)
    keyed_http = f"http://127.0.0.1:{keyed_port}/v1/events"
    r = bench("publish", "--url", keyed_http, "-n", "2", "--api-key", key, "--topic", "keyed", "--warmup", "0",
              "--duration", "0.3", "--json")
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["published"] > 0 and result["non_2xx"] == 0, result
    assert key not in r.stdout + r.stderr
    assert last_offset(keyed_port, "keyed", {"Authorization": f"Bearer {key}"}) == result["published"]
    r = bench("publish", "--url", keyed_http, "-n", "2", "--warmup", "0", "--duration", "0.3", "--json")
    assert r.returncode == 1 and last_json(r)["status_401"] > 0, r.stdout + r.stderr
    r = bench("churn", "--url", f"ws://127.0.0.1:{keyed_port}/v1/ws", "-n", "2", "--header",
              f"Authorization: Bearer {key}", "--warmup", "0", "--duration", "0.3", "--json")
    assert r.returncode == 0 and last_json(r)["cycles"] > 0, r.stderr
    r = bench("churn", "--url", f"ws://127.0.0.1:{keyed_port}/v1/ws", "-n", "2", "--warmup", "0", "--duration",
              "0.3")
    assert r.returncode == 1 and "401" in r.stderr, r.stderr
    # The subscribers really go to --sub-url: there (the keyed server, no key) they are refused.
    r = bench("fanout", "--url", url, "-n", "2", "--sub-url", f"ws://127.0.0.1:{keyed_port}/v1/ws", "--warmup", "0",
              "--duration", "0.3")
    assert r.returncode == 1 and "subscriber" in r.stderr and "401" in r.stderr, r.stderr

    for bad in (["fanout", "--url", "http://x"], ["fanout", "--url", "wss://"],
                ["nonsense"], ["fanout", "--payload", "8"], ["echo", "--preset", "centrifugo"],
                ["storm", "--preset", "centrifugo"], ["publish", "--preset", "broadcast"],
                ["publish", "--url", url], ["publish", "--url", "https://"],
                ["storm", "--threads", "2"], ["idle", "--threads", "2"], ["fanout", "-n", "2", "--threads", "3"],
                ["fanout", "--threads", "0"], ["publish", "-n", "2", "--threads", "3"],
                ["publish", "--pipeline", "0"], ["storm", "--rate", "0"], ["storm", "--cuts", "0"],
                ["publish", "--header", "no colon"], ["churn", "-n", "0"], ["fanout", "--topics", "2"],
                ["publish", "--topics", "0"], ["publish", "--sub-url", url],
                ["fanout", "--url", url, "--sub-url", f"wss://127.0.0.1:{port}/v1/ws"]):
        r = bench(*bad)
        assert r.returncode == 2, (bad, r.returncode, r.stderr)
        assert "sluice bench" in r.stderr, r.stderr
finally:
    for proc in (server, keyed):
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
print("ok")
