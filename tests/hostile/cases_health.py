"""After the attacks: the server is alive, the well-behaved client was served
throughout with bounded latency and lost nothing, the server's memory peak
stayed bounded, connections and threads were released, and SIGTERM stops it
cleanly (exit 0, no sanitizer report).

The memory bound. The server holds, at most: history for the flood topics
(--history-max-bytes 4 MiB per topic, a few topics), one 256 KiB send queue
per slow connection (a few at a time), a 64 KiB message buffer per connection
that is mid-message, and ~2,000 idle connections' buffers during the
half-open case (a few KiB each). With the binary and its arenas (~10 MiB idle)
that is well under 100 MiB; 160 MiB leaves room for allocator slack. A
compression bomb that were inflated (48 MiB per message) or a queue that were
not bounded (8 MiB per slow reader) would blow past it. Sanitizer builds keep
freed memory in quarantine (ASan: 256 MiB by default) and shadow memory on top,
so they get 1 GiB."""
import time

import wire
from framework import Skip, check, case, percentile

RSS_BOUND_KIB = 160 * 1024
RSS_BOUND_SANITIZER_KIB = 1024 * 1024
LATENCY_P99 = 1.0  # seconds: generous, the canary publishes every 50 ms


def canary(ctx):
    """The canary's reports (more than one if the server was restarted after a crash)."""
    check(ctx.canary_reports, "the canary did not run")
    return ctx.canary_reports


@case("health.server_alive")
def _alive(ctx):
    check(not ctx.crashes, f"the server crashed {len(ctx.crashes)} time(s): during {[c[0] for c in ctx.crashes]}")
    check(ctx.server.alive(), f"the server exited with {ctx.server.proc.poll()}")
    r = wire.http_one(ctx.port, wire.request("GET", "/health"))
    check(r is not None and r.status == 200, f"/health at the end: {r}")


@case("health.canary_lost_nothing")
def _canary_complete(ctx):
    for rep in canary(ctx):
        check(not rep["errors"], f"{len(rep['errors'])} errors, first: {rep['errors'][:3]}")
        check(rep["sent"] >= 20, f"only {rep['sent']} publishes during the battery")
        check(rep["received"] == rep["sent"], f"published {rep['sent']}, received {rep['received']}")
        offs = rep["offsets"]
        check(offs == list(range(offs[0], offs[0] + len(offs))), "offsets out of order or with gaps")


@case("health.canary_http_latency")
def _canary_http(ctx):
    bound = LATENCY_P99 * (2 if ctx.sanitizer else 1)
    for rep in canary(ctx):
        p50, p99, worst = (percentile(rep["http"], p) for p in (50, 99, 100))
        ctx.notes["canary_http_ms"] = f"p50 {p50 * 1000:.1f}, p99 {p99 * 1000:.1f}, max {worst * 1000:.1f} " \
                                      f"over {len(rep['http'])} publishes"
        check(p99 < bound, f"HTTP publish p99 {p99:.3f} s (bound {bound} s), max {worst:.3f} s")


@case("health.canary_delivery_latency")
def _canary_delivery(ctx):
    bound = LATENCY_P99 * (2 if ctx.sanitizer else 1)
    for rep in canary(ctx):
        p50, p99, worst = (percentile(rep["delivery"], p) for p in (50, 99, 100))
        ctx.notes["canary_delivery_ms"] = f"p50 {p50 * 1000:.1f}, p99 {p99 * 1000:.1f}, max {worst * 1000:.1f}"
        check(p99 < bound, f"publish-to-delivery p99 {p99:.3f} s (bound {bound} s), max {worst:.3f} s")


@case("health.peak_rss_bounded")
def _rss(ctx):
    mem = ctx.server.memory()
    check("VmHWM" in mem, "no /proc/PID/status")
    bound = RSS_BOUND_SANITIZER_KIB if ctx.sanitizer else RSS_BOUND_KIB
    ctx.notes["rss_kib"] = f"baseline {ctx.baseline.get('VmRSS')}, now {mem['VmRSS']}, peak {mem['VmHWM']}"
    check(mem["VmHWM"] < bound, f"peak RSS {mem['VmHWM'] >> 10} MiB (bound {bound >> 10} MiB)")


@case("health.fds_released")
def _fds(ctx):
    """Every connection the battery opened is gone from the server (after the
    close timeout at most): no descriptor leaks on any error path. Sockets
    are compared (the loops create some epoll sets lazily, on first use)."""
    deadline = time.monotonic() + 5 * ctx.slow + ctx.handshake_timeout
    while True:
        held = [s for s in ctx.server.sockets() if not s.startswith("LISTEN")]
        if not held or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # closes finish on the server's loops
    ctx.notes["fds"] = f"at the start {ctx.baseline_fds}, at the end {ctx.server.fds()}"
    check(not held, f"{len(held)} connections still held: {held[:6]}")


@case("health.threads_unchanged")
def _threads(ctx):
    """No thread per connection or per attack."""
    now = ctx.server.memory().get("Threads")
    check(now == ctx.baseline.get("Threads"), f"{now} threads, {ctx.baseline.get('Threads')} at the start")


@case("health.clean_shutdown")
def _shutdown(ctx):
    if not ctx.server.alive():
        raise Skip("the server is not running")
    t0 = time.monotonic()
    code = ctx.server.stop(timeout=20 * ctx.slow)
    elapsed = time.monotonic() - t0
    log = ctx.server.log()
    for marker in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:", "terminate called"):
        check(marker not in log, f"the server's log has {marker!r}: " + log[log.find(marker) - 200:][:600])
    check(code == 0, f"exit code {code} after SIGTERM ({elapsed:.1f} s)")
    for s in ctx.side_servers:
        side = s.stop(timeout=20 * ctx.slow)
        check(side == 0, f"a side server exited with {side}")
