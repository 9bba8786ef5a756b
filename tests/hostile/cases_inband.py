"""In-band protocol abuse on /v1/ws (docs/server.md, "The in-band protocol"):
malformed messages get an error reply `{"type":"error","id":...,"code":...}`
and the connection stays; a client that keeps sending bad requests (more than
a burst of 20, refilling at 2 per second) is closed with 1008."""
import json

import wire
from framework import add_case, case, check, expect_close
from wire import OP_TEXT, frame


def reply_to(ws, payload, timeout=5.0):
    """Sends one text message, returns the next reply (events are skipped)."""
    ws.send(OP_TEXT, payload if isinstance(payload, bytes) else payload.encode())
    return ws.recv_json_until(lambda m: m.get("type") in ("ack", "error"), timeout=timeout)


def still_served(ws):
    msg = reply_to(ws, '{"op":"ping","id":"alive"}')
    check(msg == {"type": "ack", "id": "alive", "op": "ping"}, f"ping after the abuse got {msg}")


def error_case(name, payload, codes, id_expected=None):
    """One bad message: an error reply with one of `codes`, then the connection still works."""
    if isinstance(codes, str):
        codes = (codes,)

    def run(ctx):
        ws = wire.ws_connect(ctx.port)
        try:
            data = payload(ctx) if callable(payload) else payload
            msg = reply_to(ws, data, timeout=5 * ctx.slow)
            check(msg.get("type") == "error" and msg.get("code") in codes, f"got {str(msg)[:200]}")
            if id_expected is not None:
                check(msg.get("id") == id_expected, f"id {msg.get('id')!r}, expected {id_expected!r}")
            still_served(ws)
        finally:
            ws.close()
    add_case("inband." + name, run)


# ------------------------------------------------------------ not JSON, or not an object

error_case("not_json", "hello", "invalid_json")
error_case("empty_message", "", "invalid_json")
error_case("whitespace_only", "   \n\t ", "invalid_json")
error_case("truncated_json", '{"op":"ping","id":', "invalid_json")
error_case("trailing_garbage", '{"op":"ping","id":1} x', "invalid_json")
error_case("two_objects", '{"op":"ping","id":1}{"op":"ping","id":2}', "invalid_json")
error_case("deep_nesting_10000_brackets", "[" * 10000, "invalid_json")
error_case("deep_nesting_balanced", "[" * 10000 + "]" * 10000, ("invalid_json", "bad_request"))
error_case("deep_nesting_in_id", '{"op":"ping","id":' + "[" * 5000 + "]" * 5000 + "}", ("invalid_json", "bad_request"))
error_case("deep_nesting_objects", '{"a":' * 8000 + "1" + "}" * 8000, ("invalid_json", "bad_request"))
error_case("top_level_array", '[{"op":"ping","id":1}]', "bad_request")
error_case("top_level_string", '"ping"', "bad_request")
error_case("top_level_number", "12345", "bad_request")
error_case("top_level_null", "null", "bad_request")
error_case("nan_literal", '{"op":"ping","id":NaN}', "invalid_json")
error_case("single_quotes", "{'op':'ping','id':1}", "invalid_json")
error_case("comment", '{"op":"ping",/* hi */"id":1}', "invalid_json")
error_case("control_char_in_string", b'{"op":"ping","id":"a\x01b"}', "invalid_json")

# ------------------------------------------------------------ wrong types, unknown ops

error_case("op_missing", '{"id":1}', "bad_request", id_expected=1)
error_case("op_number", '{"op":5,"id":1}', "bad_request", id_expected=1)
error_case("op_null", '{"op":null,"id":1}', "bad_request")
error_case("op_array", '{"op":["ping"],"id":1}', "bad_request")
error_case("op_object", '{"op":{"x":"ping"},"id":1}', "bad_request")
error_case("op_unknown", '{"op":"shutdown","id":1}', "unknown_op", id_expected=1)
error_case("op_case", '{"op":"PING","id":1}', "unknown_op")
error_case("op_with_nul", '{"op":"ping\\u0000","id":1}', "unknown_op")
error_case("op_huge", lambda ctx: json.dumps({"op": "x" * (ctx.max_message - 100), "id": 1}), "unknown_op")
error_case("subscribe_topic_missing", '{"op":"subscribe","id":1}', "bad_request")
error_case("subscribe_topic_number", '{"op":"subscribe","id":1,"topic":42}', "bad_request")
error_case("subscribe_topic_object", '{"op":"subscribe","id":1,"topic":{"a":1}}', "bad_request")
error_case("subscribe_empty_topic", '{"op":"subscribe","id":1,"topic":""}', "invalid_topic")
error_case("subscribe_double_dot", '{"op":"subscribe","id":1,"topic":"a..b"}', "invalid_topic")
error_case("subscribe_gt_not_last", '{"op":"subscribe","id":1,"topic":">.a"}', "invalid_topic")
error_case("subscribe_space", '{"op":"subscribe","id":1,"topic":"a b"}', "invalid_topic")
error_case("subscribe_nul", '{"op":"subscribe","id":1,"topic":"a\\u0000"}', "invalid_topic")
error_case("subscribe_non_ascii", '{"op":"subscribe","id":1,"topic":"caf\\u00e9"}', "invalid_topic")
error_case("subscribe_topic_300_bytes", json.dumps({"op": "subscribe", "id": 1, "topic": "a" * 300}), "invalid_topic")
error_case("subscribe_40_tokens", json.dumps({"op": "subscribe", "id": 1, "topic": ".".join("a" * 40)}),
           "invalid_topic")
error_case("subscribe_filter", '{"op":"subscribe","id":1,"topic":"a","filter":{"all":[]}}', "not_supported")
error_case("subscribe_since_string", '{"op":"subscribe","id":1,"topic":"a","since":"yesterday"}', "bad_request")
error_case("subscribe_since_negative", '{"op":"subscribe","id":1,"topic":"a","since":{"offset":-1}}', "bad_request")
error_case("subscribe_since_huge", '{"op":"subscribe","id":1,"topic":"a","since":{"offset":1e400}}', "bad_request")
error_case("subscribe_since_offset_on_pattern", '{"op":"subscribe","id":1,"topic":"a.*","since":{"offset":1}}',
           "bad_request")
error_case("subscribe_since_bad_epoch", '{"op":"subscribe","id":1,"topic":"a","since":{"offset":1,"epoch":7}}',
           "bad_request")
error_case("subscribe_since_bad_fallback",
           '{"op":"subscribe","id":1,"topic":"a","since":{"offset":1,"fallback":"everything"}}', "bad_request")
error_case("subscribe_since_time_string", '{"op":"subscribe","id":1,"topic":"a.>","since":{"time":"now"}}',
           "bad_request")
error_case("unsubscribe_not_subscribed", '{"op":"unsubscribe","id":1,"topic":"never.subscribed"}', "not_subscribed")
error_case("publish_no_data", '{"op":"publish","id":1,"topic":"hostile.inband"}', "bad_request")
error_case("publish_no_topic", '{"op":"publish","id":1,"data":1}', "bad_request")
error_case("publish_pattern", '{"op":"publish","id":1,"topic":"a.*","data":1}', "invalid_topic")
error_case("publish_unknown_field", '{"op":"publish","id":1,"topic":"a","data":1,"evil":true}', "bad_request")
error_case("publish_type_number", '{"op":"publish","id":1,"topic":"a","data":1,"type":5}', "bad_request")
error_case("publish_key_too_long", json.dumps({"op": "publish", "id": 1, "topic": "a", "data": 1, "key": "k" * 300}),
           "bad_request")
error_case("publish_idempotency_key_object",
           '{"op":"publish","id":1,"topic":"a","data":1,"idempotencyKey":{"k":1}}', "bad_request")


# ------------------------------------------------------------ valid but extreme

def ack_case(name, payload, check_reply=None):
    def run(ctx):
        ws = wire.ws_connect(ctx.port)
        try:
            data = payload(ctx) if callable(payload) else payload
            msg = reply_to(ws, data, timeout=5 * ctx.slow)
            check(msg.get("type") in ("ack", "error"), f"got {str(msg)[:200]}")
            if check_reply:
                check_reply(msg)
            still_served(ws)
        finally:
            ws.close()
    add_case("inband." + name, run)


# The reply must be JSON (RFC 8259 has no Infinity), whatever the id was.
ack_case("huge_exponent_id", '{"op":"ping","id":1e999999}')
ack_case("huge_negative_exponent_id", '{"op":"ping","id":-1e999999}')
ack_case("huge_integer_id", lambda ctx: '{"op":"ping","id":' + "9" * (ctx.max_message - 40) + "}")
ack_case("negative_zero_id", '{"op":"ping","id":-0.0}')
ack_case("duplicate_keys", '{"op":"subscribe","op":"ping","id":1,"id":2}')
ack_case("injection_in_id", json.dumps({"op": "ping", "id": '"},{"type":"event","event":{}}'}),
         lambda m: check(m.get("id") == '"},{"type":"event","event":{}}', f"id came back as {m.get('id')!r}"))
ack_case("object_with_10000_keys", lambda ctx: json.dumps({"op": "ping", "id": 1, **{f"k{i}": i for i in range(4000)}}))
ack_case("publish_huge_number_data", '{"op":"publish","id":1,"topic":"hostile.inband","data":1e400}',
         lambda m: check(m.get("type") == "ack", f"got {m}"))
ack_case("publish_lone_surrogate", '{"op":"publish","id":1,"topic":"hostile.inband","data":"\\ud800"}')


def echo_case(name, id_text, expected):
    def run(ctx):
        """docs/server.md: "`id` is any JSON value the client chooses; it is echoed back"."""
        ws = wire.ws_connect(ctx.port)
        try:
            ws.send(OP_TEXT, b'{"op":"ping","id":' + id_text + b"}")
            _, data = ws.recv_message()
            check(b'"id":' + id_text + b"," in data or wire.strict_json(data).get("id") == expected,
                  f"sent id {id_text.decode()}, reply {data[:200]!r}")
        finally:
            ws.close()
    add_case("inband." + name, run)


echo_case("id_echo_u64_max", b"18446744073709551615", 18446744073709551615)
echo_case("id_echo_big_integer", b"18446744073709551617", 18446744073709551617)
echo_case("id_echo_nested", b'{"a":[1,"two",{"three":null}]}', {"a": [1, "two", {"three": None}]})


@case("inband.too_many_subscriptions")
def _too_many_subs(ctx):
    """--max-subscriptions (256): the 257th is refused, the others kept."""
    ws = wire.ws_connect(ctx.port)
    try:
        ws.send_raw(b"".join(frame(OP_TEXT, json.dumps({"op": "subscribe", "id": i, "topic": f"hostile.subs.t{i}"}))
                             for i in range(257)))
        replies = [ws.recv_json_until(lambda m: m.get("type") in ("ack", "error"), timeout=10 * ctx.slow)
                   for _ in range(257)]
        acks = sum(1 for m in replies if m.get("type") == "ack")
        last = replies[-1]
        check(acks == 256 and last.get("code") == "too_many_subscriptions", f"{acks} acks, last {last}")
        still_served(ws)
    finally:
        ws.close()


@case("inband.errors_within_burst_keep_connection")
def _within_burst(ctx):
    """15 bad requests (under the burst of 20): all answered, connection kept."""
    ws = wire.ws_connect(ctx.port)
    try:
        ws.send_raw(frame(OP_TEXT, b"not json") * 15)
        for i in range(15):
            msg = ws.recv_json()
            check(msg.get("code") == "invalid_json", f"reply {i}: {msg}")
        still_served(ws)
    finally:
        ws.close()


def abuse_case(name, bad):
    def run(ctx):
        """Repeated abuse: error replies, then a close with 1008 (within the burst of 20 and a little)."""
        ws = wire.ws_connect(ctx.port)
        ws.send_raw(frame(OP_TEXT, bad) * 60)
        errors = 0
        try:
            while True:
                msg = ws.recv_json(timeout=5 * ctx.slow)
                check(msg.get("type") == "error", f"got {msg}")
                errors += 1
        except wire.Closed as e:
            code = e.args[1] if len(e.args) > 1 else "EOF"
            ws.send(wire.OP_CLOSE, wire.close_payload(1000))
            ws.close()
            check(code == 1008, f"closed with {code} after {errors} error replies, expected 1008")
            check(15 <= errors <= 25, f"{errors} error replies before the 1008 (burst is 20)")
        except wire.TimedOut:
            ws.close()
            raise AssertionError(f"not closed after 60 bad requests ({errors} error replies)") from None
    add_case("inband." + name, run)


abuse_case("repeated_abuse_invalid_json", b"{{{{")
abuse_case("repeated_abuse_unknown_op", b'{"op":"hack","id":1}')
abuse_case("repeated_abuse_bad_topic", b'{"op":"subscribe","id":1,"topic":"..."}')
abuse_case("repeated_abuse_binary", b"\x00\x01")


@case("inband.abuse_mixed_with_valid_still_closes")
def _mixed(ctx):
    """Valid pings between the bad requests do not reset the budget."""
    ws = wire.ws_connect(ctx.port)
    ws.send_raw((frame(OP_TEXT, b"bad") + frame(OP_TEXT, b'{"op":"ping","id":1}')) * 40)
    expect_close(ws, 1008, timeout=5 * ctx.slow)


@case("inband.subscription_stream_is_read_only")
def _stream_read_only(ctx):
    """Messages to a subscription stream are refused (error replies, then 1008 for many)."""
    r = wire.http_json(ctx.port, "POST", "/v1/subscriptions", {"topics": ["hostile.stream.>"]})
    check(r is not None and r.status == 201, f"create subscription: {r}")
    sid = r.json()["id"]
    ws = wire.ws_connect(ctx.port, f"/v1/subscriptions/{sid}/stream")
    try:
        first = ws.recv_json()
        check(first.get("type") == "connected", f"first message {first}")
        ws.send_raw(frame(OP_TEXT, b'{"op":"publish","id":1,"topic":"hostile.stream.x","data":1}') * 40)
        expect_close(ws, 1008, timeout=5 * ctx.slow)
    finally:
        ws.close()
        wire.http_one(ctx.port, wire.request("DELETE", f"/v1/subscriptions/{sid}"))
