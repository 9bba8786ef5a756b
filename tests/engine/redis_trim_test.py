#!/usr/bin/env python3
"""History bounds of the Redis engine's Streams (issue #17): a node with
--history-max-age 1 (second) and --history-max-events 50 on a redis-server of
this test's own. Entries older than the age bound leave the front of the
topic's Stream at the next publishes; the count bound still holds; the
newest entries are kept at a publish. The byte bound holds (a second node
with --history-max-bytes), and a topic nobody publishes to loses its aged
entries at the periodic pass (--engine-trim-interval).

Usage: redis_trim_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Node, Redis, check, redis_command, run, wait_for  # noqa: E402


def front_offset(redis, topic):
    reply = redis_command(redis.port, "XRANGE", f"sluice:0:s:{topic}", "-", "+", "COUNT", "1")
    m = re.search(rb"\$\d+\r\n(\d+)-0\r\n", reply)
    return int(m.group(1)) if m else 0


def xlen(redis, topic):
    return int(redis_command(redis.port, "XLEN", f"sluice:0:s:{topic}")[1:].split(b"\r\n")[0])


def main():
    redis = Redis()
    redis.start()
    node = Node("n", redis.port, ["--history-max-age", "1", "--history-max-events", "50"])

    # Age: the first three events leave the Stream once they are older than 1 s
    # and another event is published.
    first = [node.publish_retrying("aged", {"n": i})["offset"] for i in range(3)]
    check(first == [1, 2, 3] and front_offset(redis, "aged") == 1, f"offsets {first}")
    started = time.monotonic()

    def aged_out():
        node.publish_retrying("aged", {"n": "later"})
        return front_offset(redis, "aged") > 3
    wait_for("the first events to age out of the Stream", aged_out, timeout=15)
    check(time.monotonic() - started >= 0.9, "entries left the Stream before they were 1 s old")
    check(xlen(redis, "aged") >= 1, "the newest entry must stay")
    print("ok: entries older than the age bound left the Stream's front", flush=True)

    # Count: 120 quick publishes keep the newest 50.
    for i in range(120):
        node.publish_retrying("counted", {"n": i})
    check(xlen(redis, "counted") == 50 and front_offset(redis, "counted") == 71,
          f"count bound: {xlen(redis, 'counted')} entries from offset {front_offset(redis, 'counted')}")
    print("ok: the count bound still holds", flush=True)

    # Bytes: entries of ~1 KiB under a 10,000-byte bound: the Stream keeps at most 10 of them,
    # and what Redis counts matches what it holds.
    sized = Node("sized", redis.port, ["--history-max-bytes", "10000", "--engine-trim-interval", "0"])
    for i in range(40):
        sized.publish_retrying("sized", {"pad": "x" * 1000, "n": i})
    held = xlen(redis, "sized")
    counted = int(redis_command(redis.port, "HGET", "sluice:0:t:sized", "bytes").split(b"\r\n")[1])
    check(5 <= held <= 10 and front_offset(redis, "sized") == 41 - held,
          f"byte bound: {held} entries from offset {front_offset(redis, 'sized')}")
    check(counted <= 10000 and counted > (held - 1) * 1000, f"{counted} bytes counted for {held} entries")
    print("ok: the byte bound holds", flush=True)

    # A quiet topic: no publish after its three events, yet they leave at the periodic pass.
    quiet = Node("quiet", redis.port, ["--history-max-age", "1", "--engine-trim-interval", "0.3"])
    for i in range(3):
        quiet.publish_retrying("quiet", {"n": i})
    check(xlen(redis, "quiet") == 3, "three entries before the pass")
    wait_for("the quiet topic's aged entries to leave its Stream", lambda: xlen(redis, "quiet") == 0, timeout=15)
    print("ok: a quiet topic's aged entries left at the periodic pass", flush=True)
    return 0


if __name__ == "__main__":
    run(main)
