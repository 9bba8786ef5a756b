#!/usr/bin/env python3
"""The /ui dashboard in a real browser: Debian's chromium driven by
chromedriver through python3-selenium, against a `sluice serve` with API
keys it starts on a free loopback port. The page asks for a key, shows the
topics, counts, subscriptions and errors as events are published over HTTP,
logs no console error, and asks for nothing outside the server. Saves
screenshots (laptop and phone widths) to OUTDIR.

Usage: browser_test.py path/to/sluice OUTDIR
Exit 77 (ctest SKIP_RETURN_CODE) when chromium or chromedriver is not installed.
"""
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_helper import Server, create_key  # noqa: E402

BINARY, OUTDIR = sys.argv[1], sys.argv[2]
SKIP = 77
WAIT_S = 30


def find(*names):
    for name in names:
        path = shutil.which(name) or (name if os.path.isfile(name) else None)
        if path:
            return path
    return None


CHROMIUM = find("chromium", "/usr/lib/chromium/chromium")
DRIVER = find("chromedriver", "/usr/lib/chromium/chromedriver")
if not CHROMIUM or not DRIVER:
    print("SKIP: chromium and chromium-driver are not installed (scripts/install-deps.sh installs them)")
    sys.exit(SKIP)

# Installed by scripts/install-deps.sh with chromium: missing it is a failure, not a skip.
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


class FailingHook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that answers every delivery with 500."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--disable-gpu", "--window-size=1280,1500", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--disable-extensions",
                # Loopback only: every other host name fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]:
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses to run as root with its sandbox
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def text(driver, css):
    # One script call: the page re-renders its tables every poll, so an element
    # found by one WebDriver call can be stale by the next.
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;", css)


def wait(driver, what, condition):
    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(lambda d: condition(d))
    except TimeoutException:
        problem = f"the page did not show {what} within {WAIT_S} s"
    except WebDriverException as error:
        problem = f"waiting for {what}: {type(error).__name__}: {error.msg}"
    shot = os.path.join(OUTDIR, "ui-failure.png")
    driver.save_screenshot(shot)
    fail(f"{problem} (screenshot: {shot})")


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def number(value):
    """A tile's number: '12', '1.5', '12.3k'; None for '–'."""
    try:
        scale = {"k": 1e3, "M": 1e6, "G": 1e9}.get(value[-1], 1)
        return float(value.rstrip("kMG")) * scale
    except (ValueError, IndexError, TypeError):
        return None


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingHook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="sluice-browser-") as work:
        keys = os.path.join(work, "keys")
        reader = create_key(BINARY, keys, "dashboard", "read")
        publisher = create_key(BINARY, keys, "publisher", "publish")
        admin = create_key(BINARY, keys, "admin", "admin")
        server = Server(BINARY, work, "--keys-file", keys, "--webhook-allow", "127.0.0.1/32",
                        "--webhook-retry-floor", "1", "--webhook-retry-max-delay", "2")
        driver = None
        try:
            base = f"http://127.0.0.1:{server.port}"
            driver = browser()

            def publish(topic, n):
                for i in range(n):
                    status, _, body = server.request("POST", "/v1/events", publisher,
                                                     json.dumps({"topic": topic, "type": "created", "data": {"n": i}}))
                    if status != 201:
                        fail(f"publish: {status} {body}")

            driver.get(base + "/ui")
            # Keys are on: the page asks for one.
            wait(driver, "the key form", lambda d: d.find_element(By.ID, "login").is_displayed())
            if text(driver, "#status") != "key needed":
                fail("status pill: " + str(text(driver, "#status")))
            # The page's own 401 before a key is given is the one console error allowed.
            errors = [e for e in console_errors(driver) if "401" not in e["message"]]
            if errors:
                fail(f"console errors before the key: {errors}")
            driver.find_element(By.ID, "key").send_keys(reader)
            driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
            wait(driver, "live data after the key", lambda d: text(d, "#status") == "live")
            if driver.find_element(By.ID, "login").is_displayed():
                fail("the key form is still shown")
            if reader in driver.current_url:
                fail("the key is in the URL")
            stored = driver.execute_script("return [sessionStorage.getItem('sluice.apiKey'), localStorage.length]")
            if stored != [reader, 0]:
                fail(f"the key is not (only) in sessionStorage: {stored}")

            # Events published over HTTP: the topic appears with its offset, the totals move.
            publish("orders.eu", 5)
            row = 'tr[data-topic="orders.eu"]'
            wait(driver, "orders.eu at offset 5", lambda d: text(d, row + " td.offset") == "5")
            wait(driver, "5 published", lambda d: (text(d, "#stat-published") or "").startswith("5 "))
            wait(driver, "1 topic", lambda d: text(d, "#stat-topics") == "1")
            publish("orders.us", 3)
            publish("orders.eu", 10)
            wait(driver, "orders.eu at offset 15", lambda d: text(d, row + " td.offset") == "15")
            wait(driver, "orders.us", lambda d: text(d, 'tr[data-topic="orders.us"] td.offset') == "3")
            wait(driver, "2 topics", lambda d: text(d, "#stat-topics") == "2")

            # A moving rate: publish until a poll sees events arrive since the one before.
            def rate_moves(d):
                publish("orders.eu", 2)
                value = number(text(d, "#stat-publish-rate"))
                topic_rate = number(text(d, row + " td.rate"))
                return value and value > 0 and topic_rate and topic_rate > 0
            wait(driver, "a publish rate above 0", rate_moves)

            # A subscription with a webhook that fails: its state and the errors list show it.
            status, _, body = server.request("POST", "/v1/subscriptions", admin, json.dumps(
                {"topic": "orders.*", "webhook": {"url": f"http://127.0.0.1:{hook.server_port}/hook"}}))
            if status != 201:
                fail(f"create subscription: {status} {body}")
            sub_id = json.loads(body)["id"]
            publish("orders.eu", 1)
            sub_row = f'tr[data-subscription="{sub_id}"]'
            wait(driver, "the subscription's match", lambda d: text(d, sub_row + " td.matched") == "1")
            wait(driver, "the failing webhook", lambda d: "failing" in (text(d, sub_row + " td.webhook") or ""))
            wait(driver, "the webhook error", lambda d: "webhook" in (text(d, "#errors") or ""))
            # An HTTP error someone else caused shows up too.
            server.request("POST", "/v1/events", publisher, "{not json")
            wait(driver, "HTTP 400 in the errors", lambda d: "HTTP 400 on /v1/events" in (text(d, "#errors") or ""))

            # A polled chart: it has been drawn (some pixels are not blank).
            drawn = driver.execute_script(
                "const c = document.getElementById('chart');"
                "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
            if not drawn or drawn < 100:
                fail(f"the chart is blank ({drawn} pixels)")

            driver.save_screenshot(os.path.join(OUTDIR, "ui-laptop.png"))
            driver.set_window_size(390, 1600)
            wait(driver, "the phone layout", lambda d: d.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1"))
            driver.save_screenshot(os.path.join(OUTDIR, "ui-phone.png"))

            errors = console_errors(driver)
            if errors:
                fail(f"console errors: {errors}")
            outside = [u for u in requested_urls(driver) if not u.startswith(base + "/") and not u.startswith("data:")]
            if outside:
                fail(f"requests outside the server: {outside}")

            # Forgetting the key asks for it again.
            driver.find_element(By.ID, "forget").click()
            wait(driver, "the key form after forget", lambda d: d.find_element(By.ID, "login").is_displayed())
            if driver.execute_script("return sessionStorage.getItem('sluice.apiKey')") is not None:
                fail("the key is still stored after forget")
        finally:
            if driver:
                driver.quit()
            server.stop()
            hook.shutdown()
    print("ok: screenshots in", OUTDIR)


if __name__ == "__main__":
    main()
