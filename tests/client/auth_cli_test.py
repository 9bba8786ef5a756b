#!/usr/bin/env python3
"""`sluice sub`, `pub` and `cat` with credentials, against `sluice serve` with
HS256 connection tokens (--jwt-secret-file) and API keys (--keys-file) on a
free loopback port: --token and --api-key, their variables SLUICE_TOKEN and
SLUICE_API_KEY, a flag winning over a variable, tokens made by Python's jwt
and by `sluice token`, a missing or expired token ending the command with the
server's reason (and never printing the token), conflicting credentials as
usage errors, and --help naming it all. Every step is bounded in time."""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import jwt

TIMEOUT = 30
SECRET = "an-hs256-secret-of-at-least-32-bytes!!"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    print(message)
    sys.exit(1)


def py_token(subscribe=(), publish=(), ttl=3600, secret=SECRET):
    now = int(time.time())
    claims = {"sub": "py", "iat": now, "exp": now + ttl, "subscribe": list(subscribe), "publish": list(publish)}
    return jwt.encode(claims, secret, algorithm="HS256")


class Server:
    def __init__(self, sluice, port, secret_file, keys_file):
        self.proc = subprocess.Popen([sluice, "serve", "--port", str(port), "--threads", "1", "--store", "memory",
                                      "--jwt-secret-file", secret_file, "--keys-file", keys_file],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # the first lines say how it listens
            line = self.proc.stdout.readline()
            if "listening on" in line:
                return
            if not line:
                break
        raise RuntimeError("sluice serve did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


def wait_for(path, text):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with open(path) as f:
            if text in f.read():
                return True
        time.sleep(0.05)  # polling a file another process writes: nothing to wait on
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()
    sluice = args.sluice
    work = tempfile.mkdtemp(prefix="sluice-auth-cli-")
    secret_file = os.path.join(work, "jwt-secret")
    with open(secret_file, "w") as f:
        f.write(SECRET + "\n")
    keys_file = os.path.join(work, "keys")
    port = free_port()
    # No credential inherited from the caller's environment.
    base_env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_TOKEN", "SLUICE_API_KEY")}
    base_env["SLUICE_URL"] = f"ws://127.0.0.1:{port}"

    def run(*a, env=None, **kw):
        return subprocess.run([sluice, *a], capture_output=True, text=True, timeout=TIMEOUT,
                              env=dict(base_env, **(env or {})), **kw)

    def make_key(name, scopes):
        done = run("key", "create", "--keys-file", keys_file, "--name", name, "--scopes", scopes)
        if done.returncode != 0:
            fail(f"key create: {done.stderr!r}")
        return done.stdout.splitlines()[-1]

    publish_key = make_key("publisher", "publish")
    read_key = make_key("reader", "read")
    server = Server(sluice, port, secret_file, keys_file)
    follower = None
    try:
        # --help names the flags and their variables.
        for command in ("sub", "pub", "cat"):
            out = run(command, "--help").stdout
            for word in ("--token", "--api-key", "SLUICE_TOKEN", "SLUICE_API_KEY"):
                if word not in out:
                    fail(f"sluice {command} --help does not mention {word}:\n{out}")

        # A follower with a token made by Python's jwt, given as --token.
        out_path, err_path = os.path.join(work, "sub.out"), os.path.join(work, "sub.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            follower = subprocess.Popen([sluice, "sub", "orders.*", "-n", "3",
                                         "--token", py_token(subscribe=["orders.>"])],
                                        stdout=out, stderr=err, env=base_env)
        if not wait_for(err_path, "subscribed to orders.*"):
            fail("sub --token did not subscribe: " + open(err_path).read())

        # pub with a token from `sluice token` in SLUICE_TOKEN.
        made = run("token", "--jwt-secret-file", secret_file, "--sub", "bob", "--publish", "orders.>", "--ttl", "5m")
        if made.returncode != 0:
            fail(f"sluice token: {made.stderr!r}")
        cli_token = made.stdout.strip().splitlines()[-1]
        done = run("pub", "orders.eu", "1", env={"SLUICE_TOKEN": cli_token})
        if done.returncode != 0 or '"offset":1' not in done.stdout.replace(" ", ""):
            fail(f"pub with SLUICE_TOKEN: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        # --api-key wins over a bad SLUICE_TOKEN; SLUICE_API_KEY works alone.
        done = run("pub", "orders.eu", "2", "--api-key", publish_key, env={"SLUICE_TOKEN": "garbage"})
        if done.returncode != 0:
            fail(f"pub --api-key over SLUICE_TOKEN: rc={done.returncode} err={done.stderr!r}")
        done = run("pub", "orders.us", "3", env={"SLUICE_API_KEY": publish_key})
        if done.returncode != 0:
            fail(f"pub with SLUICE_API_KEY: rc={done.returncode} err={done.stderr!r}")
        try:
            follower.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            fail("the follower did not get 3 events: " + open(out_path).read())
        lines = open(out_path).read().splitlines()
        if follower.returncode != 0 or len(lines) != 3:
            fail(f"follower: rc={follower.returncode} out={lines!r} err={open(err_path).read()!r}")

        # A read key in SLUICE_API_KEY may subscribe; its scope does not allow publishing.
        done = run("sub", "orders.*", "--since", "10m", "-n", "1", env={"SLUICE_API_KEY": read_key})
        if done.returncode != 0 or len(done.stdout.splitlines()) != 1:
            fail(f"sub with SLUICE_API_KEY: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        done = run("pub", "orders.eu", "4", "--api-key", read_key)
        if done.returncode != 1 or "forbidden" not in done.stdout + done.stderr:
            fail(f"pub with a read key: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        # No credential, or an expired or forged token: the server's reason, exit 1, the token never shown.
        done = run("sub", "orders.*", "-n", "1")
        if done.returncode != 1 or "4401" not in done.stderr or "missing token" not in done.stderr:
            fail(f"sub without a token: rc={done.returncode} err={done.stderr!r}")
        expired = py_token(subscribe=["orders.>"], ttl=-60)
        done = run("sub", "orders.*", "-n", "1", "--token", expired)
        if done.returncode != 1 or "token expired" not in done.stderr:
            fail(f"sub with an expired token: rc={done.returncode} err={done.stderr!r}")
        forged = py_token(publish=["orders.>"], secret="another-secret-that-is-long-enough-32b")
        done = run("pub", "orders.eu", "5", "--timeout", "10", env={"SLUICE_TOKEN": forged})
        if done.returncode != 1 or "4401" not in done.stderr:
            fail(f"pub with a forged token: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        for secret in (expired, forged, expired.split(".")[1], forged.split(".")[2]):
            if secret in done.stdout + done.stderr:
                fail("a token was printed")

        # cat on /v1/ws with --token: a ping is answered.
        cat = subprocess.Popen([sluice, "cat", f"ws://127.0.0.1:{port}/v1/ws", "--token", py_token()],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=base_env)
        try:
            cat.stdin.write('{"op":"ping","id":7}\n')
            cat.stdin.flush()
            line = cat.stdout.readline()  # bounded: cat's connect timeout ends it, and communicate() below
            rest, err = cat.communicate(timeout=TIMEOUT)  # closes stdin: cat then closes and exits
        finally:
            if cat.poll() is None:
                cat.kill()
        if '"type":"ack"' not in line.replace(" ", "") or cat.returncode != 0:
            fail(f"cat --token: rc={cat.returncode} line={line!r} err={err!r}")

        # Conflicting credentials are usage errors.
        done = run("pub", "orders.eu", "6", "--token", cli_token, "--api-key", publish_key)
        if done.returncode != 2 or "not both" not in done.stderr:
            fail(f"--token with --api-key: rc={done.returncode} err={done.stderr!r}")
        done = run("sub", "orders.*", env={"SLUICE_TOKEN": cli_token, "SLUICE_API_KEY": publish_key})
        if done.returncode != 2 or "both set" not in done.stderr:
            fail(f"both variables: rc={done.returncode} err={done.stderr!r}")
        done = run("cat", f"ws://127.0.0.1:{port}/v1/ws", "--token", cli_token, "-H", "authorization: Bearer x")
        if done.returncode != 2 or "Authorization" not in done.stderr:
            fail(f"-H Authorization with --token: rc={done.returncode} err={done.stderr!r}")
        print("ok")
    finally:
        if follower and follower.poll() is None:
            follower.kill()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
