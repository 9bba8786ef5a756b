"""The battery's small framework: a case registry, the server under test as a
child process (free loopback port, memory store, short timeouts), its memory
read from /proc, and the well-behaved "canary" client that keeps publishing
over HTTP and receiving over /v1/ws while the attacks run."""
import json
import mmap
import os
import signal
import subprocess
import tempfile
import threading
import time

import wire

# ---------------------------------------------------------------- registry

CASES = []  # (group, name, fn, expected_failure_note)


class Skip(Exception):
    """A case that cannot run yet; counted as skipped, never as passed."""


class CaseFailed(AssertionError):
    pass


def case(name, group=None):
    def register(fn):
        CASES.append((group or name.split(".")[0], name, fn))
        return fn
    return register


def add_case(name, fn, group=None):
    CASES.append((group or name.split(".")[0], name, fn))


def check(cond, message):
    if not cond:
        raise CaseFailed(message)


def expect_status(resp, *statuses, what=""):
    if resp is None:
        raise CaseFailed(f"{what}no response (connection closed), expected {'/'.join(map(str, statuses))}")
    if resp.status not in statuses:
        raise CaseFailed(f"{what}got {resp.status} {resp.body[:160]!r}, expected {'/'.join(map(str, statuses))}")
    return resp


def expect_close(ws, *codes, timeout=5.0, what=""):
    code, reason = ws.expect_close(timeout)
    ws.close()
    if code not in codes:
        raise CaseFailed(f"{what}got close {code} {reason!r}, expected {'/'.join(map(str, codes))}")
    return code, reason


# ---------------------------------------------------------------- the server

def sanitizer_of(binary):
    """'address', 'thread' or None: sanitizer builds need more memory and time."""
    try:
        with open(binary, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b"__asan_init") >= 0:
                return "address"
            if data.find(b"__tsan_init") >= 0:
                return "thread"
    except (OSError, ValueError):
        pass
    return None


def proc_status(pid):
    """VmRSS and VmHWM (peak RSS) of a process in KiB, from /proc/PID/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def fd_targets(pid):
    """What each descriptor of a process points at (readlink of /proc/PID/fd/N);
    None when the process is gone."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    targets = []
    for fd in names:
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile
    return targets


def socket_states(pid):
    """The TCP state and peer port of each socket a process holds, e.g.
    ["LISTEN :0", "CLOSE_WAIT :41234"], from /proc/PID/fd and /proc/net/tcp."""
    targets = fd_targets(pid)
    if targets is None:
        return []
    inodes = {t[8:-1] for t in targets if t.startswith("socket:[")}
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[9] in inodes:
                        peer = int(cols[2].split(":")[1], 16)
                        who = f" ({wire.opened_by[peer]})" if peer in wire.opened_by else ""
                        out.append(f"{TCP_STATES.get(cols[3], cols[3])} :{peer}{who}")
        except OSError:
            pass
    return sorted(out)


def wait_released(server, ports, within):
    """Waits until the server holds no socket connected to any of `ports`;
    returns the states of those it still holds after `within` seconds."""
    ports = set(ports)
    deadline = time.monotonic() + within
    while True:
        held = [st for st in socket_states(server.proc.pid) if int(st.split(":")[1].split()[0]) in ports]
        if not held or time.monotonic() > deadline:
            return held
        time.sleep(0.05)  # the server's loops notice the EOFs


def fd_kinds(pid):
    """What a process's descriptors are: {"socket": n, "anon_inode:[eventfd]": n, ...}."""
    kinds = {}
    for target in fd_targets(pid) or []:
        kind = target.split(":[")[0] if target.startswith("socket:") else target
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


class Server:
    """`sluice serve` on a free loopback port with the given options."""

    def __init__(self, binary, options, name="sluice"):
        self.binary = binary
        self.options = list(options)
        self.name = name
        self.proc = None
        self.port = None
        self.log_path = None

    def start(self, timeout=30.0):
        fd, self.log_path = tempfile.mkstemp(prefix=f"hostile-{self.name}-", suffix=".log")
        log = os.fdopen(fd, "w")
        self.proc = subprocess.Popen([self.binary, "serve", "--port", "0", "--store", "memory", *self.options],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        marker = "listening on ws://127.0.0.1:"
        while time.monotonic() < deadline:
            text = self.log()
            i = text.find(marker)
            if i >= 0:
                digits = text[i + len(marker):].split("/", 1)[0]
                if digits.isdigit() and "/" in text[i + len(marker):]:
                    self.port = int(digits)
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)  # polling the child's log file: nothing to wait on
        raise RuntimeError(f"{self.name} did not start: {self.log()[-2000:]}")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def memory(self):
        return proc_status(self.proc.pid)

    def fds(self):
        return open_fds(self.proc.pid)

    def fd_kinds(self):
        return fd_kinds(self.proc.pid)

    def sockets(self):
        return socket_states(self.proc.pid)

    def stop(self, timeout=30.0):
        """SIGTERM, then the exit code (SIGKILL and None if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.log_path:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


def wait_port_answers(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = wire.http_one(port, wire.request("GET", "/health"), timeout=2)
            if r is not None and r.status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)  # retrying a probe until the server answers
    return False


# ---------------------------------------------------------------- the canary

class Canary:
    """A well-behaved client that runs during the whole battery: publishes one
    event every `interval` over HTTP (keep-alive) on its own topic, and reads
    them back on a /v1/ws subscription. Records the HTTP round trip and the
    publish-to-delivery latency of each event, and every anomaly."""

    TOPIC = "canary.events"

    def __init__(self, port, interval=0.05):
        self.port = port
        self.interval = interval
        self.stop_flag = threading.Event()
        self.publishing_done = False
        self.lock = threading.Lock()
        self.sent_at = {}        # seq -> monotonic time the POST was sent
        self.http_rtt = []       # seconds per publish
        self.delivery = []       # seconds publish -> event on the socket
        self.received = []       # seqs in arrival order
        self.offsets = []
        self.errors = []
        self.ws = None
        self.threads = []

    def start(self):
        self.ws = wire.ws_connect(self.port)
        self.ws.send_json({"op": "subscribe", "id": "canary", "topic": self.TOPIC})
        ack = self.ws.recv_json(timeout=10)
        if ack.get("type") != "ack":
            raise RuntimeError(f"canary subscribe: {ack}")
        self.threads = [threading.Thread(target=self._publish, daemon=True, name="canary-pub"),
                        threading.Thread(target=self._receive, daemon=True, name="canary-sub")]
        for t in self.threads:
            t.start()
        return self

    def _error(self, text):
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append(text)

    def _publish(self):
        seq = 0
        sock, reader = None, None
        while not self.stop_flag.is_set() and not self.publishing_done:
            seq += 1
            body = json.dumps({"topic": self.TOPIC, "data": {"seq": seq}}).encode()
            raw = wire.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
            t0 = time.monotonic()
            with self.lock:
                self.sent_at[seq] = t0
            try:
                if sock is None:
                    sock = wire.connect(self.port, 5)
                    reader = wire.Reader(sock)
                sock.sendall(raw)
                resp = wire.read_response(reader, time.monotonic() + 5)
                rtt = time.monotonic() - t0
                with self.lock:
                    self.http_rtt.append(rtt)
                if resp.status != 201:
                    self._error(f"publish {seq}: {resp.status} {resp.body[:100]!r}")
                if (resp.header("connection") or "").lower() == "close":
                    sock.close()
                    sock = None
            except (OSError, wire.Closed, wire.TimedOut, RuntimeError) as e:
                self._error(f"publish {seq}: {type(e).__name__} {e}")
                with self.lock:
                    self.http_rtt.append(5.0)
                if sock:
                    sock.close()
                sock = None
            self.stop_flag.wait(self.interval)
        if sock:
            sock.close()

    def _receive(self):
        while not self.stop_flag.is_set():
            try:
                msg = self.ws.recv_json(timeout=0.5)
            except wire.TimedOut:
                continue
            except (wire.Closed, OSError, ValueError) as e:
                if not self.stop_flag.is_set():
                    self._error(f"subscriber: {type(e).__name__} {e.args}")
                return
            now = time.monotonic()
            if msg.get("type") != "event":
                self._error(f"subscriber got {str(msg)[:120]}")
                continue
            ev = msg["event"]
            seq = ev["data"]["seq"]
            with self.lock:
                self.received.append(seq)
                self.offsets.append(ev["offset"])
                t0 = self.sent_at.get(seq)
                if t0 is not None:
                    self.delivery.append(now - t0)

    def stop(self):
        """Stops publishing, waits (3 s at most) for the last events to arrive."""
        self.publishing_done = True
        self.threads[0].join(timeout=10)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= len(self.sent_at):
                    break
            time.sleep(0.02)  # the reader thread is catching up
        self.stop_flag.set()
        self.threads[1].join(timeout=10)
        self.ws.close()

    def report(self):
        with self.lock:
            return dict(sent=len(self.sent_at), received=len(self.received), offsets=list(self.offsets),
                        http=sorted(self.http_rtt), delivery=sorted(self.delivery), errors=list(self.errors))


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[i]
