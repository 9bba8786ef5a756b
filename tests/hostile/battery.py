#!/usr/bin/env python3
"""Sluice's hostile-input battery (issue #13).

    python3 tests/hostile/battery.py build/release/sluice [--only PREFIX ...] [--list]

Starts `sluice serve` on a free loopback port (memory store, short handshake
timeout, small message and body limits), throws malformed HTTP, invalid
upgrades, malformed WebSocket frames, compression bombs, in-band protocol abuse,
slowloris, half-open connections and a slow reader at it, while a well-behaved
client keeps publishing over HTTP and receiving over /v1/ws. At the end: the
server is alive, the well-behaved client was served with bounded latency, the
server's peak memory stayed bounded, its file descriptors were released, and
SIGTERM stops it with exit code 0.

Prints one line per case (name, PASS/FAIL/SKIP, detail), then
`N passed, M failed, K skipped`; exits 1 if anything failed. Standard library
only; loopback only; every loop is bounded in count and time."""
import argparse
import os
import resource
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import framework  # noqa: E402
import wire  # noqa: E402
from framework import CASES, CaseFailed, Canary, Server, Skip  # noqa: E402

# Registration order is run order within a group; groups run in this order.
import cases_http  # noqa: E402,F401
import cases_upgrade  # noqa: E402,F401
import cases_frames  # noqa: E402,F401
import cases_inband  # noqa: E402,F401
import cases_load  # noqa: E402,F401
import cases_limits  # noqa: E402,F401
import cases_auth  # noqa: E402,F401
import cases_health  # noqa: E402,F401

GROUP_ORDER = ["http", "upgrade", "frame", "deflate", "inband", "load", "limits", "auth", "health"]

# The server under test. Small limits make the over-limit cases cheap; the
# short handshake timeout makes slowloris and half-open cases quick.
HANDSHAKE_TIMEOUT = 2.0
MAX_MESSAGE = 64 * 1024
MAX_BODY = 64 * 1024
SEND_QUEUE = 256 * 1024
SERVER_OPTIONS = [
    "--threads", "2",
    "--handshake-timeout", str(HANDSHAKE_TIMEOUT),
    "--close-timeout", "2",
    "--max-message-size", str(MAX_MESSAGE),
    "--max-body-bytes", str(MAX_BODY),
    "--max-header-bytes", "8192",
    "--send-queue-limit", str(SEND_QUEUE),
    "--history-max-bytes", str(4 * 1024 * 1024),
    "--history-max-events", "2000",
]


class Context:
    """What a case gets: the server's port and the limits it was started with."""

    def __init__(self, binary):
        self.binary = binary
        self.sanitizer = framework.sanitizer_of(binary)
        self.slow = 4.0 if self.sanitizer else 1.0  # time scale for sanitizer builds
        # Memory-growth scale: ASan keeps freed memory in quarantine (256 MiB by
        # default) and TSan shadows every byte, so growth bounds are looser there.
        self.mem_scale = 8 if self.sanitizer else 1
        self.server_options = SERVER_OPTIONS
        self.handshake_timeout = HANDSHAKE_TIMEOUT
        self.max_message = MAX_MESSAGE
        self.max_body = MAX_BODY
        self.send_queue = SEND_QUEUE
        self.server = None
        self.port = None
        self.canary = None
        self.canary_reports = []
        self.baseline = {}
        self.baseline_fds = 0
        self.crashes = []
        self.notes = {}  # measurements cases leave for the report
        self.side_servers = []
        self.cleanups = []  # callables run at the end (temporary files of side servers)
        self.started_at = time.monotonic()

    def start(self):
        self.server = Server(self.binary, SERVER_OPTIONS).start()
        self.port = self.server.port
        if not framework.wait_port_answers(self.port):
            raise RuntimeError("the server does not answer /health")
        self.baseline = self.server.memory()
        self.baseline_fds = self.server.fds()
        self.baseline_fd_kinds = self.server.fd_kinds()
        self.canary = Canary(self.port).start()

    def stop_canary(self):
        if self.canary:
            self.canary.stop()
            self.canary_reports.append(self.canary.report())
            self.canary = None

    def restart_after_crash(self, case_name):
        code = self.server.proc.poll()
        tail = self.server.log()[-1500:]
        self.crashes.append((case_name, code, tail))
        if self.canary:
            self.canary.stop_flag.set()
            self.canary_reports.append(self.canary.report())
            self.canary = None
        self.server.cleanup()
        self.start()

    def side_server(self, options):
        """Another server with other options (limits and auth cases); stopped at the end."""
        s = Server(self.binary, options, name="side").start()
        self.side_servers.append(s)
        return s

    def cleanup(self):
        if self.canary:
            self.canary.stop_flag.set()
        for s in self.side_servers + ([self.server] if self.server else []):
            s.cleanup()
        for fn in self.cleanups:
            fn()


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def selected(name, only):
    return not only or any(name.startswith(p) for p in only) or name.startswith("health.")


def run(args):
    raise_fd_limit()
    ctx = Context(args.binary)
    cases = sorted(((GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER), i, name, fn)
                    for i, (g, name, fn) in enumerate(CASES)))
    if args.list:
        for _, _, name, _ in cases:
            print(name)
        return 0
    passed = failed = skipped = 0
    print(f"# sluice hostile battery: {args.binary}"
          f"{' (' + ctx.sanitizer + ' sanitizer)' if ctx.sanitizer else ''}", flush=True)
    try:
        ctx.start()
        for order, _, name, fn in cases:
            if not selected(name, args.only):
                continue
            if name.startswith("health.") and ctx.canary:
                ctx.stop_canary()  # the health checks judge what the canary saw
            t0 = time.monotonic()
            wire.current_case = name
            status, detail = "PASS", ""
            try:
                fn(ctx)
            except Skip as e:
                status, detail = "SKIP", str(e)
            except (CaseFailed, AssertionError) as e:
                status, detail = "FAIL", str(e) or "assertion failed"
            except (OSError, wire.Closed, wire.TimedOut, RuntimeError, ValueError, KeyError) as e:
                status, detail = "FAIL", f"{type(e).__name__}: {e}"
            except Exception as e:  # a bug in the battery itself: show where
                status, detail = "FAIL", f"{type(e).__name__}: {e} at {traceback.format_exc().splitlines()[-3].strip()}"
            if not name.startswith("health.") and not ctx.server.alive():
                code = ctx.server.proc.poll()
                status, detail = "FAIL", f"SERVER DIED (exit {code}) during this case; {detail}".rstrip("; ")
                ctx.restart_after_crash(name)
            ms = (time.monotonic() - t0) * 1000
            if status == "PASS":
                passed += 1
            elif status == "SKIP":
                skipped += 1
            else:
                failed += 1
            line = f"{name:<58} {status}  ({ms:.0f} ms)"
            if detail:
                line += f"  {detail}"
            print(line, flush=True)
        for key, value in ctx.notes.items():
            print(f"# {key}: {value}", flush=True)
        for case_name, code, tail in ctx.crashes:
            print(f"# server crash during {case_name} (exit {code}); log tail:\n" +
                  "\n".join("#   " + l for l in tail.splitlines()[-15:]), flush=True)
    finally:
        ctx.cleanup()
    print(f"# battery ran in {time.monotonic() - ctx.started_at:.1f} s", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="the sluice binary to test")
    parser.add_argument("--only", action="append", default=[], help="run only cases whose name starts with this")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
