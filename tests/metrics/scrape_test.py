#!/usr/bin/env python3
"""Scrapes /metrics of a real `sluice serve` and reads it with Prometheus'
own parser (prometheus_client.parser, an independent implementation): the
route needs a read key, every family parses, names follow the conventions,
and the values move as events are published.

Usage: scrape_test.py path/to/sluice
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

from prometheus_client.parser import text_string_to_metric_families

BINARY = sys.argv[1]


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def create_key(keys, name, scopes):
    out = subprocess.run([BINARY, "key", "create", "--keys-file", keys, "--name", name, "--scopes", scopes],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def start_server(keys, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen([BINARY, "serve", "--port", "0", "--store", "memory", "--keys-file", keys],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    marker = "listening on ws://127.0.0.1:"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = open(log_path, errors="replace").read()
        i = text.find(marker)
        if i >= 0 and "/" in text[i + len(marker):]:
            return proc, int(text[i + len(marker):].split("/", 1)[0])
        if proc.poll() is not None:
            break
        time.sleep(0.02)  # polling the child's log: nothing to wait on
    proc.kill()
    fail("the server did not start: " + open(log_path).read()[-2000:])


def request(port, method, path, key=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = "Bearer " + key
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read().decode()
    conn.close()
    return response.status, response.getheader("Content-Type"), data


def scrape(port, key):
    status, content_type, text = request(port, "GET", "/metrics", key)
    if status != 200:
        fail(f"/metrics with a read key: {status} {text}")
    if not content_type.startswith("text/plain; version=0.0.4"):
        fail("Content-Type: " + content_type)
    samples = {}
    families = list(text_string_to_metric_families(text))
    for family in families:
        if not (family.name.startswith("sluice_") or family.name.startswith("process_")):
            fail("metric outside the sluice_/process_ namespaces: " + family.name)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-metrics-") as work:
        keys = os.path.join(work, "keys")
        reader = create_key(keys, "prometheus", "read")
        publisher = create_key(keys, "publisher", "publish")
        proc, port = start_server(keys, os.path.join(work, "log"))
        try:
            status, _, _ = request(port, "GET", "/metrics")
            if status != 401:
                fail(f"/metrics without a key: {status}, expected 401")
            status, _, _ = request(port, "GET", "/metrics", publisher)
            if status != 403:
                fail(f"/metrics with a publish key: {status}, expected 403")

            families, before = scrape(port, reader)
            types = {f.name: f.type for f in families}
            for name, kind in [("sluice_events_published", "counter"), ("sluice_http_requests", "counter"),
                               ("sluice_publish_to_fanout_seconds", "histogram"), ("sluice_connections", "gauge"),
                               ("sluice_topics", "gauge"), ("sluice_limit_refusals", "counter"),
                               ("process_resident_memory_bytes", "gauge"), ("process_open_fds", "gauge"),
                               ("process_cpu_seconds", "counter")]:
                if types.get(name) != kind:
                    fail(f"{name}: type {types.get(name)}, expected {kind}")
            if value(before, "process_resident_memory_bytes") <= 0 or value(before, "process_open_fds") <= 0:
                fail("process metrics are not read")

            published = 5
            for i in range(published):
                status, _, body = request(port, "POST", "/v1/events", publisher,
                                          json.dumps({"topic": f"metrics.t{i % 2}", "data": {"n": i}}))
                if status != 201:
                    fail(f"publish: {status} {body}")
            # Counted on the event loops after the commit: poll the scrape, bounded.
            deadline = time.monotonic() + 10
            while True:
                _, after = scrape(port, reader)
                moved = value(after, "sluice_events_published_total") - value(before, "sluice_events_published_total")
                if moved >= published or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if moved != published:
                fail(f"sluice_events_published_total moved by {moved}, expected {published}")
            http_201 = value(after, "sluice_http_requests_total", route="/v1/events", code="201")
            if http_201 != published:
                fail(f'sluice_http_requests_total{{route="/v1/events",code="201"}} is {http_201}')
            if value(after, "sluice_http_requests_total", route="/metrics", code="401") < 1:
                fail("the refused scrape was not counted")
            count = value(after, "sluice_publish_to_fanout_seconds_count") - value(before, "sluice_publish_to_fanout_seconds_count")
            if count != published:
                fail(f"the latency histogram counted {count}, expected {published}")
            inf = value(after, "sluice_publish_to_fanout_seconds_bucket", le="+Inf")
            if inf != value(after, "sluice_publish_to_fanout_seconds_count"):
                fail("the +Inf bucket differs from the count")
            if value(after, "sluice_topics") != 2:
                fail(f"sluice_topics is {value(after, 'sluice_topics')}, expected 2")
            print(f"metrics.scrape: {len(families)} families parsed by prometheus_client; values moved as expected")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
