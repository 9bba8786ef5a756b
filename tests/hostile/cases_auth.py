"""Placeholders for the authentication attacks, SKIPPED (never counted as
passed) until `sluice serve` enforces keys and tokens. docs/security.md: "Not
enforced by the server yet": no --keys-file, --jwt-secret-file or
--jwt-public-key on `sluice serve`, every route and WebSocket is open.

When the server gains those options, each placeholder becomes a real case
with the status or close code docs/security.md already names (401 with
`WWW-Authenticate: Bearer`, 403 for a missing scope, close 4401 with the
refusal's message, `forbidden` replies for topics outside the token)."""
import subprocess

from framework import Skip, add_case

PLACEHOLDERS = [
    # (name, what the case will send, what it will expect)
    ("http_no_key", "POST /v1/events without Authorization", "401 + WWW-Authenticate: Bearer"),
    ("http_sk_prefix_wrong_secret", "Bearer sk_ + 43 base64url characters that hash to no stored key", "401"),
    ("http_sk_prefix_short", "Bearer sk_abc (right prefix, wrong length)", "401"),
    ("http_key_with_bad_characters", "Bearer sk_ + 43 characters outside base64url", "401"),
    ("http_basic_scheme", "Authorization: Basic with a valid key as password", "401"),
    ("http_missing_scope", "a publish-only key on DELETE /v1/subscriptions/{id}", "403"),
    ("http_revoked_key_after_sighup", "a key revoked in the keys file, after SIGHUP", "401"),
    ("ws_token_missing", "/v1/ws upgrade without a token", "close 4401 \"missing token\""),
    ("ws_jwt_forged_signature", "HS256 token with a flipped signature byte", "close 4401 \"token signature invalid\""),
    ("ws_jwt_wrong_key", "HS256 token signed with another secret", "close 4401 \"token signature invalid\""),
    ("ws_jwt_expired", "exp in the past", "close 4401 \"token expired\""),
    ("ws_jwt_not_yet_valid", "nbf in the future", "close 4401 \"token not yet valid (nbf)\""),
    ("ws_jwt_alg_none", "alg: none, empty signature", "close 4401 (wrong_algorithm)"),
    ("ws_jwt_alg_confusion", "HS256 token signed with the RS256 public key's text", "close 4401 (wrong_algorithm)"),
    ("ws_jwt_no_exp", "a token without exp", "close 4401 (invalid_claims)"),
    ("ws_jwt_oversize", "a token of 8,193 bytes", "close 4401 (malformed)"),
    ("ws_jwt_crit_header", "a token with a crit header", "close 4401 (malformed)"),
    ("ws_jwt_garbage_parts", "three base64url parts that are not JSON", "close 4401 (malformed)"),
    ("ws_subscribe_outside_claims", "subscribe to a topic the token does not cover", "error reply forbidden"),
    ("ws_publish_outside_claims", "publish on a topic the token does not cover", "error reply forbidden"),
    ("ws_refresh_expired_token", "{op: refresh} with an expired token", "close 4401 \"token expired\""),
    ("ws_token_expires_mid_connection", "a token whose exp passes while connected", "close 4401 \"token expired\""),
]

_server_has_auth = None


def server_has_auth(ctx):
    global _server_has_auth
    if _server_has_auth is None:
        try:
            out = subprocess.run([ctx.binary, "serve", "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        _server_has_auth = "--keys-file" in out or "--jwt-secret-file" in out
    return _server_has_auth


def placeholder(name, sends, expects):
    def run(ctx):
        if server_has_auth(ctx):
            raise Skip(f"PLACEHOLDER: `sluice serve` now has auth options: implement this case ({sends} -> {expects})")
        raise Skip(f"placeholder: auth not enforced by the server yet (docs/security.md); will send {sends}, "
                   f"expect {expects}")
    add_case("auth." + name, run)


for _name, _sends, _expects in PLACEHOLDERS:
    placeholder(_name, _sends, _expects)
