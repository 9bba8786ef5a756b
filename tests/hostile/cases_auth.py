"""Authentication attacks (docs/security.md "What the server enforces"), on
side servers the battery starts itself (authkit.AuthSetup): one with
--keys-file and --jwt-secret-file (HS256), one with --jwt-public-key (RS256).

HTTP API: a missing or unknown key is a 401 with `WWW-Authenticate: Bearer`,
a key without the route's scope a 403. /v1/ws: the handshake completes and a
bad credential is closed with 4401 and the refusal's message; a subscribe or
publish outside the token's patterns gets a `forbidden` reply and the
connection stays open; a refused refresh changes nothing; an unrefreshed
token closes the connection with 4401 at its expiry. Streams are checked
before the upgrade (401/403). Browsers from another origin get 403, and the
server refuses to listen beyond loopback without auth unless --insecure."""
import base64
import os
import signal
import subprocess
import time

import wire
from authkit import (MAX_TOKEN, api, b64url, claims, expect_4401, expect_open, flip_signature_byte, jwt,
                     jwt_of_length, part, request, say_goodbye, setup, ws_open)
from framework import add_case, case, check, expect_status

EVENT = {"topic": "auth.hostile", "data": {"n": 1}}


def expect_401(resp, what=""):
    expect_status(resp, 401, what=what)
    challenge = resp.header("www-authenticate") or ""
    check(challenge == "Bearer" or challenge.startswith("Bearer "), f"{what}WWW-Authenticate {challenge!r}")
    check(resp.json().get("error") == "unauthorized", f"{what}body {resp.body[:120]!r}")


# ---------------------------------------------------------------- HTTP API keys

@case("auth.http_no_key")
def _http_no_key(ctx):
    a = setup(ctx)
    r = api(a.hs.port, "POST", "/v1/events", obj=EVENT)
    expect_401(r)
    check(r.header("www-authenticate") == "Bearer", f"WWW-Authenticate {r.header('www-authenticate')!r}")
    expect_status(api(a.hs.port, "POST", "/v1/events", a.keys["publisher"], EVENT), 201, what="control, with the key: ")
    expect_status(api(a.hs.port, "GET", "/health"), 200, what="probe without a key: ")


def refused_key_case(name, credential_of, header="Authorization"):
    def run(ctx):
        a = setup(ctx)
        for credential in credential_of(a):
            r = api(a.hs.port, "POST", "/v1/events", obj=EVENT, headers=[(header, credential)])
            expect_401(r, what=f"{credential[:24]!r}...: ")
            check(b"sk_" not in r.body, f"the 401 repeats the credential: {r.body[:200]!r}")
    add_case("auth." + name, run)


# 43 base64url characters that are no stored key's: 32 random bytes.
refused_key_case("http_sk_prefix_wrong_secret", lambda a: ["Bearer sk_" + b64url(os.urandom(32)) for _ in range(3)])
refused_key_case("http_sk_prefix_short", lambda a: ["Bearer sk_abc", "Bearer sk_", "Bearer " + a.keys["publisher"][:-1]])
refused_key_case("http_key_with_bad_characters",
                 lambda a: ["Bearer sk_" + "+/=!~*$%" * 5 + "+/=", "Bearer " + a.keys["publisher"][:-1] + "+",
                            "Bearer sk_" + "\u00e9" * 42 + "A"])
refused_key_case("http_basic_scheme",
                 lambda a: ["Basic " + base64.b64encode(b"user:" + a.keys["admin"].encode()).decode(),
                            "Basic " + a.keys["admin"], "Token " + a.keys["admin"], "Bearer" + a.keys["admin"],
                            a.keys["admin"]])


@case("auth.http_missing_scope")
def _http_missing_scope(ctx):
    """A publish-only key may not delete a subscription (admin): 403 naming the
    scope, and the subscription is still there."""
    a = setup(ctx)
    r = expect_status(api(a.hs.port, "POST", "/v1/subscriptions", a.keys["admin"], {"topics": ["auth.scope"]}), 201)
    sid = r.json()["id"]
    r = expect_status(api(a.hs.port, "DELETE", f"/v1/subscriptions/{sid}", a.keys["publisher"]), 403)
    check(r.json().get("error") == "forbidden", f"403 body {r.body[:160]!r}")
    check(b"admin" in r.body and b"sk_" not in r.body, f"403 body {r.body[:160]!r}")
    expect_status(api(a.hs.port, "DELETE", f"/v1/subscriptions/{sid}", a.keys["reader"]), 403, what="read key: ")
    expect_status(api(a.hs.port, "GET", f"/v1/subscriptions/{sid}", a.keys["reader"]), 200, what="still there: ")
    expect_status(api(a.hs.port, "DELETE", f"/v1/subscriptions/{sid}", a.keys["admin"]), 204, what="admin: ")


@case("auth.http_revoked_key_after_sighup")
def _http_revoked(ctx):
    """`sluice key revoke` changes the file; SIGHUP makes the server reload it:
    the revoked key is then a 401, the others still work."""
    a = setup(ctx)
    port, doomed = a.hs.port, a.keys["doomed"]
    expect_status(api(port, "POST", "/v1/events", doomed, EVENT), 201, what="before the revoke: ")
    r = subprocess.run([ctx.binary, "key", "revoke", "--keys-file", a.keys_file, "doomed"], capture_output=True,
                       timeout=30)
    check(r.returncode == 0, f"sluice key revoke exited {r.returncode}: {r.stderr[-200:]!r}")
    expect_status(api(port, "POST", "/v1/events", doomed, EVENT), 201, what="revoked in the file, no SIGHUP yet: ")
    reloads = a.hs.log().count("SIGHUP:")
    a.hs.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10 * ctx.slow
    while a.hs.log().count("SIGHUP:") == reloads:
        check(time.monotonic() < deadline, "no SIGHUP line in the log 10 s after the signal")
        time.sleep(0.02)  # polling the server's log for the reload
    line = a.hs.log().split("SIGHUP:")[-1].splitlines()[0]
    check("3 API keys loaded" in line, f"reload: SIGHUP:{line}")
    expect_401(api(port, "POST", "/v1/events", doomed, EVENT), what="revoked key after SIGHUP: ")
    expect_status(api(port, "POST", "/v1/events", a.keys["publisher"], EVENT), 201, what="another key: ")


# ---------------------------------------------------------------- /v1/ws tokens

@case("auth.ws_token_missing")
def _ws_missing(ctx):
    a = setup(ctx)
    expect_4401(ws_open(a.hs.port), "missing token")
    expect_4401(ws_open(a.hs.port, path="/v1/ws?token="), "missing token", what="empty ?token=: ")


def refused_token_case(name, token_of, reason=None, prefix=None, server="hs"):
    """Each token of token_of(setup) is let through the handshake and closed
    with 4401 and the given reason."""
    def run(ctx):
        a = setup(ctx)
        port = getattr(a, server).port
        for token in token_of(a):
            expect_4401(ws_open(port, token), reason, prefix, what=f"token {token[:40]}...: ")
    add_case("auth." + name, run)


refused_token_case("ws_jwt_forged_signature", lambda a: [flip_signature_byte(a.token())], "token signature invalid")
refused_token_case("ws_jwt_wrong_key",
                   lambda a: [a.token(key=os.urandom(48)), a.token(key=a.secret[:-1]), a.token(key=a.secret + b"\n")],
                   "token signature invalid")
refused_token_case("ws_jwt_expired", lambda a: [a.token(claims(ttl=-10)), a.token(claims(ttl=0))], "token expired")
refused_token_case("ws_jwt_not_yet_valid", lambda a: [a.token(claims(nbf=int(time.time()) + 600))],
                   "token not yet valid (nbf)")
refused_token_case(
    "ws_jwt_alg_none",
    lambda a: [part({"alg": alg, "typ": "JWT"}) + "." + part(claims()) + "." + sig
               for alg in ("none", "None", "NONE") for sig in ("", b64url(b"x"))]
    + [a.token(header={"alg": "none"})],
    prefix="token algorithm")
# HS256 "signed" with the text of the RS256 public key (as a naive verifier
# would take it as the HMAC secret): refused on the alg, before any HMAC.
refused_token_case(
    "ws_jwt_alg_confusion",
    lambda a: [jwt(claims(), a.public_pem_text), jwt(claims(), a.public_pem_text.rstrip(b"\n")),
               jwt(claims(), a.public_pem_text, {"alg": "HS256"})],
    prefix="token algorithm", server="rs")
refused_token_case("ws_jwt_no_exp", lambda a: [a.token(claims(exp=None)), a.token(claims(exp="tomorrow"))],
                   prefix="token claims invalid")
refused_token_case("ws_jwt_oversize", lambda a: [jwt_of_length(MAX_TOKEN + 1, a.secret)], prefix="token malformed")
refused_token_case("ws_jwt_crit_header",
                   lambda a: [a.token(header={"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
                              a.token(header={"alg": "HS256", "crit": []})],
                   prefix="token malformed")
refused_token_case(
    "ws_jwt_garbage_parts",
    lambda a: [b64url(b"hello") + "." + b64url(b"world") + "." + b64url(b"sig"),
               b64url(b"[1,2]") + "." + part(claims()) + ".c2ln",
               part({"alg": "HS256"}) + "." + b64url(b"{\"exp\":") + ".c2ln",
               "!!!." + part(claims()) + ".c2ln", "..", b64url(b"\xff\xfe") + ".e30.c2ln"],
    prefix="token malformed")


@case("auth.ws_rs256_control")
def _rs256_control(ctx):
    """Control for the confusion case: the RS256 server takes a real RS256
    token (signed by openssl), so its refusal is about the algorithm."""
    a = setup(ctx)
    ws = ws_open(a.rs.port, a.rs256(claims(subscribe=["a"])))
    expect_open(ws)
    say_goodbye(ws)


@case("auth.ws_jwt_max_length_accepted")
def _max_length(ctx):
    """Control for the oversize case: a token of exactly 8,192 bytes is let in."""
    a = setup(ctx)
    ws = ws_open(a.hs.port, jwt_of_length(MAX_TOKEN, a.secret))
    expect_open(ws)
    say_goodbye(ws)


@case("auth.ws_subscribe_outside_claims")
def _subscribe_outside(ctx):
    a = setup(ctx)
    ws = ws_open(a.hs.port, a.token(claims(subscribe=["orders.>"])))
    for i, (topic, outcome) in enumerate([("payments.eu", "forbidden"), (">", "forbidden"), ("orders", "forbidden"),
                                          ("orders.*", "ack"), ("orders.eu.fr", "ack")]):
        reply = request(ws, {"op": "subscribe", "id": i, "topic": topic})
        got = reply["type"] if reply["type"] == "ack" else reply.get("code")
        check(got == outcome, f"subscribe {topic}: {reply}, expected {outcome}")
    expect_open(ws, "after the forbidden subscribes: ")
    say_goodbye(ws)


@case("auth.ws_publish_outside_claims")
def _publish_outside(ctx):
    a = setup(ctx)
    ws = ws_open(a.hs.port, a.token(claims(subscribe=[">"], publish=["chat.alice"])))
    for i, (topic, outcome) in enumerate([("chat.bob", "forbidden"), ("chat.alice.x", "forbidden"),
                                          ("chat", "forbidden"), ("chat.alice", "ack")]):
        reply = request(ws, {"op": "publish", "id": i, "topic": topic, "data": {"n": i}})
        got = reply["type"] if reply["type"] == "ack" else reply.get("code")
        check(got == outcome, f"publish {topic}: {reply}, expected {outcome}")
    expect_open(ws, "after the forbidden publishes: ")
    say_goodbye(ws)


@case("auth.ws_refresh_expired_token")
def _refresh_expired(ctx):
    """A refresh with an expired token is refused with `unauthorized`; the
    connection stays open and the old token still decides."""
    a = setup(ctx)
    ws = ws_open(a.hs.port, a.token(claims(subscribe=["a"])))
    for i, token in enumerate([a.token(claims(ttl=-10, subscribe=[">"])),
                               flip_signature_byte(a.token(claims(subscribe=[">"])))]):
        reply = request(ws, {"op": "refresh", "id": i, "token": token})
        check(reply.get("type") == "error" and reply.get("code") == "unauthorized", f"refresh {i}: {reply}")
    expect_open(ws, "after the refused refresh: ")
    reply = request(ws, {"op": "subscribe", "id": "b", "topic": "b"})
    check(reply.get("code") == "forbidden", f"the refused token's wider grant was used: {reply}")
    say_goodbye(ws)


@case("auth.ws_token_expires_mid_connection")
def _expires_mid_connection(ctx):
    """exp = now + 2: served at first, then closed with 4401 `token expired`."""
    a = setup(ctx)
    exp = int(time.time()) + 2
    ws = ws_open(a.hs.port, a.token(claims(exp=exp, subscribe=["a"])))
    expect_open(ws, "before the expiry: ")
    expect_4401(ws, "token expired")
    check(time.time() >= exp - 1, f"closed {exp - time.time():.1f} s before the token's exp")


@case("auth.ws_token_in_query")
def _token_in_query(ctx):
    """Browsers cannot set headers: ?token= works, and is the one checked."""
    a = setup(ctx)
    ws = ws_open(a.hs.port, path="/v1/ws?token=" + a.token(claims(subscribe=["q.>"])))
    expect_open(ws)
    reply = request(ws, {"op": "subscribe", "id": 1, "topic": "q.x"})
    check(reply.get("type") == "ack", f"subscribe allowed by the query's token: {reply}")
    say_goodbye(ws)
    expect_4401(ws_open(a.hs.port, path="/v1/ws?token=" + a.token(claims(ttl=-10))), "token expired",
                what="expired token in the query: ")


@case("auth.stream_token_not_covering")
def _stream_not_covering(ctx):
    """A stream upgrade needs a token covering every topic of its
    subscription: 403 before the upgrade otherwise, 401 without one."""
    a = setup(ctx)
    r = expect_status(api(a.hs.port, "POST", "/v1/subscriptions", a.keys["admin"],
                          {"topics": ["orders.eu", "orders.us"]}), 201)
    path = f"/v1/subscriptions/{r.json()['id']}/stream"
    narrow = a.token(claims(subscribe=["orders.eu"]))

    def upgrade(target, extra=()):
        raw, _ = wire.upgrade_request(target, extra=list(extra))
        return wire.http_one(a.hs.port, raw)
    expect_status(upgrade(f"{path}?token={narrow}"), 403, what="?token= covering one topic of two: ")
    expect_status(upgrade(path, [("Authorization", "Bearer " + narrow)]), 403, what="Bearer covering one of two: ")
    expect_status(upgrade(path, [("Authorization", "Bearer " + a.keys["publisher"])]), 403, what="publish key: ")
    r = expect_status(upgrade(path), 401, what="no credential: ")
    check((r.header("www-authenticate") or "").startswith("Bearer"), f"401 without a challenge: {r.headers}")
    ws = ws_open(a.hs.port, path=f"{path}?token=" + a.token(claims(subscribe=["orders.*"])))
    say_goodbye(ws)
    expect_status(api(a.hs.port, "DELETE", path[: -len("/stream")], a.keys["admin"]), 204)


# ---------------------------------------------------------------- origins, bind address

@case("auth.origin_other_refused_by_default")
def _origin_default(ctx):
    """Without --allowed-origin only the server's own origin may upgrade: a
    browser from elsewhere gets 403; no Origin (not a browser) is let in."""
    raw, _ = wire.upgrade_request(extra=[("Origin", "https://evil.example")])
    expect_status(wire.http_one(ctx.port, raw), 403, what="Origin https://evil.example: ")
    host = [("Host", f"127.0.0.1:{ctx.port}")]
    for extra in ([], [("Origin", f"http://127.0.0.1:{ctx.port}")]):
        raw, _ = wire.upgrade_request(extra=host + extra, omit=("Host",))
        expect_status(wire.http_one(ctx.port, raw), 101, what=f"{extra or 'no Origin'}: ")


@case("auth.insecure_bind_refused")
def _insecure_bind(ctx):
    """`--address 0.0.0.0` without auth is refused before listening, naming
    --insecure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    t0 = time.monotonic()
    try:
        r = subprocess.run([ctx.binary, "serve", "--address", "0.0.0.0", "--port", "0", "--store", "memory"],
                           capture_output=True, timeout=10 * ctx.slow, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        check(False, "sluice serve --address 0.0.0.0 without auth was still running after 10 s")
    took = time.monotonic() - t0
    out = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode != 0, f"exit {r.returncode}: {out[-300:]!r}")
    check("--insecure" in out, f"the refusal does not name --insecure: {out[-300:]!r}")
    check("listening on" not in out, f"it listened: {out[-300:]!r}")
    check(took < 5 * ctx.slow, f"took {took:.1f} s to refuse")
