#!/usr/bin/env python3
"""Signatures made by Sluice's signer (webhook_sign_tool) checked by
independent implementations: Python's hmac, the npm `standardwebhooks`
package's Webhook.verify, and the two verification snippets of
docs/webhooks.md (extracted from the page, so the docs cannot drift).
Tampered bodies, ids and timestamps, and a stale timestamp, must fail."""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def snippet(docs: str, name: str) -> str:
    m = re.search(r"<!-- snippet: " + name + r" -->\s*```\w+\n(.*?)```", docs, re.S)
    if not m:
        sys.exit(f"docs/webhooks.md has no '<!-- snippet: {name} -->' code block")
    return m.group(1)


def sign(tool, secret, msg_id, ts, body, tmp):
    path = os.path.join(tmp, "body")
    with open(path, "wb") as f:
        f.write(body)
    args = [tool, "--id", msg_id, "--timestamp", str(ts), "--body-file", path]
    args += ["--generate-secret"] if secret is None else ["--secret", secret]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout
    headers = {}
    for line in out.splitlines():
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    return headers.pop("secret", secret), headers


def independent(secret, headers, body):
    """What the headers must be, computed here with Python's hmac."""
    ts, msg_id = headers["x-sluice-timestamp"], headers["webhook-id"]
    sluice = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    key = base64.b64decode(secret[6:], validate=True) if secret.startswith("whsec_") else secret.encode()
    std = "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    return sluice, std


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sign-tool", required=True)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--node-modules", required=True)
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.node_modules, "standardwebhooks", "package.json")):
        sys.exit(f"{a.node_modules}/standardwebhooks is missing: run scripts/install-deps.sh")
    with open(a.docs, encoding="utf-8") as f:
        docs = f.read()
    py_snippet, node_snippet = snippet(docs, "python"), snippet(docs, "node")
    docs_py = {}
    exec(compile(py_snippet, "docs/webhooks.md (python snippet)", "exec"), docs_py)

    now = int(time.time())
    bodies = [
        b'{"id":"evt_1","topic":"payments.eu","offset":7,"data":{"amount":250}}',
        '{"data":{"text":"caf\u00e9 \u20ac \U0001F600"}}'.encode("utf-8"),
        b'{\n  "spaced": [1, 2, 3],\n  "s": "a.b.c"\n}',
    ]
    secrets = [None, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a plain ASCII secret"]
    cases, expect = [], {}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for secret_in in secrets:
            for body in bodies:
                for variant in ("good", "tampered_body", "tampered_id", "tampered_ts", "stale"):
                    n += 1
                    ts = now - 3600 if variant == "stale" else now
                    secret, headers = sign(a.sign_tool, secret_in, f"evt_{n:04d}", ts, body, tmp)
                    # 1. Python's hmac computes the same headers.
                    want_sluice, want_std = independent(secret, headers, body)
                    if (headers["x-sluice-signature"], headers["webhook-signature"]) != (want_sluice, want_std):
                        failures.append(f"case {n}: headers differ from Python's hmac: {headers}")
                    sent_body = body
                    if variant == "tampered_body":
                        sent_body = body + b" "
                    elif variant == "tampered_id":
                        headers["webhook-id"] += "x"
                    elif variant == "tampered_ts":
                        headers["x-sluice-timestamp"] = headers["webhook-timestamp"] = str(ts + 1)
                    ok = variant == "good"
                    # 2. The docs' Python snippet.
                    got = (docs_py["verify_sluice"](secret, headers, sent_body),
                           docs_py["verify_standard"](secret, headers, sent_body))
                    want = (ok or variant == "tampered_id", ok)  # the id is not in X-Sluice-Signature
                    if got != want:
                        failures.append(f"case {n} ({variant}): docs python snippet gave {got}, want {want}")
                    name = f"{n}:{variant}"
                    cases.append({"name": name, "secret": secret, "headers": headers,
                                  "body_base64": base64.b64encode(sent_body).decode()})
                    expect[name] = (ok, want[0])

        # 3. Node: the official library and the docs' Node snippet.
        snippet_path = os.path.join(tmp, "snippet.cjs")
        with open(snippet_path, "w", encoding="utf-8") as f:
            f.write(node_snippet)
        env = dict(os.environ, NODE_PATH=os.path.abspath(a.node_modules))
        proc = subprocess.run(["node", os.path.join(HERE, "verify_interop.cjs"), snippet_path],
                              input=json.dumps(cases), capture_output=True, text=True, env=env, timeout=60)
        if proc.returncode != 0:
            sys.exit(f"node failed: {proc.stderr}")
        results = json.loads(proc.stdout)
        if len(results) != len(cases):
            failures.append(f"node checked {len(results)} cases of {len(cases)}")
        for r in results:
            ok, sluice_ok = expect[r["name"]]
            if (r["library"] == "ok") != ok:
                failures.append(f"case {r['name']}: standardwebhooks verify said {r['library']!r}")
            if r["docs_standard"] != ok or r["docs_sluice"] != sluice_ok:
                failures.append(f"case {r['name']}: docs node snippet gave sluice={r['docs_sluice']} "
                                f"standard={r['docs_standard']}")
            if r["name"].endswith(":stale") and "too old" not in r["library"]:
                failures.append(f"case {r['name']}: expected 'too old' from standardwebhooks, got {r['library']!r}")

    for f in failures:
        print("FAIL:", f)
    print(f"{len(cases)} signed requests checked with Python hmac, npm standardwebhooks and both docs snippets; "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
