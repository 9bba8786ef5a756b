#!/usr/bin/env python3
"""The dashboard's Prometheus text parser (parseMetrics in app.js, run by
node) reads what Prometheus' own parser (prometheus_client.parser) reads:
a real /metrics scrape after some traffic, and a text with the format's
corners (escaped label values, +Inf/-Inf/NaN, timestamps, comments).

Usage: metrics_parser_test.py path/to/sluice path/to/app.js
"""
import json
import math
import os
import subprocess
import sys
import tempfile

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_helper import Server  # noqa: E402

BINARY, APP_JS = sys.argv[1], sys.argv[2]

# app.js expects a browser: a few stubs let node load it and call parseMetrics.
NODE_RUNNER = r"""
const fs = require('fs'), vm = require('vm');
const noop = () => {};
const context = { document: { addEventListener: noop, getElementById: () => null }, window: { addEventListener: noop },
                  sessionStorage: { getItem: () => null }, console };
vm.createContext(context);
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), context);
const text = fs.readFileSync(0, 'utf8');
const samples = context.parseMetrics(text).map((s) => [s.name, s.labels, String(s.value)]);
process.stdout.write(JSON.stringify(samples));
"""

CORNERS = """# HELP odd_total A counter with odd labels.
# TYPE odd_total counter
odd_total{path="/a\\"b\\\\c\\nd",code="200"} 3 1700000000000
odd_total{path="x,y=z",code="500"} 1.5e3
# TYPE temp gauge
temp -2.5
temp_nan NaN
# TYPE lat histogram
lat_bucket{le="0.1"} 1
lat_bucket{le="+Inf"} 4
lat_sum 0.75
lat_count 4
neg -Inf
"""


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def reference(text):
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append((s.name, dict(s.labels), s.value))
    return out


def ours(text):
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(NODE_RUNNER)
        runner = f.name
    try:
        result = subprocess.run(["node", runner, APP_JS], input=text, capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(runner)
    if result.returncode != 0:
        fail("node: " + result.stderr)
    return [(name, labels, float(value.replace("Infinity", "inf"))) for name, labels, value in json.loads(result.stdout)]


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def compare(what, text):
    expected, got = reference(text), ours(text)
    # prometheus_client names a counter's samples with _total and may add _created: compare the sample lines.
    expected = [e for e in expected if not e[0].endswith("_created")]
    if len(expected) != len(got):
        fail(f"{what}: {len(got)} samples, prometheus_client reads {len(expected)}")
    key = lambda s: (s[0], sorted(s[1].items()))  # noqa: E731
    for e, g in zip(sorted(expected, key=key), sorted(got, key=key)):
        if e[0] != g[0] or e[1] != g[1] or not same(e[2], g[2]):
            fail(f"{what}: parseMetrics read {g}, prometheus_client {e}")
    print(f"{what}: {len(got)} samples read alike")


def main():
    compare("format corners", CORNERS)
    with tempfile.TemporaryDirectory(prefix="sluice-parser-") as work:
        server = Server(BINARY, work)
        try:
            for i in range(5):
                server.request("POST", "/v1/events", body=json.dumps({"topic": f"p.{i % 2}", "data": i}))
            server.request("GET", "/nope")
            status, _, body = server.request("GET", "/metrics")
            if status != 200:
                fail(f"/metrics: {status}")
            compare("a real scrape", body.decode())
        finally:
            server.stop()
    print("ok")


if __name__ == "__main__":
    main()
