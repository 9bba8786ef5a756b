"""Malformed WebSocket frames after a good upgrade on /v1/ws, and
permessage-deflate abuse. Close codes from docs/protocol.md ("Failures and
close codes"): 1002 for reserved opcodes or bits, unmasked client frames,
non-minimal lengths, long or fragmented control frames, unexpected or missing
continuations, 1-byte close payloads and close codes not allowed on the wire;
1007 for invalid UTF-8 (text or close reason) and corrupt compressed data; 1009
for a frame or message (after inflation) over --max-message-size."""
import hashlib
import time

import framework
import wire
from framework import add_case, case, check, expect_close
from wire import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, frame

PING_MSG = b'{"op":"ping","id":1}'


def close_case(name, frames, *codes, group="frame", deflate=False):
    """Sends `frames` (bytes, or a function of ctx returning bytes) on a fresh
    /v1/ws connection and expects a close frame with one of `codes`."""
    def run(ctx):
        extra = [("Sec-WebSocket-Extensions", "permessage-deflate")] if deflate else None
        ws = wire.ws_connect(ctx.port, extra=extra)
        if deflate:
            check("permessage-deflate" in ws.extensions, f"deflate not negotiated: {ws.extensions!r}")
        data = frames(ctx) if callable(frames) else frames
        ws.send_raw(data)
        expect_close(ws, *codes, timeout=5 * ctx.slow)
    add_case(f"{group}.{name}", run, group=group)


def still_served(ws, what=""):
    """The connection still answers an in-band ping."""
    ws.send_raw(frame(OP_TEXT, PING_MSG))
    msg = ws.recv_json_until(lambda m: m.get("type") in ("ack", "error"))
    check(msg.get("type") == "ack" and msg.get("id") == 1, f"{what}after it, ping got {msg}")


# ------------------------------------------------------------ header bits and opcodes

close_case("unmasked_text", frame(OP_TEXT, PING_MSG, mask=False), 1002)
close_case("unmasked_ping", frame(OP_PING, b"x", mask=False), 1002)
close_case("unmasked_close", frame(OP_CLOSE, wire.close_payload(1000), mask=False), 1002)
for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
    close_case(f"reserved_opcode_{op:X}", frame(op, b"x"), 1002)
close_case("rsv1_without_extension", frame(OP_TEXT, PING_MSG, rsv=4), 1002)
close_case("rsv2", frame(OP_TEXT, PING_MSG, rsv=2), 1002)
close_case("rsv3", frame(OP_TEXT, PING_MSG, rsv=1), 1002)
close_case("rsv_all_on_ping", frame(OP_PING, b"x", rsv=7), 1002)

# ------------------------------------------------------------ control frames

close_case("fragmented_ping", frame(OP_PING, b"a", fin=False) + frame(OP_CONT, b"b"), 1002)
close_case("fragmented_close", frame(OP_CLOSE, wire.close_payload(1000), fin=False), 1002)
close_case("ping_126_bytes", frame(OP_PING, b"p" * 126), 1002)
close_case("pong_200_bytes", frame(OP_PONG, b"p" * 200), 1002)
close_case("close_126_bytes", frame(OP_CLOSE, wire.close_payload(1000, "r" * 124)), 1002)
close_case("ping_claims_64bit_length", frame(OP_PING, b"", length=1 << 40, length_form=64), 1002)
close_case("close_one_byte_payload", frame(OP_CLOSE, b"\x03"), 1002)
for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    close_case(f"close_code_{code}", frame(OP_CLOSE, wire.close_payload(code)), 1002)
close_case("close_reason_invalid_utf8", frame(OP_CLOSE, wire.close_payload(1000, b"\xff\xfe")), 1007)
close_case("close_reason_surrogate", frame(OP_CLOSE, wire.close_payload(1000, b"\xed\xa0\x80")), 1007)


def echo_case(code):
    def run(ctx):
        ws = wire.ws_connect(ctx.port)
        ws.send(OP_CLOSE, wire.close_payload(code, "bye"))
        expect_close(ws, code, 1000)
    add_case(f"frame.close_code_valid_{code}", run)


for code in (1000, 1001, 3000, 4999):
    echo_case(code)


@case("frame.ping_125_bytes_echoed")
def _ping_max(ctx):
    ws = wire.ws_connect(ctx.port)
    try:
        payload = bytes(range(125))
        ws.send(OP_PING, payload)
        fin, rsv, op, data = ws.recv_frame()
        check(op == OP_PONG and data == payload, f"got op {op} with {len(data)} bytes")
        still_served(ws)
    finally:
        ws.close()


@case("frame.unsolicited_pongs_ignored")
def _pongs(ctx):
    ws = wire.ws_connect(ctx.port)
    try:
        ws.send_raw(frame(OP_PONG, b"x") * 500)
        still_served(ws)
    finally:
        ws.close()


@case("frame.ping_flood_answered")
def _ping_flood(ctx):
    """2,000 pings in one write: each gets its pong (or the reader is too slow
    and is closed 4008), the server stays up."""
    ws = wire.ws_connect(ctx.port)
    try:
        ws.send_raw(frame(OP_PING, b"f" * 100) * 2000)
        pongs = 0
        deadline = time.monotonic() + 10 * ctx.slow
        while pongs < 2000:
            fin, rsv, op, data = ws.recv_frame(deadline=deadline)
            check(op == OP_PONG, f"frame {op} after {pongs} pongs")
            pongs += 1
        still_served(ws)
    finally:
        ws.close()


# ------------------------------------------------------------ fragmentation

close_case("continuation_without_start", frame(OP_CONT, b"x"), 1002)
close_case("continuation_after_complete_message", frame(OP_TEXT, PING_MSG) + frame(OP_CONT, b"x"), 1002)
close_case("new_text_inside_fragmented", frame(OP_TEXT, b'{"op"', fin=False) + frame(OP_TEXT, b"x"), 1002)
close_case("new_binary_inside_fragmented", frame(OP_BINARY, b"ab", fin=False) + frame(OP_BINARY, b"cd"), 1002)


@case("frame.ping_between_fragments")
def _ping_between(ctx):
    """RFC 6455 §5.4: control frames may come between fragments."""
    ws = wire.ws_connect(ctx.port)
    try:
        ws.send_raw(frame(OP_TEXT, PING_MSG[:5], fin=False) + frame(OP_PING, b"mid") +
                    frame(OP_CONT, PING_MSG[5:10], fin=False) + frame(OP_CONT, PING_MSG[10:]))
        fin, rsv, op, data = ws.recv_frame()
        check(op == OP_PONG and data == b"mid", f"got op {op} {data!r}")
        msg = ws.recv_json()
        check(msg.get("type") == "ack", f"got {msg}")
    finally:
        ws.close()


@case("frame.many_tiny_fragments")
def _tiny_fragments(ctx):
    """A 20-byte message in 1-byte fragments, then 5,000 empty fragments and the
    last one: accepted (and answered) within bounded time."""
    ws = wire.ws_connect(ctx.port)
    try:
        parts = [frame(OP_TEXT, PING_MSG[:1], fin=False)]
        parts += [frame(OP_CONT, PING_MSG[i:i + 1], fin=False) for i in range(1, len(PING_MSG))]
        parts += [frame(OP_CONT, b"", fin=False)] * 5000
        parts.append(frame(OP_CONT, b""))
        ws.send_raw(b"".join(parts))
        msg = ws.recv_json(timeout=10 * ctx.slow)
        check(msg.get("type") == "ack", f"got {msg}")
    finally:
        ws.close()


close_case("tiny_fragments_over_limit",
           lambda ctx: frame(OP_TEXT, b"[", fin=False) +
           b"".join(frame(OP_CONT, b"0," * 512, fin=False) for _ in range(ctx.max_message // 1024 + 2)), 1009)

# ------------------------------------------------------------ lengths

close_case("length_16bit_non_minimal", frame(OP_TEXT, PING_MSG, length_form=16), 1002)
close_case("length_64bit_non_minimal", frame(OP_TEXT, b" " * 200, length_form=64), 1002)
close_case("length_64bit_high_bit", frame(OP_BINARY, b"", length=1 << 63, length_form=64), 1002)
close_case("length_64bit_all_ones", frame(OP_BINARY, b"", length=(1 << 64) - 1, length_form=64), 1002)
close_case("frame_over_message_limit_header_only",
           lambda ctx: frame(OP_TEXT, b"", length=ctx.max_message + 1), 1009)
close_case("frame_4gib_header_only", frame(OP_BINARY, b"", length=1 << 32, length_form=64), 1009)
close_case("message_over_limit_in_fragments",
           lambda ctx: frame(OP_TEXT, b" " * (ctx.max_message // 2 + 10), fin=False) +
           frame(OP_CONT, b" " * (ctx.max_message // 2 + 10)), 1009)


@case("frame.message_at_limit_accepted")
def _at_limit(ctx):
    """Control: a message of exactly --max-message-size is taken (an error reply, not a close)."""
    ws = wire.ws_connect(ctx.port)
    try:
        head, tail = b'{"op":"ping","id":1,"pad":"', b'"}'
        body = head + b"x" * (ctx.max_message - len(head) - len(tail)) + tail
        ws.send(OP_TEXT, body)
        msg = ws.recv_json()
        check(msg.get("type") in ("ack", "error"), f"got {msg}")
        still_served(ws)
    finally:
        ws.close()


# ------------------------------------------------------------ UTF-8

BAD_UTF8 = {
    "invalid_byte_ff": b'"\xff"',
    "continuation_byte_alone": b'"\x80"',
    "overlong_slash": b'"\xc0\xaf"',
    "overlong_3byte": b'"\xe0\x80\xaf"',
    "overlong_4byte": b'"\xf0\x80\x80\xaf"',
    "surrogate_high": b'"\xed\xa0\x80"',
    "surrogate_low": b'"\xed\xbf\xbf"',
    "above_max_codepoint": b'"\xf4\x90\x80\x80"',
    "five_byte_form": b'"\xf8\x88\x80\x80\x80"',
    "truncated_at_end": b'"ab\xe2\x82',
}
for label, payload in BAD_UTF8.items():
    close_case(f"utf8_{label}", frame(OP_TEXT, payload), 1007)

close_case("utf8_invalid_split_across_fragments",
           frame(OP_TEXT, b'"\xe2\x82', fin=False) + frame(OP_CONT, b'\x28"'), 1007)
close_case("utf8_truncated_at_message_end_fragments",
           frame(OP_TEXT, b'"abc', fin=False) + frame(OP_CONT, b'\xf0\x9f\x98'), 1007)


@case("frame.utf8_invalid_fails_fast")
def _utf8_fast(ctx):
    """Incremental validation: an invalid first fragment closes 1007 without waiting for the rest."""
    ws = wire.ws_connect(ctx.port)
    ws.send_raw(frame(OP_TEXT, b"\xff" + b"a" * 100, fin=False))
    expect_close(ws, 1007, timeout=3 * ctx.slow)


@case("frame.utf8_valid_split_across_fragments")
def _utf8_valid_split(ctx):
    """Control: a euro sign split over three fragments is valid text (answered, not closed)."""
    ws = wire.ws_connect(ctx.port)
    try:
        msg = b'{"op":"ping","id":"\xe2\x82\xac"}'
        i = msg.index(b"\xe2")
        ws.send_raw(frame(OP_TEXT, msg[:i + 1], fin=False) + frame(OP_CONT, msg[i + 1:i + 2], fin=False) +
                    frame(OP_CONT, msg[i + 2:]))
        reply = ws.recv_json()
        check(reply.get("type") == "ack" and reply.get("id") == "\u20ac", f"got {reply}")
    finally:
        ws.close()


@case("frame.binary_invalid_utf8_not_1007")
def _binary(ctx):
    """Binary messages are not UTF-8 checked: not a 1007 (an error reply, or
    a 1003 close, for a JSON-text protocol)."""
    ws = wire.ws_connect(ctx.port)
    try:
        ws.send(OP_BINARY, b"\xff\xfe\xfd")
        try:
            msg = ws.recv_json(timeout=3)
            check(msg.get("type") == "error", f"got {msg}")
        except wire.Closed as e:
            check(len(e.args) > 1 and e.args[1] in (1003, 1008), f"closed with {e.args[1:]}")
    finally:
        ws.close()


# ------------------------------------------------------------ after the close

@case("frame.data_after_close_ignored")
def _after_close(ctx):
    ws = wire.ws_connect(ctx.port)
    ws.send_raw(frame(OP_CLOSE, wire.close_payload(1000)) + frame(OP_TEXT, PING_MSG) * 50 + b"\xff" * 1000)
    expect_close(ws, 1000)


def partial_frame_eof_case(name, cut):
    def run(ctx):
        """A peer that sends part of a frame and closes at once: the server
        notices the EOF and releases the connection (not after the keep-alive
        ping 25 s later, nor never with --ping-interval 0)."""
        ports = []
        full = frame(OP_TEXT, b"x" * 70000)
        for _ in range(20):
            ws = wire.ws_connect(ctx.port)
            ports.append(ws.sock.getsockname()[1])
            ws.send_raw(full[:cut])
            ws.close()
        held = framework.wait_released(ctx.server, ports, within=5.0 * ctx.slow)  # the alternative, a ping 25 s later, is far beyond
        check(not held, f"{len(held)} of 20 server sockets still held: {held[:3]}")
    add_case(f"frame.{name}", run)


for _cut in (1, 5, 13):
    partial_frame_eof_case(f"partial_frame_then_eof_{_cut}_bytes", _cut)


# ------------------------------------------------------------ permessage-deflate

def deflate_frames(data, fragments=1):
    comp = wire.deflate_message(data)
    if fragments == 1:
        return frame(OP_TEXT, comp, rsv=4)
    step = len(comp) // fragments + 1
    chunks = [comp[i:i + step] for i in range(0, len(comp), step)]
    out = frame(OP_TEXT, chunks[0], rsv=4, fin=len(chunks) == 1)
    for j, c in enumerate(chunks[1:], 1):
        out += frame(OP_CONT, c, fin=j == len(chunks) - 1)
    return out


def deflate_ws(ctx):
    ws = wire.ws_connect(ctx.port, extra=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    check("permessage-deflate" in ws.extensions, f"deflate not negotiated: {ws.extensions!r}")
    return ws


@case("deflate.negotiated_and_works", group="deflate")
def _deflate_ok(ctx):
    """Control: a compressed message is inflated and answered."""
    ws = deflate_ws(ctx)
    try:
        ws.send_raw(deflate_frames(b'{"op":"ping","id":1,"pad":"' + b"a" * 500 + b'"}', fragments=3))
        msg = ws.recv_json()
        check(msg.get("type") == "ack", f"got {msg}")
    finally:
        ws.close()


def bomb_case(name, inflated, fragments):
    def run(ctx):
        """A message that inflates far past --max-message-size: 1009, and the
        server's memory does not follow the inflated size."""
        data = b"\x00" * inflated
        comp = wire.deflate_message(data)
        check(len(comp) < ctx.max_message, f"test bug: compressed bomb is {len(comp)} bytes")
        before = ctx.server.memory().get("VmRSS", 0)
        ws = deflate_ws(ctx)
        ws.send_raw(deflate_frames(data, fragments))
        expect_close(ws, 1009, timeout=10 * ctx.slow)
        grown = ctx.server.memory().get("VmRSS", 0) - before
        check(grown < 32 * 1024 * ctx.mem_scale, f"RSS grew by {grown} KiB while refusing a {inflated >> 20} MiB bomb")
    add_case("deflate." + name, run, group="deflate")


bomb_case("compression_bomb_one_frame", 48 * 1024 * 1024, 1)
bomb_case("compression_bomb_fragmented", 48 * 1024 * 1024, 16)


@case("deflate.bomb_in_many_messages", group="deflate")
def _bomb_many(ctx):
    """Messages of just under the limit, each a small deflated block, sent 200
    times: all answered or refused, none allowed to accumulate."""
    ws = deflate_ws(ctx)
    try:
        body = b'{"op":"ping","id":1,"pad":"' + b"z" * (ctx.max_message - 100) + b'"}'
        one = deflate_frames(body)
        ws.send_raw(one * 200)
        for _ in range(200):
            msg = ws.recv_json(timeout=10 * ctx.slow)
            check(msg.get("type") == "ack", f"got {msg}")
    finally:
        ws.close()


close_case("garbage_deflate_data", lambda ctx: frame(OP_TEXT, bytes(range(7, 200)) * 3, rsv=4), 1007,
           group="deflate", deflate=True)
close_case("deflate_invalid_block_type", frame(OP_TEXT, b"\x07\xff\xff\xff\xff", rsv=4), 1007,
           group="deflate", deflate=True)
close_case("deflate_stored_block_bad_length", frame(OP_TEXT, b"\x00\x05\x00\x00\x00abcde", rsv=4), 1007,
           group="deflate", deflate=True)
# Text that deflate cannot shrink much (hex digits of a hash chain), cut short.
HEXY = b'"' + b"".join(hashlib.sha256(bytes([i])).hexdigest().encode() for i in range(80)) + b'"'
for cut in (3, 40, 1000):
    close_case(f"deflate_cut_inside_data_{cut}", frame(OP_TEXT, wire.deflate_message(HEXY)[:cut], rsv=4), 1007,
               group="deflate", deflate=True)
close_case("deflate_invalid_utf8_inside",
           frame(OP_TEXT, wire.deflate_message(b'{"op":"ping","id":"\xff"}'), rsv=4), 1007, group="deflate",
           deflate=True)
close_case("deflate_rsv1_on_continuation",
           frame(OP_TEXT, wire.deflate_message(b'"abc"'), rsv=4, fin=False) + frame(OP_CONT, b"x", rsv=4), 1002,
           group="deflate", deflate=True)
close_case("deflate_rsv1_on_ping", frame(OP_PING, b"x", rsv=4), 1002, group="deflate", deflate=True)
close_case("deflate_rsv1_on_close", frame(OP_CLOSE, wire.close_payload(1000), rsv=4), 1002, group="deflate",
           deflate=True)
close_case("deflate_rsv2", frame(OP_TEXT, wire.deflate_message(b'"abc"'), rsv=6), 1002, group="deflate",
           deflate=True)
close_case("deflate_compressed_frame_over_limit_header",
           lambda ctx: frame(OP_TEXT, b"", rsv=4, length=2 * ctx.max_message), 1009, group="deflate", deflate=True)


@case("deflate.rsv1_when_declined", group="deflate")
def _rsv1_declined(ctx):
    """RSV1 on a connection whose deflate offer was declined is a 1002."""
    ws = wire.ws_connect(ctx.port, extra=[("Sec-WebSocket-Extensions", "x-unknown-extension")])
    check("permessage-deflate" not in ws.extensions, f"negotiated {ws.extensions!r}")
    ws.send_raw(frame(OP_TEXT, wire.deflate_message(PING_MSG), rsv=4))
    expect_close(ws, 1002)
