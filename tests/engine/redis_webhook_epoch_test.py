#!/usr/bin/env python3
"""A webhook on a node of the Redis engine when Redis loses the topic (issue
#14 with #17): Redis flushed (as a restart without persistence does) makes
the topic start again at offset 1 in a new epoch. The webhook must deliver
the new epoch's events (its position counted in the old epoch: without care
they would be skipped as "already delivered"), and what the old epoch had
not delivered becomes a visible `expired` dead letter, never a silent skip.

Usage: redis_webhook_epoch_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_harness as rt  # noqa: E402

wire = rt.wire
check = rt.check


Receiver = rt.WebhookReceiver


def delivered():
    return Receiver.delivered("offset", "epoch", "data")


def main():
    redis = rt.Redis()
    redis.start()
    node = rt.Node("a", redis.port, ["--webhook-allow", "127.0.0.1/32",
                                     "--webhook-retry-floor", "0.05", "--webhook-retry-max-delay", "0.2"])
    port = node.port

    receiver, hook = Receiver.start()
    r = wire.http_json(port, "POST", "/v1/subscriptions", {"topic": "hook.t", "webhook": hook})
    check(r.status == 201, f"create the subscription: {r.status} {r.body[:300]!r}")
    sub = r.json()["id"]

    def publish(n):
        r = wire.http_json(port, "POST", "/v1/events", {"topic": "hook.t", "data": n})
        check(r.status == 201, f"publish {n}: {r.status} {r.body[:200]!r}")
        return r.json()

    first = [publish(n) for n in (1, 2)]
    old_epoch = first[0]["epoch"]
    rt.wait_for("offsets 1 and 2 delivered", lambda: len(delivered()) == 2)
    check(delivered() == [(1, old_epoch, 1), (2, old_epoch, 2)], f"before: {delivered()}")

    # The receiver fails: 3 stays in flight (retrying), 4 waits behind it.
    Receiver.status = 503
    publish(3)
    publish(4)

    def in_flight():
        state = wire.http_json(port, "GET", f"/v1/subscriptions/{sub}").json().get("webhookState") or {}
        return state.get("inFlight") and state.get("consecutiveFailures", 0) >= 1
    rt.wait_for("offset 3 retrying", in_flight)

    # Redis loses the topic: the next publish starts a new epoch at offset 1.
    check(rt.redis_command(redis.port, "FLUSHALL").startswith(b"+OK"), "FLUSHALL")
    fresh = publish("new-1")
    check(fresh["offset"] == 1 and fresh["epoch"] != old_epoch, f"the publish after FLUSHALL: {fresh}")
    Receiver.status = 200
    rt.wait_for("the new epoch's first event delivered", lambda: (1, fresh["epoch"], "new-1") in delivered())
    publish("new-2")
    rt.wait_for("the new epoch's second event delivered", lambda: (2, fresh["epoch"], "new-2") in delivered())
    got = delivered()
    check(got[:2] == [(1, old_epoch, 1), (2, old_epoch, 2)], f"delivered: {got}")
    check([d for d in got if d[1] == fresh["epoch"]] == [(1, fresh["epoch"], "new-1"), (2, fresh["epoch"], "new-2")],
          f"the new epoch in order, once each: {got}")
    check((4, old_epoch, 4) not in got, f"offset 4 was lost with the old epoch, yet delivered: {got}")

    # What the old epoch had not delivered is a dead letter: 4 (3 was in flight and went on).
    r = wire.http_json(port, "GET", f"/v1/subscriptions/{sub}/deliveries?kind=dead_letter")
    check(r.status == 200, f"deliveries: {r.status}")
    letters = [(d.get("reason"), d.get("offset"), d.get("toOffset")) for d in r.json().get("deliveries", [])]
    check(letters == [("expired", 4, 4)], f"dead letters: {letters} (body {r.body[:400]!r})")
    # The node put the subscription Redis lost back (it was not deleted: no tombstone).
    rt.wait_for("the subscription stored in Redis again",
                lambda: rt.redis_command(redis.port, "HEXISTS", "sluice:0:subs", sub).startswith(b":1"))
    receiver.shutdown()
    print("ok: a webhook follows its topic into a new epoch; the lost old-epoch event is a dead letter", flush=True)
    return 0


if __name__ == "__main__":
    rt.run(main, seconds=100)
