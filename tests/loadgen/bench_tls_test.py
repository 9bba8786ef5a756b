#!/usr/bin/env python3
"""`sluice bench` over wss:// and https://, and storm with --restart-cmd, on
loopback: a self-signed certificate made with `openssl req` for 127.0.0.1,
`sluice serve --tls-cert/--tls-key` on a free port, and every scenario run
briefly with real counts checked against the server (publishes in the topic,
every offset delivered once to every subscriber). echo goes to a small TLS
WebSocket echo server here (Sluice has no echo route). Also: an untrusted
certificate fails with a clear message, --insecure warns, and storm with
--restart-cmd restarts a durable server twice without losing an event (and
reports the loss of a memory-mode server's history as not_recovered)."""
import asyncio, base64, hashlib, json, os, socket, ssl, struct, subprocess, sys, tempfile, threading, time
import urllib.request

SLUICE = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
RESTART = os.path.join(HERE, "restart_server.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadgen_test_util import free_port, wait_listening  # noqa: E402


def bench(*args, timeout=60):
    return subprocess.run([SLUICE, "bench", *args], capture_output=True, text=True, timeout=timeout)


def last_json(r):
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def last_offset(port, topic, context):
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/v1/topics?limit=1000", timeout=10,
                                context=context) as response:
        topics = json.loads(response.read())["topics"]
    return next((t["lastOffset"] for t in topics if t["topic"] == topic), 0)


# --- a minimal TLS WebSocket echo server (RFC 6455: unmasked replies, one frame each) ---
async def echo_client(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            b0, b1 = await reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await reader.readexactly(8))[0]
            mask = await reader.readexactly(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
            opcode = b0 & 0x0F
            if opcode == 8:
                writer.write(b"\x88\x02\x03\xe8")
                await writer.drain()
                break
            header = bytes([0x80 | opcode])
            header += bytes([length]) if length < 126 else b"\x7e" + struct.pack("!H", length)
            writer.write(header + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


def start_echo_server(port, cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve():
        await asyncio.start_server(echo_client, "127.0.0.1", port, ssl=context)
        started.set()

    def run():
        loop.run_until_complete(serve())
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    assert started.wait(10), "echo server did not start"


tmp = tempfile.mkdtemp()
cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
                "-out", cert], check=True, capture_output=True)
https = ssl.create_default_context(cafile=cert)

port = free_port()
server = subprocess.Popen([SLUICE, "serve", "--store", "memory", "--port", str(port), "--tls-cert", cert,
                           "--tls-key", key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
restart_pidfile = os.path.join(tmp, "restarted.pid")
try:
    wait_listening(port, server)
    wss = f"wss://127.0.0.1:{port}/v1/ws"
    trust = ["--cafile", cert]
    short = ["--warmup", "0.2", "--duration", "1", "--json"]

    r = bench("fanout", "--url", wss, *trust, "-n", "20", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["deliveries"] > 0 and result["rate"] > 0, result
    assert result["out_of_order"] == 0 and result["unexpected"] == 0, result
    assert "warning: --insecure" not in r.stderr, r.stderr  # (a busy load client may be warned about)

    # Two load threads share the TLS settings; every subscriber gets every event.
    r = bench("fanout", "--url", wss, *trust, "-n", "20", "--threads", "2", "--topic", "bench.tls2", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["threads"] == 2 and result["out_of_order"] == 0 and result["lost"] == 0, result
    assert result["published"] > 0 and result["deliveries_total"] == 20 * result["published"], result
    assert last_offset(port, "bench.tls2", https) == result["published"] + result["syncs"], result

    r = bench("fanout", "--preset", "centrifugo", "--url", f"wss://127.0.0.1:{port}/connection/websocket", *trust,
              "-n", "10", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["deliveries"] > 0 and result["out_of_order"] == 0 and result["unexpected"] == 0, result

    # --insecure: no check, and a warning saying so.
    r = bench("idle", "--url", wss, "--insecure", "-n", "40", "--duration", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    assert last_json(r)["open"] == 40, r.stdout
    assert "warning: --insecure" in r.stderr, r.stderr

    r = bench("churn", "--url", wss, *trust, "-n", "8", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["cycles"] > 0 and result["failures"] == 0, result

    r = bench("storm", "--url", wss, *trust, "-n", "20", "--rate", "1000", "--cuts", "2", "--warmup", "0.3",
              "--duration", "0.6", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = last_json(r)
    assert result["cuts"] == 2 and result["reconnected"] == 20, result
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["not_recovered"] == 0, result
    assert result["published"] > 0 and result["deliveries"] == 20 * result["published"], result
    assert last_offset(port, result["topic"], https) == result["published"], result

    r = bench("publish", "--url", f"https://127.0.0.1:{port}/v1/events", *trust, "-n", "4", "--pipeline", "2",
              "--topic", "bench.tls", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["published"] > 0 and result["rate"] > 0, result
    assert result["non_2xx"] == 0 and result["errors"] == 0 and result["unanswered"] == 0, result
    assert last_offset(port, "bench.tls", https) == result["published"], result

    echo_port = free_port()
    start_echo_server(echo_port, cert, key)
    r = bench("echo", "--url", f"wss://127.0.0.1:{echo_port}/", *trust, "-n", "4", "--payload", "20000", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["messages"] > 0 and result["unexpected"] == 0, result
    r = bench("echo", "--url", f"wss://127.0.0.1:{echo_port}/", *trust, "-n", "4", "--threads", "2", *short)
    assert r.returncode == 0, r.stderr
    result = last_json(r)
    assert result["threads"] == 2 and result["messages"] > 0 and result["unexpected"] == 0, result

    # Without --cafile the system's store does not trust a self-signed certificate.
    r = bench("fanout", "--url", wss, "-n", "2", *short)
    assert r.returncode == 1 and "not trusted" in r.stderr and "--cafile" in r.stderr, r.stderr
    r = bench("publish", "--url", f"https://127.0.0.1:{port}", "-n", "1", *short)
    assert r.returncode == 1 and "not trusted" in r.stderr, r.stdout + r.stderr

    for bad in (["fanout", "--url", f"ws://127.0.0.1:{port}/v1/ws", "--cafile", cert],
                ["fanout", "--url", wss, "--cafile", cert, "--insecure"],
                ["fanout", "--url", wss, "--cafile", os.path.join(tmp, "missing.pem")],
                ["fanout", "--url", wss, "--restart-cmd", "true"]):
        r = bench(*bad)
        assert r.returncode == 2 and "sluice bench" in r.stderr, (bad, r.returncode, r.stderr)

    # storm --restart-cmd: a durable server restarted twice; every offset of
    # the topic reaches every subscriber once (publishes the server never
    # answered before it went may have been stored: those count too).
    restart_port = free_port()
    restart = [sys.executable, RESTART, restart_pidfile, str(restart_port), "--", SLUICE, "serve", "--port",
               str(restart_port), "--data-dir", os.path.join(tmp, "data"), "--tls-cert", cert, "--tls-key", key]
    subprocess.run(restart, check=True, timeout=40)
    command = " ".join(restart)
    r = bench("storm", "--url", f"wss://127.0.0.1:{restart_port}", *trust, "-n", "20", "--rate", "500", "--cuts",
              "2", "--warmup", "0.3", "--duration", "0.6", "--connect-timeout", "30", "--restart-cmd", command,
              "--json", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    result = last_json(r)
    assert result["restarts"] == 2 and result["reconnected"] == 20 and result["publisher_drops"] == 2, result
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["not_recovered"] == 0, result
    assert 0 < result["restart_max_ms"] and 0 < result["back_p50_ms"] <= result["back_max_ms"], result
    stored = last_offset(restart_port, result["topic"], https)
    assert result["published"] <= stored <= result["published"] + result["unconfirmed"], (stored, result)
    assert result["deliveries"] == 20 * stored, (stored, result)

    # A server that keeps no history across a restart (memory mode): resume cannot recover.
    subprocess.run([sys.executable, RESTART, "--stop", restart_pidfile, str(restart_port), "--"], check=True)
    restart[restart.index("--data-dir"):restart.index("--data-dir") + 2] = ["--store", "memory"]
    subprocess.run(restart, check=True, timeout=40)
    r = bench("storm", "--url", f"wss://127.0.0.1:{restart_port}", *trust, "-n", "5", "--rate", "200", "--warmup",
              "0.2", "--duration", "0.3", "--connect-timeout", "30", "--restart-cmd", " ".join(restart), "--json",
              timeout=90)
    assert r.returncode == 1 and "durable" in r.stderr, r.stdout + r.stderr
    assert last_json(r)["not_recovered"] > 0, r.stdout
finally:
    server.terminate()
    server.wait(timeout=30)
    if os.path.exists(restart_pidfile):
        subprocess.run([sys.executable, RESTART, "--stop", restart_pidfile, "0", "--"], timeout=40)
print("ok")
