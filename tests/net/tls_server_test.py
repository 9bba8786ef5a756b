#!/usr/bin/env python3
"""wss:// and https:// against a real `sluice serve --tls-cert`, spoken by
Python's ssl module: the handshake and the cipher it picks, HTTP requests
kept alive on one TLS connection, messages of many TLS records both ways, a
subscriber that stops reading until the server's writes back up (then every
event arrives, in order, intact), and clients that speak no TLS, stop inside
the handshake or send nothing. The server must stay up and serve throughout.

Usage: tls_server_test.py path/to/sluice"""
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))
sys.path.insert(0, os.path.join(HERE, "..", "centrifugo"))
import wire  # noqa: E402
from common import check, sluice_serve  # noqa: E402

SUB_TOPIC = "tls.slow"
EVENTS = 160
EVENT_BYTES = 48 * 1024  # 160 x 48 KiB: 7.5 MiB, more than the kernel buffers on both sides hold


def make_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def tls_connect(port, context, rcvbuf=None):
    sock = wire.connect(port, timeout=10, rcvbuf=rcvbuf)
    return context.wrap_socket(sock, server_hostname="localhost")


def wss_connect(port, context, rcvbuf=None):
    sock = tls_connect(port, context, rcvbuf)
    raw, key = wire.upgrade_request("/v1/ws")
    sock.sendall(raw)
    reader = wire.Reader(sock)
    response = wire.read_response(reader, time.monotonic() + 10)
    check(response.status == 101, f"upgrade over TLS answered {response.status}")
    check(response.header("sec-websocket-accept") == wire.ws_accept(key), "bad Sec-WebSocket-Accept over TLS")
    return wire.WebSocket(sock, reader, response)


def request(ws, message, timeout=10):
    ws.send_json(message)
    return ws.recv_json_until(lambda m: m.get("type") in ("ack", "error") and m.get("id") == message["id"],
                              timeout=timeout)


def https(port, context, exchanges):
    """Several requests on one TLS connection, each answered before the next."""
    sock = tls_connect(port, context)
    reader = wire.Reader(sock)
    responses = []
    try:
        for raw in exchanges:
            sock.sendall(raw)
            responses.append(wire.read_response(reader, time.monotonic() + 10))
    finally:
        sock.close()
    return responses


def metric(port, context, name):
    (response,) = https(port, context, [wire.request("GET", "/metrics")])
    for line in response.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def check_handshake(port, context):
    sock = tls_connect(port, context)
    try:
        check(sock.version() == "TLSv1.3", f"negotiated {sock.version()}")
        check(sock.cipher()[0] == "TLS_AES_128_GCM_SHA256", f"cipher {sock.cipher()}")
    finally:
        sock.close()


def check_https_keep_alive(port, context, n):
    """The n-th time: publishes {"n": n}, then reads back history 1..n."""
    body = json.dumps({"topic": "tls.http", "data": {"n": n}}).encode()
    responses = https(port, context, [
        wire.request("GET", "/ready"),
        wire.request("POST", "/v1/events", body, headers=[("Content-Type", "application/json")]),
        wire.request("GET", "/v1/events?topic=tls.http"),
    ])
    statuses = [r.status for r in responses]
    check(statuses == [200, 201, 200], f"three requests on one TLS connection: {statuses}")
    events = responses[2].json()["events"]
    check([e["data"] for e in events] == [{"n": i} for i in range(1, n + 1)], f"history over https: {events}")


def check_big_messages(port, context):
    """A 600 KB publish in (about 37 records from the client) and its event
    out (as many records from the server), on one connection."""
    ws = wss_connect(port, context)
    try:
        check(request(ws, {"op": "subscribe", "id": 1, "topic": "tls.big"})["type"] == "ack", "subscribe")
        data = "".join(chr(ord("a") + i % 26) for i in range(600_000))
        ws.send_json({"op": "publish", "id": 2, "topic": "tls.big", "data": data})
        ack, event = None, None  # in either order
        while ack is None or event is None:
            message = ws.recv_json(timeout=20)
            check(message.get("type") != "error", f"publish of 600 KB over TLS: {message}")
            if message.get("type") == "ack":
                ack = message
            elif message.get("type") == "event":
                event = message["event"]
        check(event["data"] == data, f"600 KB event came back changed ({len(event['data'])} chars)")
    finally:
        ws.close()


def check_slow_subscriber(port, context):
    """The subscriber reads nothing while 7.5 MiB are published to it: the
    server's writes to it block (its send queue holds what the kernel would
    not take); then it reads, and gets every event in order."""
    ws = wss_connect(port, context, rcvbuf=4096)
    try:
        check(request(ws, {"op": "subscribe", "id": 1, "topic": SUB_TOPIC})["type"] == "ack", "subscribe")
        publisher = wss_connect(port, context)
        try:
            for i in range(EVENTS):
                payload = f"{i:08d}" + "x" * (EVENT_BYTES - 8)
                publisher.send_json({"op": "publish", "id": i, "topic": SUB_TOPIC, "data": payload})
            acked = 0
            while acked < EVENTS:
                reply = publisher.recv_json(timeout=30)
                check(reply.get("type") != "error", f"publish refused: {reply}")
                acked += reply.get("type") == "ack"
        finally:
            publisher.close()
        queued = metric(port, context, "sluice_send_queue_bytes")
        check(queued is not None and queued > 0, f"the server's writes to the silent subscriber never blocked "
                                                 f"(sluice_send_queue_bytes {queued})")
        for i in range(EVENTS):
            event = ws.recv_json_until(lambda m: m.get("type") == "event", timeout=30)["event"]
            check(event["offset"] == i + 1, f"event {i}: offset {event['offset']}")
            check(event["data"] == f"{i:08d}" + "x" * (EVENT_BYTES - 8), f"event {i} arrived changed")
    finally:
        ws.close()


def check_not_tls(port):
    """Plain HTTP to the TLS port: refused (a TLS alert at most), connection closed."""
    sock = wire.connect(port)
    try:
        sock.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = wire.Reader(sock).read_to_eof(time.monotonic() + 10)
        check(b"HTTP/1.1" not in got, f"plain HTTP answered in clear on the TLS port: {got[:80]!r}")
    finally:
        sock.close()


def check_cut_handshake(port):
    """Half a ClientHello, then the client goes: the server just ends it."""
    sock = wire.connect(port)
    sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32))
    sock.close()


def check_silent_client(port):
    """Connects and sends nothing: closed after --handshake-timeout (1 s)."""
    sock = wire.connect(port)
    try:
        started = time.monotonic()
        wire.Reader(sock).read_to_eof(started + 10)
        took = time.monotonic() - started
        check(took < 5, f"a client that never started TLS was held {took:.1f} s")
    finally:
        sock.close()


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as directory:
        cert, key = make_cert(directory)
        context = ssl.create_default_context(cafile=cert)
        args = ["--store", "memory", "--threads", "2", "--tls-cert", cert, "--tls-key", key,
                "--handshake-timeout", "1", "--send-queue-limit", str(64 << 20), "--max-message-size", str(2 << 20)]
        with sluice_serve(binary, args) as port:
            check_handshake(port, context)
            check_https_keep_alive(port, context, 1)
            check_big_messages(port, context)
            check_slow_subscriber(port, context)
            check_not_tls(port)
            check_cut_handshake(port)
            check_silent_client(port)
            check_https_keep_alive(port, context, 2)  # still serving after all of the above
    print("PASS")


if __name__ == "__main__":
    main()
