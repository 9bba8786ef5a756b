#!/usr/bin/env python3
"""A webhook taken over after its topic's Redis lost the topic (issue #17):
two shards; the subscriptions (and webhook positions) live on the first, the
topic on the second. The holder delivers offsets 1-3 (its position, 3, is
kept in the first shard with the topic's epoch); the second shard loses
everything (FLUSHALL, as a restart without persistence), so the topic starts
again at offset 1 in a new epoch; the holder is killed and the other node
takes the webhook over. Its stored position counts in the old epoch: the new
epoch's events 1-3 must still be delivered, none skipped.

Usage: redis_webhook_takeover_epoch_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_harness as rt  # noqa: E402

wire = rt.wire
check = rt.check
Receiver = rt.WebhookReceiver


def shard_of(topic, shards):
    """The engine's FNV-1a (64 bits) of the topic, modulo the shards."""
    h = 0xcbf29ce484222325
    for byte in topic.encode():
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h % shards


def main():
    first, second = rt.Redis("first"), rt.Redis("second")
    first.start()
    second.start()
    topic = next(f"moved.{i}" for i in range(100) if shard_of(f"moved.{i}", 2) == 1)
    flags = ["--webhook-allow", "127.0.0.1/32", "--webhook-lease", "2"]
    a = rt.Node("a", [first.port, second.port], flags)
    b = rt.Node("b", [first.port, second.port], flags)
    receiver, hook = Receiver.start()
    r = a.post("/v1/subscriptions", {"topic": topic, "webhook": hook})
    check(r.status == 201, f"create: {r.status} {r.body[:300]!r}")
    sub = r.json()["id"]
    rt.wait_for("b to know the subscription", lambda: wire.http_json(b.port, "GET", f"/v1/subscriptions/{sub}").status == 200)

    def holder():
        for node in (a, b):
            state = wire.http_json(node.port, "GET", f"/v1/subscriptions/{sub}").json().get("webhookState") or {}
            if state.get("deliveredHere"):
                return node
        return None
    holding = rt.wait_for("a node delivering the webhook", holder)
    other = b if holding is a else a

    old = [other.publish_retrying(topic, n) for n in (1, 2, 3)]
    rt.wait_for("offsets 1-3 delivered", lambda: len(Receiver.delivered("offset")) == 3)
    # The position (3) reaches Redis with its epoch.
    rt.wait_for("the position stored with its epoch",
                lambda: f"3:{old[0]['epoch']}".encode() in rt.redis_command(first.port, "HGET", f"sluice:0:wp:{sub}", topic))

    check(rt.redis_command(second.port, "FLUSHALL").startswith(b"+OK"), "FLUSHALL on the topic's shard")
    holding.process.send_signal(signal.SIGKILL)
    holding.process.wait(timeout=10)
    new = [other.publish_retrying(topic, f"new-{n}") for n in (1, 2, 3)]
    check([e["offset"] for e in new] == [1, 2, 3] and new[0]["epoch"] != old[0]["epoch"],
          f"the topic restarted in a new epoch: {new}")
    rt.wait_for("the new epoch's events delivered after the takeover",
                lambda: {d for d, in Receiver.delivered("data")} >= {"new-1", "new-2", "new-3"}, timeout=30)
    got = Receiver.delivered("offset", "epoch", "data")
    fresh = [d for d in got if d[1] == new[0]["epoch"]]
    check([d[2] for d in fresh][:3] == ["new-1", "new-2", "new-3"], f"the new epoch in order: {got}")
    receiver.shutdown()
    print("ok: a webhook taken over after its topic's Redis lost it delivers the new epoch from its start", flush=True)
    return 0


if __name__ == "__main__":
    rt.run(main, seconds=120)
