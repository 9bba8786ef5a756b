"""Starts and stops a `sluice serve` for the /ui tests: a free port on
loopback (--port 0, read back from the log), stopped with SIGTERM."""
import http.client
import os
import signal
import subprocess
import time


class Server:
    def __init__(self, binary, work, *args):
        self.log_path = os.path.join(work, "serve.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--store", "memory", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        marker = "listening on ws://127.0.0.1:"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = open(self.log_path, errors="replace").read()
            i = text.find(marker)
            if i >= 0 and "/" in text[i + len(marker):]:
                self.port = int(text[i + len(marker):].split("/", 1)[0])
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)  # polling the child's log: nothing to wait on
        self.proc.kill()
        raise RuntimeError("the server did not start: " + open(self.log_path).read()[-2000:])

    def request(self, method, path, key=None, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        all_headers = dict(headers or {})
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        if key:
            all_headers["Authorization"] = "Bearer " + key
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def create_key(binary, keys, name, scopes):
    out = subprocess.run([binary, "key", "create", "--keys-file", keys, "--name", name, "--scopes", scopes],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]
