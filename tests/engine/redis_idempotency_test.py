#!/usr/bin/env python3
"""Idempotency keys shared through Redis (issue #17): two `sluice serve
--engine redis://` nodes with a 2 s --idempotency-window on a redis-server
this test starts. A key first used on node A and repeated on node B, within
the window:

- POST /v1/events: 200, Idempotent-Replayed, A's id, topic, offset and epoch;
  the topic's history (on both nodes, and the Stream in Redis) holds one event;
  other content under the key: 409 idempotency_conflict;
- the in-band /v1/ws publish: acked with A's event and "duplicate": true;
- Centrifugo's /api/publish: A's offset and epoch;
- POST /v1/events/batch: the repeated entry is A's result (all repeats: 200);
  other content under a key: 409 naming the event, the others published;
- one key published on both nodes at once: published once;
- after the window (its Redis key expired): the key publishes anew.

Usage: redis_idempotency_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Node, Redis, check, redis_command, run, subscribe, wait_for  # noqa: E402

PREFIX = "sluice:0:"  # keys of database 0 (docs/scale-out.md)


def identity(body):
    return (body["id"], body["topic"], body["offset"], body["epoch"])


def stream_length(redis, topic):
    reply = redis_command(redis.port, "XLEN", PREFIX + "s:" + topic)
    check(reply.startswith(b":"), f"XLEN {topic}: {reply!r}")
    return int(reply[1:].split(b"\r\n")[0])


def published_once(a, b, redis, topic, first):
    """The topic's history on both nodes, and its Stream, hold `first` only."""
    for node in (a, b):
        events = wait_for(f"{topic} in {node.name}'s history", lambda: node.history(topic))
        check([identity(e) for e in events] == [first], f"{node.name}'s history of {topic}: {events}")
    check(stream_length(redis, topic) == 1, f"the Stream of {topic} holds {stream_length(redis, topic)} entries")


def http_events(a, b, redis):
    event = {"topic": "idem.http", "data": {"n": 1}, "type": "t", "idempotencyKey": "k-http"}
    first = a.post("/v1/events", event)
    check(first.status == 201, f"first publish on A: {first.status} {first.body!r}")
    expected = identity(first.json())
    # B has never seen the key: only Redis can tell.
    conflict = b.post("/v1/events", {**event, "data": {"n": 2}})
    check(conflict.status == 409 and conflict.json().get("error") == "idempotency_conflict",
          f"other content on B: {conflict.status} {conflict.body!r}")
    again = b.post("/v1/events", event)
    check(again.status == 200 and again.header("Idempotent-Replayed") == "true",
          f"repeat on B: {again.status} {again.headers} {again.body!r}")
    check(identity(again.json()) == expected, f"repeat on B answered {again.json()}, A answered {first.json()}")
    local = b.post("/v1/events", event)  # B now knows the key itself
    check(local.status == 200 and identity(local.json()) == expected, f"second repeat on B: {local.body!r}")
    published_once(a, b, redis, "idem.http", expected)
    print("ok: POST /v1/events: a key from A is a repeat on B (200, same event), other content 409", flush=True)
    return event, expected


def inband(a, b):
    first = a.post("/v1/events", {"topic": "idem.ws", "data": [1], "idempotencyKey": "k-ws"})
    check(first.status == 201, f"publish on A: {first.status} {first.body!r}")
    ws = subscribe(b, "idem.none")
    ws.send_json({"op": "publish", "id": 5, "topic": "idem.ws", "data": [2], "idempotencyKey": "k-ws"})
    refused = ws.recv_json_until(lambda m: m.get("id") == 5)
    check(refused.get("type") == "error" and refused.get("code") == "idempotency_conflict", f"/v1/ws conflict: {refused}")
    ws.send_json({"op": "publish", "id": 6, "topic": "idem.ws", "data": [1], "idempotencyKey": "k-ws"})
    ack = ws.recv_json_until(lambda m: m.get("id") == 6)
    body = first.json()
    check(ack.get("type") == "ack" and ack.get("duplicate") is True and ack.get("eventId") == body["id"]
          and ack.get("offset") == body["offset"] and ack.get("epoch") == body["epoch"],
          f"/v1/ws repeat on B: {ack}, A answered {body}")
    ws.close()
    print("ok: /v1/ws publish: a key from A is acked on B with A's event, duplicate: true; other content refused",
          flush=True)


def centrifugo(a, b, redis):
    call = {"channel": "idemc", "data": {"x": 1}, "idempotency_key": "k-api"}
    first = a.post("/api/publish", call)
    check(first.status == 200 and "result" in first.json(), f"/api/publish on A: {first.status} {first.body!r}")
    other = b.post("/api/publish", {**call, "data": {"x": 2}})
    check(other.status == 200 and "error" in other.json(), f"/api/publish, other data on B: {other.body!r}")
    again = b.post("/api/publish", call)
    check(again.status == 200 and again.json() == first.json(), f"/api/publish repeat on B: {again.body!r} vs {first.body!r}")
    check(stream_length(redis, "idemc") == 1, "the repeated /api/publish was appended")
    print("ok: /api/publish: a key from A gets A's offset and epoch on B; other data refused", flush=True)


def batch(a, b, redis):
    one = {"topic": "idem.batch", "data": 1, "idempotencyKey": "kb-1"}
    two = {"topic": "idem.batch", "data": 2, "idempotencyKey": "kb-2"}
    first = a.post("/v1/events/batch", {"events": [one]})
    check(first.status == 201, f"batch on A: {first.status} {first.body!r}")
    mixed = b.post("/v1/events/batch", {"events": [one, two]})
    check(mixed.status == 201, f"batch on B: {mixed.status} {mixed.body!r}")
    results = mixed.json()["events"]
    check(results[0] == first.json()["events"][0], f"batch repeat on B: {results[0]} vs {first.json()}")
    check(results[1]["offset"] == results[0]["offset"] + 1, f"the new event of B's batch: {results}")
    repeats = a.post("/v1/events/batch", {"events": [two]})  # kb-2 came from B
    check(repeats.status == 200 and repeats.header("Idempotent-Replayed") == "true"
          and repeats.json()["events"] == [results[1]], f"all-repeat batch on A: {repeats.status} {repeats.body!r}")
    three = {"topic": "idem.batch", "data": 3, "idempotencyKey": "kb-3"}
    check(a.post("/v1/events/batch", {"events": [three]}).status == 201, "kb-3 on A")
    # B never saw kb-3: Redis finds the conflict once the batch is handed over.
    four = {"topic": "idem.batch", "data": 4, "idempotencyKey": "kb-4"}
    conflict = b.post("/v1/events/batch", {"events": [four, {**three, "data": "other"}]})
    check(conflict.status == 409 and conflict.json().get("error") == "idempotency_conflict"
          and "events[1]" in conflict.json().get("message", ""), f"batch conflict on B: {conflict.status} {conflict.body!r}")
    wait_for("idem.batch history [1, 2, 3, 4] on B", lambda: [e["data"] for e in b.history("idem.batch")] == [1, 2, 3, 4])
    check(stream_length(redis, "idem.batch") == 4, f"idem.batch Stream: {stream_length(redis, 'idem.batch')} entries")
    print("ok: batch: keys from the other node are repeats (all repeats: 200), other content 409", flush=True)


def concurrent(a, b, redis):
    """The same key on both nodes at once: one publish, both answered with it."""
    answers = {}
    start = threading.Barrier(2)

    def publish(node):
        start.wait()
        r = node.post("/v1/events", {"topic": "idem.race", "data": "x", "idempotencyKey": "k-race"})
        answers[node.name] = (r.status, r.json())
    threads = [threading.Thread(target=publish, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    statuses = sorted(status for status, _ in answers.values())
    check(statuses == [200, 201], f"the same key on A and B at once: {answers}")
    check(identity(answers["a"][1]) == identity(answers["b"][1]), f"A and B answered differently: {answers}")
    check(stream_length(redis, "idem.race") == 1, "a key published at once on two nodes was appended twice")
    print("ok: one key on both nodes at once: published once", flush=True)


def after_window(a, b, redis, event, first):
    wait_for("the idempotency key to expire in Redis",
             lambda: redis_command(redis.port, "EXISTS", PREFIX + "i:k-http") == b":0\r\n", timeout=10)
    fresh = b.post("/v1/events", event)
    check(fresh.status == 201 and fresh.json()["offset"] == first[2] + 1,
          f"the key after the window on B: {fresh.status} {fresh.body!r}")
    on_a = a.post("/v1/events", event)  # A's memory of its first use expired too: Redis answers
    check(on_a.status == 200 and identity(on_a.json()) == identity(fresh.json()), f"then on A: {on_a.body!r}")
    print("ok: after the window the key publishes anew (once)", flush=True)


def main():
    redis = Redis()
    redis.start()
    a = Node("a", redis.port, ["--idempotency-window", "2"])
    b = Node("b", redis.port, ["--idempotency-window", "2"])
    event, first = http_events(a, b, redis)
    ttl = int(redis_command(redis.port, "PTTL", PREFIX + "i:k-http")[1:].split(b"\r\n")[0])
    check(0 < ttl <= 2000, f"the key's time to live in Redis is {ttl} ms, the window 2000 ms")
    inband(a, b)
    centrifugo(a, b, redis)
    batch(a, b, redis)
    concurrent(a, b, redis)
    after_window(a, b, redis, event, first)
    return 0


if __name__ == "__main__":
    run(main, seconds=120)
