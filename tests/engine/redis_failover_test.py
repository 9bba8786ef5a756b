#!/usr/bin/env python3
"""A node dies (issue #17): this test starts its own redis-server and two
`sluice serve --engine redis://` nodes, follows a topic with `sluice sub
--url A --failover-url B` (the TopicClient with two servers), publishes
10,000 numbered events through node B and kills node A with SIGKILL
mid-stream. The subscriber must move to B and resume from its last offset:
every number exactly once, in order, offsets 1..10,000 without a gap.

Usage: redis_failover_test.py path/to/sluice   (exit 77: redis-server missing)"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_harness  # noqa: E402
from redis_harness import Node, Redis, check, run, wait_for  # noqa: E402

TOTAL = 10_000
TOPIC = "failover.numbers"


def main():
    redis = Redis()
    redis.start()
    a = Node("a", redis.port)
    b = Node("b", redis.port)
    b.publish_retrying(TOPIC, {"n": 0})  # the topic exists: the subscriber reads it from history (after offset 0)
    sub = subprocess.Popen(
        [redis_harness.BINARY, "sub", TOPIC, "--url", f"ws://127.0.0.1:{a.port}", "--failover-url",
         f"ws://127.0.0.1:{b.port}", "--since", "0", "-n", str(TOTAL), "--backoff-min", "0.05", "--backoff-max",
         "0.5"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(redis_harness.WORK, "sub.log"), "ab"), text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")})
    redis_harness.PROCESSES.append(sub)
    events = []
    reader = threading.Thread(target=lambda: events.extend(json.loads(line) for line in sub.stdout), daemon=True)
    reader.start()
    wait_for("the subscriber's first event (from history)", lambda: len(events) >= 1)

    published = []
    def publish():
        for n in range(1, TOTAL):
            published.append(b.publish_retrying(TOPIC, {"n": n}))
    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()

    # Kill the subscriber's node mid-stream.
    wait_for("3,000 events through node A", lambda: len(events) >= 3000, timeout=60)
    a.process.send_signal(signal.SIGKILL)
    a.process.wait()
    killed_at = len(events)
    publisher.join(120)
    check(not publisher.is_alive(), "the publisher did not finish")
    check(sub.wait(timeout=60) == 0, f"sluice sub exited with {sub.returncode} after {len(events)} events")
    reader.join(10)

    numbers = [e["data"]["n"] for e in events]
    offsets = [e["offset"] for e in events]
    check(len(events) == TOTAL, f"{len(events)} events, expected {TOTAL}")
    check(numbers == list(range(TOTAL)), "events lost, duplicated or out of order: first differences "
          f"{[(i, n) for i, n in enumerate(numbers) if n != i][:5]}")
    check(offsets == list(range(1, TOTAL + 1)), "offsets with a gap or a repeat")
    check(killed_at < TOTAL, "node A was killed after the subscriber had everything: nothing was resumed")
    print(f"ok: node A killed after {killed_at} events; the subscriber resumed on B: {TOTAL} events, "
          "each once, in order", flush=True)
    return 0


if __name__ == "__main__":
    run(main)
