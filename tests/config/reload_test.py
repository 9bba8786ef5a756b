#!/usr/bin/env python3
"""SIGHUP applies max-topics, max-connections, allowed-origin, rate-limit,
webhook-allow, the history bounds and the per-IP connection limits live to a running `sluice serve` (and log-level, tested in
logs_test.py), logs what it applied and what needs a restart, and an invalid
file changes nothing. webhook-allow: a loopback receiver is refused, then
allowed and delivered to, then refused again for new subscriptions and for
the next delivery of the existing one (its kept-alive connection closed).

Usage: reload_test.py path/to/sluice
"""
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
import wire  # noqa: E402

BINARY = sys.argv[1]


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def publish(port, topic):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/v1/events", json.dumps({"topic": topic, "data": 1}), {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver on loopback (keep-alive, as real ones are): keeps the bodies."""
    protocol_version = "HTTP/1.1"
    bodies = []

    def do_POST(self):
        Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def upgrade(port, origin):
    """Opens a WebSocket upgrade with `origin`; returns (status, socket kept open on 101)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  f"Origin: {origin}\r\n\r\n").encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if status != 101:
        sock.close()
        return status, None
    return status, sock


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-reload-") as work:
        config = os.path.join(work, "sluice.toml")
        log_path = os.path.join(work, "log")
        # limit-loopback: the per-IP connection limits apply to this test's loopback client.
        base = "[serve]\nstore = 'memory'\nthreads = 1\nport = 0\nlog-format = 'json'\nlimit-loopback = true\n"
        with open(config, "w") as f:
            f.write(base + "max-topics = 2\nmax-connections = 1\nallowed-origin = ['https://a.example']\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        log = open(log_path, "w")
        proc = subprocess.Popen([BINARY, "serve", "--config", config], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def lines():
            out = []
            for line in open(log_path, errors="replace"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
            return out

        def wait_for(condition, what, seconds=20):
            deadline = time.monotonic() + seconds
            while not condition():
                if time.monotonic() > deadline or proc.poll() is not None:
                    fail(f"no {what}; log: {open(log_path).read()[-3000:]}")
                time.sleep(0.02)  # polling the child's log: nothing to wait on

        def logged(text):
            return any(text in l.get("message", "") for l in lines())

        held = []
        try:
            wait_for(lambda: logged("listening on ws://127.0.0.1:"), "start")
            message = next(l["message"] for l in lines() if "listening on" in l["message"])
            port = int(message.split("ws://127.0.0.1:")[1].split("/")[0])

            if [publish(port, t) for t in ("r.1", "r.2", "r.3")] != [201, 201, 507]:
                fail("max-topics = 2 is not in force")
            if upgrade(port, "https://b.example")[0] != 403:
                fail("origin b is allowed before the reload")
            # The one connection allowed: the server may still be closing the ones above.
            deadline = time.monotonic() + 10
            while True:
                status, sock = upgrade(port, "https://a.example")
                if status != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # waiting for the server to notice the closed connections
            if status != 101:
                fail(f"origin a: {status}")
            held.append(sock)
            if upgrade(port, "https://a.example")[0] != 503:
                fail("max-connections = 1 is not in force")

            with open(config, "w") as f:
                f.write(base + "max-topics = 0\nmax-connections = 10\nallowed-origin = ['https://b.example']\n"
                        "max-subscriptions = 5\n")
            proc.send_signal(signal.SIGHUP)
            for name in ("max-topics", "max-connections", "allowed-origin"):
                wait_for(lambda: logged(f"SIGHUP: {name} changed and applied"), f"'{name} applied'")
            wait_for(lambda: logged("SIGHUP: max-subscriptions changed but needs a restart"), "'needs a restart'")

            if publish(port, "r.3") != 201:
                fail("max-topics = 0 (no limit) did not apply")
            status, sock = upgrade(port, "https://b.example")
            if status != 101:
                fail(f"origin b after the reload: {status} (the new origin or max-connections did not apply)")
            held.append(sock)
            if upgrade(port, "https://a.example")[0] != 403:
                fail("origin a is still allowed after the reload")

            # An invalid file changes nothing.
            with open(config, "w") as f:
                f.write(base + "max-topics = -1\nmax-connections = 1\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: logged("SIGHUP: configuration not reloaded"), "the refusal of an invalid file")
            if publish(port, "r.4") != 201:
                fail("an invalid file changed max-topics")
            status, sock = upgrade(port, "https://b.example")
            if status != 101:
                fail(f"an invalid file changed the origins or max-connections: {status}")
            held.append(sock)

            # webhook-allow: refused, allowed (and delivered to), refused again.
            receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
            threading.Thread(target=receiver.serve_forever, daemon=True).start()
            hook = {"url": f"http://127.0.0.1:{receiver.server_address[1]}/hook"}
            status, body = request(port, "POST", "/v1/subscriptions", {"topic": "hooked", "webhook": hook})
            if status != 400 or body.get("error") != "invalid_webhook":
                fail(f"a loopback webhook before webhook-allow: {status} {body}")
            with open(config, "w") as f:
                f.write(base + "webhook-allow = ['127.0.0.1/32']\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: logged("SIGHUP: webhook-allow changed and applied"), "'webhook-allow applied'")
            status, body = request(port, "POST", "/v1/subscriptions", {"topic": "hooked", "webhook": hook})
            if status != 201:
                fail(f"a loopback webhook after webhook-allow: {status} {body}")
            sub = body["id"]
            if publish(port, "hooked") != 201:
                fail("publish to hooked")
            wait_for(lambda: len(Receiver.bodies) == 1, "the webhook delivery after webhook-allow")

            with open(config, "w") as f:
                f.write(base)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: len([l for l in lines() if "webhook-allow changed and applied" in l.get("message", "")])
                     == 2, "the second 'webhook-allow applied'")
            status, body = request(port, "POST", "/v1/subscriptions", {"topic": "hooked", "webhook": hook})
            if status != 400:
                fail(f"a loopback webhook after webhook-allow was removed: {status} {body}")
            if publish(port, "hooked") != 201:
                fail("publish to hooked")

            def refused():
                state = (request(port, "GET", f"/v1/subscriptions/{sub}")[1] or {}).get("webhookState") or {}
                return "webhook-allow" in (state.get("lastError") or "")
            wait_for(refused, "the existing webhook refused after webhook-allow was removed")
            if len(Receiver.bodies) != 1:
                fail(f"the receiver got a delivery after webhook-allow was removed: {Receiver.bodies}")
            receiver.shutdown()

            # rate-limit: on (one request per 100 s: the second is 429 however slow the
            # server is), then off again.
            with open(config, "w") as f:
                f.write(base + "rate-limit = 0.01\nrate-burst = 1\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: logged("SIGHUP: rate-limit changed and applied"), "'rate-limit applied'")
            statuses = [publish(port, "limited") for _ in range(3)]
            if statuses != [201, 429, 429]:
                fail(f"rate-limit = 0.01 did not apply: {statuses}")
            with open(config, "w") as f:
                f.write(base)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: len([l for l in lines() if "rate-limit changed and applied" in l.get("message", "")])
                     == 2, "the second 'rate-limit applied'")
            statuses = [publish(port, "limited") for _ in range(5)]
            if statuses != [201] * 5:
                fail(f"rate-limit = 0 did not apply: {statuses}")

            # History bounds: an existing topic is trimmed at once; a pattern override
            # applies to existing and new topics; raised bounds keep what comes next.
            def offsets(topic):
                status, body = request(port, "GET", f"/v1/events?topic={topic}")
                if status != 200:
                    fail(f"history of {topic}: {status} {body}")
                return [e["offset"] for e in body["events"]]
            for _ in range(4):
                publish(port, "kept.a")
                publish(port, "kept.b")
            if offsets("kept.a") != [1, 2, 3, 4]:
                fail(f"history before the reload: {offsets('kept.a')}")
            with open(config, "w") as f:
                f.write(base + "history-max-events = 3\nhistory = ['kept.b=count:1']\n")
            proc.send_signal(signal.SIGHUP)
            for name in ("history-max-events", "history"):
                wait_for(lambda: logged(f"SIGHUP: {name} changed and applied"), f"'{name} applied'")
            if offsets("kept.a") != [2, 3, 4] or offsets("kept.b") != [4]:
                fail(f"history bounds did not apply: {offsets('kept.a')} {offsets('kept.b')}")
            publish(port, "kept.b")
            publish(port, "kept.c")
            publish(port, "kept.c")
            if offsets("kept.b") != [5] or offsets("kept.c") != [1, 2]:
                fail(f"history bounds after the reload: {offsets('kept.b')} {offsets('kept.c')}")
            with open(config, "w") as f:
                f.write(base)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: len([l for l in lines() if "history-max-events changed and applied" in l.get("message", "")])
                     == 2, "the second 'history-max-events applied'")
            publish(port, "kept.b")
            if offsets("kept.b") != [5, 6]:
                fail(f"raised history bounds: {offsets('kept.b')}")

            # Per-IP connection limits: the WebSockets held above count (opened before
            # the limit), one more is admitted, the next closed with 4429; then off again.
            def admitted():
                ws = wire.ws_connect(port, "/v1/ws")
                ws.send_json({"op": "subscribe", "id": 1, "topic": "ip.t"})
                reply = ws.recv_json_until(lambda m: m.get("type") in ("ack", "error"))
                held.append(ws.sock)
                return reply.get("type") == "ack"

            def refused_with_4429():
                ws = wire.ws_connect(port, "/v1/ws")
                code = ws.expect_close()[0]
                ws.close()
                return code == 4429
            with open(config, "w") as f:
                f.write(base + f"max-connections-per-ip = {len(held) + 1}\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: logged("SIGHUP: max-connections-per-ip changed and applied"), "'max-connections-per-ip applied'")
            if not admitted():
                fail(f"connection {len(held)} of {len(held)} allowed per IP was refused")
            if not refused_with_4429():
                fail("max-connections-per-ip did not apply to the connections held before the reload")
            with open(config, "w") as f:
                f.write(base + "new-connections-per-ip-per-second = 0.01\nnew-connections-per-ip-burst = 1\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: logged("SIGHUP: new-connections-per-ip-per-second changed and applied"),
                     "'new-connections-per-ip-per-second applied'")
            if not admitted():
                fail("max-connections-per-ip = 0 (the default 1000) did not apply, or the new rate refused the first")
            if not refused_with_4429():
                fail("new-connections-per-ip-per-second = 0.01 did not apply")
            with open(config, "w") as f:  # 0: off (the default rate would keep the emptied bucket a moment)
                f.write(base + "new-connections-per-ip-per-second = 0\n")
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: len([l for l in lines() if "new-connections-per-ip-per-second changed and applied"
                                  in l.get("message", "")]) == 2, "the second 'new-connections-per-ip-... applied'")
            if not (admitted() and admitted()):
                fail("the per-IP connection limits were not lifted")
        finally:
            for sock in held:
                sock.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    print("ok")


if __name__ == "__main__":
    main()
