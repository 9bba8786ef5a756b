#!/usr/bin/env python3
"""Subscriptions and webhooks shared by the nodes of the Redis engine (issue
#17): a subscription created on one node is seen, streamed and deleted on
every node; its webhook is delivered by exactly one node at a time (the lease
holder), in order, once per event while nothing fails; when the holder is
killed (-9) another node takes the webhook over from the position stored in
Redis, so every event is still delivered (at least once, in order); a node
started later knows the subscription; a delete on any node closes the
streams of the others (4404) and removes the state from Redis; of two deletes
on two nodes at once, one is answered 204 and the other 404.

Usage: redis_shared_subscriptions_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_harness as rt  # noqa: E402

wire = rt.wire
check = rt.check
NODE_FLAGS = ["--webhook-allow", "127.0.0.1/32", "--webhook-lease", "2",
              "--webhook-retry-floor", "0.05", "--webhook-retry-max-delay", "0.2"]


def delivered():
    return rt.WebhookReceiver.delivered("offset", "data")


def get(node, path):
    return wire.http_json(node.port, "GET", path)


def webhook_state(node, sub):
    r = get(node, f"/v1/subscriptions/{sub}")
    check(r.status == 200, f"{node.name}: GET the subscription: {r.status}")
    return r.json().get("webhookState") or {}


def holder_of(nodes, sub):
    """The one node delivering `sub`, once every node agrees on it."""
    def agreed():
        states = {n.name: webhook_state(n, sub) for n in nodes}
        here = [n for n in nodes if states[n.name].get("deliveredHere")]
        named = {states[n.name].get("deliveringNode") for n in nodes}
        return here[0] if len(here) == 1 and len(named) == 1 and None not in named else None
    return rt.wait_for("one node delivering the webhook, named alike by every node", agreed)


def publish(node, n):
    return node.publish_retrying("orders.eu", n)["offset"]


def in_order_at_least_once(got, count):
    """Every offset 1..count delivered; first deliveries in offset order."""
    offsets = [o for o, _ in got]
    firsts = []
    for o in offsets:
        if o not in firsts:
            firsts.append(o)
    return firsts == list(range(1, count + 1))


def deleted_on_both_at_once(x, y, redis_port):
    """Two nodes delete one subscription at the same moment: Redis' writes are
    paused until both removed it locally, so neither node has heard of the
    other's delete. Each answer waits for Redis: one 204, one 404."""
    r = x.post("/v1/subscriptions", {"topics": ["race.*"]})
    check(r.status == 201, f"create on {x.name}: {r.status}")
    sub = r.json()["id"]
    rt.wait_for(f"{y.name} to know {sub}", lambda: get(y, f"/v1/subscriptions/{sub}").status == 200)
    answers = {}

    def delete(node):
        answers[node.name] = wire.http_json(node.port, "DELETE", f"/v1/subscriptions/{sub}").status

    check(rt.redis_command(redis_port, "CLIENT", "PAUSE", "1500", "WRITE").startswith(b"+OK"), "CLIENT PAUSE")
    threads = [threading.Thread(target=delete, args=(node,)) for node in (x, y)]
    for t in threads:
        t.start()
    rt.wait_for("both nodes to remove it locally",
                lambda: all(get(n, f"/v1/subscriptions/{sub}").status == 404 for n in (x, y)), timeout=1.0)
    check(not answers, f"answered before Redis ran the deletes: {answers}")
    rt.redis_command(redis_port, "CLIENT", "UNPAUSE")
    for t in threads:
        t.join(timeout=10)
    check(sorted(answers.values()) == [204, 404], f"two deletes on two nodes at once: {answers}")


def main():
    redis = rt.Redis()
    redis.start()
    a = rt.Node("a", redis.port, NODE_FLAGS)
    b = rt.Node("b", redis.port, NODE_FLAGS)
    receiver, hook = rt.WebhookReceiver.start()

    # Created on a, known on b at once (the change channel).
    r = a.post("/v1/subscriptions", {"topics": ["orders.*"], "webhook": hook})
    check(r.status == 201, f"create on a: {r.status} {r.body[:300]!r}")
    sub = r.json()["id"]
    rt.wait_for("b to know the subscription", lambda: get(b, f"/v1/subscriptions/{sub}").status == 200)
    listed = [s["id"] for s in get(b, "/v1/subscriptions").json()["subscriptions"]]
    check(listed == [sub], f"b lists {listed}")

    # One node delivers; a stream on the other follows events from both.
    first = holder_of([a, b], sub)
    other = b if first is a else a
    stream = wire.ws_connect(other.port, f"/v1/subscriptions/{sub}/stream")
    hello = stream.recv_json()
    check(hello.get("type") == "connected", f"stream on {other.name}: {hello}")
    for n in range(1, 101):
        check(publish(a if n % 2 else b, n) == n, f"publish {n}: offsets count from 1")
    rt.wait_for("100 deliveries", lambda: len(delivered()) >= 100)
    got = delivered()
    check(got == [(n, n) for n in range(1, 101)], f"each event once, in order, by one node: {got[:10]}... ({len(got)})")
    streamed = [rt.receive_events(stream, 1)[0]["offset"] for _ in range(100)]
    check(streamed == list(range(1, 101)), f"the stream on {other.name}: {streamed[:10]}...")

    # The holder dies: the other node takes over after the lease (2 s) runs out.
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    for n in range(101, 201):
        check(publish(other, n) == n, f"publish {n} on {other.name}")
    rt.wait_for("all 200 events delivered after the takeover",
                lambda: {o for o, _ in delivered()} >= set(range(1, 201)), timeout=30)
    got = delivered()
    check(in_order_at_least_once(got, 200), f"in order, at least once: {[o for o, _ in got][95:115]}")
    check(all(d == o for o, d in got), "each delivery carries its own event")
    state = webhook_state(other, sub)
    check(state.get("deliveredHere") is True, f"{other.name} delivers now: {state}")
    replays = len(got) - 200
    check(replays <= 100, f"{replays} replayed deliveries: only what the dead node had not recorded")

    # A node started now knows the subscription (from Redis).
    c = rt.Node("c", redis.port, NODE_FLAGS)
    check(get(c, f"/v1/subscriptions/{sub}").status == 200, "c loads the subscription at start")

    # Deleted on c: the stream on the other node closes with 4404, everything is gone.
    r = wire.http_json(c.port, "DELETE", f"/v1/subscriptions/{sub}")
    check(r.status == 204, f"delete on c: {r.status}")
    code, reason = stream.expect_close(timeout=10)
    check(code == 4404, f"the stream on {other.name} closed with {code} {reason!r}")
    rt.wait_for(f"{other.name} to forget the subscription",
                lambda: get(other, f"/v1/subscriptions/{sub}").status == 404)
    base = "sluice:0:"
    for key in ("wl:", "wp:", "wd:"):
        reply = rt.redis_command(redis.port, "EXISTS", base + key + sub)
        check(reply.startswith(b":0"), f"{key}{sub} left in Redis: {reply!r}")
    check(rt.redis_command(redis.port, "HLEN", base + "subs").startswith(b":0"), "the subscription left in Redis")
    receiver.shutdown()

    deleted_on_both_at_once(c, other, redis.port)
    print("ok: one subscription on three nodes: streamed, delivered once by one node, taken over, deleted "
          "(once, of two deletes on two nodes at once)", flush=True)
    return 0


if __name__ == "__main__":
    rt.run(main, seconds=150)
