"""Flooding a server's limits, on side servers started with tight ones
(docs/server.md): --max-connections (503 on the upgrade, plain HTTP still
answered with `Connection: close`), --rate-limit (429 with Retry-After,
probes exempt), --allowed-origin (403)."""
import time

import wire
from framework import case, check, expect_status

ORIGIN = "http://good.example"


def conn_server(ctx):
    if not hasattr(ctx, "_conn_server"):
        ctx._conn_server = ctx.side_server(["--max-connections", "5", "--allowed-origin", ORIGIN,
                                            "--handshake-timeout", "2", "--close-timeout", "1", "--threads", "1"])
    return ctx._conn_server


def rate_server(ctx):
    if not hasattr(ctx, "_rate_server"):
        ctx._rate_server = ctx.side_server(["--rate-limit", "5", "--rate-burst", "5", "--threads", "1"])
    return ctx._rate_server


def origin_upgrade(port, origin):
    extra = [("Origin", origin)] if origin is not None else []
    raw, _ = wire.upgrade_request(extra=extra)
    return wire.http_one(port, raw)


@case("limits.origin_refused")
def _origin_refused(ctx):
    port = conn_server(ctx).port
    for origin in ("http://evil.example", "http://good.example.evil.example", "http://evil.example/http://good.example",
                   "null", "http://good.example:80@evil.example", ORIGIN + ", http://evil.example"):
        expect_status(origin_upgrade(port, origin), 403, what=f"Origin {origin!r}: ")


@case("limits.origin_allowed")
def _origin_allowed(ctx):
    """Control: the listed Origin is let in."""
    port = conn_server(ctx).port
    ws = wire.ws_connect(port, extra=[("Origin", ORIGIN)])
    ws.send_json({"op": "ping", "id": 1})
    check(ws.recv_json().get("type") == "ack", "ping")
    ws.send(wire.OP_CLOSE, wire.close_payload(1000))
    ws.expect_close()
    ws.close()


@case("limits.max_connections_503")
def _max_connections(ctx):
    """Five WebSockets fill --max-connections 5: the sixth upgrade is a 503,
    probes are still answered (and not kept alive); closing one frees a slot."""
    port = conn_server(ctx).port
    held = []
    try:
        for _ in range(5):
            held.append(wire.ws_connect(port, extra=[("Origin", ORIGIN)]))
        raw, _ = wire.upgrade_request(extra=[("Origin", ORIGIN)])
        expect_status(wire.http_one(port, raw), 503, what="sixth upgrade: ")
        r = expect_status(wire.http_one(port, wire.request("GET", "/health")), 200, what="probe at the limit: ")
        check((r.header("connection") or "").lower() == "close", f"probe kept alive at the limit: {r.headers}")
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            r = wire.http_one(port, raw)
            if r is not None and r.status == 101:
                break
            check(time.monotonic() < deadline, f"no slot 5 s after a close: {r}")
            time.sleep(0.05)  # the server notices the EOF on its loop
    finally:
        for ws in held:
            ws.close()


@case("limits.connection_flood_503s")
def _flood(ctx):
    """200 upgrades against the full server: all 503 (none 5xx other than
    that, none left hanging), and the server still answers probes."""
    port = conn_server(ctx).port
    held = []
    try:
        deadline = time.monotonic() + 5
        while len(held) < 5:  # the slots freed by the case before may take a moment
            try:
                held.append(wire.ws_connect(port, extra=[("Origin", ORIGIN)]))
            except AssertionError:
                check(time.monotonic() < deadline, "could not fill the five slots")
                time.sleep(0.05)  # waiting for the previous case's closes
        raw, _ = wire.upgrade_request(extra=[("Origin", ORIGIN)])
        statuses = {}
        for _ in range(200):
            r = wire.http_one(port, raw)
            statuses[r.status if r else None] = statuses.get(r.status if r else None, 0) + 1
        check(set(statuses) == {503}, f"statuses {statuses}")
        expect_status(wire.http_one(port, wire.request("GET", "/live")), 200)
    finally:
        for ws in held:
            ws.close()


@case("limits.rate_limit_429")
def _rate(ctx):
    """--rate-limit 5 --rate-burst 5: a burst of 30 API requests gets 429s
    with Retry-After after the first five."""
    port = rate_server(ctx).port
    statuses = []
    retry_after = None
    for _ in range(30):
        r = wire.http_one(port, wire.request("GET", "/v1/events?topic=a"))
        statuses.append(r.status if r else None)
        if r is not None and r.status == 429:
            retry_after = r.header("retry-after")
            check(r.json().get("error") == "rate_limited", f"429 body {r.body[:100]!r}")
    check(statuses[:5] == [200] * 5, f"first five: {statuses[:5]}")
    check(statuses.count(429) >= 20, f"statuses {statuses}")
    check(retry_after is not None and retry_after.isdigit(), f"Retry-After {retry_after!r}")


@case("limits.rate_limit_pipelined")
def _rate_pipelined(ctx):
    """100 pipelined requests on one connection are each counted."""
    port = rate_server(ctx).port
    time.sleep(1.1)  # let the bucket refill from the case before
    rs = wire.http_exchange(port, wire.request("GET", "/v1/events?topic=a") * 100, responses=100, timeout=10)
    n429 = sum(1 for r in rs if r.status == 429)
    check(len(rs) == 100 and n429 >= 90, f"{len(rs)} answers, {n429} were 429")


@case("limits.rate_limit_probes_exempt")
def _rate_probes(ctx):
    port = rate_server(ctx).port
    statuses = {wire.http_one(port, wire.request("GET", p)).status for p in ["/health", "/ready", "/live"] * 20}
    check(statuses == {200}, f"probe statuses {statuses}")
