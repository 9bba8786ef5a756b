#!/usr/bin/env python3
"""`sluice cat` end to end: starts examples/echo_server on a free port, pipes
lines into `sluice cat ws://127.0.0.1:PORT`, and checks they come back on
stdout in order; then checks that --no-reconnect against a closed port exits
1 with the problem in plain words on stderr. Every step is bounded in time."""
import argparse
import socket
import subprocess
import sys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--echo-server", required=True)
    args = parser.parse_args()

    server = subprocess.Popen([args.echo_server, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()  # "listening on ws://127.0.0.1:PORT"
        if not line.startswith("listening on "):
            print(f"echo_server did not start: {line!r}")
            return 1
        url = line.split()[-1] + "/"

        lines = ["hello", "wörld ✓", "", "last line"]
        done = subprocess.run([args.sluice, "cat", url], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0 or done.stdout.splitlines() != lines:
            print(f"echo through sluice cat failed: rc={done.returncode}\n"
                  f"stdout={done.stdout!r}\nstderr={done.stderr!r}")
            return 1
        if "connected to " + url not in done.stderr:
            print(f"no 'connected to' on stderr: {done.stderr!r}")
            return 1

        # A line without a final newline is still sent; repeatable flags before
        # the URL do not swallow it.
        done = subprocess.run([args.sluice, "cat", "-q", "-H", "X-Test: 1", "-H", "X-Other: 2", "-s", "chat", url],
                              input="no newline",
                              capture_output=True, text=True, timeout=30)
        if done.stdout != "no newline\n" or done.stderr != "":
            print(f"-q / last line: stdout={done.stdout!r} stderr={done.stderr!r}")
            return 1
    finally:
        server.terminate()
        server.wait(timeout=10)

    # Nobody listens: --no-reconnect exits 1 and says why. stdin stays open
    # (a pipe we never close) so the exit comes from the connection ending.
    port = free_port()
    cat = subprocess.Popen([args.sluice, "cat", "--no-reconnect", f"ws://127.0.0.1:{port}/"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cat.wait(timeout=30)
    except subprocess.TimeoutExpired:
        cat.kill()
        print("sluice cat --no-reconnect did not exit")
        return 1
    out, err = cat.stdout.read(), cat.stderr.read()
    cat.stdin.close()
    if cat.returncode != 1 or f"connection refused by 127.0.0.1:{port}" not in err or out:
        print(f"--no-reconnect: rc={cat.returncode} stdout={out!r} stderr={err!r}")
        return 1

    bad = subprocess.run([args.sluice, "cat", "http://example.com"], capture_output=True, text=True, timeout=30)
    if bad.returncode != 2 or "not a ws:// or wss:// URL" not in bad.stderr:
        print(f"bad URL: rc={bad.returncode} stderr={bad.stderr!r}")
        return 1
    print("sluice cat: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
