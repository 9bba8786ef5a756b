#!/usr/bin/env python3
"""docs/getting-started.md, run as a user would: every ```sh block of the
page, in order, in one bash (set -eu), except those marked "not run by the
test". Only these are changed: the binary (the one under test), the ports
(8080 and 9000 become free loopback ports) and the scratch directory (one
this test removes). Then the files the guide wrote are checked: the
subscription's stream got only the order the filter passes, alice's topic
stream both, the webhook receiver the one order; the 201 answer holds the
generated webhook secret; the subscription's counter and the webhook metric
are printed.

Usage: getting_started_test.py path/to/sluice path/to/docs/getting-started.md
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

BINARY, GUIDE = os.path.abspath(sys.argv[1]), sys.argv[2]


def fail(message):
    print("FAIL:", message, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(text):
    """The ```sh blocks, minus those right after a "not run by the test" comment."""
    out = []
    for match in re.finditer(r"(<!--[^>]*-->\s*)?```sh\n(.*?)```", text, re.S):
        if match.group(1) and "not run by the test" in match.group(1):
            continue
        out.append(match.group(2))
    return out


def replace(script, old, new):
    if old not in script:
        fail(f"the guide no longer contains {old!r}: update this test with it")
    return script.replace(old, new)


def events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    with open(GUIDE) as f:
        script = "\n".join(blocks(f.read()))
    work = tempfile.mkdtemp(prefix="sluice-guide-")
    server_port, hook_port = free_port(), free_port()
    script = replace(script, "SLUICE=$PWD/build/release/sluice", f"SLUICE='{BINARY}'")
    script = replace(script, 'cd "$(mktemp -d)"', f"cd '{work}'")
    script = replace(script, "8080", str(server_port))
    script = replace(script, "9000", str(hook_port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    process = subprocess.Popen(["bash", "-c", "set -eu\n" + script], cwd=work, env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        fail(f"the guide's commands did not finish within 90 s; output:\n{output}")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything the guide left running
        except ProcessLookupError:
            pass
    try:
        if process.returncode != 0:
            log = open(os.path.join(work, "sluice.log")).read() if os.path.exists(os.path.join(work, "sluice.log")) else ""
            fail(f"the guide's commands exited {process.returncode}; output:\n{output}\nserver log:\n{log[-3000:]}")
        stream = events(os.path.join(work, "stream.log"))
        amounts = [e["data"]["amount"] for e in stream]
        if amounts != [250]:
            fail(f"the subscription's stream (filter amount > 100): {amounts}")
        alice = events(os.path.join(work, "alice.log"))
        if [e["data"]["amount"] for e in alice] != [50, 250]:
            fail(f"alice's topic stream: {alice}")
        hooks = events(os.path.join(work, "hooks.log"))
        if [h.get("data", {}).get("amount") for h in hooks] != [250]:
            fail(f"the webhook receiver: {hooks}")
        subscription = json.load(open(os.path.join(work, "subscription.json")))
        if not subscription.get("webhook", {}).get("secret", "").startswith("whsec_"):
            fail(f"no generated webhook secret in subscription.json: {subscription}")
        if '"eventsMatched":1' not in output or "sluice_webhook_attempts_total" not in output:
            fail(f"the subscription's counters or the webhook metric are not in the output:\n{output}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"OK: {len(blocks(open(GUIDE).read()))} command blocks of the guide ran; filter, token stream and webhook "
          "delivered as it says")


if __name__ == "__main__":
    main()
