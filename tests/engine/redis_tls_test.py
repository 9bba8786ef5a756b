#!/usr/bin/env python3
"""rediss:// (issue #17): two `sluice serve --engine rediss://` nodes on a
redis-server that listens for TLS only and asks for a password (this test
starts it, with a self-signed certificate the openssl CLI makes), then:

- a publish on node A reaches a /v1/ws subscriber on node B in order, with
  A's offsets; B serves the same history;
- redis-server restarted: publishes get 503 meanwhile, the nodes reconnect
  through TLS, offsets continue and the subscriber misses nothing;
- a node trusting another CA never becomes ready and logs why (the
  certificate), never the password;
- --print-config masks the password of a rediss:// URL.

Usage: redis_tls_test.py path/to/sluice   (exit 77: redis-server missing)"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_harness as h  # noqa: E402
from redis_harness import Node, Redis, TlsFiles, check, receive_events, run, subscribe, wait_for  # noqa: E402

PASSWORD = "tls-s3cret-pw"


def main():
    tls = TlsFiles("redis")
    redis = Redis(tls=tls, extra=["--requirepass", PASSWORD])
    redis.start()
    flags = ["--engine-ca-file", tls.cert, "--engine-password", PASSWORD]
    a = Node("a", redis.port, flags, scheme="rediss")
    b = Node("b", redis.port, flags, scheme="rediss")

    ws = subscribe(b, "orders")
    published = [a.publish_retrying("orders", {"n": i}) for i in range(10)]
    check([p["offset"] for p in published] == list(range(1, 11)), f"A's offsets: {[p['offset'] for p in published]}")
    got = receive_events(ws, 10)
    check([(e["offset"], e["id"]) for e in got] == [(p["offset"], p["id"]) for p in published],
          f"B received {[e['offset'] for e in got]}")
    check([e["offset"] for e in b.history("orders")] == list(range(1, 11)), "B's history")
    print("ok: A -> B over rediss://, in order; B's history agrees", flush=True)

    redis.stop()
    wait_for("A to see Redis gone (/ready 503)", lambda: not a.ready())
    status, body = a.publish("orders", {"n": "lost?"})
    check(status == 503 and body.get("error") == "engine_unavailable", f"publish without Redis: {status} {body}")
    redis.start()
    wait_for("A ready again", a.ready, timeout=30)
    wait_for("B ready again", b.ready, timeout=30)
    more = [a.publish_retrying("orders", {"n": i}) for i in range(10, 15)]
    check([p["offset"] for p in more] == list(range(11, 16)), f"offsets after the restart: {[p['offset'] for p in more]}")
    got = receive_events(ws, 5)
    check([e["offset"] for e in got] == list(range(11, 16)), f"B after the restart: {[e['offset'] for e in got]}")
    print("ok: Redis restarted: 503 meanwhile, reconnected over TLS, offsets continue, nothing missed", flush=True)

    other = TlsFiles("other")
    c = Node("c", redis.port, ["--engine-ca-file", other.cert, "--engine-password", PASSWORD], scheme="rediss",
             wait=False)
    wait_for("C to log the certificate refusal",
             lambda: "certificate verify failed" in open(c.log, errors="replace").read())
    check(not c.ready(), "a node that cannot verify Redis' certificate is ready")
    check(PASSWORD not in open(c.log, errors="replace").read(), "the password is in C's log")
    check("refused AUTH" not in open(c.log, errors="replace").read(),
          "C's log blames AUTH for a TLS failure: " + open(c.log, errors="replace").read()[-2000:])
    print("ok: a node trusting another CA stays unready and says why, without the password", flush=True)

    out = subprocess.run([h.BINARY, "serve", "--engine", f"rediss://app:{PASSWORD}@127.0.0.1:{redis.port}",
                          "--print-config"], capture_output=True, text=True, timeout=20)
    check(out.returncode == 0, f"--print-config: {out.returncode} {out.stderr}")
    check(PASSWORD not in out.stdout and "rediss://app:********@127.0.0.1" in out.stdout,
          f"--print-config shows: {[l for l in out.stdout.splitlines() if 'engine' in l]}")
    print("ok: --print-config masks the rediss:// password", flush=True)
    return 0


if __name__ == "__main__":
    run(main, seconds=150)
