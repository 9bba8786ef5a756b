#!/usr/bin/env python3
"""Webhook delivery end to end (issue #14): the real `sluice serve` delivering
to Python receivers on loopback (allowed with --webhook-allow 127.0.0.0/8).

Each case starts its own server. The receivers verify both signatures with
Python's hmac; the npm `standardwebhooks` library and the docs' snippets
verify real deliveries too. Nothing is ever sent off loopback. Waits are for
conditions (polled), each bounded; a test that asserts that nothing more
happens watches for a bounded window.

Run one case with --case NAME (ctest registers each)."""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = None
# Fast retries so the cases finish quickly: waits of 50 to 200 ms.
FAST = ["--webhook-retry-floor", "0.05", "--webhook-retry-max-delay", "0.2"]


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def wait_for(cond, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise Failure(f"timed out after {timeout} s waiting for {what}")


# --- the receiver ---------------------------------------------------------

class Receiver:
    """An HTTP/1.1 server on 127.0.0.1 that records every request and answers
    as `behave(request, n)` says: an int status, (status, headers), or "hang"."""

    def __init__(self, behave=None, host="127.0.0.1"):
        self.requests = []
        self.lock = threading.Condition()
        self.behave = behave or (lambda req, n: 200)
        self.release = threading.Event()
        self.run = 1  # tagged on each request (restart tests)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                req = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "at": time.monotonic(), "run": receiver.run}
                with receiver.lock:
                    receiver.requests.append(req)
                    n = len(receiver.requests)
                    receiver.lock.notify_all()
                action = receiver.behave(req, n)
                if action == "hang":
                    receiver.release.wait(60)
                    self.close_connection = True
                    return
                if action == "close":  # no answer: the connection closes mid-request
                    self.close_connection = True
                    return
                status, headers = (action, {}) if isinstance(action, int) else action
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hook?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def bodies(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def verify(secret, req):
    """Both signatures of a recorded request, with Python's hmac."""
    h, body = req["headers"], req["body"]
    ts = h["x-sluice-timestamp"]
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    check(hmac.compare_digest(want, h["x-sluice-signature"]), "X-Sluice-Signature does not verify")
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    msg = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body
    std = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    check(hmac.compare_digest(std, h["webhook-signature"]), "webhook-signature does not verify")
    check(h["webhook-timestamp"] == ts, "the two timestamps differ")
    check(abs(int(ts) - time.time()) < 300, "timestamp far from now")
    event = json.loads(body)
    check(h["webhook-id"] == event["id"] == h["x-sluice-event-id"], "ids differ")


# --- the server -----------------------------------------------------------

class Server:
    def __init__(self, data_dir, extra=(), store="sqlite", allow="127.0.0.0/8"):
        self.data_dir = data_dir
        self.allow = allow
        self.extra = list(extra)
        self.store = store
        self.log = []
        self.start()

    def start(self):
        args = [ARGS.sluice, "serve", "--port", "0", "--threads", "2", "--ping-interval", "0",
                "--store", self.store, "--data-dir", self.data_dir, "--webhook-allow", self.allow] + self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = None
        deadline = time.monotonic() + 30
        while self.port is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise Failure("sluice exited: " + "".join(self.log))
            self.log.append(line)
            m = re.search(r"ws://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        check(self.port, "no port in the log")
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()

    def _drain(self, proc):
        for line in proc.stdout:
            self.log.append(line)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, (json.loads(text) if text else None)

    def publish(self, topic, data, **extra):
        status, body = self.call("POST", "/v1/events", dict(topic=topic, data=data, **extra))
        check(status == 201, f"publish: {status} {body}")
        return body

    def subscribe(self, topics, url, **webhook):
        body = {"topics": topics, "webhook": dict(url=url, **webhook)}
        if "filter" in webhook:
            body["filter"] = webhook.pop("filter")
            body["webhook"].pop("filter")
        status, sub = self.call("POST", "/v1/subscriptions", body)
        check(status == 201, f"subscribe: {status} {sub}")
        return sub

    def state(self, sub_id):
        status, sub = self.call("GET", f"/v1/subscriptions/{sub_id}")
        check(status == 200, f"GET subscription: {status}")
        return sub["webhookState"]

    def deliveries(self, sub_id, query=""):
        status, page = self.call("GET", f"/v1/subscriptions/{sub_id}/deliveries{query}")
        check(status == 200, f"GET deliveries: {status} {page}")
        return page


def in_order(receiver, key=lambda e: (e["topic"], e["offset"])):
    seen = {}
    for e in receiver.bodies():
        t, o = key(e)
        check(o > seen.get(t, 0), f"{t}: offset {o} after {seen.get(t)}")
        seen[t] = o


# --- cases ----------------------------------------------------------------

def case_signatures_order_and_libraries(tmp):
    """Every event, in order, each signed; the npm standardwebhooks library
    and the docs' snippets accept the real requests; secrets never shown again."""
    rx = Receiver()
    srv = Server(tmp)
    try:
        given = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        sub = srv.subscribe(["pay.>"], rx.url, secret=given)
        check("secret" not in sub["webhook"], "a given secret is echoed")
        generated = srv.subscribe(["pay.>"], rx.url)
        secret2 = generated["webhook"]["secret"]
        check(secret2.startswith("whsec_") and len(base64.b64decode(secret2[6:])) == 32, "generated secret")
        for path in (f"/v1/subscriptions/{generated['id']}", "/v1/subscriptions"):
            status, body = srv.call("GET", path)
            check(secret2 not in json.dumps(body) and given not in json.dumps(body), f"secret shown by GET {path}")
        published = [srv.publish("pay.eu" if i % 2 else "pay.us", {"n": i, "text": "caf\u00e9"}) for i in range(30)]
        wait_for(lambda: rx.count() >= 60, what="60 deliveries")
        by_sub = {}
        for req in rx.requests:
            sid = req["headers"]["x-sluice-subscription"]
            verify(given if sid == sub["id"] else secret2, req)
            check(req["path"] == "/hook?token=abc", "path and query as given")
            check(req["headers"]["content-type"] == "application/json", "content type")
            by_sub.setdefault(sid, []).append(json.loads(req["body"])["id"])
        ids = [p["id"] for p in published]
        for sid, got in by_sub.items():
            check(got == ids, f"{sid}: delivered {len(got)} events, not all in publish order")
        # The body is the event as history has it.
        status, event = srv.call("GET", f"/v1/events/{ids[3]}")
        sent = next(b for b in rx.bodies() if b["id"] == ids[3])
        check(status == 200 and event == sent, f"body {sent} is not the event {event}")
        # The receiver records a request before answering it: wait for the server to see the last answer.
        state = wait_for(lambda: (lambda st: st if st["delivered"] == 30 else None)(srv.state(sub["id"])),
                         what="30 acknowledged")
        check(state["delivered"] == 30 and state["deadLetters"] == 0 and state["inFlight"] is None, f"state {state}")
        check(state["position"] == {"pay.eu": 15, "pay.us": 15}, f"position {state['position']}")
        # The docs' snippets and npm standardwebhooks, on the real requests.
        docs = open(ARGS.docs, encoding="utf-8").read()
        snippet = re.search(r"<!-- snippet: node -->\s*```\w+\n(.*?)```", docs, re.S).group(1)
        path = os.path.join(tmp, "snippet.cjs")
        with open(path, "w", encoding="utf-8") as f:
            f.write(snippet)
        cases = [{"name": str(i), "secret": given if r["headers"]["x-sluice-subscription"] == sub["id"] else secret2,
                  "headers": r["headers"], "body_base64": base64.b64encode(r["body"]).decode()}
                 for i, r in enumerate(rx.requests[:20])]
        env = dict(os.environ, NODE_PATH=os.path.abspath(ARGS.node_modules))
        proc = subprocess.run(["node", os.path.join(HERE, "verify_interop.cjs"), path], input=json.dumps(cases),
                              capture_output=True, text=True, env=env, timeout=60)
        check(proc.returncode == 0, f"node: {proc.stderr}")
        for r in json.loads(proc.stdout):
            check(r["library"] == "ok" and r["docs_standard"] and r["docs_sluice"], f"node verification: {r}")
        py = {}
        exec(re.search(r"<!-- snippet: python -->\s*```\w+\n(.*?)```", docs, re.S).group(1), py)
        for c in cases:
            body = base64.b64decode(c["body_base64"])
            check(py["verify_sluice"](c["secret"], c["headers"], body), "docs python verify_sluice")
            check(py["verify_standard"](c["secret"], c["headers"], body), "docs python verify_standard")
        check(not any(given in line or secret2 in line for line in srv.log), "a secret in the log")
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        check('sluice_webhook_attempts_total{outcome="delivered"} 60' in metrics, "delivered attempts metric")
        check(re.search(r'sluice_webhook_request_seconds_count(\{\})? 60', metrics), "webhook latency histogram")
    finally:
        srv.stop()
        rx.close()


def case_filter_decides(tmp):
    rx = Receiver()
    srv = Server(tmp, store="memory")
    try:
        sub = srv.subscribe(["pay.>"], rx.url, filter=[{"field": "data.amount", "op": ">", "value": 100}])
        for amount in [50, 150, 99, 101, 300, 7]:
            srv.publish("pay.eu", {"amount": amount})
        srv.publish("other.x", {"amount": 1000})
        wait_for(lambda: rx.count() >= 3, what="3 deliveries")
        marker = srv.publish("pay.eu", {"amount": 1000})  # after it, nothing else may have come
        wait_for(lambda: rx.count() >= 4, what="the marker")
        got = [b["data"]["amount"] for b in rx.bodies()]
        check(got == [150, 101, 300, 1000], f"filtered deliveries {got}")
        wait_for(lambda: srv.state(sub["id"])["position"]["pay.eu"] == marker["offset"],
                 what="the position past unmatched events")
    finally:
        srv.stop()
        rx.close()


def case_retry_then_success(tmp):
    """500, a connection closed without an answer, 429 with Retry-After, then
    200: delivered once accepted, and
    the next event only after it (one request in flight, in order)."""
    # The client resends once, unseen, a request that failed on a reused
    # connection before any answer: the second "close" is the failed attempt.
    answers = {"first": [500, "close", "close", (429, {"Retry-After": "1"}), 200]}

    def behave(req, n):
        if json.loads(req["body"])["data"]["n"] == 1 and answers["first"]:
            return answers["first"].pop(0)
        return 200
    rx = Receiver(behave)
    srv = Server(tmp, FAST, store="memory")
    try:
        sub = srv.subscribe(["r"], rx.url)
        srv.publish("r", {"n": 1})
        srv.publish("r", {"n": 2})
        wait_for(lambda: rx.count() >= 6, what="4 attempts (5 requests) and the second event")
        ns = [b["data"]["n"] for b in rx.bodies()]
        check(ns == [1, 1, 1, 1, 1, 2], f"request sequence {ns}")
        reqs = rx.requests
        check(len({r["headers"]["webhook-id"] for r in reqs[:5]}) == 1, "retries keep the webhook-id")
        check(reqs[4]["at"] - reqs[3]["at"] >= 0.9, "Retry-After: 1 was not honoured")
        page = wait_for(lambda: (lambda p: p if len(p["deliveries"]) == 5 else None)(
            srv.deliveries(sub["id"], "?kind=attempt")), what="5 attempts recorded")
        outcomes = [d["outcome"] for d in page["deliveries"]]
        check(outcomes == ["delivered", "delivered", "retry", "retry", "retry"], f"attempts {outcomes}")
        check(page["deliveries"][2]["status"] == 429, "429 recorded")
        closed = page["deliveries"][3]
        check(closed["status"] is None and closed["error"].startswith("connection_error"), f"closed: {closed}")
        check("token=abc" not in json.dumps(page), "the URL's query in an error")
        state = srv.state(sub["id"])
        check(state["consecutiveFailures"] == 0 and state["lastStatus"] == 200, f"state {state}")
    finally:
        srv.stop()
        rx.close()


def case_dead_letter_then_redelivery(tmp):
    """A 400 parks at once; max attempts of 500 park; the subscription moves
    on; redelivery on request delivers them; an expired range is a dead letter."""
    mode = {"fail": True}

    def behave(req, n):
        data = json.loads(req["body"])["data"]
        if data.get("poison") and mode["fail"]:
            return 400
        if data.get("flaky") and mode["fail"]:
            return 503
        return 200
    rx = Receiver(behave)
    srv = Server(tmp, FAST)
    try:
        sub = srv.subscribe(["d"], rx.url, maxAttempts=3)
        for data in [{"n": 1}, {"n": 2, "poison": True}, {"n": 3, "flaky": True}, {"n": 4}]:
            srv.publish("d", data)
        wait_for(lambda: [b["data"]["n"] for b in rx.bodies()][-1:] == [4], what="event 4")
        ns = [b["data"]["n"] for b in rx.bodies()]
        check(ns == [1, 2, 3, 3, 3, 4], f"sequence {ns}")
        dead = srv.deliveries(sub["id"], "?kind=dead_letter")["deliveries"]
        check([(d["offset"], d["reason"]) for d in dead] == [(3, "max_attempts"), (2, "rejected")], f"dead {dead}")
        check(dead[0]["lastStatus"] == 503 and dead[0]["attempts"] == 3, f"dead letter {dead[0]}")
        check(srv.state(sub["id"])["deadLetters"] == 2, "dead letter count")
        # Redeliver one, then all.
        mode["fail"] = False
        status, body = srv.call("POST", f"/v1/subscriptions/{sub['id']}/deliveries/{dead[1]['id']}/retry")
        check(status == 202 and body["queued"] == 1, f"retry one: {status} {body}")
        wait_for(lambda: srv.state(sub["id"])["deadLetters"] == 1, what="the first redelivery")
        status, body = srv.call("POST", f"/v1/subscriptions/{sub['id']}/deliveries/retry")
        check(status == 202 and body["queued"] == 1, f"retry all: {status} {body}")
        wait_for(lambda: srv.state(sub["id"])["deadLetters"] == 0, what="all redelivered")
        check([b["data"]["n"] for b in rx.bodies()][-2:] == [2, 3], "redelivered events")
        status, _ = srv.call("POST", f"/v1/subscriptions/{sub['id']}/deliveries/dl_0000000000000000/retry")
        check(status == 404, "unknown dead letter")
        # Paging: newest first, the cursor carries on.
        first = srv.deliveries(sub["id"], "?limit=2")
        check(len(first["deliveries"]) == 2 and first["nextCursor"], "first page")
        rest = srv.deliveries(sub["id"], f"?limit=100&cursor={first['nextCursor']}")
        ids = [d["id"] for d in first["deliveries"] + rest["deliveries"]]
        check(len(ids) == len(set(ids)) == 8, f"pages: {len(ids)} items")
    finally:
        srv.stop()
        rx.close()


def case_expired_is_a_dead_letter(tmp):
    """Events that leave history before they are delivered: a visible dead
    letter with reason expired, never a silent skip."""
    gate = threading.Event()

    def behave(req, n):
        return "hang" if n == 1 and not gate.is_set() else 200
    rx = Receiver(behave)
    srv = Server(tmp, FAST + ["--history-max-events", "5", "--webhook-timeout", "1"], store="memory")
    try:
        sub = srv.subscribe(["x"], rx.url, maxAttempts=1)
        srv.publish("x", {"n": 1})
        wait_for(lambda: rx.count() >= 1, what="the first (hanging) request")
        for i in range(2, 21):
            srv.publish("x", {"n": i})
        wait_for(lambda: rx.count() >= 6, what="deliveries after the timeout")
        gate.set()
        dead = srv.deliveries(sub["id"], "?kind=dead_letter")["deliveries"]
        reasons = sorted(d["reason"] for d in dead)
        check(reasons == ["expired", "max_attempts"], f"dead letters {dead}")
        expired = [d for d in dead if d["reason"] == "expired"][0]
        check((expired["offset"], expired["toOffset"]) == (2, 15), f"expired range {expired}")
        status, body = srv.call("POST", f"/v1/subscriptions/{sub['id']}/deliveries/{expired['id']}/retry")
        check(status == 409, f"expired retry: {status}")
        ns = [b["data"]["n"] for b in rx.bodies()]
        check(ns == [1, 16, 17, 18, 19, 20], f"delivered {ns}")
    finally:
        srv.stop()
        rx.close()


def case_delete_during_retries(tmp):
    rx = Receiver(lambda req, n: 500)
    hang = Receiver(lambda req, n: "hang")
    srv = Server(tmp, FAST, store="memory")
    try:
        sub = srv.subscribe(["z"], rx.url, maxAttempts=1000)
        hung = srv.subscribe(["z"], hang.url)
        srv.publish("z", {"n": 1})
        wait_for(lambda: rx.count() >= 3 and hang.count() >= 1, what="retries and a hanging request")
        check(srv.state(hung["id"])["inFlight"] is not None, "the hanging request is in flight")
        t0 = time.monotonic()
        check(srv.call("DELETE", f"/v1/subscriptions/{sub['id']}")[0] == 204, "delete")
        check(srv.call("DELETE", f"/v1/subscriptions/{hung['id']}")[0] == 204, "delete the hung one")
        check(time.monotonic() - t0 < 2, "delete is prompt")
        check(srv.call("DELETE", f"/v1/subscriptions/{sub['id']}")[0] == 404, "second delete is 404")
        check(srv.call("GET", f"/v1/subscriptions/{sub['id']}/deliveries")[0] == 404, "deliveries gone")
        n = rx.count()
        time.sleep(1.0)  # a bounded window: ten retry delays, none may come
        check(rx.count() == n, f"{rx.count() - n} requests after delete")
    finally:
        srv.stop()
        rx.close()
        hang.close()


def case_hanging_receiver_beside_healthy(tmp):
    slow = Receiver(lambda req, n: "hang")
    fast = Receiver()
    srv = Server(tmp, ["--webhook-timeout", "30"], store="memory")
    try:
        srv.subscribe(["h.>"], slow.url)
        healthy = srv.subscribe(["h.>"], fast.url)
        latencies = []
        for i in range(50):
            t0 = time.monotonic()
            srv.publish("h.a", {"n": i})
            wait_for(lambda: fast.count() >= i + 1, timeout=5, what=f"healthy delivery {i}")
            latencies.append(time.monotonic() - t0)
        latencies.sort()
        check(latencies[len(latencies) // 2] < 0.25, f"median publish-to-delivery {latencies[len(latencies) // 2]:.3f} s")
        check(slow.count() == 1, "the hanging receiver has exactly one request (one in flight)")
        wait_for(lambda: srv.state(healthy["id"])["delivered"] == 50, what="healthy acknowledged all")
    finally:
        srv.stop()
        slow.close()
        fast.close()


def case_ssrf_refusals(tmp):
    """Literal refused addresses are refused at creation; a target refused
    only after a restart (narrower allowlist) becomes a forbidden_address dead
    letter without a packet sent."""
    rx = Receiver(host="127.0.0.2")
    srv = Server(tmp)
    try:
        for url in ["http://10.0.0.1/h", "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/",
                    "http://[::ffff:192.168.1.1]/", "http://0.0.0.0/", "http://224.0.0.1/"]:
            status, body = srv.call("POST", "/v1/subscriptions", {"topic": "s", "webhook": {"url": url}})
            check(status == 400 and body["error"] == "invalid_webhook", f"{url}: {status} {body}")
        sub = srv.subscribe(["s"], rx.url)
        srv.stop()
        srv.allow = "127.0.0.1/32"
        srv.start()
        srv.publish("s", {"n": 1})
        wait_for(lambda: srv.state(sub["id"])["deadLetters"] == 1, what="a dead letter")
        dead = srv.deliveries(sub["id"], "?kind=dead_letter")["deliveries"][0]
        check(dead["reason"] == "forbidden_address", f"dead letter {dead}")
        check("token=abc" not in json.dumps(dead), "the URL's query in an error")
        check(rx.count() == 0, "a request reached a refused address")
    finally:
        srv.stop()
        rx.close()


def case_webhook_stored_before_delivery_existed(tmp):
    """A webhook subscription with no stored position (kept by a version that
    did not deliver) starts at the current end after a restart: it does not
    replay the history that was published before."""
    import sqlite3
    rx = Receiver()
    srv = Server(tmp)
    try:
        for i in range(3):
            srv.publish("old", {"n": i})
        sub = srv.subscribe(["old"], rx.url)
        srv.stop()
        db = sqlite3.connect(os.path.join(tmp, "sluice.db"))
        db.execute("DELETE FROM webhook_positions")
        db.commit()
        db.close()
        srv.start()
        new = srv.publish("old", {"n": 3})
        wait_for(lambda: rx.count() >= 1, what="the new event")
        wait_for(lambda: srv.state(sub["id"])["position"].get("old") == new["offset"], what="the position")
        check([b["data"]["n"] for b in rx.bodies()] == [3], f"delivered {[b['data']['n'] for b in rx.bodies()]}")
    finally:
        srv.stop()
        rx.close()


def case_kill9_mid_flood(tmp):
    """kill -9 while events are published and delivered; after a restart every
    acknowledged event is delivered at least once, in order per topic."""
    def behave(req, n):
        time.sleep(0.003)  # slower than the flood: a backlog to resume after the kill
        return 200
    rx = Receiver(behave)
    srv = Server(tmp, ["--durability", "os-buffered"])
    acked = []
    stop = threading.Event()
    try:
        srv.subscribe(["k.>"], rx.url)

        def flood():
            # Paced (at most ~1,000/s, still faster than the receiver) and long
            # enough that it is still running at the kill on a loaded machine.
            i = 0
            while not stop.is_set() and i < 30000:
                try:
                    acked.append(srv.publish(f"k.{i % 3}", {"n": i}))
                except Exception:
                    return
                i += 1
                time.sleep(0.001)
        t = threading.Thread(target=flood)
        t.start()
        wait_for(lambda: rx.count() >= 300, what="300 deliveries before the kill")
        check(t.is_alive(), "the flood ended before the kill")
        srv.kill9()
        stop.set()
        t.join(10)
        rx.run = 2
        srv.start()
        after = [srv.publish(f"k.{i % 3}", {"n": -i}) for i in range(30)]
        want = {e["id"] for e in acked + after}
        wait_for(lambda: want <= {b["id"] for b in rx.bodies()}, timeout=90,
                 what=f"all {len(want)} acknowledged events ({rx.count()} deliveries so far)")
        # In order per topic within each run; the second run starts no later than where the first stopped.
        for run in (1, 2):
            last = {}
            for r in rx.requests:
                if r["run"] != run:
                    continue
                e = json.loads(r["body"])
                check(e["offset"] > last.get(e["topic"], 0), f"run {run}: {e['topic']} {e['offset']} after {last.get(e['topic'])}")
                last[e["topic"]] = e["offset"]
        print(f"kill9: {len(acked)} acknowledged before the kill, {rx.count()} deliveries, "
              f"{rx.count() - len({b['id'] for b in rx.bodies()})} duplicates")
    finally:
        stop.set()
        srv.stop()
        rx.close()


CASES = {name[5:]: f for name, f in globals().items() if name.startswith("case_")}


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--case", action="append")
    ARGS = ap.parse_args()
    failures = 0
    for name in ARGS.case or list(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            try:
                CASES[name](tmp)
                print(f"ok   {name} ({time.monotonic() - t0:.1f} s)")
            except Failure as e:
                failures += 1
                print(f"FAIL {name}: {e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
