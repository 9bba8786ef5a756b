#!/usr/bin/env python3
"""`sluice pub` and `sluice sub` end to end against `sluice serve` (durable
store, loopback, a free port): events published from arguments and stdin
reach a follower as JSON lines with their acknowledgements on pub's stdout;
--since replays history; a follower keeps following across a server restart
and prints every event exactly once; --subscription follows a server-side
subscription's stream; data that is not JSON is refused unless --string;
--since on a pattern takes no offset; usage errors of every command exit 2
with the message and a hint to --help. Every step is bounded in time."""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TIMEOUT = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, sluice, port, data_dir):
        self.proc = subprocess.Popen([sluice, "serve", "--port", str(port), "--threads", "1", "--data-dir", data_dir],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # the first log line says it listens
            line = self.proc.stdout.readline()
            if "listening on" in line:
                return
            if not line:
                break
        raise RuntimeError("sluice serve did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


def fail(message):
    print(message)
    sys.exit(1)


def wait_lines(proc_out_path, n):
    """Waits until the file has n lines (a follower's stdout); returns them."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with open(proc_out_path) as f:
            lines = f.read().splitlines()
        if len(lines) >= n:
            return lines
        time.sleep(0.05)  # polling a file another process writes: nothing to wait on
    with open(proc_out_path) as f:
        return f.read().splitlines()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()
    sluice = args.sluice
    data_dir = tempfile.mkdtemp(prefix="sluice-pubsub-")
    port = free_port()
    env = dict(os.environ, SLUICE_URL=f"ws://127.0.0.1:{port}")
    run = lambda *a, **kw: subprocess.run([sluice, *a], capture_output=True, text=True, timeout=TIMEOUT, env=env, **kw)
    server = Server(sluice, port, data_dir)
    follower = None
    try:
        out_path = os.path.join(data_dir, "follower.out")
        err_path = os.path.join(data_dir, "follower.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            follower = subprocess.Popen([sluice, "sub", "orders.*", "-n", "6", "--backoff-min", "0.1", "--backoff-max", "0.3"],
                                        stdout=out, stderr=err, env=env)
        deadline = time.monotonic() + TIMEOUT
        while "subscribed to orders.*" not in open(err_path).read():
            if time.monotonic() > deadline:
                fail("sub did not subscribe: " + open(err_path).read())
            time.sleep(0.05)

        done = run("pub", "orders.eu", '{"amount": 5}', "--type", "created", "--key", "o-1")
        acks = [json.loads(l) for l in done.stdout.splitlines()]
        if done.returncode != 0 or len(acks) != 1 or acks[0]["offset"] != 1 or acks[0]["topic"] != "orders.eu":
            fail(f"pub one: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        done = run("pub", "orders.us", input="\"hello\"\n{\"x\": 1}\n")
        acks = [json.loads(l) for l in done.stdout.splitlines()]
        if done.returncode != 0 or [a["offset"] for a in acks] != [1, 2]:
            fail(f"pub stdin: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        lines = wait_lines(out_path, 3)
        events = [json.loads(l) for l in lines]
        if [(e["topic"], e["offset"], e["data"]) for e in events] != [
                ("orders.eu", 1, {"amount": 5}), ("orders.us", 1, "hello"), ("orders.us", 2, {"x": 1})]:
            fail(f"follower saw {lines!r}")
        if events[0].get("type") != "created" or events[0].get("key") != "o-1":
            fail(f"type/key lost: {events[0]!r}")

        # The server restarts (durable store); the follower resumes and sees each event once.
        server.stop()
        server = Server(sluice, port, data_dir)
        done = run("pub", "orders.eu", input="2\n3\n4\n")
        if done.returncode != 0:
            fail(f"pub after restart: rc={done.returncode} err={done.stderr!r}")
        try:
            follower.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            fail("the follower did not get its 6 events after the restart: " + open(out_path).read())
        events = [json.loads(l) for l in open(out_path).read().splitlines()]
        eu = [(e["offset"], e["data"]) for e in events if e["topic"] == "orders.eu"]
        if follower.returncode != 0 or eu != [(1, {"amount": 5}), (2, 2), (3, 3), (4, 4)] or len(events) != 6:
            fail(f"after restart: rc={follower.returncode} events={events!r} err={open(err_path).read()!r}")
        if "resubscribed to orders.*" not in open(err_path).read():
            fail("no 'resubscribed' on stderr: " + open(err_path).read())

        # --since replays history.
        done = run("sub", "orders.eu", "--since", "2", "-n", "2", "-q")
        if done.returncode != 0 or [json.loads(l)["offset"] for l in done.stdout.splitlines()] != [3, 4]:
            fail(f"--since: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        # --subscription follows a server-side subscription's stream (here: from offset 3).
        body = json.dumps({"topics": ["orders.eu"]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/subscriptions", data=body,
                                         headers={"Content-Type": "application/json"})
        subscription = json.load(urllib.request.urlopen(request, timeout=TIMEOUT))
        done = run("sub", "--subscription", subscription["id"], "--since", "3", "-n", "1", "-q")
        if done.returncode != 0 or [json.loads(l)["offset"] for l in done.stdout.splitlines()] != [4]:
            fail(f"--subscription: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        # Data is JSON: not JSON is refused (2 for DATA; for a stdin line, that line only, then 1),
        # unless --string sends the text as a string.
        done = run("pub", "cli.eu", '{"a":')
        if done.returncode != 2 or "DATA is not JSON" not in done.stderr or "--string" not in done.stderr:
            fail(f"DATA not JSON: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        done = run("pub", "cli.eu", '{"a":', "--string")
        if done.returncode != 0 or json.loads(done.stdout)["offset"] != 1:
            fail(f"--string: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        done = run("pub", "cli.eu", input='1\nnot json\n{"b": 2}\n')
        if done.returncode != 1 or "line 2 is not JSON" not in done.stderr or \
                [json.loads(l)["offset"] for l in done.stdout.splitlines()] != [2, 3]:
            fail(f"stdin line not JSON: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        done = run("pub", "cli.eu", "--string", input="plain text\n")
        if done.returncode != 0:
            fail(f"stdin --string: rc={done.returncode} err={done.stderr!r}")
        done = run("sub", "cli.eu", "--since", "0", "-n", "4", "-q")
        if done.returncode != 0 or [json.loads(l)["data"] for l in done.stdout.splitlines()] != \
                ['{"a":', 1, {"b": 2}, "plain text"]:
            fail(f"published data: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        # --since on a pattern: an offset is refused (it used to mean 5 ms after 1970: all history);
        # a UTC time or a duration works.
        done = run("sub", "orders.*", "--since", "5")
        if done.returncode != 2 or "is an offset" not in done.stderr:
            fail(f"--since offset on a pattern: rc={done.returncode} err={done.stderr!r}")
        done = run("sub", "orders.*", "--since", "2000-01-01T00:00:00Z", "-n", "1", "-q")
        if done.returncode != 0 or json.loads(done.stdout)["topic"] not in ("orders.eu", "orders.us"):
            fail(f"--since UTC time: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        done = run("sub", "cli.*", "--since", "1h", "-n", "1", "-q")
        if done.returncode != 0 or json.loads(done.stdout)["data"] != '{"a":':
            fail(f"--since duration: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")
        # A pattern subscription's stream takes a time, not an offset, likewise.
        body = json.dumps({"topics": ["orders.*"]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/subscriptions", data=body,
                                         headers={"Content-Type": "application/json"})
        pattern_subscription = json.load(urllib.request.urlopen(request, timeout=TIMEOUT))
        done = run("sub", "--subscription", pattern_subscription["id"], "--since", "3", "-n", "1")
        if done.returncode != 2 or "not an offset" not in done.stderr or done.stdout:
            fail(f"--subscription pattern with an offset: rc={done.returncode} out={done.stdout!r} err={done.stderr!r}")

        # Bad arguments: exit 2, in plain words.
        for argv, words in [(["pub", "bad topic", "1"], "is not a topic"),
                            (["sub"], "give a TOPIC pattern or --subscription ID"),
                            (["sub", "a..b"], "is not a valid topic pattern"),
                            (["sub", "x", "--since", "soon"], "--since wants"),
                            (["sub", "x", "--since", "2026-13-45T99:00:00Z"], "not a UTC time")]:
            done = run(*argv)
            if done.returncode != 2 or words not in done.stderr:
                fail(f"{argv}: rc={done.returncode} err={done.stderr!r}")
        # Usage errors (CLI11's parse errors) exit 2 too, with a hint to the command's --help.
        for argv, words, command in [(["serve", "--port", "abc"], "--port", "sluice serve"),
                                     (["serve", "--overflow", "dropp"], "dropp", "sluice serve"),
                                     (["--bogus"], "", "sluice"),
                                     (["pub"], "topic is required", "sluice pub"),
                                     ([], "A subcommand is required", "sluice"),
                                     (["cat"], "url is required", "sluice cat")]:
            done = run(*argv)
            if done.returncode != 2 or words not in done.stderr or \
                    f"Run '{command} --help' for more information." not in done.stderr:
                fail(f"usage error {argv}: rc={done.returncode} err={done.stderr!r}")
        done = run("pub", "--help")
        if done.returncode != 0 or "--string" not in done.stdout:
            fail(f"pub --help: rc={done.returncode} out={done.stdout!r}")

        # Nobody listening, no reconnect: exit 1 and say why.
        done = run("pub", "x", "1", "-u", f"ws://127.0.0.1:{free_port()}", "--no-reconnect")
        if done.returncode != 1 or "connection refused" not in done.stderr:
            fail(f"refused: rc={done.returncode} err={done.stderr!r}")
    finally:
        if follower and follower.poll() is None:
            follower.kill()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print("sluice pub/sub: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
