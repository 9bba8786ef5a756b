"""What the Centrifugo Python tests share: a free loopback port, a `sluice
serve` started and stopped around a test, and failing with a message (exit
1, which ctest reports)."""
import contextlib
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


@contextlib.contextmanager
def sluice_serve(binary, args, timeout=30):
    """`binary serve --port P *args` on a free loopback port, until it logs that
    it listens; yields P, and stops the server on the way out. Its log goes to
    a temporary file (no pipe it could fill), shown if it does not start."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen([binary, "serve", "--port", str(port), *args], stdout=log,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                log.seek(0)
                text = log.read()
                if "listening on" in text:
                    break
                if server.poll() is not None or time.monotonic() > deadline:
                    fail("sluice serve did not start: " + text)
                time.sleep(0.05)
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
