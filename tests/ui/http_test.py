#!/usr/bin/env python3
"""The /ui files over plain HTTP from a real `sluice serve` with API keys:
public, with their content types, a strict Content-Security-Policy,
revalidation (ETag, 304); GET /v1/topics needs the read scope and pages.

Usage: http_test.py path/to/sluice
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_helper import Server, create_key  # noqa: E402

BINARY = sys.argv[1]


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def main():
    with tempfile.TemporaryDirectory(prefix="sluice-ui-") as work:
        keys = os.path.join(work, "keys")
        reader = create_key(BINARY, keys, "dashboard", "read")
        publisher = create_key(BINARY, keys, "publisher", "publish")
        server = Server(BINARY, work, "--keys-file", keys)
        try:
            files = {"/ui": "text/html; charset=utf-8", "/ui/": "text/html; charset=utf-8",
                     "/ui/app.js": "text/javascript; charset=utf-8", "/ui/style.css": "text/css; charset=utf-8",
                     "/ui/icon.svg": "image/svg+xml"}
            for path, content_type in files.items():
                status, headers, body = server.request("GET", path)  # no key: the files are public
                check(status == 200, f"GET {path}: {status}")
                check(headers["content-type"] == content_type, f"{path}: Content-Type {headers['content-type']}")
                check(len(body) > 100, f"{path}: {len(body)} bytes")
                csp = headers.get("content-security-policy", "")
                for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'",
                                  "frame-ancestors 'none'"]:
                    check(directive in csp, f"{path}: CSP lacks {directive}: {csp}")
                check("unsafe" not in csp, f"{path}: CSP allows unsafe code: {csp}")
                check(headers.get("x-content-type-options") == "nosniff", f"{path}: no nosniff")
                check(headers.get("cache-control") == "no-cache", f"{path}: Cache-Control {headers.get('cache-control')}")
                etag = headers.get("etag", "")
                check(etag.startswith('"') and etag.endswith('"') and len(etag) > 10, f"{path}: ETag {etag!r}")
                status, headers304, body = server.request("GET", path, headers={"If-None-Match": etag})
                check(status == 304 and body == b"", f"{path} with If-None-Match: {status}, {len(body)} bytes")
                check(headers304.get("etag") == etag, f"{path}: 304 without its ETag")
                status, _, _ = server.request("GET", path, headers={"If-None-Match": '"other"'})
                check(status == 200, f"{path} with another ETag: {status}")

            status, _, html = server.request("GET", "/ui")
            html = html.decode()
            check("<script src=\"/ui/app.js\"" in html and "<script>" not in html, "index.html: inline script")
            check("http://" not in html and "https://" not in html, "index.html refers to another origin")
            status, _, js = server.request("GET", "/ui/app.js")
            check(b"http://" not in js and b"https://" not in js, "app.js refers to another origin")

            status, _, _ = server.request("GET", "/ui/nothing.js")
            check(status == 404, f"unknown file: {status}")
            status, headers, _ = server.request("POST", "/ui", body="{}")
            check(status == 405 and headers.get("allow") == "GET", f"POST /ui: {status}")
            status, _, root = server.request("GET", "/")
            check(json.loads(root)["links"].get("ui") == "/ui", "GET / does not link /ui")

            # /v1/topics: the read scope, like /metrics.
            status, _, _ = server.request("GET", "/v1/topics")
            check(status == 401, f"/v1/topics without a key: {status}")
            status, _, _ = server.request("GET", "/v1/topics", publisher)
            check(status == 403, f"/v1/topics with a publish key: {status}")
            status, _, body = server.request("GET", "/v1/topics", reader)
            check(status == 200 and json.loads(body) == {"topics": [], "total": 0, "nextCursor": None},
                  f"/v1/topics empty: {status} {body}")
            for topic, count in [("b.two", 2), ("a.one", 1), ("c.three", 3)]:
                for i in range(count):
                    status, _, body = server.request("POST", "/v1/events", publisher,
                                                     json.dumps({"topic": topic, "data": {"i": i}}))
                    check(status == 201, f"publish: {status} {body}")
            status, _, body = server.request("GET", "/v1/topics?limit=2", reader)
            page = json.loads(body)
            check(status == 200 and [t["topic"] for t in page["topics"]] == ["a.one", "b.two"],
                  f"first page: {body}")
            check(page["total"] == 3 and page["nextCursor"] == "b.two", f"first page: {body}")
            b = page["topics"][1]
            check(b["lastOffset"] == 2 and b["historyEvents"] == 2 and b["historyBytes"] > 0 and b["epoch"]
                  and b["lastEventAt"].endswith("Z"), f"b.two: {b}")
            status, _, body = server.request("GET", "/v1/topics?limit=2&cursor=b.two", reader)
            page = json.loads(body)
            check([t["topic"] for t in page["topics"]] == ["c.three"] and page["nextCursor"] is None,
                  f"second page: {body}")
            check(page["topics"][0]["lastOffset"] == 3, f"c.three: {body}")
            status, _, body = server.request("GET", "/v1/topics?limit=0", reader)
            check(status == 400, f"limit=0: {status}")
            status, _, body = server.request("GET", "/v1/topics?limt=2", reader)
            check(status == 400, f"unknown parameter: {status}")
        finally:
            server.stop()
    print("ok")


if __name__ == "__main__":
    main()
