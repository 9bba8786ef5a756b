"""What the Redis engine's process tests share: a redis-server of their own (a
free loopback port, a temp dir, AOF), `sluice serve --engine redis://` nodes
on it, HTTP and /v1/ws helpers, and the run/cleanup wrapper (a time bound;
every process stopped; logs kept and shown on failure)."""
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
import wire  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")
WORK = tempfile.mkdtemp(prefix="sluice-redis-")
PROCESSES = []


def fail(message):
    print("FAIL:", message, flush=True)
    raise SystemExit(1)


def check(condition, message):
    if not condition:
        fail(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    fail(f"timed out waiting for {what}")


def redis_command(port, *args, tls=None):
    """One command over RESP (over TLS with `tls`, a TlsFiles); returns the raw
    reply bytes (enough for PING, CLIENT KILL, XLEN)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as plain:
        s = plain
        if tls:
            s = ssl.create_default_context(cafile=tls.cert).wrap_socket(plain, server_hostname="127.0.0.1")
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return s.recv(4096)


class Redis:
    """redis-server on a free loopback port with AOF (`tls`: a TlsFiles, then
    it listens for TLS only, and asks for no client certificate)."""

    def __init__(self, name="redis", tls=None, extra=()):
        self.name = name
        self.extra = list(extra)
        self.port = free_port()
        self.dir = os.path.join(WORK, name)
        self.tls = tls
        os.makedirs(self.dir)
        self.process = None

    def start(self):
        listen = ["--port", str(self.port)]
        if self.tls:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", self.tls.cert,
                      "--tls-key-file", self.tls.key, "--tls-ca-cert-file", self.tls.cert, "--tls-auth-clients", "no"]
        self.process = subprocess.Popen(
            [REDIS_SERVER, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", self.dir, "--daemonize", "no", *self.extra],
            stdout=open(os.path.join(WORK, self.name + ".redis-log"), "ab"), stderr=subprocess.STDOUT)
        PROCESSES.append(self.process)

        def pong():
            try:
                return redis_command(self.port, "PING", tls=self.tls).startswith((b"+PONG", b"-NOAUTH"))
            except OSError:
                return False
        wait_for("redis-server to answer PING", pong)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA), made by the openssl CLI."""

    def __init__(self, name="tls"):
        self.cert = os.path.join(WORK, name + "-cert.pem")
        self.key = os.path.join(WORK, name + "-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", self.key, "-out", self.cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)


class Node:
    """`sluice serve` on a free port with the Redis engine at `redis_port` (a
    list of ports: one shard each, in that order) (`extra`: more flags;
    `scheme`: rediss for TLS); waits for /ready unless `wait` is false."""

    def __init__(self, name, redis_port, extra=(), scheme="redis", wait=True):
        self.name = name
        self.port = free_port()
        data_dir = os.path.join(WORK, name)
        ports = redis_port if isinstance(redis_port, (list, tuple)) else [redis_port]
        engines = [arg for p in ports for arg in ("--engine", f"{scheme}://127.0.0.1:{p}")]
        self.process = subprocess.Popen(
            [BINARY, "serve", "--address", "127.0.0.1", "--port", str(self.port), "--threads", "2",
             *engines, "--data-dir", data_dir, "--shutdown-drain", "1", *extra],
            stdout=open(os.path.join(WORK, name + ".log"), "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")})
        PROCESSES.append(self.process)
        self.log = os.path.join(WORK, name + ".log")
        if wait:
            wait_for(f"node {name} /ready", lambda: self.ready())

    def ready(self):
        try:
            return wire.http_json(self.port, "GET", "/ready", timeout=2).status == 200
        except (OSError, wire.Closed, wire.TimedOut):
            return False

    def post(self, path, body, timeout=5.0):
        """POST `body` as JSON: the wire.Response (status, headers, json())."""
        return wire.http_json(self.port, "POST", path, body, timeout=timeout)

    def publish(self, topic, data, timeout=5.0):
        r = self.post("/v1/events", {"topic": topic, "data": data}, timeout=timeout)
        return r.status, r.json()

    def publish_retrying(self, topic, data, timeout=15.0):
        """Publishes, retrying 503 engine_unavailable (a node reconnecting)."""
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.publish(topic, data)
            if status == 201:
                return body
            check(status == 503 and body.get("error") == "engine_unavailable", f"{self.name}: {status} {body}")
            check(time.monotonic() < deadline, f"{self.name}: still 503 after {timeout}s")
            time.sleep(0.05)

    def history(self, topic):
        r = wire.http_json(self.port, "GET", f"/v1/events?topic={topic}&limit=1000")
        check(r.status == 200, f"{self.name} history: {r.status} {r.body[:200]!r}")
        return r.json()["events"]


def subscribe(node, topic):
    ws = wire.ws_connect(node.port, "/v1/ws")
    ws.send_json({"op": "subscribe", "id": 1, "topic": topic})
    ack = ws.recv_json_until(lambda m: m.get("type") in ("ack", "error"))
    check(ack.get("type") == "ack", f"subscribe on {node.name}: {ack}")
    return ws


def receive_events(ws, count, timeout=15.0):
    """The next `count` events on `ws` (kept past `count` for the next call)."""
    events = getattr(ws, "buffered", [])[:count]
    ws.buffered = getattr(ws, "buffered", [])[count:]
    deadline = time.monotonic() + timeout
    while len(events) < count:
        check(time.monotonic() < deadline, f"got {len(events)} of {count} events: {[e['offset'] for e in events]}")
        msg = ws.recv_json(deadline=deadline)
        if msg.get("type") == "event":
            events.append(msg["event"])
    return events


class WebhookReceiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: keeps every delivered body (parsed) while it answers
    200; answers `WebhookReceiver.status` (e.g. 503: retry later)."""
    protocol_version = "HTTP/1.1"
    status = 200
    bodies = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = WebhookReceiver.status
        if status == 200:
            with WebhookReceiver.lock:
                WebhookReceiver.bodies.append(json.loads(body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

    @staticmethod
    def start():
        """Serves on a free loopback port; returns (server, the webhook object for it)."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WebhookReceiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, {"url": f"http://127.0.0.1:{server.server_address[1]}/hook"}

    @staticmethod
    def delivered(*fields):
        """The delivered bodies' `fields`, as tuples, in arrival order."""
        with WebhookReceiver.lock:
            return [tuple(b[f] for f in fields) for b in WebhookReceiver.bodies]


def cleanup():
    for p in reversed(PROCESSES):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(PROCESSES):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(main, seconds=170):
    """Runs `main` (returns 0, or 77 to skip) within `seconds`, then stops
    every process; exits with its code. Usage: test.py path/to/sluice."""
    global BINARY
    BINARY = sys.argv[1]
    signal.signal(signal.SIGALRM, lambda *_: fail(f"the whole test took over {seconds} s"))
    signal.alarm(seconds)
    code = 1
    try:
        code = 77 if not REDIS_SERVER else main()
        if code == 77:
            print("SKIP: redis-server is not installed (scripts/install-deps.sh)")
    finally:
        cleanup()
        if code == 0 or code == 77:
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            print("logs kept in", WORK, flush=True)
            for name in sorted(os.listdir(WORK)):
                path = os.path.join(WORK, name)
                if name.endswith(".log"):
                    print(f"--- {name} (last lines)")
                    print("".join(open(path, errors="replace").readlines()[-20:]))
    sys.exit(code)


BINARY = None  # set by run()
