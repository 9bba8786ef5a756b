#!/usr/bin/python3
"""Python interop peer for Sluice, on Debian's python3-websockets 10.4 (asyncio API).

Run it with the system interpreter, /usr/bin/python3 (it has websockets).

  py_peer.py server [--deflate on|off] [--garbage]
      Echo server on 127.0.0.1, any free port; the first stdout line is
      "listening on ws://127.0.0.1:PORT". --garbage: a raw asyncio server that
      answers the handshake and then sends one invalid frame per request path
      (the cases of garbage_cases(), named as in frames.mjs); GET /report then
      sends, as one text message, the close code the client answered each with.
  py_peer.py client --url URL [--deflate on|off]
      Runs the interop scenario against an echo server at URL.

The client prints one line per check and exits 0 only if every check passed.
"""

import argparse
import asyncio
import base64
import hashlib
import os
import random
import signal
import struct
import sys

import websockets

MIB = 1024 * 1024
STEP_TIMEOUT = 30.0
CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
               3000, 3999, 4000, 4999]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --- raw frames (for the garbage server) ---

def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, mask: bool = False) -> bytes:
    """One frame; rsv is the RSV1..RSV3 field (4 = RSV1, 2 = RSV2, 1 = RSV3)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_frame(code=None, reason: bytes = b"") -> bytes:
    return frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)


def garbage_cases():
    """Frames a server must not send, and the close code a client must answer
    with (RFC 6455 §5.2, §5.3, §5.5, §7.4.1, §8.1); the same cases as frames.mjs."""
    return {
        "reserved-opcode": (1002, frame(0x3, b"x")),
        "reserved-control-opcode": (1002, frame(0xB)),
        "rsv2-set": (1002, frame(0x1, b"hi", rsv=2)),
        "rsv1-without-extension": (1002, frame(0x1, b"hi", rsv=4)),
        "masked-server-frame": (1002, frame(0x1, b"hi", mask=True)),
        "continuation-without-start": (1002, frame(0x0, b"x")),
        "fragmented-ping": (1002, frame(0x9, b"p", fin=False)),
        "long-ping": (1002, frame(0x9, b"a" * 126)),
        "bad-close-code": (1002, close_frame(1005)),
        "one-byte-close": (1002, frame(0x8, b"\x03")),
        "invalid-utf8-text": (1007, frame(0x1, b"hi\xff")),
        # "ok" + E2 82 | 28: the sequence turns invalid only in the second fragment.
        "invalid-utf8-fragmented": (1007, frame(0x1, b"ok\xe2\x82", fin=False) + frame(0x0, b"\x28")),
        "invalid-utf8-close-reason": (1007, close_frame(1000, b"\xff")),
    }


async def read_frame(reader: asyncio.StreamReader):
    """Reads one frame: (opcode, masked, unmasked payload). Raises IncompleteReadError at EOF."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    masked = bool(b1 & 0x80)
    key = await reader.readexactly(4) if masked else b"\0\0\0\0"
    payload = bytes(b ^ key[i & 3] for i, b in enumerate(await reader.readexactly(n)))
    return b0 & 0x0F, masked, payload


async def run_garbage_server():
    cases = garbage_cases()
    results = {}
    pending = set()

    async def read_client_close(reader) -> str:
        """The client's answer: its close code, 'unmasked-close', 'close-without-code' or 'none'."""
        try:
            while True:
                opcode, masked, payload = await read_frame(reader)
                if opcode == 0x8:
                    if not masked:
                        return "unmasked-close"
                    return str(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else "close-without-code"
        except (asyncio.IncompleteReadError, ConnectionError):
            return "none"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            path = head.split(" ", 2)[1].lstrip("/")
            key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                       if line.lower().startswith("sec-websocket-key:"))
            response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode()
            if path == "report":
                if pending:
                    await asyncio.wait(set(pending), timeout=15)
                lines = "\n".join(f"{name} {result}" for name, result in results.items())
                writer.write(response + frame(0x1, lines.encode()) + close_frame(1000))
                await read_client_close(reader)
            elif path in cases:
                # The 101 and the garbage go out in two writes here (one in ws_peer.mjs),
                # so both the client's "frames after the head" and "frames later" paths run.
                writer.write(response)
                await writer.drain()
                writer.write(cases[path][1])
                await writer.drain()
                task = asyncio.current_task()
                pending.add(task)
                try:
                    result = await read_client_close(reader)
                    try:
                        # After failing the connection the client must close TCP too.
                        await asyncio.wait_for(reader.read(), 10)
                    except asyncio.TimeoutError:
                        result += "-but-tcp-left-open"
                    results[path] = result
                finally:
                    pending.discard(task)
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError, StopIteration) as e:
            print(f"py_peer garbage server: {type(e).__name__} {e}", file=sys.stderr)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    announce(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


def announce(port: int):
    print(f"listening on ws://127.0.0.1:{port}", flush=True)


async def run_echo_server(deflate: bool):
    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.exceptions.ConnectionClosed:
            pass  # closes with codes other than 1000/1001 are part of the scenario

    async with websockets.serve(echo, "127.0.0.1", 0, compression="deflate" if deflate else None,
                                max_size=None, ping_interval=None) as server:
        announce(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()


# --- client scenario ---

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)
        return ok

    def summary(self, who: str) -> int:
        print(f"{who}: {self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


def random_utf8(size: int) -> str:
    """Random valid UTF-8 text of exactly `size` bytes, mostly multibyte characters."""
    rng = random.Random()
    chars, used = [], 0
    while size - used >= 4:
        kind = rng.randrange(4)
        if kind == 0:
            cp = rng.randrange(0x20, 0x7F)
        elif kind == 1:
            cp = rng.randrange(0x80, 0x800)
        elif kind == 2:
            cp = rng.choice([rng.randrange(0x800, 0xD800), rng.randrange(0xE000, 0x10000)])
        else:
            cp = rng.randrange(0x10000, 0x110000)
        c = chr(cp)
        chars.append(c)
        used += len(c.encode())
    chars.append("x" * (size - used))
    text = "".join(chars)
    assert len(text.encode()) == size
    return text


def describe(value) -> str:
    kind = "text" if isinstance(value, str) else "binary"
    return f"{kind} message of {len(value.encode() if isinstance(value, str) else value)} bytes"


def difference(got, want) -> str:
    if type(got) is not type(want):
        return f"got a {describe(got)}, expected a {describe(want)}"
    g = got.encode() if isinstance(got, str) else got
    w = want.encode() if isinstance(want, str) else want
    if len(g) != len(w):
        return f"length {len(g)}, expected {len(w)}"
    first = next((i for i in range(len(g)) if g[i] != w[i]), None)
    return "equal" if first is None else f"first difference at byte {first}"


def connect(url: str, deflate: bool):
    return websockets.connect(url, compression="deflate" if deflate else None, max_size=None,
                              ping_interval=None, close_timeout=STEP_TIMEOUT, open_timeout=STEP_TIMEOUT)


async def expect_echo(checks: Checks, ws, name: str, message, want=None):
    """Sends `message` (a str, bytes, or a list of fragments) and checks the echo equals `want`."""
    want = message if want is None else want
    try:
        await asyncio.wait_for(ws.send(message), STEP_TIMEOUT)
        got = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
        checks.check(name, type(got) is type(want) and got == want, difference(got, want))
    except Exception as e:  # timeouts and ConnectionClosed are failures of this check
        checks.check(name, False, f"{type(e).__name__} {e}")


async def expect_pong(checks: Checks, ws, name: str, payload: bytes):
    try:
        # websockets resolves the waiter only for a pong carrying exactly this payload.
        waiter = await ws.ping(payload)
        await asyncio.wait_for(waiter, STEP_TIMEOUT)
        checks.check(name, True)
    except Exception as e:
        checks.check(name, False, f"{type(e).__name__} {e}")


async def close_cleanly(checks: Checks, ws, name: str, code: int):
    try:
        await asyncio.wait_for(ws.close(code, f"bye {code}"), STEP_TIMEOUT)
        await asyncio.wait_for(ws.wait_closed(), STEP_TIMEOUT)
        rcvd, sent = ws.close_rcvd, ws.close_sent
        ok = (rcvd is not None and sent is not None and rcvd.code == code and sent.code == code
              and ws.close_rcvd_then_sent is False)
        checks.check(name, ok, f"sent {sent}, received {rcvd}, received first: {ws.close_rcvd_then_sent}")
    except Exception as e:
        checks.check(name, False, f"{type(e).__name__} {e}")


async def run_client(url: str, deflate: bool) -> int:
    checks = Checks()
    try:
        ws = await asyncio.wait_for(connect(url, deflate), STEP_TIMEOUT)
    except Exception as e:
        checks.check("connect", False, f"{type(e).__name__} {e}")
        return checks.summary("python client")
    checks.check("connect", True)
    names = [ext.name for ext in ws.extensions]
    checks.check(f"permessage-deflate {'' if deflate else 'not '}negotiated",
                 ("permessage-deflate" in names) == deflate, f"extensions {names}")

    await expect_echo(checks, ws, "text echo", "hello, sluice ✓ ünïcödé 🚀")
    await expect_echo(checks, ws, "binary echo", bytes(range(256)))
    await expect_echo(checks, ws, "empty text echo", "")
    await expect_echo(checks, ws, "empty binary echo", b"")
    # websockets sends an iterable as one fragmented message (str pieces: text frames).
    parts = ["frag ", "✓ ", "mented"]
    await expect_echo(checks, ws, "fragmented text echo (3 frames)", parts, "".join(parts))
    blocks = [bytes([0x41 + i]) * 4096 for i in range(3)]
    await expect_echo(checks, ws, "fragmented binary echo (3 x 4 KiB)", blocks, b"".join(blocks))
    await expect_pong(checks, ws, "ping -> pong with the same payload", "ping ✓ ".encode() + b"\x00\xff")
    await expect_pong(checks, ws, "ping with 125-byte payload -> same pong", os.urandom(125))
    await expect_echo(checks, ws, "1 MiB multibyte UTF-8 text echo", random_utf8(MIB))
    await expect_echo(checks, ws, "16 MiB random binary echo", os.urandom(16 * MIB))
    await close_cleanly(checks, ws, "close 1000 after the scenario: clean, code 1000", 1000)

    for code in CLOSE_CODES:
        name = f"close {code}: echoed, clean"
        try:
            ws = await asyncio.wait_for(connect(url, deflate), STEP_TIMEOUT)
        except Exception as e:
            checks.check(name, False, f"connect: {type(e).__name__} {e}")
            continue
        await close_cleanly(checks, ws, name, code)
    return checks.summary("python client")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--deflate", choices=["on", "off"], default="on")
    parser.add_argument("--garbage", action="store_true")
    parser.add_argument("--url")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.mode == "server":
        try:
            asyncio.run(run_garbage_server() if args.garbage else run_echo_server(args.deflate == "on"))
        except KeyboardInterrupt:
            pass
        return 0
    if not args.url:
        parser.error("client needs --url")
    return asyncio.run(run_client(args.url, args.deflate == "on"))


if __name__ == "__main__":
    sys.exit(main())
