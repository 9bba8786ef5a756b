#!/usr/bin/env python3
"""The Redis engine over two shards (issue #17): this test starts two
redis-servers of its own (free loopback ports, temp dirs) and two `sluice serve
--engine redis://A --engine redis://B` nodes, then checks:

- each topic lives on exactly one shard, the one FNV-1a (64 bits) of its name
  modulo 2 picks (computed here independently), and both shards are used;
- events published on node 1 on topics of both shards reach a /v1/ws
  subscriber on node 2, per topic in order, exactly once;
- shard B stopped: topics on A still publish (201), topics on B get 503
  engine_unavailable, /ready is 503 (not every shard is there), the WebSocket
  stays open; B back: /ready again, B's topics continue their offsets, the
  subscriber gets every event with no gap.

Usage: redis_shards_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Node, Redis, check, receive_events, redis_command, run, subscribe, wait_for  # noqa: E402

TOPICS = [f"t.{i}" for i in range(12)]


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for byte in text.encode():
        h ^= byte
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def xlen(redis, topic):
    reply = redis_command(redis.port, "XLEN", f"sluice:0:s:{topic}")
    check(reply.startswith(b":"), f"XLEN {topic}: {reply!r}")
    return int(reply[1:].split(b"\r\n")[0])


def check_per_topic(events, expected):
    """`expected`: topic -> the offsets it must deliver, in this order."""
    got = {}
    for e in events:
        got.setdefault(e["topic"], []).append(e["offset"])
    check(got == expected, f"per-topic offsets {got}, expected {expected}")


def main():
    shards = [Redis("redis-a"), Redis("redis-b")]
    for r in shards:
        r.start()
    ports = [r.port for r in shards]
    n1 = Node("n1", ports)
    n2 = Node("n2", ports)
    home = {t: fnv1a64(t) % 2 for t in TOPICS}
    check(set(home.values()) == {0, 1}, f"the test's topics should use both shards: {home}")

    # 1. Publish on n1 over both shards; n2's subscriber gets each topic in order, once.
    ws = subscribe(n2, "t.>")
    for round_ in range(5):
        for t in TOPICS:
            body = n1.publish_retrying(t, {"n": round_})
            check(body["offset"] == round_ + 1, f"{t}: offset {body['offset']}, expected {round_ + 1}")
    check_per_topic(receive_events(ws, 5 * len(TOPICS)), {t: [1, 2, 3, 4, 5] for t in TOPICS})
    for t in TOPICS:
        lengths = [xlen(r, t) for r in shards]
        want = [5 if i == home[t] else 0 for i in range(2)]
        check(lengths == want, f"{t}: Stream lengths per shard {lengths}, expected {want}")
    print("ok: topics spread over both shards by FNV-1a; n2 got every event in order, once", flush=True)

    # 2. Shard B down: A's topics publish, B's get 503; /ready 503; the WebSocket stays open.
    on_a = [t for t in TOPICS if home[t] == 0]
    on_b = [t for t in TOPICS if home[t] == 1]
    shards[1].stop()

    def refused():
        status, body = n1.publish(on_b[0], {"n": "down"})
        check(status in (201, 503), f"publish with shard B stopping: {status} {body}")
        return status == 503 and body.get("error") == "engine_unavailable"
    wait_for("503 engine_unavailable on a topic of shard B", refused, timeout=10)
    wait_for("/ready 503 on both nodes", lambda: not n1.ready() and not n2.ready(), timeout=10)
    status, body = n1.publish(on_a[0], {"n": "up"})
    check(status == 201 and body["offset"] == 6, f"a topic of shard A while B is down: {status} {body}")
    check_per_topic(receive_events(ws, 1), {on_a[0]: [6]})
    print("ok: shard B down: its topics 503, shard A's publish, /ready 503, WebSocket open", flush=True)

    # 3. B back: ready again; B's topics continue (the AOF kept them), no gap.
    shards[1].start()
    wait_for("/ready on both nodes after shard B is back", lambda: n1.ready() and n2.ready(), timeout=30)
    for t in on_b:
        body = n1.publish_retrying(t, {"n": "back"})
        check(body["offset"] == 6, f"{t} after shard B came back: offset {body['offset']}, expected 6")
    check_per_topic(receive_events(ws, len(on_b)), {t: [6] for t in on_b})
    print("ok: shard B back: /ready, offsets continue, no gap", flush=True)
    return 0


if __name__ == "__main__":
    run(main)
