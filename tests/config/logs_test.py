#!/usr/bin/env python3
"""`sluice serve` logs (issue #16): --log-format json gives one JSON object
per line with time, level and message; --access-log adds one line per HTTP
request (method, path, status, duration, bytes); refusals of bad
credentials are rate-limited and never show the credential; SIGHUP applies
a new log level and names what needs a restart.

Usage: logs_test.py path/to/sluice
"""
import base64
import hashlib
import hmac
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
SECRET_KEY = "sk_live_DO_NOT_LOG_0123456789abcdef"
JWT_SECRET = "jwt-secret-DO-NOT-LOG-9876543210"


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)  # polling the child's log: nothing to wait on
    fail("timed out waiting for " + what)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_token():
    """A well-formed HS256 token signed with the wrong secret."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "mallory", "exp": int(time.time()) + 600}).encode())
    sig = b64(hmac.new(b"wrong-secret", f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def request(port, path, key=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Authorization": "Bearer " + key} if key else {})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


def upgrade(port, token):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"GET /v1/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass  # the close frame (4401), then the server closes
        except OSError:
            pass


def main():
    work = tempfile.mkdtemp(prefix="sluice-logs-")
    keys = os.path.join(work, "keys")
    subprocess.run([BINARY, "key", "create", "--keys-file", keys, "--name", "reader", "--scopes", "read"],
                   check=True, capture_output=True)
    secret_file = os.path.join(work, "jwt.secret")
    with open(secret_file, "w") as f:
        f.write(JWT_SECRET + "\n")
    config = os.path.join(work, "sluice.toml")
    with open(config, "w") as f:
        f.write("[serve]\nstore = 'memory'\nthreads = 1\nlog-format = 'json'\naccess-log = true\n")
    log_path = os.path.join(work, "log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([BINARY, "serve", "--config", config, "--port", "0", "--keys-file", keys,
                                 "--jwt-secret-file", secret_file], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)

    def lines():
        out = []
        for line in open(log_path).read().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                fail("not a JSON line: " + line)
        return out

    try:
        wait_for(lambda: any("listening on" in l["message"] for l in lines()), "the start")
        port = int(next(l for l in lines() if "listening on" in l["message"])["message"].split(":")[-1].split("/")[0])
        for l in lines():
            if not {"time", "level", "message"} <= set(l) or not l["time"].endswith("Z"):
                fail(f"a line lacks time/level/message: {l}")

        # 20 bad keys and 3 bad tokens: refused, logged at most 5 times each per 10 s.
        for _ in range(20):
            if request(port, "/metrics", SECRET_KEY) != 401:
                fail("a bad key was not refused")
        for _ in range(3):
            upgrade(port, bad_token())
        if request(port, "/health") != 200:
            fail("/health")
        wait_for(lambda: any(l.get("path") == "/health" for l in lines()), "the access line of /health")
        access = [l for l in lines() if "status" in l and "method" in l]
        if len(access) < 21:
            fail(f"{len(access)} access lines for 21 requests")
        a = next(l for l in access if l["path"] == "/health")
        if a["method"] != "GET" or a["status"] != 200 or not isinstance(a["duration_ms"], (int, float)) or a["bytes"] <= 0:
            fail(f"access line: {a}")
        wait_for(lambda: sum(1 for l in lines() if l["message"].startswith("WebSocket refused")) >= 3, "ws refusals")
        ws = [l for l in lines() if l["message"].startswith("WebSocket refused")]
        if ws[0].get("close_code") != 4401 or not ws[0].get("conn") or ws[0].get("remote") != "127.0.0.1":
            fail(f"ws refusal context: {ws[0]}")
        refused = [l for l in lines() if l["message"].startswith("HTTP request refused")]
        if len(refused) != 5:
            fail(f"{len(refused)} refusal lines for 20 bad keys, expected 5 (rate-limited)")

        # SIGHUP: a new level applies; a new port needs a restart.
        with open(config, "w") as f:
            f.write("[serve]\nstore = 'memory'\nthreads = 1\nlog-format = 'json'\naccess-log = true\n"
                    "log-level = 'warn'\nmax-subscriptions = 5\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any("max-subscriptions changed but needs a restart" in l["message"] for l in lines()), "SIGHUP")
        before = len(lines())
        # After the 10 s window, the next refusal says how many were suppressed.
        time.sleep(10.2)  # the limiter's window is 10 s of wall time
        request(port, "/metrics", SECRET_KEY)
        wait_for(lambda: any(l.get("suppressed") == 15 for l in lines()), "the suppressed count")
        if any(l["level"] == "info" for l in lines()[before:]):
            fail("info lines after SIGHUP set the level to warn")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = open(log_path).read()
    for secret in (SECRET_KEY, JWT_SECRET, bad_token().split(".")[2], "token="):
        if secret in text:
            fail(f"a secret is in the log: {secret}")
    print("logs: JSON lines, access log, rate-limited refusals, no secrets, SIGHUP level")


if __name__ == "__main__":
    main()
