"""Raw wire helpers for the hostile-input battery: plain sockets, HTTP/1.1
requests and responses read by hand, the WebSocket opening handshake, frames
built byte by byte (masked or not, any header bits, any length field), and
reading frames back until the server's close frame.

Nothing here trusts the server: every read has a deadline, every buffer a
bound, and "the server closed the connection" is an answer, not an error."""
import base64
import hashlib
import json
import os
import socket
import struct
import time
import zlib

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_READ = 64 * 1024 * 1024  # no test reads more than this from one socket

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The peer closed (EOF or reset) before the thing we waited for."""


class TimedOut(Exception):
    """The deadline passed before the thing we waited for."""


# Which case opened each client port: leaked server sockets name their case.
current_case = None
opened_by = {}


def note_port(sock):
    try:
        opened_by[sock.getsockname()[1]] = current_case
    except OSError:
        pass


def connect(port, timeout=5.0, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # before connect, so the window is small from the start
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    note_port(s)
    return s


def send_quietly(sock, data):
    """Sends what the peer takes; a peer that already closed is not our error."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


class Reader:
    """A buffered reader over a socket with an absolute deadline per call."""

    def __init__(self, sock, initial=b""):
        self.sock = sock
        self.buf = bytearray(initial)
        self.eof = False

    def _fill(self, deadline):
        if self.eof:
            raise Closed("connection closed")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimedOut("timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(256 * 1024)
        except socket.timeout:
            raise TimedOut("timed out") from None
        except (ConnectionResetError, BrokenPipeError) as e:
            self.eof = True
            raise Closed(f"connection reset ({e})") from None
        if not chunk:
            self.eof = True
            raise Closed("connection closed")
        if len(self.buf) + len(chunk) > MAX_READ:
            raise RuntimeError("peer sent more than the read bound")
        self.buf += chunk

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, marker, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[: i + len(marker)])
                del self.buf[: i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise RuntimeError("no %r within %d bytes" % (marker, limit))
            self._fill(deadline)

    def read_to_eof(self, deadline):
        """Everything until EOF; TimedOut if the peer keeps the connection open."""
        while True:
            try:
                self._fill(deadline)
            except Closed:
                out = bytes(self.buf)
                self.buf.clear()
                return out


# ---------------------------------------------------------------- HTTP

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def json(self):
        return strict_json(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:120]!r}>"


def read_response(reader, deadline):
    """One HTTP/1.1 response (Content-Length or close-delimited body)."""
    head = reader.read_until(b"\r\n\r\n", deadline, limit=64 * 1024)
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise RuntimeError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(parts[1])
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")))
    resp = Response(status, reason, headers, b"")
    length = resp.header("content-length")
    if length is not None:
        resp.body = reader.read_exact(int(length), deadline)
    elif resp.header("transfer-encoding"):
        raise RuntimeError("chunked responses are not expected from sluice")
    elif status not in (101, 204, 304):
        resp.body = reader.read_to_eof(deadline)
    return resp


def http_exchange(port, raw, timeout=5.0, responses=1):
    """Sends raw bytes, returns the list of responses read (fewer if the server
    closed first). Each element is a Response."""
    deadline = time.monotonic() + timeout
    sock = connect(port, timeout)
    try:
        send_quietly(sock, raw)
        reader = Reader(sock)
        out = []
        for _ in range(responses):
            try:
                out.append(read_response(reader, deadline))
            except Closed:
                break
            except TimedOut:
                if not out:
                    raise TimedOut(f"no response within {timeout} s") from None
                break  # some answered, the rest did not: the caller counts them
        return out
    finally:
        sock.close()


def http_one(port, raw, timeout=5.0):
    """The first response to raw bytes, or None if the server closed without one."""
    rs = http_exchange(port, raw, timeout)
    return rs[0] if rs else None


def request(method, target, body=None, headers=None, version="HTTP/1.1", host=True):
    """Builds a well-formed request; callers corrupt it as they please."""
    lines = [f"{method} {target} {version}"]
    if host:
        lines.append("Host: 127.0.0.1")
    for k, v in (headers or {}).items() if isinstance(headers, dict) else (headers or []):
        lines.append(f"{k}: {v}")
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if not any(k.lower() == "content-length" for k, _ in _pairs(headers)):
            lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return raw + (body or b"")


def _pairs(headers):
    if not headers:
        return []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def http_json(port, method, target, obj=None, timeout=5.0):
    body = None if obj is None else json.dumps(obj).encode()
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    return http_one(port, request(method, target, body, hdrs), timeout)


# ---------------------------------------------------------------- WebSocket

def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def upgrade_request(path="/v1/ws", key=None, version="13", extra=None, method="GET", omit=()):
    key = ws_key() if key is None else key
    headers = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    headers = [(k, v) for k, v in headers if k not in omit and v is not None]
    headers += list(extra or [])
    raw = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return raw.encode(), key


class WebSocket:
    """A client connection after a successful upgrade, speaking raw frames."""

    def __init__(self, sock, reader, response):
        self.sock = sock
        self.reader = reader
        self.response = response
        self.extensions = response.header("sec-websocket-extensions") or ""
        self.inflater = None

    def send_raw(self, data):
        return send_quietly(self.sock, data)

    def send(self, opcode, payload=b"", **kw):
        return self.send_raw(frame(opcode, payload, **kw))

    def send_text(self, text):
        return self.send(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        return self.send_text(json.dumps(obj))

    def recv_frame(self, timeout=5.0, deadline=None):
        """(fin, rsv, opcode, payload); raises Closed / TimedOut."""
        deadline = deadline or time.monotonic() + timeout
        b0, b1 = self.reader.read_exact(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self.reader.read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.reader.read_exact(8, deadline))[0]
        if b1 & 0x80:
            raise RuntimeError("server sent a masked frame")
        if n > MAX_READ:
            raise RuntimeError(f"server frame of {n} bytes")
        payload = self.reader.read_exact(n, deadline)
        return bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, payload

    def recv_message(self, timeout=5.0, deadline=None):
        """The next data message as (opcode, bytes); answers pings; a close
        frame raises Closed with its code in .args[1]."""
        deadline = deadline or time.monotonic() + timeout
        parts, op0, compressed = [], None, False
        while True:
            fin, rsv, op, payload = self.recv_frame(deadline=deadline)
            if op == OP_PING:
                self.send(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code, reason = parse_close(payload)
                raise Closed("close frame", code, reason)
            if op0 is None:
                op0, compressed = op, bool(rsv & 0x4)
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if compressed:
                    data = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")
                return op0, data

    def recv_json(self, timeout=5.0, deadline=None):
        _, data = self.recv_message(timeout, deadline)
        return strict_json(data)

    def recv_json_until(self, pred, timeout=5.0):
        """Reads messages until pred(msg) holds; returns that message."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv_json(deadline=deadline)
            if pred(msg):
                return msg

    def expect_close(self, timeout=5.0):
        """Reads until the server's close frame: returns (code, reason).
        ("EOF", None) if the connection ended without a close frame,
        ("TIMEOUT", None) if nothing ended it in time. Data frames are skipped."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                fin, rsv, op, payload = self.recv_frame(deadline=deadline)
                if op == OP_CLOSE:
                    code, reason = parse_close(payload)
                    self.send(OP_CLOSE, payload[:2])  # complete the close handshake
                    return code, reason
                if op == OP_PING:
                    self.send(OP_PONG, payload)
        except Closed:
            return "EOF", None
        except TimedOut:
            return "TIMEOUT", None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class NotJson(ValueError):
    """The server sent something that is not RFC 8259 JSON."""


def _no_constant(name):
    raise NotJson(f"not JSON: the server wrote {name}")


def strict_json(data):
    """json.loads without Python's extensions (NaN, Infinity, -Infinity)."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except NotJson as e:
        raise NotJson(f"{e} in {bytes(data[:160])!r}") from None


def parse_close(payload):
    if len(payload) >= 2:
        return struct.unpack(">H", payload[:2])[0], payload[2:].decode("utf-8", "replace")
    return (1005 if not payload else "SHORT"), ""


def ws_connect(port, path="/v1/ws", extra=None, timeout=5.0, rcvbuf=None):
    """Upgrades; returns a WebSocket, or raises AssertionError with the response."""
    deadline = time.monotonic() + timeout
    raw, key = upgrade_request(path, extra=extra)
    sock = connect(port, timeout, rcvbuf=rcvbuf)
    sock.sendall(raw)
    reader = Reader(sock)
    resp = read_response(reader, deadline)
    if resp.status != 101:
        sock.close()
        raise AssertionError(f"upgrade of {path} answered {resp.status} {resp.body[:200]!r}")
    if resp.header("sec-websocket-accept") != ws_accept(key):
        sock.close()
        raise AssertionError("bad Sec-WebSocket-Accept")
    return WebSocket(sock, reader, resp)


def upgrade_status(port, raw, timeout=5.0):
    """Sends an upgrade request as given; returns the Response (None if closed)."""
    return http_one(port, raw, timeout)


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None, length_form=None, mask_key=None):
    """One frame. rsv: 3 bits (4 = RSV1). length: the length to write in the
    header (default: the real one). length_form: force 7, 16 or 64-bit form."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0x0F)
    form = length_form or (7 if n < 126 else 16 if n <= 0xFFFF else 64)
    mbit = 0x80 if mask else 0
    if form == 7:
        head = struct.pack(">BB", b0, mbit | n)
    elif form == 16:
        head = struct.pack(">BBH", b0, mbit | 126, n)
    else:
        head = struct.pack(">BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(data, key):
    if not data:
        return b""
    # XOR with the 4-byte key, a whole int at a time (fast enough for MiBs).
    reps = key * (len(data) // 4 + 1)
    return (int.from_bytes(data, "big") ^ int.from_bytes(reps[: len(data)], "big")).to_bytes(len(data), "big")


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + (reason.encode() if isinstance(reason, str) else reason)


def deflate_message(data):
    """permessage-deflate payload of one message (RFC 7692 §7.2.1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]
