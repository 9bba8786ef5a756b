#!/usr/bin/env python3
"""`sluice cat` end to end: starts examples/echo_server on a free port, pipes
lines into `sluice cat ws://127.0.0.1:PORT`, and checks they come back on
stdout in order; then checks that --no-reconnect against a closed port exits
1 with the problem in plain words on stderr, that lines never sent (refused,
or an HTTP 404) exit 1, and that a 404 on "/" hints at /v1/ws. Every step is
bounded in time."""
import argparse
import socket
import subprocess
import sys
import threading


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotFoundServer:
    """Answers every request with HTTP 404 (a server without that WebSocket path)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self):
        self.sock.close()


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

    # stdin ends before the connection fails for good: the line was never sent, so exit 1.
    done = subprocess.run([args.sluice, "cat", "--no-reconnect", f"ws://127.0.0.1:{free_port()}/v1/ws"],
                          input="x\n", capture_output=True, text=True, timeout=30)
    if done.returncode != 1:
        print(f"refused, line never sent: rc={done.returncode} stderr={done.stderr!r}")
        return 1
    not_found = NotFoundServer()
    try:
        done = subprocess.run([args.sluice, "cat", "--no-reconnect", f"ws://127.0.0.1:{not_found.port}/v1/ws"],
                              input="x\n", capture_output=True, text=True, timeout=30)
        if done.returncode != 1 or "404" not in done.stderr or "hint" in done.stderr:
            print(f"HTTP 404, line never sent: rc={done.returncode} stderr={done.stderr!r}")
            return 1
        # No path: cat sends "/" as given, and on a 404 says where a Sluice server listens.
        base = f"ws://127.0.0.1:{not_found.port}"
        cat = subprocess.Popen([args.sluice, "cat", base], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            cat.wait(timeout=30)  # stdin stays open: the 404 ends it
        except subprocess.TimeoutExpired:
            cat.kill()
            print("sluice cat on a 404 did not exit")
            return 1
        err = cat.stderr.read()
        cat.stdin.close()
        if cat.returncode != 1 or f"hint: a Sluice server's WebSocket endpoint is /v1/ws: try {base}/v1/ws" not in err:
            print(f"404 on /: rc={cat.returncode} stderr={err!r}")
            return 1
    finally:
        not_found.close()

    bad = subprocess.run([args.sluice, "cat", "http://example.com"], capture_output=True, text=True, timeout=30)
    if bad.returncode != 2 or "not a ws:// or wss:// URL" not in bad.stderr:
        print(f"bad URL: rc={bad.returncode} stderr={bad.stderr!r}")
        return 1
    print("sluice cat: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
