#!/usr/bin/python3
"""Runs one interop test: starts a server on 127.0.0.1, port 0, waits for the URL
it prints first ("listening on ws://127.0.0.1:PORT"), runs the matching client
against it, then stops the server. Every step has a timeout, and no process is
left behind: children die with this script (setpriv --pdeathsig) and are stopped
in a finally block. Standard library only; run it with /usr/bin/python3.

  run_interop.py peer-client   --peer node|python --deflate on|off --echo-server PATH
      the peer's client scenario against our examples/echo_server
  run_interop.py sluice-client --peer node|python --deflate on|off --interop-client PATH
      our interop_client against the peer's echo server
  run_interop.py sluice-client-garbage --peer node|python --interop-client PATH
      our interop_client against the peer's --garbage server
  run_interop.py raw-garbage   --echo-server PATH
      node's raw TCP garbage client against our echo server
  run_interop.py conformance   --conformance-client PATH --deflate on|off [--agent NAME] [--resilient-client]
      examples/conformance_client against fake_fuzzingserver.mjs (which expects
      agent "sluice": another --agent must make it fail, and the test then
      passes only if it did)

Exit status 0 only if every process did what it should.
"""

import argparse
import os
import re
import select
import signal
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_START_TIMEOUT = 30
SERVER_STOP_TIMEOUT = 15
CLIENT_TIMEOUT = 90
URL_LINE = re.compile(r"^listening on (wss?://127\.0\.0\.1:\d+)$")

# Children get SIGKILL when this runner dies (e.g. killed by a CTest timeout):
# util-linux's setpriv sets PR_SET_PDEATHSIG, which survives the exec.
_DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


def log(message: str):
    print(f"run_interop: {message}", flush=True)


class Failure(Exception):
    pass


class Server:
    """A server process whose first stdout line names its URL; later lines are echoed."""

    def __init__(self, name: str, cmd: list):
        self.name = name
        self.cmd = cmd
        self.lines = []
        self.proc = None
        self.pump = None

    def start(self) -> str:
        log(f"starting {self.name}: {' '.join(map(str, self.cmd))}")
        self.proc = subprocess.Popen(_DIE_WITH_PARENT + self.cmd, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        first = b""
        fd = self.proc.stdout.fileno()
        while not first.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name} printed no URL within {SERVER_START_TIMEOUT} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1)
                if not chunk:
                    raise Failure(f"{self.name} exited (status {self.proc.wait()}) before printing its URL")
                first += chunk
        line = first.decode(errors="replace").strip()
        match = URL_LINE.match(line)
        if not match:
            raise Failure(f"{self.name}'s first line is not 'listening on ws://127.0.0.1:PORT': {line!r}")
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()
        log(f"{self.name} is up at {match.group(1)}")
        return match.group(1)

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            print(f"[{self.name}] {line}", flush=True)

    def wait(self, timeout: float) -> int:
        """Waits for the server to exit by itself."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name} did not exit within {timeout} s") from None
        self.pump.join(5)
        return status

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure(f"{self.name} ignored SIGTERM for {SERVER_STOP_TIMEOUT} s; killed")
        if self.pump:
            self.pump.join(5)
        return self.proc.returncode


def run_client(name: str, cmd: list, timeout: float = CLIENT_TIMEOUT) -> int:
    log(f"running {name}: {' '.join(map(str, cmd))}")
    proc = subprocess.Popen(_DIE_WITH_PARENT + cmd, stdin=subprocess.DEVNULL)
    try:
        status = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise Failure(f"{name} did not finish within {timeout} s; killed") from None
    log(f"{name} exited with status {status}")
    return status


# --- peers ---

def require_node():
    if not shutil.which("node"):
        raise Failure("node is not on PATH: run scripts/install-deps.sh")
    if not (HERE / "node_modules" / "ws" / "package.json").is_file():
        raise Failure(f"{HERE / 'node_modules'} has no 'ws': run scripts/install-deps.sh "
                      "(it runs 'npm ci' in tests/interop)")


def require_python_websockets():
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import websockets; print(websockets.__version__)"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise Failure(f"{SYSTEM_PYTHON} cannot import websockets: run scripts/install-deps.sh "
                      "(it installs python3-websockets)")


def peer_command(peer: str, *args) -> list:
    if peer == "node":
        require_node()
        return ["node", str(HERE / "ws_peer.mjs"), *args]
    require_python_websockets()
    return [SYSTEM_PYTHON, str(HERE / "py_peer.py"), *args]


def require_binary(path: str) -> str:
    if not os.access(path, os.X_OK):
        raise Failure(f"not an executable: {path}")
    return path


# --- modes ---

def stop_our_server(server: Server):
    # Our servers exit 0 on SIGTERM; anything else (a sanitizer report, a crash) is a failure.
    status = server.stop()
    if status != 0:
        raise Failure(f"{server.name} exited with status {status} on SIGTERM (expected 0)")
    log(f"{server.name} stopped cleanly")


def mode_peer_client(args, servers):
    server_cmd = [require_binary(args.echo_server), "--port", "0"]
    if args.deflate == "off":
        server_cmd.append("--no-deflate")
    cmd = peer_command(args.peer, "client", "--url", "URL", "--deflate", args.deflate)
    server = Server("sluice echo_server", server_cmd)
    servers.append(server)
    url = server.start()
    status = run_client(f"{args.peer} client", [url if a == "URL" else a for a in cmd])
    stop_our_server(server)
    return status == 0


def mode_sluice_client(args, servers, garbage=False):
    client = require_binary(args.interop_client)
    server_args = ["server", "--garbage"] if garbage else ["server", "--deflate", args.deflate]
    server = Server(f"{args.peer} {'garbage ' if garbage else ''}server", peer_command(args.peer, *server_args))
    servers.append(server)
    url = server.start()
    cmd = [client, "--url", url, "--timeout", str(CLIENT_TIMEOUT - 10)]
    cmd += ["--expect-garbage"] if garbage else ["--deflate", args.deflate]
    status = run_client("sluice interop_client", cmd)
    server.stop()
    return status == 0


def mode_raw_garbage(args, servers):
    server = Server("sluice echo_server", [require_binary(args.echo_server), "--port", "0"])
    cmd = peer_command("node", "raw-garbage", "--url", "URL")
    servers.append(server)
    url = server.start()
    status = run_client("node raw garbage client", [url if a == "URL" else a for a in cmd])
    stop_our_server(server)
    return status == 0


def mode_conformance(args, servers):
    client = require_binary(args.conformance_client)
    require_node()
    expected_agent = "sluice"
    server = Server("fake fuzzingserver", ["node", str(HERE / "fake_fuzzingserver.mjs"), "--agent", expected_agent,
                                           "--expect-deflate", "yes" if args.deflate == "on" else "no",
                                           "--timeout", str(CLIENT_TIMEOUT - 10)])
    servers.append(server)
    url = server.start()
    cmd = [client, "--url", url, "--agent", args.agent] + (["--no-deflate"] if args.deflate == "off" else []) + \
        (["--resilient-client"] if args.resilient_client else [])
    client_status = run_client("conformance_client", cmd)
    if client_status != 0:
        return False  # the finally in main() stops the server
    server_status = server.wait(30)
    log(f"fake fuzzingserver exited with status {server_status}")
    if args.agent == expected_agent:
        return client_status == 0 and server_status == 0
    # Self-test of the fake server: a wrong agent must be reported as a failure.
    wrong = f'agent "{args.agent}", expected "{expected_agent}"'
    noticed = any(wrong in line for line in server.lines)
    log(f"wrong agent {'was' if noticed else 'was NOT'} reported by the fake fuzzingserver")
    return client_status == 0 and server_status == 1 and noticed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["peer-client", "sluice-client", "sluice-client-garbage", "raw-garbage",
                                         "conformance"])
    parser.add_argument("--peer", choices=["node", "python"], default="node")
    parser.add_argument("--deflate", choices=["on", "off"], default="on")
    parser.add_argument("--echo-server")
    parser.add_argument("--interop-client")
    parser.add_argument("--conformance-client")
    parser.add_argument("--agent", default="sluice")
    parser.add_argument("--resilient-client", action="store_true",
                        help="conformance: run the cases on sluice::Client (the resilient client)")
    args = parser.parse_args()
    needs = {"peer-client": "echo_server", "raw-garbage": "echo_server", "sluice-client": "interop_client",
             "sluice-client-garbage": "interop_client", "conformance": "conformance_client"}[args.mode]
    if getattr(args, needs) is None:
        parser.error(f"{args.mode} needs --{needs.replace('_', '-')}")

    # A SIGTERM (e.g. from a test driver) unwinds through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers = []
    ok = False
    try:
        ok = {
            "peer-client": mode_peer_client,
            "sluice-client": mode_sluice_client,
            "sluice-client-garbage": lambda a, s: mode_sluice_client(a, s, garbage=True),
            "raw-garbage": mode_raw_garbage,
            "conformance": mode_conformance,
        }[args.mode](args, servers)
    except Failure as e:
        log(f"FAIL: {e}")
    finally:
        for server in servers:
            try:
                server.stop()
            except Failure as e:
                log(f"cleanup: {e}")
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
