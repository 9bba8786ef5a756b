#!/usr/bin/env python3
"""`sluice serve` under a fake systemd: a unix datagram socket as
NOTIFY_SOCKET receives READY=1 once /ready answers, WATCHDOG=1 pings at the
period WATCHDOG_USEC asks for, and STOPPING=1 on SIGTERM, after which the
server exits 0 within its drain deadline. Its threads carry the names
docs/operations.md lists (what `top -H` shows).

Usage: notify_test.py path/to/sluice HAVE_SYSTEMD(0|1)
Exit 77 (skipped) when the binary was built without libsystemd.
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BINARY, HAVE_SYSTEMD = sys.argv[1], sys.argv[2]
if HAVE_SYSTEMD != "1":
    print("SKIP: built without libsystemd (SLUICE_SYSTEMD=OFF or libsystemd-dev missing)")
    sys.exit(77)


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def receive(sock, deadline):
    """The next notification's assignments as a dict, or None at the deadline."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        return None
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


def wait_for(sock, key, seconds, seen):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = receive(sock, deadline)
        if message is None:
            break
        seen.append(message)
        if key in message:
            return message
    fail(f"no {key} within {seconds} s; received {seen}")


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def thread_names(pid):
    tasks = f"/proc/{pid}/task"
    names = set()
    for tid in os.listdir(tasks):
        try:
            with open(f"{tasks}/{tid}/comm") as comm:
                names.add(comm.read().strip())
        except FileNotFoundError:
            pass  # a thread that just ended
    return names


def check_thread_names(pid):
    """Every named thread within 5 s (the watchdog's starts after READY=1)."""
    expected = {"sluice-loop-0", "sluice-loop-1", "sluice-store", "sluice-retain", "sluice-subs", "sluice-hookpos",
                "sluice-watchdog"}
    deadline = time.monotonic() + 5
    while not expected <= (names := thread_names(pid)):
        if time.monotonic() > deadline:
            fail(f"threads named {sorted(names)}: missing {sorted(expected - names)}")
        time.sleep(0.01)


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-notify-") as work:
        path = os.path.join(work, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        # Reserve a free loopback port, then hand it to the server.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
        env.pop("WATCHDOG_PID", None)
        log = open(os.path.join(work, "log"), "w")
        proc = subprocess.Popen([BINARY, "serve", "--port", str(port), "--store", "sqlite", "--data-dir",
                                 os.path.join(work, "data"), "--shutdown-drain", "2", "--threads", "2"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        seen = []
        try:
            ready = wait_for(sock, "READY", 30, seen)
            if ready["READY"] != "1" or str(port) not in ready.get("STATUS", ""):
                fail(f"READY message: {ready}")
            # Ready means serving: /ready answers at once.
            if get(port, "/ready") != 200:
                fail("/ready is not 200 after READY=1")
            check_thread_names(proc.pid)
            # Two watchdog pings within a few periods (200 ms each).
            start = time.monotonic()
            wait_for(sock, "WATCHDOG", 3, seen)
            wait_for(sock, "WATCHDOG", 3, seen)
            if time.monotonic() - start > 3:
                fail("watchdog pings too slow")
            proc.send_signal(signal.SIGTERM)
            stopping = wait_for(sock, "STOPPING", 10, seen)
            if stopping["STOPPING"] != "1":
                fail(f"STOPPING message: {stopping}")
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                fail("the server did not stop within 10 s of SIGTERM (drain 2 s)")
            if code != 0:
                fail(f"exit code {code}")
            # After STOPPING no further watchdog pings.
            sock.settimeout(0.5)
            try:
                late = sock.recv(4096).decode()
                if "WATCHDOG" in late:
                    fail("a watchdog ping after STOPPING")
            except socket.timeout:
                pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sock.close()
            log.close()
    print("ok:", len(seen), "notifications")


if __name__ == "__main__":
    main()
