#!/usr/bin/env python3
"""Centrifugo's server HTTP API shim (POST /api/publish, /api/broadcast,
/api/history) against a real `sluice serve` with API keys (loopback, a free
port): the JSON shapes Centrifugo's API answers, X-API-Key and
`Authorization: apikey` with the publish and read scopes, idempotency_key
through the one publish door, channels mapped to topics as on
/connection/websocket (checked against GET /v1/events), and Centrifugo's
error codes (101, 103, 104, 107, 108, 112). Every step is bounded in time."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, fail, free_port  # noqa: E402

TIMEOUT = 30


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, path, body, headers=None, method="POST", raw=None):
        """(status, parsed JSON body or text, response headers)."""
        data = raw if raw is not None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data if method == "POST" else None, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status, text, got = response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as e:
            status, text, got = e.code, e.read().decode(), e.headers
        try:
            return status, json.loads(text), got
        except ValueError:
            return status, text, got


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-centapi-")
    server = None
    try:
        keys_file = tmp + "/keys"
        keys = {}
        for name, scopes in (("backend", "publish"), ("reader", "read"), ("ops", "admin")):
            done = subprocess.run([args.sluice, "key", "create", "--keys-file", keys_file, "--name", name,
                                   "--scopes", scopes], capture_output=True, text=True, timeout=TIMEOUT)
            check(done.returncode == 0, f"sluice key create {name}: {done.stderr}")
            keys[name] = done.stdout.splitlines()[-1]
        port = free_port()
        # The log goes to a file: a pipe nobody reads once the server is up would fill and stall it.
        log_path = tmp + "/serve.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen([args.sluice, "serve", "--port", str(port), "--threads", "2", "--store", "memory",
                                       "--keys-file", keys_file], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while True:
            with open(log_path) as log:
                if "listening on" in log.read():
                    break
            check(server.poll() is None, f"sluice serve exited with {server.returncode}")
            check(time.monotonic() < deadline, "sluice serve did not start")
            time.sleep(0.02)
        api = Api(port)
        pub = {"X-API-Key": keys["backend"]}
        read = {"Authorization": "apikey " + keys["reader"]}

        # publish: {"result":{"offset","epoch"}}, with X-API-Key and with Authorization: apikey.
        status, body, _ = api.call("/api/publish", {"channel": "chat:index", "data": {"text": "hi", "n": 1}}, pub)
        check(status == 200 and set(body) == {"result"}, f"publish: {status} {body}")
        first = body["result"]
        check(first["offset"] == 1 and isinstance(first["epoch"], str) and first["epoch"], f"publish result: {body}")
        status, body, _ = api.call("/api/publish", {"channel": "chat:index", "data": 2},
                                   {"Authorization": "APIKEY " + keys["ops"]})
        check(status == 200 and body == {"result": {"offset": 2, "epoch": first["epoch"]}}, f"apikey scheme: {body}")

        # Centrifugo's docs publish with `curl --data` (form-urlencoded): taken as JSON with a key
        # header; any other media type is still 415.
        form = json.dumps({"channel": "curl", "data": {"via": "curl"}}).encode()
        status, body, _ = api.call("/api/publish", None, {**pub, "Content-Type": "application/x-www-form-urlencoded"},
                                   raw=form)
        check(status == 200 and body["result"]["offset"] == 1, f"publish as curl --data sends it: {status} {body}")
        status, body, _ = api.call("/api/publish", None, {**pub, "Content-Type": "text/plain"}, raw=form)
        check(status == 415 and body["error"]["code"] == 107, f"text/plain body: {status} {body}")

        # The same events on Sluice's own API: same topic, offsets, data as written.
        status, body, _ = api.call("/v1/events?topic=chat:index", None, {"Authorization": "Bearer " + keys["reader"]},
                                   method="GET")
        check(status == 200 and [e["offset"] for e in body["events"]] == [1, 2], f"/v1/events: {body}")
        check(body["events"][0]["data"] == {"text": "hi", "n": 1}, f"/v1/events data: {body}")

        # Channels map to topics as on /connection/websocket: café and orders.* are caf%C3%A9, orders.%2A.
        for channel, topic in (("café", "caf%C3%A9"), ("orders.*", "orders.%2A")):
            status, body, _ = api.call("/api/publish", {"channel": channel, "data": {"c": channel}}, pub)
            check(status == 200 and body["result"]["offset"] == 1, f"publish {channel}: {body}")
            status, events, _ = api.call("/v1/events?topic=" + urllib.parse.quote(topic, safe=""), None,
                                         {"Authorization": "Bearer " + keys["reader"]}, method="GET")
            check(status == 200 and [e["data"] for e in events["events"]] == [{"c": channel}],
                  f"{channel} is not the topic {topic}: {events}")

        # idempotency_key: a repeat gets the first result and publishes nothing; other data is refused.
        once = {"channel": "orders", "data": {"id": 7}, "idempotency_key": "order-7"}
        _, a, _ = api.call("/api/publish", once, pub)
        _, b, _ = api.call("/api/publish", once, pub)
        check(a == b and a["result"]["offset"] == 1, f"idempotent repeat: {a} then {b}")
        _, c, _ = api.call("/api/publish", {**once, "data": {"id": 8}}, pub)
        check(c.get("error", {}).get("code") == 107, f"reused idempotency_key with other data: {c}")
        _, h, _ = api.call("/api/history", {"channel": "orders", "limit": -1}, read)
        check(len(h["result"]["publications"]) == 1, f"idempotent publish stored twice: {h}")

        # broadcast: one reply per channel, in order; a bad channel fails alone.
        status, body, _ = api.call("/api/broadcast", {"channels": ["b1", "b2", "", "b1"], "data": {"all": True}}, pub)
        check(status == 200, f"broadcast: {status} {body}")
        replies = body["result"]["responses"]
        check(len(replies) == 4 and replies[2]["error"]["code"] == 107, f"broadcast replies: {body}")
        check(replies[1]["result"]["offset"] == 1 and sorted([replies[0]["result"]["offset"],
                                                               replies[3]["result"]["offset"]]) == [1, 2],
              f"broadcast offsets: {body}")
        status, body, _ = api.call("/api/broadcast", {"channels": [], "data": 1}, pub)
        check(status == 200 and body["error"]["code"] == 107, f"empty broadcast: {body}")

        # history: limit, since, reverse, the position; another epoch is 112.
        for n in range(3, 6):
            api.call("/api/publish", {"channel": "chat:index", "data": n}, pub)
        status, body, _ = api.call("/api/history", {"channel": "chat:index", "limit": -1}, read)
        check(status == 200, f"history: {status} {body}")
        result = body["result"]
        check([p["offset"] for p in result["publications"]] == [1, 2, 3, 4, 5], f"history all: {body}")
        check(result["offset"] == 5 and result["epoch"] == first["epoch"], f"history position: {body}")
        check(result["publications"][0]["data"] == {"text": "hi", "n": 1}, f"history data: {body}")
        _, body, _ = api.call("/api/history", {"channel": "chat:index"}, read)
        check(body["result"]["publications"] == [] and body["result"]["offset"] == 5, f"history limit 0: {body}")
        _, body, _ = api.call("/api/history", {"channel": "chat:index", "limit": 2,
                                               "since": {"offset": 2, "epoch": first["epoch"]}}, read)
        check([p["offset"] for p in body["result"]["publications"]] == [3, 4], f"history since: {body}")
        _, body, _ = api.call("/api/history", {"channel": "chat:index", "limit": 2, "reverse": True}, read)
        check([p["offset"] for p in body["result"]["publications"]] == [5, 4], f"history reverse: {body}")
        _, body, _ = api.call("/api/history", {"channel": "chat:index", "limit": 2,
                                               "since": {"offset": 2, "epoch": "other"}}, read)
        check(body.get("error", {}).get("code") == 112, f"history with another epoch: {body}")

        # Keys and scopes: none or unknown 401 (101); read cannot publish, publish cannot read: 403 (103).
        status, body, _ = api.call("/api/publish", {"channel": "x", "data": 1})
        check(status == 401 and body["error"]["code"] == 101, f"no key: {status} {body}")
        status, body, _ = api.call("/api/publish", {"channel": "x", "data": 1}, {"X-API-Key": "sk_nope"})
        check(status == 401 and body["error"]["code"] == 101, f"unknown key: {status} {body}")
        check(keys["backend"] not in json.dumps(body), "a key was echoed")
        status, body, _ = api.call("/api/publish", {"channel": "x", "data": 1}, read)
        check(status == 403 and body["error"]["code"] == 103, f"read key publishing: {status} {body}")
        status, body, _ = api.call("/api/broadcast", {"channels": ["x"], "data": 1}, read)
        check(status == 403 and body["error"]["code"] == 103, f"read key broadcasting: {status} {body}")
        status, body, _ = api.call("/api/history", {"channel": "x"}, pub)
        check(status == 403 and body["error"]["code"] == 103, f"publish key reading: {status} {body}")

        # Bad requests: 107 in the body (HTTP 200) for a bad field, 400 for a body that is not JSON.
        for params in ({"data": 1}, {"channel": "", "data": 1}, {"channel": "x"}, {"channel": 5, "data": 1},
                       {"channel": "x", "b64data": "AQ=="}, {"channel": "x", "data": 1, "idempotency_key": 3}):
            status, body, _ = api.call("/api/publish", params, pub)
            check(status == 200 and body["error"]["code"] == 107, f"publish {params}: {status} {body}")
        status, body, _ = api.call("/api/publish", None, pub, raw=b"{not json")
        check(status == 400 and body["error"]["code"] == 107, f"not JSON: {status} {body}")
        status, body, _ = api.call("/api/history", {"channel": "x", "limit": "ten"}, read)
        check(status == 200 and body["error"]["code"] == 107, f"history limit not a number: {body}")
        # Methods Centrifugo has and Sluice does not: 108; unknown ones: 404 (104); GET: 405.
        status, body, _ = api.call("/api/presence", {"channel": "x"}, read)
        check(status == 200 and body["error"]["code"] == 108, f"presence: {status} {body}")
        status, body, _ = api.call("/api/nonsense", {}, read)
        check(status == 404 and body["error"]["code"] == 104, f"unknown method: {status} {body}")
        status, body, headers = api.call("/api/publish", None, pub, method="GET")
        check(status == 405 and headers.get("Allow") == "POST", f"GET /api/publish: {status} {body}")
        print("OK: /api/publish, /api/broadcast, /api/history, keys and scopes, idempotency, channel mapping, errors")
    finally:
        if server:
            server.terminate()
            try:
                server.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
