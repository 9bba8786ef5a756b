#!/usr/bin/env python3
"""packaging/: the systemd unit passes `systemd-analyze verify` (with the
built binary as ExecStart) and keeps its hardening (`systemd-analyze
security --offline`, exposure at most 2.0); the Docker image's runtime stage
installs the Debian package of every shared library the binary needs, runs
as a non-root user with the store in a volume, and its HEALTHCHECK command
passes against a running server and fails without one.

Usage: unit_test.py path/to/sluice path/to/source
Exit 77 when systemd-analyze is not installed.
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
import time

BINARY, SOURCE = sys.argv[1], sys.argv[2]
UNIT = os.path.join(SOURCE, "packaging", "systemd", "sluice.service")
DOCKERFILE = os.path.join(SOURCE, "packaging", "docker", "Dockerfile")


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check_docker_libraries():
    """Each library ldd finds comes from a package the runtime stage installs (or the base image has)."""
    text = open(DOCKERFILE).read()
    runtime = text[text.rindex("\nFROM "):]
    installed = set(re.findall(r"\b(lib[a-z0-9.+-]+|zlib1g|ca-certificates)\b", runtime.split("useradd")[0]))
    base = {"libc6", "libstdc++6", "libgcc-s1"}
    # Built without libsystemd in the image (-DSLUICE_SYSTEMD=OFF).
    optional = {"libsystemd0", "liblzma5", "libzstd1", "liblz4-1", "libcap2", "libgcrypt20", "libgpg-error0"}
    # The binary's own dependencies (NEEDED); apt brings in theirs.
    dynamic = subprocess.run(["readelf", "-d", BINARY], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    # A sanitizer build (the asan/tsan presets) adds its runtime and, with
    # SLUICE_SEPARATE_ASIO, Boost.Container; the image is a release build.
    sanitized = any(n.startswith(("libasan", "libtsan", "libubsan")) for n in needed)
    if sanitized:
        optional |= {"libasan8", "libtsan2", "libubsan1", "libboost-container1.81.0"}
    ldd = subprocess.run(["ldd", BINARY], capture_output=True, text=True, check=True).stdout
    missing = []
    for line in ldd.splitlines():
        match = re.search(r"^\s*(\S+)\s+=>\s+(/\S+)", line)
        if not match or match.group(1) not in needed:
            continue
        match = re.search(r"=>\s+(/\S+)", line)
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(match.group(1))], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", match.group(1)], capture_output=True, text=True)
        if owner.returncode != 0:
            fail(f"no Debian package owns {match.group(1)}")
        package = owner.stdout.split(":")[0]
        if package not in installed | base | optional:
            missing.append(f"{package} ({match.group(1)})")
    if missing:
        fail("the Dockerfile's runtime stage lacks " + ", ".join(missing) + f"; it installs {sorted(installed)}")


def check_dockerfile():
    """Non-root, the store in a volume, and its HEALTHCHECK command run for real against a server."""
    text = open(DOCKERFILE).read()
    runtime = text[text.rindex("\nFROM "):]
    if "FROM debian:bookworm" not in text or runtime.count("FROM ") != 1:
        fail("the Dockerfile is not two stages on Debian bookworm")
    user = re.search(r"^USER (\S+)", runtime, re.M)
    if not user or user.group(1) in ("root", "0"):
        fail("the image does not run as a non-root user")
    if not re.search(r'^VOLUME \[.*"/var/lib/sluice"', runtime, re.M) or "SLUICE_DATA_DIR=/var/lib/sluice" not in runtime:
        fail("the store is not in the /var/lib/sluice volume")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", runtime.replace("\\\n", " "), re.M)
    if not match:
        fail("no HEALTHCHECK with an exec-form CMD")
    command = json.loads(match.group(1))
    if "/ready" not in " ".join(command):
        fail("the HEALTHCHECK does not ask /ready")
    with tempfile.TemporaryDirectory(prefix="sluice-health-") as work:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = dict(os.environ, SLUICE_PORT=str(port))
        log = open(os.path.join(work, "log"), "w")
        server = subprocess.Popen([BINARY, "serve", "--store", "memory"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while subprocess.run(command, env=env, capture_output=True).returncode != 0:
                if time.monotonic() > deadline or server.poll() is not None:
                    fail("the HEALTHCHECK never passed against a running server")
                time.sleep(0.1)  # polling the probe, as docker does
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            log.close()
        if subprocess.run(command, env=env, capture_output=True).returncode == 0:
            fail("the HEALTHCHECK passes with no server")


def check_unit():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("SKIP: systemd-analyze is not installed")
        sys.exit(77)
    with tempfile.TemporaryDirectory(prefix="sluice-unit-") as work:
        unit = os.path.join(work, "sluice.service")
        text = open(UNIT).read()
        if "/usr/local/bin/sluice " not in text:
            fail("ExecStart does not run /usr/local/bin/sluice")
        # verify checks that ExecStart's program exists: the one just built.
        open(unit, "w").write(text.replace("/usr/local/bin/sluice ", os.path.abspath(BINARY) + " "))
        verify = subprocess.run([analyze, "verify", unit], capture_output=True, text=True, cwd=work)
        if verify.returncode != 0 or "sluice.service" in verify.stderr:
            fail("systemd-analyze verify: " + verify.stderr + verify.stdout)
        security = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", unit],
                                  capture_output=True, text=True, cwd=work)
        match = re.search(r"Overall exposure level for sluice\.service: ([0-9.]+)", security.stdout)
        if not match:
            fail("systemd-analyze security: " + security.stdout[-1000:] + security.stderr)
        if float(match.group(1)) > 2.0:
            fail(f"exposure {match.group(1)} > 2.0: the unit lost hardening")
        for setting in ["Type=notify", "DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                        "StateDirectory=sluice", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID"]:
            if setting not in text:
                fail("the unit lacks " + setting)
        print("unit: verify ok, exposure", match.group(1))


def main():
    check_docker_libraries()
    check_dockerfile()
    check_unit()
    print("ok")


if __name__ == "__main__":
    main()
