#!/usr/bin/env python3
"""The npm `centrifuge` SDK's browser bundle in a real browser (Debian's
Chromium, headless, driven by Selenium) against `sluice serve`: a page served
from loopback (a small http.server here) loads the bundle from
tests/interop/node_modules (no CDN), connects to /connection/websocket,
subscribes, receives publications made over HTTP (POST /api/publish), and
after the server restarts (durable store) recovers what it missed: every
publication once, in order. Loopback only, free ports, bounded in time.

Exits 77 (ctest SKIP_RETURN_CODE) only when Chromium, its driver or Selenium
is not installed; anything else that goes wrong fails."""
import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check, fail, free_port  # noqa: E402

TIMEOUT = 30
SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(HERE, "..", "interop", "node_modules", "centrifuge", "dist", "centrifuge.js")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sluice centrifuge browser test</title>
<script src="/centrifuge.js"></script></head>
<body><pre id="log"></pre>
<script>
  window.received = [];
  window.subscribed = [];
  window.connecting = [];
  window.errors = [];
  const client = new Centrifuge(%(url)s, { minReconnectDelay: 100, maxReconnectDelay: 400 });
  client.on('connecting', (ctx) => window.connecting.push(ctx.code));
  client.on('error', (ctx) => window.errors.push(JSON.stringify(ctx)));
  const sub = client.newSubscription('browser:feed');
  sub.on('publication', (ctx) => {
    window.received.push({ n: ctx.data.n, offset: ctx.offset });
    document.getElementById('log').textContent += ctx.offset + ' ' + JSON.stringify(ctx.data) + '\\n';
  });
  sub.on('subscribed', (ctx) => window.subscribed.push({ wasRecovering: ctx.wasRecovering, recovered: ctx.recovered }));
  sub.subscribe();
  client.connect();
</script></body></html>
"""


class PageHandler(http.server.BaseHTTPRequestHandler):
    """Serves the page at / and the SDK's browser bundle at /centrifuge.js."""

    def __init__(self, *args, page, **kwargs):
        self.page = page
        super().__init__(*args, **kwargs)

    def do_GET(self):
        if self.path == "/":
            body, kind = self.page.encode(), "text/html; charset=utf-8"
        elif self.path == "/centrifuge.js":
            with open(BUNDLE, "rb") as f:
                body, kind = f.read(), "text/javascript"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Sluice:
    def __init__(self, binary, port, data_dir, origin):
        self.proc = subprocess.Popen([binary, "serve", "--port", str(port), "--threads", "2", "--store", "sqlite",
                                      "--data-dir", data_dir, "--allowed-origin", origin],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "listening on" in line:
                # Keep reading its output so a full pipe never blocks the server.
                threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
                return
            if not line:
                break
        fail("sluice serve did not start")

    def stop(self):
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("sluice serve did not stop on SIGTERM")
        if code != 0:
            fail(f"sluice serve exited {code} on SIGTERM")


def publish(port, n):
    body = json.dumps({"channel": "browser:feed", "data": {"n": n}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/publish", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        answer = json.loads(response.read())
    if "result" not in answer:
        fail(f"/api/publish: {answer}")
    return answer["result"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    args = parser.parse_args()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        print("SKIP: python3-selenium is not installed (scripts/install-deps.sh installs it)")
        sys.exit(SKIP)
    if not CHROMIUM or not DRIVER:
        print("SKIP: chromium or chromedriver is not installed (scripts/install-deps.sh installs them)")
        sys.exit(SKIP)
    if not os.path.isfile(BUNDLE):
        fail(f"{BUNDLE} is missing: run scripts/install-deps.sh (npm ci in tests/interop)")

    data_dir = tempfile.mkdtemp(prefix="sluice-browser-")
    http_port, sluice_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{http_port}"
    page = PAGE % {"url": json.dumps(f"ws://127.0.0.1:{sluice_port}/connection/websocket")}
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", http_port), functools.partial(PageHandler, page=page))
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    server = Sluice(args.sluice, sluice_port, data_dir, origin)
    driver = None
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking",
                     f"--user-data-dir={os.path.join(data_dir, 'chromium')}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT)
        driver.get(origin + "/")

        def wait_for(what, script):
            try:
                WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(lambda d: d.execute_script(script))
            except Exception:
                state = driver.execute_script(
                    "return {received: window.received, subscribed: window.subscribed,"
                    " connecting: window.connecting, errors: window.errors}")
                fail(f"timed out waiting for {what}; page state: {json.dumps(state)}")

        wait_for("the browser to subscribe", "return window.subscribed && window.subscribed.length === 1")
        offsets = [publish(sluice_port, n)["offset"] for n in range(5)]
        wait_for("5 publications in the browser", "return window.received.length === 5")

        # A restart (close 3001): what is published meanwhile is recovered from the durable store.
        server.stop()
        server = Sluice(args.sluice, sluice_port, data_dir, origin)
        offsets += [publish(sluice_port, n)["offset"] for n in range(5, 10)]
        wait_for("the browser to resubscribe", "return window.subscribed.length >= 2")
        wait_for("10 publications in the browser", "return window.received.length >= 10")
        time.sleep(0.3)  # a duplicate would arrive right behind the last
        state = driver.execute_script(
            "return {received: window.received, subscribed: window.subscribed, connecting: window.connecting}")
        received = state["received"]
        if [r["n"] for r in received] != list(range(10)) or [r["offset"] for r in received] != offsets:
            fail(f"the browser received {received}, not 0..9 at offsets {offsets}")
        if not all(s["wasRecovering"] and s["recovered"] for s in state["subscribed"][1:]):
            fail(f"the browser did not recover after the restart: {state['subscribed']}")
        if 3001 not in state["connecting"]:
            fail(f"no reconnect after the 3001 shutdown close: {state['connecting']}")
        print("OK: Chromium with the centrifuge browser bundle: subscribe, 10 publications from /api/publish, "
              "recovery after a server restart")
    finally:
        if driver:
            driver.quit()
        server.proc.terminate()
        try:
            server.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            server.proc.kill()
        pages.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
