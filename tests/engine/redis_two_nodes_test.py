#!/usr/bin/env python3
"""The Redis engine (issue #17) with two real nodes: this test starts its own
redis-server (a free loopback port, a temp dir, AOF so a restart keeps the
data) and two `sluice serve --engine redis://127.0.0.1:PORT` nodes, then checks:

- a publish over HTTP on node A reaches a /v1/ws subscriber on node B, in
  order, with the offsets and epoch A answered; B serves the same history;
- offsets stay monotonic and gap-free with concurrent publishes on both nodes;
- pub/sub connections killed in Redis (CLIENT KILL TYPE pubsub): events
  published meanwhile still reach B's subscriber, in order, none missing;
- redis-server stopped: publishes get 503 engine_unavailable, /ready is 503,
  the WebSocket stays open; restarted: /ready again, offsets continue, and
  the subscriber gets every event with no gap;
- redis-server paused (SIGSTOP): a publish fails with 503 after the command
  timeout instead of hanging; resumed: publishes work, no gap;
- a Redis still loading its data (every command answered -LOADING on the
  first connections, as after a restart): the node reconnects until it is
  ready instead of waiting forever.

Usage: redis_two_nodes_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Node, Redis, check, receive_events, redis_command, run, subscribe, wait_for  # noqa: E402
import wire  # noqa: E402  (tests/hostile/wire.py, put on the path by redis_harness)


def check_in_order(events, first_offset, what):
    offsets = [e["offset"] for e in events]
    expected = list(range(first_offset, first_offset + len(events)))
    check(offsets == expected, f"{what}: offsets {offsets}, expected {expected}")


def main():
    redis = Redis()
    redis.start()
    a = Node("a", redis.port)
    b = Node("b", redis.port)

    # 1. A publishes, B's subscriber receives, same offsets and epoch; B's history agrees.
    ws = subscribe(b, "orders.eu")
    published = [a.publish_retrying("orders.eu", {"n": i}) for i in range(20)]
    check_in_order(published, 1, "offsets A answered")
    got = receive_events(ws, 20)
    check([(e["offset"], e["epoch"], e["id"]) for e in got] == [(p["offset"], p["epoch"], p["id"]) for p in published],
          f"B's events differ from A's answers: {got[:3]} vs {published[:3]}")
    check([e["data"] for e in got] == [{"n": i} for i in range(20)], "B's event data differ")
    history = b.history("orders.eu")
    check([e["offset"] for e in history] == list(range(1, 21)), f"B's history: {[e['offset'] for e in history]}")
    # An event A published is found by its id on B too (and on A).
    for node in (b, a):
        r = wire.http_json(node.port, "GET", f"/v1/events/{published[7]['id']}")
        check(r.status == 200 and r.json()["offset"] == 8 and r.json()["data"] == {"n": 7},
              f"GET /v1/events/{{id}} on {node.name}: {r.status} {r.body[:200]!r}")
    check(wire.http_json(b.port, "GET", "/v1/events/evt_0000000000000000000000ff").status == 404, "an unknown id")
    print("ok: A -> B in order, same offsets; history and events by id from B", flush=True)

    # 2. Concurrent publishes on both nodes: one offset sequence, each publisher's increasing.
    mixed = subscribe(b, "mixed")
    answers = {"a": [], "b": []}

    def publish_many(node):
        for i in range(100):
            answers[node.name].append(node.publish_retrying("mixed", {"from": node.name, "i": i})["offset"])
    threads = [threading.Thread(target=publish_many, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for name, offsets in answers.items():
        check(len(offsets) == 100 and offsets == sorted(offsets), f"{name}'s offsets not increasing: {offsets}")
    check(sorted(answers["a"] + answers["b"]) == list(range(1, 201)), "offsets of both nodes are not 1..200")
    check_in_order(receive_events(mixed, 200), 1, "B's subscriber to concurrent publishes")
    print("ok: concurrent publishes on A and B: offsets 1..200, in order on B", flush=True)

    # 3. Pub/sub connections killed: what A publishes meanwhile still reaches B, in order.
    check(b":" in redis_command(redis.port, "CLIENT", "KILL", "TYPE", "pubsub"), "CLIENT KILL answered nothing")
    for i in range(10):
        a.publish_retrying("orders.eu", {"n": 20 + i})
    check_in_order(receive_events(ws, 10), 21, "events across a pub/sub reconnect")
    print("ok: pub/sub killed: no event lost on B", flush=True)

    # 4. Redis down: 503 engine_unavailable, /ready false, WebSocket open; back: no gap.
    redis.stop()
    slipped_in = []  # published while Redis was still shutting down: delivered too

    def refused():
        status, body = a.publish("orders.eu", {"n": "down"})
        check(status in (201, 503), f"publish with Redis stopping: {status} {body}")
        if status == 201:
            slipped_in.append(body)
        return status == 503 and body.get("error") == "engine_unavailable"
    wait_for("503 engine_unavailable with Redis down", refused, timeout=10)
    wait_for("/ready 503 on A and B", lambda: not a.ready() and not b.ready(), timeout=10)
    ws.send_json({"op": "ping", "id": 7})
    ws.buffered = []

    def answer(message):
        if message.get("type") == "event":
            ws.buffered.append(message["event"])  # a publish that slipped in before Redis went
        return message.get("type") in ("ack", "error")
    pong = ws.recv_json_until(answer, timeout=5)
    check(pong.get("type") == "ack" and pong.get("id") == 7, f"the WebSocket on B no longer answers: {pong}")
    print("ok: Redis down: 503 engine_unavailable, /ready 503, WebSocket open", flush=True)

    redis.start()
    wait_for("/ready on A and B after Redis is back", lambda: a.ready() and b.ready(), timeout=30)
    after = [a.publish_retrying("orders.eu", {"n": 30 + i}) for i in range(5)]
    check_in_order(after, 31 + len(slipped_in), "offsets after Redis restarted")
    check(after[0]["epoch"] == published[0]["epoch"], "the epoch changed although Redis kept the data (AOF)")
    check_in_order(receive_events(ws, 5 + len(slipped_in)), 31, "B's subscriber after Redis restarted")
    print("ok: Redis restarted: offsets continue, no gap on B", flush=True)

    # 5. Redis stops answering (SIGSTOP) without closing connections: the
    #    publish fails (503) after the command timeout instead of hanging.
    #    The refused event may still run once Redis resumes (it read the
    #    command before the connection closed): B then gets it too, in order.
    os.kill(redis.process.pid, signal.SIGSTOP)
    started = time.monotonic()
    status, body = a.publish("orders.eu", {"n": "stalled"}, timeout=20)
    check(status == 503 and body.get("error") == "engine_unavailable", f"publish to a stopped Redis: {status} {body}")
    check(time.monotonic() - started < 15, "the publish to a stopped Redis took too long to fail")
    check(not a.ready(), "/ready on A is not 503 while Redis does not answer")
    os.kill(redis.process.pid, signal.SIGCONT)
    wait_for("/ready on A after Redis resumed", lambda: a.ready(), timeout=30)
    last = a.publish_retrying("orders.eu", {"n": "last"})
    tail = receive_events(ws, last["offset"] - 35 - len(slipped_in))
    check_in_order(tail, 36 + len(slipped_in), "B's subscriber after Redis resumed")
    check(tail[-1]["data"] == {"n": "last"} and all(e["data"] == {"n": "stalled"} for e in tail[:-1]),
          f"unexpected events after Redis resumed: {tail}")
    print(f"ok: Redis stopped answering: 503 after the timeout, then back ({len(tail) - 1} refused event ran late)",
          flush=True)

    # 6. A Redis still loading its data refuses the script and PSUBSCRIBE.
    loading_redis_is_waited_out(redis.port)
    return 0


class LoadingRedis:
    """A loopback proxy to `target`: its first `refusals` connections answer
    every command with -LOADING (as a restarting Redis does); later ones are
    forwarded as they are."""

    def __init__(self, target, refusals=2):
        self.target = target
        self.refusals = refusals
        self.accepted = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            handler = self.refuse if self.accepted <= self.refusals else self.forward
            threading.Thread(target=handler, args=(client,), daemon=True).start()

    @staticmethod
    def refuse(client):
        with client:
            client.settimeout(20)
            try:
                while data := client.recv(65536):
                    # One error per command: hiredis sends each as a RESP array ("*N").
                    for _ in range(data.count(b"\r\n*") + (1 if data.startswith(b"*") else 0)):
                        client.sendall(b"-LOADING Redis is loading the dataset in memory\r\n")
            except OSError:
                pass

    def forward(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.target), timeout=20)

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)


def loading_redis_is_waited_out(redis_port):
    proxy = LoadingRedis(redis_port)
    c = Node("c", proxy.port)  # waits for /ready
    check(proxy.accepted >= 3, f"node C became ready through {proxy.accepted} connection(s), all refused")
    published = c.publish_retrying("loading.t", {"n": 1})
    check(published["offset"] == 1, f"publish through node C after LOADING: {published}")
    print("ok: Redis loading: the node reconnected until ready", flush=True)


if __name__ == "__main__":
    run(main)
