#!/usr/bin/env python3
"""`sluice key` and `sluice token` end to end: keys printed once, on the
last line, and stored only as their SHA-256 (mode 0600); list shows names
and scopes; revoke removes the line; tokens verified independently with
Python's jwt (PyJWT, Debian's python3-jwt) using the secret file less one
trailing newline; bad arguments exit 2, operational failures 1, and no
message ever shows a key or the secret."""
import argparse
import hashlib
import os
import re
import stat
import subprocess
import sys
import tempfile
import time

import jwt

TIMEOUT = 30
KEY_RE = re.compile(r"^sk_[A-Za-z0-9_-]{43}$")


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()

    def run(*argv):
        return subprocess.run([args.sluice, *argv], capture_output=True, text=True, timeout=TIMEOUT)

    checks = 0

    def expect(ok, what, done=None):
        nonlocal checks
        checks += 1
        if not ok:
            detail = f" rc={done.returncode} out={done.stdout!r} err={done.stderr!r}" if done else ""
            fail(what + detail)

    with tempfile.TemporaryDirectory(prefix="sluice-auth-cli-") as tmp:
        keys = os.path.join(tmp, "keys")

        # create: the key alone on the last line, only its hash in the file, mode 0600.
        created = {}
        for name, scopes in [("ci", "publish"), ("dash", "read,admin")]:
            done = run("key", "create", "--keys-file", keys, "--name", name, "--scopes", scopes)
            expect(done.returncode == 0, f"create {name}", done)
            key = done.stdout.splitlines()[-1]
            expect(KEY_RE.match(key) is not None, f"create {name}: last line is not a key: {key!r}", done)
            expect(done.stdout.count(key) == 1 and key not in done.stderr, "the key is printed exactly once", done)
            created[name] = key
        text = open(keys).read()
        expect(created["ci"] not in text and created["dash"] not in text, "the keys file holds a key")
        for name, scopes in [("ci", "publish"), ("dash", "read,admin")]:
            line = f"{name} {scopes} sha256:{hashlib.sha256(created[name].encode()).hexdigest()}"
            expect(line in text.splitlines(), f"no line {line!r} in {text!r}")
        expect(stat.S_IMODE(os.stat(keys).st_mode) == 0o600, "the keys file is not 0600")
        expect(created["ci"] != created["dash"], "two keys are the same")

        # list: names and scopes, tab-separated, nothing else.
        done = run("key", "list", "--keys-file", keys)
        expect(done.returncode == 0 and done.stdout == "ci\tpublish\ndash\tread,admin\n", "list", done)

        # A taken name: exit 1, nothing changed.
        done = run("key", "create", "--keys-file", keys, "--name", "ci", "--scopes", "read")
        expect(done.returncode == 1 and "already exists" in done.stderr and open(keys).read() == text,
               "create with a taken name", done)

        # revoke: the line goes, the rest stays.
        done = run("key", "revoke", "--keys-file", keys, "ci")
        expect(done.returncode == 0, "revoke", done)
        after = open(keys).read()
        expect(after == "".join(l for l in text.splitlines(keepends=True) if not l.startswith("ci ")),
               f"revoke changed more than its line: {after!r}")
        done = run("key", "list", "--keys-file", keys)
        expect(done.returncode == 0 and done.stdout == "dash\tread,admin\n", "list after revoke", done)
        done = run("key", "revoke", "--keys-file", keys, "ci")
        expect(done.returncode == 1 and "no key named 'ci'" in done.stderr, "revoke twice", done)

        # An invalid file is named by line and left alone; a key pasted in is not repeated.
        broken = os.path.join(tmp, "broken")
        with open(broken, "w") as f:
            f.write("# ok\nx publish " + created["ci"] + "\n")
        done = run("key", "create", "--keys-file", broken, "--name", "y", "--scopes", "read")
        expect(done.returncode == 1 and "line 2" in done.stderr and created["ci"] not in done.stderr,
               "create on an invalid file", done)
        done = run("key", "list", "--keys-file", broken)
        expect(done.returncode == 1 and "line 2" in done.stderr and created["ci"] not in done.stderr,
               "list of an invalid file", done)

        # Bad arguments exit 2.
        for argv, words in [(["key"], "subcommand"),
                            (["key", "create", "--keys-file", keys, "--name", "x"], "--scopes"),
                            (["key", "create", "--keys-file", keys, "--name", "x", "--scopes", "write"], "unknown scope"),
                            (["key", "create", "--keys-file", keys, "--name", "a b", "--scopes", "read"], "key name"),
                            (["key", "create", "--name", "x", "--scopes", "read"], "--keys-file"),
                            (["key", "list"], "--keys-file"),
                            (["key", "revoke", "--keys-file", keys], "name")]:
            done = run(*argv)
            expect(done.returncode == 2 and words in done.stderr, f"{argv}", done)
        expect(open(keys).read() == after, "a refused command changed the keys file")

        # token: verified by PyJWT with the file's contents less one trailing newline.
        secret = "a-shared-secret-of-more-than-32-bytes-" + os.urandom(8).hex()
        secret_file = os.path.join(tmp, "secret")
        with open(secret_file, "w") as f:
            f.write(secret + "\n")
        before = int(time.time())
        done = run("token", "--jwt-secret-file", secret_file, "--sub", "alice", "--subscribe", "orders.>", "news.*",
                   "--publish", "chat.alice", "--ttl", "2h")
        expect(done.returncode == 0 and len(done.stdout.splitlines()) == 1, "token", done)
        token = done.stdout.strip()
        expect(jwt.get_unverified_header(token)["alg"] == "HS256", "token alg")
        claims = jwt.decode(token, secret.encode(), algorithms=["HS256"])
        expect(claims["sub"] == "alice", f"sub: {claims}")
        expect(claims["subscribe"] == ["orders.>", "news.*"] and claims["publish"] == ["chat.alice"], f"patterns: {claims}")
        expect(claims["exp"] - claims["iat"] == 7200 and before <= claims["iat"] <= int(time.time()), f"times: {claims}")
        for wrong in [secret + "\n", secret[:-1]]:
            try:
                jwt.decode(token, wrong.encode(), algorithms=["HS256"])
                fail("the token verifies with another secret")
            except jwt.InvalidSignatureError:
                checks += 1
        done = run("token", "--jwt-secret-file", secret_file, "--sub", "bob", "--ttl", "90s")
        claims = jwt.decode(done.stdout.strip(), secret.encode(), algorithms=["HS256"])
        expect(claims["exp"] - claims["iat"] == 90 and claims["subscribe"] == [] and claims["publish"] == [],
               f"--ttl 90s, no patterns: {claims}", done)
        # A Centrifugo subscription token: the one `channel` claim, nothing else granted.
        done = run("token", "--jwt-secret-file", secret_file, "--sub", "carol", "--subscription-channel", "news:eu",
                   "--ttl", "5m")
        claims = jwt.decode(done.stdout.strip(), secret.encode(), algorithms=["HS256"])
        expect(claims["sub"] == "carol" and claims["channel"] == "news:eu" and claims["exp"] - claims["iat"] == 300
               and not claims.get("subscribe") and not claims.get("publish") and "channels" not in claims,
               f"--subscription-channel: {claims}", done)

        short = os.path.join(tmp, "short")
        with open(short, "w") as f:
            f.write("tiny-secret\n")
        for argv, rc, words in [
                (["token", "--jwt-secret-file", short, "--sub", "a"], 1, "at least 32"),
                (["token", "--jwt-secret-file", os.path.join(tmp, "none"), "--sub", "a"], 1, "does not exist"),
                (["token", "--jwt-secret-file", secret_file, "--sub", "a", "--subscribe", "a..b"], 2, "is not a topic pattern"),
                (["token", "--jwt-secret-file", secret_file, "--sub", "a", "--ttl", "soon"], 2, "--ttl"),
                (["token", "--jwt-secret-file", secret_file, "--sub", "a", "--ttl", "400d"], 2, "--ttl"),
                (["token", "--jwt-secret-file", secret_file], 2, "--sub"),
                (["token", "--jwt-secret-file", secret_file, "--sub", "a", "--subscription-channel", "c",
                  "--subscribe", "x"], 2, "grants nothing else"),
                (["token", "--sub", "a"], 2, "--jwt-secret-file")]:
            done = run(*argv)
            expect(done.returncode == rc and words in done.stderr and done.stdout == "", f"{argv}", done)
            expect("tiny-secret" not in done.stderr and secret not in done.stderr, "a message shows the secret", done)

    print(f"{checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
