#!/usr/bin/env python3
"""Scrapes /metrics of a real `sluice serve` and reads it with Prometheus'
own parser (prometheus_client.parser, an independent implementation): the
route needs a read key, every family parses, names follow the conventions,
and the values move as events flow: publishes, a subscriber, a slow
consumer under the drop policy (gap marker) and one on Centrifugo's
protocol (3008), refused credentials, origins, upgrades and per-IP limits,
a webhook delivery, and the durable store's group commits.

Usage: scrape_test.py path/to/sluice [--dashboard docs/grafana/sluice-dashboard.json]
With --dashboard, it also checks that every metric the dashboard's PromQL
names is in the final scrape (so the dashboard cannot drift from the code).
"""
import base64
import http.client
import http.server
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

BINARY = sys.argv[1]
DASHBOARD = sys.argv[sys.argv.index("--dashboard") + 1] if "--dashboard" in sys.argv else None
SEND_QUEUE_LIMIT = 16384


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def create_key(keys, name, scopes):
    out = subprocess.run([BINARY, "key", "create", "--keys-file", keys, "--name", name, "--scopes", scopes],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def start_server(work, keys, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen([BINARY, "serve", "--port", "0", "--store", "sqlite", "--data-dir",
                             os.path.join(work, "data"), "--keys-file", keys,
                             "--send-queue-limit", str(SEND_QUEUE_LIMIT), "--overflow", "drop",
                             "--max-connections-per-ip", "4", "--limit-loopback",
                             "--webhook-allow", "127.0.0.0/8", "--ping-interval", "0"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    marker = "listening on ws://127.0.0.1:"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = open(log_path, errors="replace").read()
        i = text.find(marker)
        if i >= 0 and "/" in text[i + len(marker):]:
            return proc, int(text[i + len(marker):].split("/", 1)[0])
        if proc.poll() is not None:
            break
        time.sleep(0.02)  # polling the child's log: nothing to wait on
    proc.kill()
    fail("the server did not start: " + open(log_path).read()[-2000:])


def request(port, method, path, key=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = "Bearer " + key
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read().decode()
    conn.close()
    return response.status, response.getheader("Content-Type"), data


def scrape(port, key):
    status, content_type, text = request(port, "GET", "/metrics", key)
    if status != 200:
        fail(f"/metrics with a read key: {status} {text}")
    if not content_type.startswith("text/plain; version=0.0.4"):
        fail("Content-Type: " + content_type)
    samples = {}
    families = list(text_string_to_metric_families(text))
    for family in families:
        if not (family.name.startswith("sluice_") or family.name.startswith("process_")):
            fail("metric outside the sluice_/process_ namespaces: " + family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(port, key, what, check, seconds=15):
    """Scrapes until check(samples) holds (the counters move on the loops,
    after the HTTP answer): bounded, fails with `what`."""
    deadline = time.monotonic() + seconds
    while True:
        _, samples = scrape(port, key)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            fail(what)
        time.sleep(0.05)


class RawWs:
    """A minimal WebSocket client on a plain socket, so the test controls
    what it reads (a slow consumer) and its receive buffer."""

    def __init__(self, port, path, headers=(), rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        for name, text in headers:
            head += f"{name}: {text}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        line = self.buf.split(b"\r\n", 1)[0].decode()
        self.status = int(line.split()[1]) if line else 0
        self.buf = self.buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.buf else b""

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        head = bytes([0x81])
        if len(payload) < 126:
            head += bytes([0x80 | len(payload)])
        else:
            head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def frame(self):
        """(opcode, payload) of the next frame."""
        self._need(2)
        opcode, size = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        at = 2
        if size == 126:
            self._need(4)
            size, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif size == 127:
            self._need(10)
            size, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(at + size)
        payload, self.buf = self.buf[at:at + size], self.buf[at + size:]
        return opcode, payload

    def text_until(self, needle):
        """Reads frames until a text frame containing `needle`; returns it."""
        while True:
            opcode, payload = self.frame()
            if opcode == 8:
                raise ConnectionError(f"closed with {struct.unpack('!H', payload[:2])[0] if payload else 1005}")
            if opcode == 1 and needle in payload.decode(errors="replace"):
                return payload.decode()

    def close_code(self):
        """Reads until the server's close frame; returns its code."""
        while True:
            opcode, payload = self.frame()
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def drain(self, quiet=0.5):
        """Reads whatever arrives until nothing did for `quiet` seconds."""
        self.sock.settimeout(quiet)
        try:
            while self.sock.recv(1 << 20):
                pass
        except socket.timeout:
            pass
        self.sock.settimeout(10)
        self.buf = b""

    def close(self):
        self.sock.close()


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that takes every delivery."""
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def check_types(families):
    types = {f.name: f.type for f in families}
    for name, kind in [("sluice_events_published", "counter"), ("sluice_http_requests", "counter"),
                       ("sluice_publish_to_fanout_seconds", "histogram"),
                       ("sluice_publish_to_deliver_seconds", "histogram"), ("sluice_connections", "gauge"),
                       ("sluice_connections_accepted", "counter"), ("sluice_connections_rejected", "counter"),
                       ("sluice_websocket_messages_received", "counter"), ("sluice_websocket_messages_sent", "counter"),
                       ("sluice_websocket_received_bytes", "counter"), ("sluice_websocket_sent_bytes", "counter"),
                       ("sluice_deliveries", "counter"), ("sluice_deliveries_dropped", "counter"),
                       ("sluice_slow_consumer_closes", "counter"), ("sluice_gap_markers", "counter"),
                       ("sluice_send_queue_bytes", "gauge"), ("sluice_history_events", "gauge"),
                       ("sluice_history_bytes", "gauge"), ("sluice_store_commit_seconds", "histogram"),
                       ("sluice_store_commit_events", "histogram"), ("sluice_auth_refusals", "counter"),
                       ("sluice_webhook_delivery_seconds", "histogram"), ("sluice_webhook_request_seconds", "histogram"),
                       ("sluice_topics", "gauge"), ("sluice_limit_refusals", "counter"),
                       ("process_resident_memory_bytes", "gauge"), ("process_open_fds", "gauge"),
                       ("process_cpu_seconds", "counter")]:
        if types.get(name) != kind:
            fail(f"{name}: type {types.get(name)}, expected {kind}")


def moved(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def publish(port, key, topic, n, size=16):
    events = [{"topic": topic, "data": {"pad": "x" * size}} for _ in range(n)]
    status, _, body = request(port, "POST", "/v1/events/batch", key, json.dumps({"events": events}))
    if status not in (200, 201):
        fail(f"batch publish: {status} {body[:200]}")


def check_dashboard(families):
    """Every metric name the dashboard's PromQL uses is in the scrape."""
    names = set()
    for family in families:
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
    dashboard = json.load(open(DASHBOARD))
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "query") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(dashboard)
    if not exprs:
        fail("the dashboard has no PromQL expressions")
    used = set()
    for expr in exprs:
        expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
        for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
            if word.startswith("sluice_") or word.startswith("process_"):
                used.add(word)
    missing = sorted(used - names)
    if missing:
        fail("the dashboard uses metrics /metrics does not have: " + ", ".join(missing))
    print(f"dashboard: {len(exprs)} expressions, {len(used)} metric names, all in the scrape")


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-metrics-") as work:
        keys = os.path.join(work, "keys")
        reader = create_key(keys, "prometheus", "read")
        publisher = create_key(keys, "publisher", "publish")
        admin = create_key(keys, "admin", "admin")
        proc, port = start_server(work, keys, os.path.join(work, "log"))
        receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        try:
            run(port, reader, publisher, admin, receiver.server_address[1], proc.pid)
        finally:
            receiver.shutdown()
            proc.terminate()
            proc.wait(timeout=30)


def run(port, reader, publisher, admin, hook_port, pid):
    status, _, _ = request(port, "GET", "/metrics")
    if status != 401:
        fail(f"/metrics without a key: {status}, expected 401")
    status, _, _ = request(port, "GET", "/metrics", publisher)
    if status != 403:
        fail(f"/metrics with a publish key: {status}, expected 403")

    families, before = scrape(port, reader)
    check_types(families)
    if value(before, "process_resident_memory_bytes") <= 0 or value(before, "process_open_fds") <= 0:
        fail("process metrics are not read")
    # The server's descriptors as the kernel lists them, now that the scrape's connection is closed.
    actual = len(os.listdir(f"/proc/{pid}/fd"))
    if not actual - 2 <= value(before, "process_open_fds") <= actual + 2:
        fail(f"process_open_fds {value(before, 'process_open_fds')}, but /proc/{pid}/fd lists {actual}")
    if value(before, "sluice_auth_refusals_total", reason="missing") < 1:
        fail("the scrape without a key is not an auth refusal (missing)")
    if value(before, "sluice_auth_refusals_total", reason="forbidden") < 1:
        fail("the scrape with a publish key is not an auth refusal (forbidden)")

    # A webhook subscription on metrics.t1, delivered to the local receiver.
    status, _, body = request(port, "POST", "/v1/subscriptions", admin, json.dumps(
        {"topics": ["metrics.t1"], "webhook": {"url": f"http://127.0.0.1:{hook_port}/hook"}}))
    if status != 201:
        fail(f"webhook subscription: {status} {body}")

    # A subscriber on /v1/ws: its messages, bytes and deliveries.
    sub = RawWs(port, "/v1/ws", [("Authorization", "Bearer " + reader)])
    if sub.status != 101:
        fail(f"/v1/ws upgrade: {sub.status}")
    sub.send_text(json.dumps({"op": "subscribe", "id": 1, "topic": "metrics.t0"}))
    sub.text_until('"ack"')
    wait_for(port, reader, "the subscriber is not counted as a websocket connection",
             lambda s: value(s, "sluice_connections", transport="websocket") >= 1)

    published = 5
    for i in range(published):
        status, _, body = request(port, "POST", "/v1/events", publisher,
                                  json.dumps({"topic": f"metrics.t{i % 2}", "data": {"n": i}}))
        if status != 201:
            fail(f"publish: {status} {body}")
    for _ in range(3):  # t0 got events 0, 2 and 4
        sub.text_until('"metrics.t0"')
    after = wait_for(port, reader, "sluice_events_published_total did not move by the events published",
                     lambda s: moved(before, s, "sluice_events_published_total") >= published)
    if moved(before, after, "sluice_events_published_total") != published:
        fail(f"sluice_events_published_total moved by {moved(before, after, 'sluice_events_published_total')}")
    http_201 = value(after, "sluice_http_requests_total", route="/v1/events", code="201")
    if http_201 != published:
        fail(f'sluice_http_requests_total{{route="/v1/events",code="201"}} is {http_201}')
    if value(after, "sluice_http_requests_total", route="/metrics", code="401") < 1:
        fail("the refused scrape was not counted")
    # The dashboard's routes have their own labels, not "other".
    for path, route in (("/v1/topics", "/v1/topics"), ("/ui/", "/ui")):
        status, _, body = request(port, "GET", path, reader, None)
        if status != 200:
            fail(f"GET {path}: {status} {body[:200]}")
    wait_for(port, reader, "GET /v1/topics and /ui/ were not counted under their own routes",
             lambda s: value(s, "sluice_http_requests_total", route="/v1/topics", code="200") >= 1
             and value(s, "sluice_http_requests_total", route="/ui", code="200") >= 1)
    count = moved(before, after, "sluice_publish_to_fanout_seconds_count")
    if count != published:
        fail(f"the fan-out latency histogram counted {count}, expected {published}")
    if value(after, "sluice_publish_to_fanout_seconds_bucket", le="+Inf") != value(after, "sluice_publish_to_fanout_seconds_count"):
        fail("the +Inf bucket differs from the count")
    if moved(before, after, "sluice_publish_to_deliver_seconds_count") != 3:
        fail(f"publish_to_deliver counted {moved(before, after, 'sluice_publish_to_deliver_seconds_count')}, "
             "expected 3 (the events with a subscriber)")
    if moved(before, after, "sluice_deliveries_total") != 3:
        fail(f"sluice_deliveries_total moved by {moved(before, after, 'sluice_deliveries_total')}, expected 3")
    for name in ("sluice_websocket_messages_received_total", "sluice_websocket_received_bytes_total"):
        if moved(before, after, name) < 1:
            fail(name + " did not move with the subscribe request")
    if moved(before, after, "sluice_websocket_messages_sent_total") < 4:  # the ack and three events
        fail("sluice_websocket_messages_sent_total did not move with the ack and the events")
    if moved(before, after, "sluice_websocket_sent_bytes_total") <= 0:
        fail("sluice_websocket_sent_bytes_total did not move")
    if value(after, "sluice_topics") != 2:
        fail(f"sluice_topics is {value(after, 'sluice_topics')}, expected 2")
    if value(after, "sluice_history_events") < published or value(after, "sluice_history_bytes") <= 0:
        fail(f"history: {value(after, 'sluice_history_events')} events, {value(after, 'sluice_history_bytes')} bytes")
    if moved(before, after, "sluice_store_commit_seconds_count") < 1:
        fail("no store commit was timed")
    if moved(before, after, "sluice_store_commit_events_sum") != published:
        fail(f"the commit group sizes sum to {moved(before, after, 'sluice_store_commit_events_sum')}, "
             f"expected {published}")
    wait_for(port, reader, "the webhook delivery was not timed",
             lambda s: moved(before, s, "sluice_webhook_delivery_seconds_count") >= 2  # t1 got events 1 and 3
             and value(s, "sluice_webhook_attempts_total", outcome="delivered") >= 2)

    # Two slow consumers on one topic: /v1/ws under the drop policy (events
    # dropped, then a gap marker) and Centrifugo's protocol (closed with 3008).
    before = after
    slow = RawWs(port, "/v1/ws", [("Authorization", "Bearer " + reader)], rcvbuf=4096)
    slow.send_text(json.dumps({"op": "subscribe", "id": 1, "topic": "metrics.slow"}))
    slow.text_until('"ack"')
    centrifugo = RawWs(port, "/connection/websocket", rcvbuf=4096)
    centrifugo.send_text(json.dumps({"id": 1, "connect": {"token": reader}}))
    centrifugo.text_until('"connect"')
    centrifugo.send_text(json.dumps({"id": 2, "subscribe": {"channel": "metrics.slow"}}))
    centrifugo.text_until('"subscribe"')
    wait_for(port, reader, "the Centrifugo client is not counted by transport",
             lambda s: value(s, "sluice_connections", transport="centrifugo") == 1)
    for _ in range(200):
        publish(port, publisher, "metrics.slow", 50, 8000)
        _, now = scrape(port, reader)
        if moved(before, now, "sluice_deliveries_dropped_total") > 0 and moved(before, now, "sluice_slow_consumer_closes_total") > 0:
            break
    else:
        fail("the slow consumers were never dropped and closed")
    if value(now, "sluice_send_queue_bytes") <= 0:
        fail("sluice_send_queue_bytes is 0 while a consumer is stalled")
    centrifugo.close()
    wait_for(port, reader, "the 3008 close was not counted",
             lambda s: value(s, "sluice_connections_closed_total", code="3008") >= 1
             and value(s, "sluice_connections", transport="centrifugo") == 0)
    slow.drain()
    publish(port, publisher, "metrics.slow", 1)
    slow.text_until('"gap"')
    after = wait_for(port, reader, "the gap marker was not counted",
                     lambda s: moved(before, s, "sluice_gap_markers_total") >= 1)
    slow.close()

    # Refusals: a bad key on /v1/ws (4401), a foreign origin, an unknown
    # upgrade path, and the per-IP connection limit (4429).
    before = after
    bad = RawWs(port, "/v1/ws", [("Authorization", "Bearer not-a-key")])
    if bad.status != 101 or bad.close_code() != 4401:
        fail("a bad key on /v1/ws was not closed with 4401")
    bad.close()
    foreign = RawWs(port, "/v1/ws", [("Authorization", "Bearer " + reader), ("Origin", "http://evil.example")])
    if foreign.status != 403:
        fail(f"a foreign origin got {foreign.status}")
    foreign.close()
    nowhere = RawWs(port, "/nowhere", [("Authorization", "Bearer " + reader)])
    if nowhere.status != 404:
        fail(f"an unknown upgrade path got {nowhere.status}")
    nowhere.close()
    held, refused = [], False
    for _ in range(6):
        ws = RawWs(port, "/v1/ws", [("Authorization", "Bearer " + reader)])
        held.append(ws)
        ws.sock.settimeout(0.5)
        try:
            if ws.close_code() == 4429:
                refused = True
                break
        except (socket.timeout, ConnectionError):
            pass
    if not refused:
        fail("the per-IP connection limit never refused")
    for ws in held:
        ws.close()
    after = wait_for(port, reader, "the refusals were not all counted", lambda s: (
        moved(before, s, "sluice_auth_refusals_total", reason="invalid_key") >= 1
        and moved(before, s, "sluice_connections_rejected_total", reason="auth") >= 1
        and moved(before, s, "sluice_connections_rejected_total", reason="origin") >= 1
        and moved(before, s, "sluice_connections_rejected_total", reason="bad_upgrade") >= 1
        and moved(before, s, "sluice_connections_rejected_total", reason="limits") >= 1
        and value(s, "sluice_connections_closed_total", code="4401") >= 1
        and value(s, "sluice_connections_closed_total", code="4429") >= 1))
    sub.close()
    after = wait_for(port, reader, "closed connections still counted as open",
                     lambda s: value(s, "sluice_connections", transport="websocket") == 0
                     and value(s, "sluice_send_queue_bytes") == 0)
    families, after = scrape(port, reader)
    if DASHBOARD:
        check_dashboard(families)
    print(f"metrics.scrape: {len(families)} families parsed by prometheus_client; values moved as expected")


if __name__ == "__main__":
    main()
