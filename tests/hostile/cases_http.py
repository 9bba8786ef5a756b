"""Malformed and hostile HTTP/1.1: request lines, headers, framing of the body
(Content-Length, chunked), media types, paths and query strings, JSON bodies.

Expected statuses come from docs/http-api.md ("Checks every request goes
through", the error table) and docs/server.md (431 for the head, 413 for the
body); where the docs are silent, what RFC 9112 asks of a careful server: a
400 (or the one 4xx that fits), never a 2xx for a request it cannot parse,
never a 500, never a crash or a hang."""
import json
import time

import framework
import wire
from framework import add_case, case, check, expect_status

H = "Host: 127.0.0.1\r\n"


def raw_case(name, raw, *statuses, ctx_port="port"):
    """A case that sends raw bytes and expects one of `statuses`."""
    if isinstance(raw, str):
        raw = raw.encode("latin-1")

    def run(ctx):
        expect_status(wire.http_one(getattr(ctx, ctx_port), raw), *statuses)
    add_case("http." + name, run)


# ------------------------------------------------------------ request line

raw_case("request_line.empty_method", f" /health HTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.only_method", "GET\r\n\r\n", 400)
raw_case("request_line.missing_version", f"GET /health\r\n{H}\r\n", 400)
raw_case("request_line.extra_token", f"GET /health HTTP/1.1 extra\r\n{H}\r\n", 400)
raw_case("request_line.double_space", f"GET  /health HTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.tab_separator", f"GET\t/health\tHTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.bad_method_token", f"G@T /health HTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.method_with_nul", f"GE\x00T /health HTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.bad_version", f"GET /health HTTP/x.y\r\n{H}\r\n", 400)
raw_case("request_line.version_2_0", f"GET /health HTTP/2.0\r\n{H}\r\n", 400, 505)
raw_case("request_line.lowercase_http", f"GET /health http/1.1\r\n{H}\r\n", 400)
raw_case("request_line.target_with_space", f"GET /hea lth HTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.target_with_ctl", f"GET /hea\x01lth HTTP/1.1\r\n{H}\r\n", 400)
raw_case("request_line.tls_client_hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
         400)
raw_case("request_line.binary_garbage", bytes((i * 37 + 11) % 256 for i in range(600)) + b"\r\n\r\n", 400)
# Unknown but well-formed methods on a known route: 405 with Allow (docs/http-api.md).
raw_case("request_line.unknown_method", f"BREW /health HTTP/1.1\r\n{H}\r\n", 405)
raw_case("request_line.lowercase_method", f"get /health HTTP/1.1\r\n{H}\r\n", 405)
raw_case("request_line.huge_uri", "GET /" + "a" * 20000 + f" HTTP/1.1\r\n{H}\r\n", 431, 414)

# ------------------------------------------------------------ headers

raw_case("headers.http11_without_host", "GET /health HTTP/1.1\r\n\r\n", 400)
raw_case("headers.two_hosts", f"GET /health HTTP/1.1\r\n{H}Host: evil.example\r\n\r\n", 400)
raw_case("headers.huge_header_value", f"GET /health HTTP/1.1\r\n{H}X-Big: {'b' * 9000}\r\n\r\n", 431)
raw_case("headers.many_headers_over_limit",
         f"GET /health HTTP/1.1\r\n{H}" + "".join(f"X-{i}: v\r\n" for i in range(2000)) + "\r\n", 431)
# Many short headers that together stay under the head limit are legal.
raw_case("headers.many_headers_under_limit",
         f"GET /health HTTP/1.1\r\n{H}" + "a: b\r\n" * 600 + "\r\n", 200)
raw_case("headers.space_before_colon", f"GET /health HTTP/1.1\r\n{H}X-Foo : bar\r\n\r\n", 400)
raw_case("headers.no_colon", f"GET /health HTTP/1.1\r\n{H}JustAName\r\n\r\n", 400)
raw_case("headers.empty_name", f"GET /health HTTP/1.1\r\n{H}: value\r\n\r\n", 400)
raw_case("headers.bad_name_char", f"GET /health HTTP/1.1\r\n{H}X(y): z\r\n\r\n", 400)
raw_case("headers.nul_in_value", f"GET /health HTTP/1.1\r\n{H}X-Foo: a\x00b\r\n\r\n", 400)
raw_case("headers.nul_in_name", f"GET /health HTTP/1.1\r\n{H}X-F\x00o: a\r\n\r\n", 400)
raw_case("headers.bare_cr_in_value", f"GET /health HTTP/1.1\r\n{H}X-Foo: a\rb\r\n\r\n", 400)
raw_case("headers.ctl_in_value", f"GET /health HTTP/1.1\r\n{H}X-Foo: a\x07b\r\n\r\n", 400)
# RFC 9112 §5.2: obs-fold is refused with 400 or replaced by a space.
raw_case("headers.obs_fold", f"GET /health HTTP/1.1\r\n{H}X-Foo: a\r\n  folded\r\n\r\n", 400, 200)
raw_case("headers.obs_fold_first_line", f"GET /health HTTP/1.1\r\n  folded\r\n{H}\r\n", 400)
# RFC 9112 §2.2 lets a server accept bare LF line ends; either is careful.
raw_case("headers.bare_lf_line_ends", "GET /health HTTP/1.1\nHost: 127.0.0.1\n\n", 400, 200)
raw_case("headers.obs_text_value", f"GET /health HTTP/1.1\r\n{H}X-Foo: caf\xe9\r\n\r\n", 200)

# ------------------------------------------------------------ body framing

POST = "POST /v1/events HTTP/1.1\r\n" + H + "Content-Type: application/json\r\n"
EVENT = '{"topic":"hostile.http","data":1}'

raw_case("framing.duplicate_content_length_differs",
         POST + f"Content-Length: {len(EVENT)}\r\nContent-Length: 5\r\n\r\n" + EVENT, 400)
raw_case("framing.content_length_list_differs", POST + f"Content-Length: {len(EVENT)}, 5\r\n\r\n" + EVENT, 400)
raw_case("framing.content_length_not_a_number", POST + "Content-Length: abc\r\n\r\n" + EVENT, 400)
raw_case("framing.content_length_negative", POST + "Content-Length: -1\r\n\r\n" + EVENT, 400)
raw_case("framing.content_length_plus_sign", POST + f"Content-Length: +{len(EVENT)}\r\n\r\n" + EVENT, 400)
raw_case("framing.content_length_hex", POST + "Content-Length: 0x20\r\n\r\n" + EVENT, 400)
raw_case("framing.content_length_overflow", POST + "Content-Length: 184467440737095516160\r\n\r\n" + EVENT, 400, 413)
raw_case("framing.content_length_and_chunked",
         POST + f"Content-Length: {len(EVENT)}\r\nTransfer-Encoding: chunked\r\n\r\n"
         + f"{len(EVENT):x}\r\n{EVENT}\r\n0\r\n\r\n", 400)
raw_case("framing.unknown_transfer_encoding", POST + "Transfer-Encoding: xchunked\r\n\r\n" + EVENT, 400, 501)
raw_case("framing.chunked_not_last", POST + "Transfer-Encoding: chunked, gzip\r\n\r\n" + EVENT, 400, 501)
raw_case("framing.chunk_size_not_hex", POST + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + EVENT + "\r\n0\r\n\r\n", 400)
raw_case("framing.chunk_missing_crlf",
         POST + "Transfer-Encoding: chunked\r\n\r\n" + f"{len(EVENT):x}\r\n{EVENT}XX0\r\n\r\n", 400)
raw_case("framing.chunk_size_huge", POST + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n", 400, 413)
raw_case("framing.chunk_size_over_body_limit",
         POST + "Transfer-Encoding: chunked\r\n\r\n" + f"{10 * 1024 * 1024:x}\r\n" + "x" * 100, 413)
raw_case("framing.chunk_negative_size", POST + "Transfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n", 400)
raw_case("framing.content_length_over_body_limit", POST + "Content-Length: 104857600\r\n\r\n" + EVENT, 413)
raw_case("framing.content_length_with_space", POST + "Content-Length: 3 0\r\n\r\n" + EVENT, 400)
raw_case("framing.transfer_encoding_twice",
         POST + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
         + f"{len(EVENT):x}\r\n{EVENT}\r\n0\r\n\r\n", 400)
raw_case("framing.chunk_extension_with_crlf",
         POST + "Transfer-Encoding: chunked\r\n\r\n" + f'{len(EVENT):x};ext="a\r\nb"\r\n{EVENT}\r\n0\r\n\r\n', 400)
raw_case("framing.chunked_with_trailer",
         POST + "Transfer-Encoding: chunked\r\n\r\n" + f"{len(EVENT):x}\r\n{EVENT}\r\n0\r\nX-Trailer: t\r\n\r\n", 201)
# Content-Type is a singleton field (RFC 9110 §8.3): two different values are
# ambiguous (a proxy may judge by one, the server by the other). A careful
# server refuses both orders alike: 400, or 415.
raw_case("headers.content_type_twice_json_first",
         "POST /v1/events HTTP/1.1\r\n" + H + "Content-Type: application/json\r\nContent-Type: text/plain\r\n"
         + f"Content-Length: {len(EVENT)}\r\n\r\n" + EVENT, 400, 415)
raw_case("headers.content_type_twice_json_last",
         "POST /v1/events HTTP/1.1\r\n" + H + "Content-Type: text/plain\r\nContent-Type: application/json\r\n"
         + f"Content-Length: {len(EVENT)}\r\n\r\n" + EVENT, 400, 415)


@case("http.framing.chunked_well_formed")
def _chunked_ok(ctx):
    """Control: a correct chunked publish is accepted (so the refusals above are about the errors)."""
    body = "".join(f"{len(part):x}\r\n{part}\r\n" for part in (EVENT[:10], EVENT[10:])) + "0\r\n\r\n"
    expect_status(wire.http_one(ctx.port, (POST + "Transfer-Encoding: chunked\r\n\r\n" + body).encode()), 201)


@case("http.framing.body_shorter_than_length")
def _short_body(ctx):
    """A body that never completes is cut off by the request timeout: no
    answer is owed, but the connection must not stay open."""
    sock = wire.connect(ctx.port)
    try:
        sock.sendall((POST + "Content-Length: 1000\r\n\r\n" + EVENT).encode())
        reader = wire.Reader(sock)
        t0 = time.monotonic()
        try:
            reader.read_to_eof(t0 + ctx.handshake_timeout + 5)
        except wire.TimedOut:
            raise AssertionError(f"connection still open {ctx.handshake_timeout + 5:.0f} s later") from None
        elapsed = time.monotonic() - t0
        check(elapsed < ctx.handshake_timeout + 4, f"closed only after {elapsed:.1f} s")
    finally:
        sock.close()


EOF_SERVER_HANDSHAKE_TIMEOUT = 60


def eof_server(ctx):
    if not hasattr(ctx, "_eof_server"):
        ctx._eof_server = ctx.side_server(["--handshake-timeout", str(EOF_SERVER_HANDSHAKE_TIMEOUT),
                                           "--threads", "1"])
    return ctx._eof_server


def partial_eof_case(name, data):
    def run(ctx):
        """A client that sends part of a request and closes at once: the
        server notices the EOF and releases the connection at once, not only
        when --handshake-timeout expires."""
        # A server with a long --handshake-timeout: its timeout cannot be what
        # releases the sockets, so the bound can be generous for a loaded CI.
        server = eof_server(ctx)
        ports = []
        for _ in range(20):
            s = wire.connect(server.port)
            ports.append(s.getsockname()[1])
            s.sendall(data)
            s.close()
        held = framework.wait_released(server, ports, within=5.0 * ctx.slow)
        check(not held, f"{len(held)} of 20 server sockets still held: {held[:3]}")
    add_case("http.framing." + name, run)


partial_eof_case("partial_head_then_eof", b"GET /health HTTP/1.1\r\nHo")
partial_eof_case("partial_body_then_eof", (POST + "Content-Length: 100\r\n\r\n" + EVENT).encode())
partial_eof_case("partial_upgrade_then_eof", wire.upgrade_request()[0][:40])


@case("http.framing.pipelined_then_garbage")
def _pipelined_garbage(ctx):
    """Pipelined requests are answered in order; garbage after them gets a 400 and a close."""
    raw = (f"GET /health HTTP/1.1\r\n{H}\r\n" * 3 + "NOT HTTP AT ALL\r\n\r\n").encode()
    rs = wire.http_exchange(ctx.port, raw, responses=5)
    check([r.status for r in rs] == [200, 200, 200, 400], f"statuses {[r.status for r in rs]}")


@case("http.framing.get_with_body_then_pipelined")
def _get_with_body(ctx):
    """A GET's body is skipped by its Content-Length; the next request is not smuggled out of it."""
    raw = (f"GET /health HTTP/1.1\r\n{H}Content-Length: 29\r\n\r\n" + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"[:29]
           + f"GET /live HTTP/1.1\r\n{H}\r\n").encode()
    rs = wire.http_exchange(ctx.port, raw, responses=3, timeout=3)
    check([r.status for r in rs] == [200, 200], f"statuses {[r.status for r in rs]}")


@case("http.framing.pipeline_200_requests")
def _pipeline_many(ctx):
    raw = (f"GET /live HTTP/1.1\r\n{H}\r\n" * 200).encode()
    rs = wire.http_exchange(ctx.port, raw, responses=200, timeout=10)
    check(len(rs) == 200 and all(r.status == 200 for r in rs), f"{len(rs)} answers, statuses {set(r.status for r in rs)}")


@case("http.framing.huge_body_streamed")
def _huge_body_streamed(ctx):
    """8 MiB of chunked body with no declared size: 413 once past the limit,
    and the server stops reading (it neither buffers it all nor hangs)."""
    sock = wire.connect(ctx.port)
    try:
        sock.sendall((POST + "Transfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"%x\r\n" % 65536 + b"[" * 65536 + b"\r\n"
        sent = 0
        sock.settimeout(5)
        try:
            for _ in range(128):
                sock.sendall(chunk)
                sent += 1
        except OSError:
            pass  # the server answered and closed: what we want
        reader = wire.Reader(sock)
        resp = wire.read_response(reader, time.monotonic() + 5)
        expect_status(resp, 413)
    except (wire.Closed, ConnectionResetError):
        raise AssertionError("closed without a 413") from None
    finally:
        sock.close()


# ------------------------------------------------------------ media types and bodies

def post_case(name, body, ctype, *statuses, error=None):
    def run(ctx):
        headers = {"Content-Type": ctype} if ctype else {}
        resp = expect_status(wire.http_one(ctx.port, wire.request("POST", "/v1/events", body, headers)), *statuses)
        if error is not None:
            try:
                got = resp.json().get("error")
            except ValueError:
                raise AssertionError(f"{resp.status} with a body that is not the JSON error shape: "
                                     f"{resp.header('content-type')} {resp.body[:80]!r}") from None
            check(got == error, f"error {got!r}, expected {error!r}")
    add_case("http.body." + name, run)


post_case("content_type_text_plain", EVENT, "text/plain", 415, error="unsupported_media_type")
post_case("content_type_json_lookalike", EVENT, "application/jsonx", 415, error="unsupported_media_type")
post_case("content_type_form", EVENT, "application/x-www-form-urlencoded", 415)
post_case("content_type_multipart", EVENT, "multipart/form-data; boundary=x", 415)
post_case("content_type_json_charset", EVENT, "application/json; charset=utf-8", 201)
# Refused by the HTTP reader before the API sees it: a plain-text 413 (docs/http-api.md).
post_case("over_body_limit", '{"topic":"a","data":"' + "x" * 70000 + '"}', "application/json", 413)
post_case("empty", "", "application/json", 400, error="invalid_json")
post_case("not_json", "hello", "application/json", 400, error="invalid_json")
post_case("truncated_json", '{"topic":"a","data":', "application/json", 400, error="invalid_json")
post_case("deep_nesting_arrays", '{"topic":"a","data":' + "[" * 10000 + "]" * 10000 + "}", "application/json", 400)
post_case("deep_nesting_unclosed", '{"topic":"a","data":' + "[" * 30000, "application/json", 400)
post_case("deep_nesting_objects", '{"topic":"a","data":' + '{"a":' * 5000 + "1" + "}" * 5000 + "}",
          "application/json", 400)
post_case("huge_exponent", '{"topic":"hostile.num","data":1e999999999}', "application/json", 201, 400)
post_case("huge_integer", '{"topic":"hostile.num","data":' + "9" * 50000 + "}", "application/json", 201, 400)
post_case("topic_wrong_type", '{"topic":5,"data":1}', "application/json", 400)
post_case("topic_null", '{"topic":null,"data":1}', "application/json", 400)
post_case("data_missing", '{"topic":"a"}', "application/json", 400, error="bad_request")
post_case("unknown_field", '{"topic":"a","data":1,"dat":2}', "application/json", 400, error="bad_request")
post_case("top_level_array", '[{"topic":"a","data":1}]', "application/json", 400)
post_case("invalid_utf8_in_string", b'{"topic":"a","data":"\xff\xfe"}', "application/json", 400, error="invalid_json")
post_case("overlong_utf8_in_string", b'{"topic":"a","data":"\xc0\xaf"}', "application/json", 400, error="invalid_json")
post_case("nul_escape_in_topic", '{"topic":"a\\u0000b","data":1}', "application/json", 400, error="invalid_topic")
post_case("lone_surrogate_escape", '{"topic":"hostile.s","data":"\\ud800"}', "application/json", 201, 400)
post_case("topic_too_long", json.dumps({"topic": "a" * 300, "data": 1}), "application/json", 400, error="invalid_topic")
post_case("topic_too_many_tokens", json.dumps({"topic": ".".join(["a"] * 40), "data": 1}), "application/json", 400,
          error="invalid_topic")
post_case("topic_is_pattern", json.dumps({"topic": "a.>", "data": 1}), "application/json", 400, error="invalid_topic")
post_case("type_too_long", json.dumps({"topic": "a", "data": 1, "type": "t" * 300}), "application/json", 400)
post_case("trailing_garbage", EVENT + "garbage", "application/json", 400, error="invalid_json")


@case("http.body.batch_over_limit_count")
def _batch_limit(ctx):
    body = json.dumps({"events": [{"topic": "hostile.b", "data": 0}] * 1001})
    check(len(body) < 65536, "body must fit the body limit for this case")
    r = expect_status(wire.http_json(ctx.port, "POST", "/v1/events/batch", json.loads(body)), 400)
    check(r.json().get("error") == "bad_request", f"error {r.json()}")


# ------------------------------------------------------------ paths

def path_case(name, target, *statuses):
    def run(ctx):
        resp = expect_status(wire.http_one(ctx.port, f"GET {target} HTTP/1.1\r\n{H}\r\n".encode("latin-1")), *statuses)
        check(b'"status":"ok"' not in resp.body, f"{target} reached a probe: {resp.body[:100]!r}")
    add_case("http.path." + name, run)


path_case("dot_dot_segment", "/v1/../health", 400, 404)
path_case("dot_dot_to_root", "/v1/events/../../health", 400, 404)
path_case("percent_dot_dot", "/%2e%2e/health", 400, 404)
path_case("percent_dot_dot_mixed", "/v1/%2E%2e/health", 400, 404)
path_case("encoded_slash", "/v1%2fevents", 400, 404)
path_case("nul_encoded", "/health%00", 400, 404)
path_case("nul_double_encoded", "/health%2500", 400, 404)
path_case("overlong_utf8_dot", "/%c0%ae%c0%ae/health", 400, 404)
path_case("overlong_utf8_slash", "/v1%c0%afevents", 400, 404)
path_case("etc_passwd", "/v1/subscriptions/..%2f..%2f..%2fetc%2fpasswd", 400, 404)
path_case("backslash", "/v1\\events", 400, 404)
path_case("double_slash", "//health", 400, 404)
path_case("uppercase", "/HEALTH", 404)
path_case("semicolon_param", "/health;jsessionid=1", 400, 404)
path_case("event_id_nul", "/v1/events/evt_%00", 400, 404)
path_case("event_id_huge", "/v1/events/" + "e" * 7000, 400, 404)
path_case("subscription_traversal", "/v1/subscriptions/../../health", 400, 404)
path_case("bad_percent_escape", "/v1/events/%zz", 400, 404)
path_case("asterisk_form", "*", 400, 404)
path_case("no_leading_slash", "health", 400, 404)


# ------------------------------------------------------------ query strings

def query_case(name, target, *statuses):
    def run(ctx):
        expect_status(wire.http_one(ctx.port, f"GET {target} HTTP/1.1\r\n{H}\r\n".encode("latin-1")), *statuses)
    add_case("http.query." + name, run)


query_case("unknown_parameter", "/v1/events?topic=a&evil=1", 400)
# An invalid escape is kept as written (as WHATWG URL parsing does): "%zz" is
# then a literal, valid topic name. Refusing it with 400 would be fine too.
query_case("bad_percent_escape", "/v1/events?topic=%zz", 200, 400)
query_case("truncated_percent_escape", "/v1/events?topic=a%2", 200, 400)
query_case("nul_in_topic", "/v1/events?topic=a%00b", 400)
query_case("limit_huge", "/v1/events?topic=a&limit=99999999999999999999999", 400)
query_case("limit_negative", "/v1/events?topic=a&limit=-1", 400)
query_case("limit_zero", "/v1/events?topic=a&limit=0", 400)
query_case("limit_not_number", "/v1/events?topic=a&limit=1e3", 400)
query_case("since_with_pattern", "/v1/events?topic=a.*&since=5", 400)
query_case("cursor_garbage", "/v1/events?topic=a&cursor=%ff%fe%00", 400)
query_case("empty_topic", "/v1/events?topic=", 400)
query_case("topic_too_long", "/v1/events?topic=" + "a" * 6000, 400)
query_case("five_thousand_params", "/v1/events?" + "&".join(["a"] * 3000), 400)
query_case("many_ampersands", "/v1/events?" + "&" * 6000 + "topic=a", 200, 400)
query_case("probe_ignores_query", "/health?x=%00&y=" + "z" * 3000, 200)
query_case("subscriptions_limit_overflow", "/v1/subscriptions?limit=18446744073709551617", 400)
query_case("subscriptions_cursor_garbage", "/v1/subscriptions?cursor=../../etc", 200, 400)
query_case("over_head_limit", "/v1/events?topic=" + "a" * 9000, 431, 414)


# ------------------------------------------------------------ subscription bodies

def subscription_case(name, body, *statuses):
    def run(ctx):
        resp = expect_status(wire.http_one(ctx.port, wire.request("POST", "/v1/subscriptions", body,
                                                                  {"Content-Type": "application/json"})), *statuses)
        doc = resp.json()  # strict: a reply must be JSON whatever the input held
        if resp.status == 201:
            wire.http_one(ctx.port, wire.request("DELETE", f"/v1/subscriptions/{doc['id']}"))
    add_case("http.subscriptions." + name, run)


subscription_case("filter_number_beyond_double",
                  '{"topics":["a.>"],"filter":[{"field":"data.x","op":">","value":1e999}]}', 400)
subscription_case("filter_in_beyond_double",
                  '{"topics":["a.>"],"filter":[{"field":"data.x","op":"in","value":[1e999,-1e999]}]}', 400)
subscription_case("webhook_number_beyond_double", '{"topics":["a.>"],"webhook":{"url":"http://x","n":1e999}}', 400)
subscription_case("filter_deep_nesting", '{"topics":["a.>"],"filter":' + '{"all":[' * 3000 + "]}" * 3000 + "}", 400)
subscription_case("topics_65", json.dumps({"topics": [f"a.t{i}" for i in range(65)]}), 400)
subscription_case("topics_not_array", '{"topics":"a.>"}', 400)
subscription_case("topic_and_topics", '{"topics":["a"],"topic":"b"}', 400)
subscription_case("filter_unknown_op", '{"topic":"a","filter":[{"field":"type","op":"=>","value":1}]}', 400)
subscription_case("filter_field_traversal", '{"topic":"a","filter":[{"field":"data.__proto__.x","op":"exists"}]}',
                  201, 400)


@case("http.subscriptions.delete_twice")
def _delete_twice(ctx):
    """SPEC §1.5: a second DELETE is a 404, never a 500."""
    r = expect_status(wire.http_json(ctx.port, "POST", "/v1/subscriptions", {"topic": "hostile.del"}), 201)
    sid = r.json()["id"]
    expect_status(wire.http_one(ctx.port, wire.request("DELETE", f"/v1/subscriptions/{sid}")), 204)
    expect_status(wire.http_one(ctx.port, wire.request("DELETE", f"/v1/subscriptions/{sid}")), 404)
    expect_status(wire.http_one(ctx.port, wire.request("DELETE", "/v1/subscriptions/sub_%00")), 404, 400)
