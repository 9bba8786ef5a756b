"""Invalid WebSocket upgrades. docs/protocol.md: bad method 405, wrong version
426 with `Sec-WebSocket-Version: 13`, Origin refused 403, head too large 431,
anything else malformed 400; docs/server.md: upgrades only on /v1/ws and
/v1/subscriptions/{id}/stream (404 elsewhere); docs/http-api.md: a stream's
bad `since` or unknown parameter is a 400 before the upgrade, a plain GET of a
WebSocket endpoint is a 426, an unknown subscription is closed with 4404."""
import time

import wire
from framework import add_case, case, check, expect_close, expect_status

GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_case(name, *statuses, header_check=None, **kw):
    def run(ctx):
        raw, _ = wire.upgrade_request(**kw)
        resp = expect_status(wire.upgrade_status(ctx.port, raw), *statuses)
        if header_check:
            header_check(resp)
    add_case("upgrade." + name, run)


def version_header(resp):
    check(resp.header("sec-websocket-version") == "13",
          f"426 without Sec-WebSocket-Version: 13 (headers {resp.headers})")


upgrade_case("missing_key", 400, omit=("Sec-WebSocket-Key",))
upgrade_case("empty_key", 400, key="")
upgrade_case("short_key", 400, key="c2hvcnQ=")
upgrade_case("key_not_base64", 400, key="!!!!!!!!!!!!!!!!!!!!!!==")
upgrade_case("key_17_bytes", 400, key="AAAAAAAAAAAAAAAAAAAAAAA=")
upgrade_case("key_twice", 400, extra=[("Sec-WebSocket-Key", GOOD_KEY)])
upgrade_case("key_huge", 400, 431, key="A" * 6000 + "==")
upgrade_case("version_8", 426, header_check=version_header, version="8")
upgrade_case("version_14", 426, header_check=version_header, version="14")
upgrade_case("version_list", 426, header_check=version_header, version="13, 8")
upgrade_case("version_missing", 426, header_check=version_header, omit=("Sec-WebSocket-Version",))
upgrade_case("version_twice", 426, header_check=version_header, extra=[("Sec-WebSocket-Version", "13")])
upgrade_case("post_method", 405, method="POST")
upgrade_case("put_method", 405, method="PUT")
upgrade_case("unknown_path", 404, path="/nope")
upgrade_case("api_path", 404, path="/v1/events")
upgrade_case("probe_path", 404, path="/health")
upgrade_case("ws_path_traversal", 404, 400, path="/v1/ws/../ws")
upgrade_case("ws_path_encoded", 404, 400, path="/v1/%77s")
upgrade_case("stream_bad_since", 400, path="/v1/subscriptions/sub_000000000000000000000000/stream?since=abc")
upgrade_case("stream_unknown_param", 400, path="/v1/subscriptions/sub_000000000000000000000000/stream?evil=1")
upgrade_case("stream_since_overflow", 400,
             path="/v1/subscriptions/sub_000000000000000000000000/stream?since=999999999999999999999999")
upgrade_case("connection_without_upgrade_token", 400, 426,
             omit=("Connection",), extra=[("Connection", "keep-alive")])
upgrade_case("upgrade_h2c", 400, 426, omit=("Upgrade",), extra=[("Upgrade", "h2c")])
upgrade_case("huge_extensions_header", 431, extra=[("Sec-WebSocket-Extensions", "x" * 9000)])


@case("upgrade.http10")
def _http10(ctx):
    raw = (f"GET /v1/ws HTTP/1.0\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {GOOD_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    expect_status(wire.http_one(ctx.port, raw), 400, 426, 505)


@case("upgrade.no_host")
def _no_host(ctx):
    raw, _ = wire.upgrade_request(omit=("Host",))
    expect_status(wire.http_one(ctx.port, raw), 400)


@case("upgrade.plain_get_ws")
def _plain_get(ctx):
    r = expect_status(wire.http_one(ctx.port, wire.request("GET", "/v1/ws")), 426)
    check(r.json().get("error") == "upgrade_required", f"body {r.body[:100]!r}")


@case("upgrade.plain_get_unknown_stream")
def _plain_get_stream(ctx):
    expect_status(wire.http_one(ctx.port, wire.request("GET", "/v1/subscriptions/sub_000000000000000000000000/stream")),
                  404)


@case("upgrade.unknown_subscription_stream")
def _unknown_stream(ctx):
    """docs/server.md: an unknown id is closed with 4404 "subscription not found"."""
    try:
        ws = wire.ws_connect(ctx.port, "/v1/subscriptions/sub_000000000000000000000000/stream")
    except AssertionError as e:
        raise AssertionError(f"expected an upgrade then 4404: {e}") from None
    expect_close(ws, 4404)


@case("upgrade.deflate_bad_params_declined")
def _deflate_bad(ctx):
    """An offer with an invalid parameter is declined: 101 without the extension."""
    ws = wire.ws_connect(ctx.port, extra=[("Sec-WebSocket-Extensions",
                                           "permessage-deflate; server_max_window_bits=99; bogus")])
    try:
        check("permessage-deflate" not in ws.extensions, f"accepted {ws.extensions!r}")
        ws.send_json({"op": "ping", "id": 1})
        check(ws.recv_json().get("type") == "ack", "no ack after a declined offer")
    finally:
        ws.close()


@case("upgrade.extensions_garbage")
def _ext_garbage(ctx):
    raw, _ = wire.upgrade_request(extra=[("Sec-WebSocket-Extensions", ';;;,,,="\x7f;permessage-deflate;;')])
    expect_status(wire.http_one(ctx.port, raw), 101, 400)


def _upgrade_with_frames(ctx, frames):
    """Sends the upgrade request and `frames` in one write; returns the
    WebSocket after checking that the 101 comes first on the wire."""
    raw, key = wire.upgrade_request()
    sock = wire.connect(ctx.port)
    sock.sendall(raw + frames)
    reader = wire.Reader(sock)
    head = reader.read_exact(12, time.monotonic() + 5)
    if head != b"HTTP/1.1 101":
        sock.close()
        raise AssertionError(f"the server's first bytes are {head!r}, not the 101 response")
    reader.buf[:0] = head
    resp = wire.read_response(reader, time.monotonic() + 5)
    check(resp.header("sec-websocket-accept") == wire.ws_accept(key), "bad Sec-WebSocket-Accept")
    return wire.WebSocket(sock, reader, resp)


@case("upgrade.text_frame_in_same_packet")
def _text_with_upgrade(ctx):
    """A message sent with the upgrade request in one write is not lost."""
    ws = _upgrade_with_frames(ctx, wire.frame(wire.OP_TEXT, b'{"op":"ping","id":7}'))
    try:
        msg = ws.recv_json()
        check(msg.get("type") == "ack" and msg.get("id") == 7, f"got {msg}")
    finally:
        ws.close()


@case("upgrade.ping_frame_in_same_packet")
def _ping_with_upgrade(ctx):
    """A ping sent with the upgrade request: its pong must follow the 101
    response, not precede it (a pong "goes ahead of queued data", but not
    ahead of the handshake)."""
    ws = _upgrade_with_frames(ctx, wire.frame(wire.OP_PING, b"early") + wire.frame(wire.OP_TEXT, b'{"op":"ping","id":7}'))
    try:
        fin, rsv, op, payload = ws.recv_frame()
        check(op == wire.OP_PONG and payload == b"early", f"first frame {op} {payload!r}")
        msg = ws.recv_json()
        check(msg.get("type") == "ack" and msg.get("id") == 7, f"got {msg}")
    finally:
        ws.close()


@case("upgrade.request_after_upgrade_is_frames")
def _http_after_upgrade(ctx):
    """After a 101, HTTP text is just bytes of an (unmasked, reserved) frame: 1002."""
    ws = wire.ws_connect(ctx.port)
    ws.send_raw(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    expect_close(ws, 1002)
