#!/usr/bin/env python3
"""SIGHUP applies max-topics, max-connections and allowed-origin live to a
running `sluice serve` (and log-level, tested in logs_test.py), logs what it
applied and what needs a restart, and an invalid file changes nothing.

Usage: reload_test.py path/to/sluice
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

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
        base = "[serve]\nstore = 'memory'\nthreads = 1\nport = 0\nlog-format = 'json'\n"
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
        finally:
            for sock in held:
                sock.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    print("ok")


if __name__ == "__main__":
    main()
