"""What the auth cases need, standard library only: JWTs made by hand (hmac,
base64url, json; the battery must not need python3-jwt), API keys made with
`sluice key create`, an RSA key pair made with `openssl`, and the two side
servers that enforce them (docs/security.md "What the server enforces")."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import time

import wire
from framework import CaseFailed, check, expect_close

MAX_TOKEN = 8192  # auth::kMaxTokenLength: one byte more is "token malformed"


# ---------------------------------------------------------------- JWTs by hand

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def part(obj):
    return b64url(json.dumps(obj, separators=(",", ":")))


def hs256(signing_input, key):
    if isinstance(key, str):
        key = key.encode()
    return b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def claims(ttl=600, **extra):
    """A payload with sub and exp (= now + ttl); extra claims added or, as
    None, left out."""
    now = int(time.time())
    out = {"sub": "hostile", "iat": now, "exp": now + ttl}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def jwt(payload, key, header=None):
    """header.payload.HMAC-SHA256(key) with header {"alg":"HS256","typ":"JWT"}
    unless given."""
    signing_input = part(header or {"alg": "HS256", "typ": "JWT"}) + "." + part(payload)
    return signing_input + "." + hs256(signing_input, key)


def flip_signature_byte(token):
    """The same token with one bit of its signature's first byte flipped (in
    the decoded bytes: flipping a base64 character may only touch padding)."""
    head, sig = token.rsplit(".", 1)
    raw = bytearray(b64url_decode(sig))
    raw[0] ^= 0x01
    return head + "." + b64url(bytes(raw))


def jwt_of_length(length, key, **claim_overrides):
    """A validly signed HS256 token exactly `length` bytes long, padded with a
    claim the server ignores (base64 lengths skip some values: a key id in the
    header shifts them)."""
    for kid in range(8):
        header = {"alg": "HS256", "typ": "JWT"}
        if kid:
            header["kid"] = "k" * kid
        fixed = len(jwt(claims(pad="", **claim_overrides), key, header))
        for extra in range(max(0, (length - fixed) * 3 // 4 - 8), length):
            token = jwt(claims(pad="p" * extra, **claim_overrides), key, header)
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise RuntimeError(f"no token of exactly {length} bytes")


# ---------------------------------------------------------------- keys and servers

def run_tool(argv, what, timeout=30):
    r = subprocess.run(argv, capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{what} exited {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
    return r.stdout


def create_key(binary, keys_file, name, scopes):
    """`sluice key create`: the key is alone on the last line of its output."""
    out = run_tool([binary, "key", "create", "--keys-file", keys_file, "--name", name, "--scopes", scopes],
                   f"sluice key create {name}")
    key = out.decode().strip().splitlines()[-1]
    if not key.startswith("sk_"):
        raise RuntimeError(f"sluice key create printed no key last: {out[-200:]!r}")
    return key


def random_secret():
    """48 random bytes; redrawn while they end in CR or LF (the server drops a
    trailing newline from the file)."""
    while True:
        secret = os.urandom(48)
        if secret[-1:] not in (b"\r", b"\n"):
            return secret


class AuthSetup:
    """The files and the side servers of the auth cases, made once on first
    use: `hs` enforces --keys-file (keys admin, publisher, reader, doomed) and
    --jwt-secret-file; `rs` --jwt-public-key (RS256) only."""

    def __init__(self, ctx):
        self.binary = ctx.binary
        self.dir = tempfile.mkdtemp(prefix="hostile-auth-")
        ctx.cleanups.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.keys_file = os.path.join(self.dir, "keys")
        self.keys = {name: create_key(self.binary, self.keys_file, name, scopes)
                     for name, scopes in [("admin", "admin"), ("publisher", "publish"), ("reader", "read"),
                                          ("doomed", "publish")]}
        self.secret = random_secret()
        secret_file = os.path.join(self.dir, "jwt-secret")
        with open(secret_file, "wb") as f:
            f.write(self.secret + b"\n")
        # The header limit leaves room for an 8,193-byte token: the verifier,
        # not the HTTP reader (431), must be what refuses it.
        self.hs = ctx.side_server(["--keys-file", self.keys_file, "--jwt-secret-file", secret_file,
                                   "--max-header-bytes", "16384", "--threads", "1"])
        self.private_pem = os.path.join(self.dir, "rsa.pem")
        self.public_pem = os.path.join(self.dir, "rsa.pub.pem")
        run_tool(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                  "-out", self.private_pem], "openssl genpkey")
        run_tool(["openssl", "pkey", "-in", self.private_pem, "-pubout", "-out", self.public_pem], "openssl pkey")
        with open(self.public_pem, "rb") as f:
            self.public_pem_text = f.read()
        self.rs = ctx.side_server(["--jwt-public-key", self.public_pem, "--threads", "1"])

    def token(self, payload=None, header=None, key=None):
        return jwt(payload or claims(), self.secret if key is None else key, header)

    def rs256(self, payload):
        """A real RS256 token, signed by `openssl dgst` with the private key."""
        signing_input = part({"alg": "RS256", "typ": "JWT"}) + "." + part(payload)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.private_pem], input=signing_input.encode(),
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"openssl dgst -sign exited {r.returncode}")
        return signing_input + "." + b64url(r.stdout)


def setup(ctx):
    if not hasattr(ctx, "_auth"):
        ctx._auth = AuthSetup(ctx)
    return ctx._auth


# ---------------------------------------------------------------- clients

def bearer(credential):
    return [("Authorization", "Bearer " + credential)]


def api(port, method, target, key=None, obj=None, headers=None):
    """One HTTP request with `Authorization: Bearer key` (unless key is None)."""
    hdrs = list(headers or [])
    if key is not None:
        hdrs += bearer(key)
    body = None
    if obj is not None:
        body = json.dumps(obj).encode()
        hdrs.append(("Content-Type", "application/json"))
    return wire.http_one(port, wire.request(method, target, body, hdrs))


def ws_open(port, credential=None, path="/v1/ws", extra=()):
    """An upgraded /v1/ws (101 asserted by wire.ws_connect)."""
    return wire.ws_connect(port, path, extra=(bearer(credential) if credential is not None else []) + list(extra))


def expect_4401(ws, reason=None, prefix=None, what=""):
    """The server's close: 4401 with exactly `reason`, or one starting `prefix`."""
    _, got = expect_close(ws, 4401, what=what)
    if reason is not None:
        check(got == reason, f"{what}close reason {got!r}, expected {reason!r}")
    if prefix is not None:
        check(got.startswith(prefix), f"{what}close reason {got!r}, expected one starting {prefix!r}")
    return got


def request(ws, op):
    """Sends one request with its id, returns the reply carrying that id."""
    ws.send_json(op)
    return ws.recv_json_until(lambda m: m.get("id") == op["id"] and m.get("type") in ("ack", "error"))


def expect_open(ws, what=""):
    """The connection still serves: a ping is acked (no close came first)."""
    try:
        reply = request(ws, {"op": "ping", "id": "still-open"})
    except wire.Closed as e:
        raise CaseFailed(f"{what}the connection was closed: {e.args[1:]}") from None
    check(reply == {"type": "ack", "id": "still-open", "op": "ping"}, f"{what}ping got {reply}")


def say_goodbye(ws):
    ws.send(wire.OP_CLOSE, wire.close_payload(1000))
    ws.expect_close()
    ws.close()
