"""Resource attacks: slowloris (heads trickled a byte at a time), idle
keep-alive connections, 2,000 half-open connections, a slow reader while
events flow, a peer that pings and never reads, connection churn.

docs/server.md: --handshake-timeout bounds the TLS and HTTP upgrade (and the
wait for the next request on keep-alive); a connection whose send queue goes
over --send-queue-limit is closed with 4008 "slow consumer"; a peer that sends
pings but never reads is a slow consumer too."""
import selectors
import socket
import struct
import threading
import time

import wire
from framework import case, check
from wire import OP_PING, frame


def closed_by_peer(sock):
    """True if the peer has closed (EOF or reset); drains what is readable."""
    try:
        while True:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def trickle(ctx, heads, label):
    """Sends each head one byte per round (every 100 ms) on its own socket,
    never finishing them; returns the seconds until each was closed by the
    server (None: still open at the end)."""
    socks = [wire.connect(ctx.port) for _ in heads]
    t0 = time.monotonic()
    closed_at = [None] * len(socks)
    limit = ctx.handshake_timeout + 6
    try:
        pos = 0
        while time.monotonic() - t0 < limit and any(c is None for c in closed_at):
            for i, s in enumerate(socks):
                if closed_at[i] is not None:
                    continue
                if closed_by_peer(s):
                    closed_at[i] = time.monotonic() - t0
                    continue
                head = heads[i]
                # Never send the final CRLF: the head stays incomplete.
                byte = head[pos % (len(head) - 4): pos % (len(head) - 4) + 1]
                try:
                    s.send(byte, socket.MSG_DONTWAIT)
                except OSError:
                    closed_at[i] = time.monotonic() - t0
            pos += 1
            time.sleep(0.1)  # the trickle's pace
    finally:
        for s in socks:
            s.close()
    return closed_at


@case("load.slowloris_http_heads")
def _slowloris_http(ctx):
    """20 connections trickling a request head (one byte per 100 ms): each is
    closed within --handshake-timeout (plus slack), not kept alive by the trickle."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    closed = trickle(ctx, [head] * 20, "http")
    still_open = sum(1 for c in closed if c is None)
    check(still_open == 0, f"{still_open} of 20 still open after {ctx.handshake_timeout + 6:.0f} s")
    worst = max(closed)
    check(worst < ctx.handshake_timeout + 2, f"last closed after {worst:.1f} s (timeout {ctx.handshake_timeout} s)")


@case("load.slowloris_upgrade_heads")
def _slowloris_ws(ctx):
    """The same with WebSocket upgrade requests to /v1/ws."""
    raw, _ = wire.upgrade_request()
    closed = trickle(ctx, [raw] * 20, "ws")
    still_open = sum(1 for c in closed if c is None)
    check(still_open == 0, f"{still_open} of 20 still open after {ctx.handshake_timeout + 6:.0f} s")
    worst = max(closed)
    check(worst < ctx.handshake_timeout + 2, f"last closed after {worst:.1f} s (timeout {ctx.handshake_timeout} s)")


@case("load.idle_keepalive_closed")
def _idle_keepalive(ctx):
    """A keep-alive connection that goes quiet after one answer is closed
    within --handshake-timeout (docs/server.md: it bounds the wait for the next request)."""
    sock = wire.connect(ctx.port)
    try:
        sock.sendall(wire.request("GET", "/health"))
        reader = wire.Reader(sock)
        resp = wire.read_response(reader, time.monotonic() + 5)
        check(resp.status == 200, f"health {resp.status}")
        t0 = time.monotonic()
        try:
            reader.read_to_eof(t0 + ctx.handshake_timeout + 5)
        except wire.TimedOut:
            raise AssertionError("idle keep-alive connection not closed") from None
        elapsed = time.monotonic() - t0
        check(elapsed < ctx.handshake_timeout + 2, f"closed after {elapsed:.1f} s")
    finally:
        sock.close()


@case("load.half_open_2000")
def _half_open(ctx):
    """2,000 connections that connect and send nothing: the server keeps
    answering others promptly meanwhile, and closes every one of them after
    --handshake-timeout."""
    n = 2000
    socks = []
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    try:
        for _ in range(n):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", ctx.port))
            wire.note_port(s)
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ)
        opened = time.monotonic() - t0
        # Once the server has accepted them all (its accept queue is not what
        # is measured), while they sit there: a probe and a WebSocket round trip stay fast.
        settle = time.monotonic() + 5 * ctx.slow
        while ctx.server.fds() < ctx.baseline_fds + n and time.monotonic() < settle:
            time.sleep(0.05)  # the loops accept the queued connections
        p0 = time.monotonic()
        r = wire.http_one(ctx.port, wire.request("GET", "/health"), timeout=5)
        probe = time.monotonic() - p0
        check(r is not None and r.status == 200, f"/health during the attack: {r}")
        check(probe < 1.0 * ctx.slow, f"/health took {probe:.2f} s with {n} half-open connections")
        ws = wire.ws_connect(ctx.port)
        ws.send_json({"op": "ping", "id": 1})
        check(ws.recv_json().get("type") == "ack", "ping during the attack")
        ws.close()
        mem = ctx.server.memory()
        ctx.notes["half_open_rss_kib"] = mem.get("VmRSS")
        # Now wait for the server to close them all.
        closed = 0
        deadline = t0 + opened + ctx.handshake_timeout + 5 * ctx.slow
        while closed < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                if closed_by_peer(key.fileobj):
                    sel.unregister(key.fileobj)
                    closed += 1
        elapsed = time.monotonic() - t0
        check(closed == n, f"only {closed} of {n} closed by the server after {elapsed:.1f} s")
    finally:
        sel.close()
        for s in socks:
            s.close()


@case("load.connection_churn")
def _churn(ctx):
    """300 connections reset right after connecting, upgrading, or sending
    half an upgrade: nothing is left behind (checked by health.fds_released)."""
    linger = struct.pack("ii", 1, 0)  # close() sends RST
    raw, _ = wire.upgrade_request()
    for i in range(300):
        s = wire.connect(ctx.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        if i % 3 == 1:
            s.sendall(raw)
        elif i % 3 == 2:
            s.sendall(raw[: len(raw) // 2])
        s.close()
    r = wire.http_one(ctx.port, wire.request("GET", "/health"))
    check(r is not None and r.status == 200, f"health after churn: {r}")


class Publisher:
    """Publishes `count` events of `size` bytes on `topic` over /v1/ws,
    keeping at most `window` unacknowledged (it reads its acks, so it is not
    a slow consumer itself)."""

    def __init__(self, port, topic, size, count, window=32):
        self.ws = wire.ws_connect(port)
        self.topic, self.count, self.window = topic, count, window
        self.payload = "x" * size
        self.acked = 0
        self.errors = []

    def run(self, deadline):
        sent = 0
        while self.acked < self.count and time.monotonic() < deadline:
            while sent < self.count and sent - self.acked < self.window:
                self.ws.send_json({"op": "publish", "id": sent, "topic": self.topic, "data": self.payload})
                sent += 1
            msg = self.ws.recv_json(deadline=deadline)
            if msg.get("type") == "ack":
                self.acked += 1
            elif len(self.errors) < 5:
                self.errors.append(msg)
        self.ws.close()
        return self.acked


def flood_server(ctx):
    """The battery's server with a long --close-timeout, for the non-reader
    cases: a 4008 close frame waits behind the non-reader's full socket buffer
    until the test reads it. With the battery's 2 s the server gives up on the
    close handshake and the test sees EOF whenever a loaded (or sanitized) run
    takes longer than that between the cut and its read."""
    if not hasattr(ctx, "_flood_server"):
        options = list(ctx.server_options)
        options[options.index("--close-timeout") + 1] = "60"
        ctx._flood_server = ctx.side_server(options)
    return ctx._flood_server


@case("load.slow_reader_4008")
def _slow_reader(ctx):
    """A subscriber that never reads while 12 MiB of events flow to it (the
    kernel buffers up to ~4 MiB of it on loopback): closed with 4008 "slow
    consumer"; the server's memory does not grow with what it could not send
    (send queue 256 KiB, history 4 MiB)."""
    server = flood_server(ctx)
    before = server.memory().get("VmRSS", 0)
    slow = wire.ws_connect(server.port, rcvbuf=4096)
    slow.send_json({"op": "subscribe", "id": 1, "topic": "hostile.flood"})
    check(slow.recv_json().get("type") == "ack", "subscribe ack")
    pub = Publisher(server.port, "hostile.flood", 16 * 1024, 768)
    acked = pub.run(time.monotonic() + 30 * ctx.slow)
    check(acked == 768, f"only {acked} of 768 publishes acked; errors {pub.errors}")
    peak = server.memory().get("VmRSS", 0)
    code, reason = slow.expect_close(timeout=15 * ctx.slow)
    slow.close()
    check(code == 4008, f"slow reader got close {code} {reason!r}, expected 4008")
    grown = peak - before
    ctx.notes["slow_reader_rss_growth_kib"] = grown
    check(grown < 48 * 1024 * ctx.mem_scale, f"RSS grew by {grown >> 10} MiB during the flood")


@case("load.ping_flood_never_reading")
def _pinger(ctx):
    """A peer that sends 100,000 pings (12 MiB of pongs owed, far more than
    the send queue and the ~4 MiB the kernel may buffer) and never reads its
    pongs is a slow consumer (docs/server.md): closed with 4008, the server's
    memory bounded."""
    server = flood_server(ctx)
    before = server.memory().get("VmRSS", 0)
    ws = wire.ws_connect(server.port, rcvbuf=4096)
    batch = frame(OP_PING, b"p" * 125) * 1000
    ws.sock.settimeout(2)
    for _ in range(100):
        try:
            ws.sock.sendall(batch)
        except (socket.timeout, OSError):
            break  # the server stopped reading (or closed): enough
    grown = server.memory().get("VmRSS", 0) - before
    code, reason = ws.expect_close(timeout=15 * ctx.slow)
    ws.close()
    check(code == 4008, f"got close {code} {reason!r}, expected 4008")
    check(grown < 32 * 1024 * ctx.mem_scale, f"RSS grew by {grown >> 10} MiB")


@case("load.many_subscribers_one_slow")
def _one_slow_among_many(ctx):
    """20 readers and one non-reader on one topic, 8 MiB of events (more than
    the send queue plus what the kernel may buffer, up to ~4 MiB): the
    readers get every event in order while the non-reader is cut off with 4008."""
    topic = "hostile.fanout"
    server = flood_server(ctx)
    readers = [wire.ws_connect(server.port) for _ in range(20)]
    slow = wire.ws_connect(server.port, rcvbuf=4096)
    try:
        for ws in readers + [slow]:
            ws.send_json({"op": "subscribe", "id": 1, "topic": topic})
        for ws in readers + [slow]:
            check(ws.recv_json().get("type") == "ack", "subscribe ack")
        count = 1400
        got = [[] for _ in readers]
        errors = []

        def read_all(i, ws):
            try:
                while len(got[i]) < count:
                    m = ws.recv_json(timeout=20 * ctx.slow)
                    if m.get("type") == "event":
                        got[i].append(m["event"]["offset"])
            except Exception as e:  # reported below
                errors.append(f"reader {i}: {type(e).__name__} {e}")

        threads = [threading.Thread(target=read_all, args=(i, ws), daemon=True) for i, ws in enumerate(readers)]
        for t in threads:
            t.start()
        pub = Publisher(server.port, topic, 6 * 1024, count)
        acked = pub.run(time.monotonic() + 30 * ctx.slow)
        for t in threads:
            t.join(timeout=30 * ctx.slow)
        check(acked == count, f"{acked} of {count} acked")
        check(not errors, "; ".join(errors[:3]))
        bad = [i for i, offs in enumerate(got) if offs != list(range(offs[0], offs[0] + count))] if all(got) else [-1]
        check(not bad, f"readers {bad[:5]} missed or reordered events")
        code, _ = slow.expect_close(timeout=10 * ctx.slow)
        check(code == 4008, f"the non-reader got {code}, expected 4008")
    finally:
        for ws in readers + [slow]:
            ws.close()
