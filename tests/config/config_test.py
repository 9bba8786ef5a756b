#!/usr/bin/env python3
"""`sluice serve` configuration (issue #16): every option reachable as a
flag, a SLUICE_* environment variable and a config-file key, with the
precedence flag > env > file > default; --print-config prints valid TOML
(read here by Python's own tomllib) that --config reads back to the same
config; `sluice config check`; and every start-up validation error is one
message naming the key, the value and what is allowed, exit code 2.

Usage: config_test.py path/to/sluice
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib

BINARY = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="sluice-config-")


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env.update(extra or {})
    return env


def run(args, env=None, timeout=20):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, env=clean_env(env), timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def printed(args, env=None):
    """The effective config of `serve ARGS --print-config`, as parsed by tomllib."""
    done = run(["serve", *args, "--print-config"], env)
    if done.returncode != 0:
        fail(f"--print-config {args} env={env}: rc={done.returncode} {done.stderr}")
    try:
        doc = tomllib.loads(done.stdout)
    except tomllib.TOMLDecodeError as e:
        fail(f"--print-config is not valid TOML ({e}):\n{done.stdout}")
    return doc["serve"], done.stdout


def toml_literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def env_name(key):
    return {"allowed-origin": "SLUICE_ALLOWED_ORIGINS", "cors-origin": "SLUICE_CORS_ORIGINS"}.get(
        key, "SLUICE_" + key.upper().replace("-", "_"))


# Three valid values per option (file, env, flag), each unlike the default.
# Options not listed get values derived from their default's type; a string
# option must be listed (a new one fails here until it is).
FILES = [write(f"file{i}", "x") for i in range(3)]
VALUES = {
    "address": ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
    "port": [9001, 9002, 9003],
    "threads": [2, 3, 4],
    "overflow": ["drop", "close", "drop"],
    "store": ["memory", "sqlite", "memory"],
    "data-dir": [os.path.join(WORK, "d1"), os.path.join(WORK, "d2"), os.path.join(WORK, "d3")],
    "durability": ["os-buffered", "fsync", "os-buffered"],
    "engine": [["redis://127.0.0.1:6390"], ["redis://127.0.0.1:6391/2", "redis://127.0.0.1:6392"], ["redis://cache.internal:6379"]],
    "history": [["a.>=count:10"], ["b.*=age:15m", "c=bytes:1KiB,count:5"], ["d.>=count:1,age:1d"]],
    "allowed-origin": [["https://a.example"], ["https://b.example", "https://*.c.example"], ["*"]],
    "cors-origin": [["https://x.example"], ["https://y.example", "https://z.example"], ["https://w.example"]],
    "keys-file": FILES,
    "jwt-secret-file": FILES,
    "jwt-public-key": None,  # excludes jwt-secret-file: checked on its own below
    "tls-cert": FILES,
    "tls-key": FILES,
    "webhook-ca-file": FILES,
    "engine-ca-file": FILES,
    "engine-cert-file": FILES,
    "engine-key-file": FILES,
    "webhook-allow": [["10.1.0.0/16"], ["10.2.0.0/16", "fd00::/8"], ["127.0.0.0/8"]],
    "jwt-leeway": [5, 10, 20],
    "log-format": ["json", "text", "json"],
    "log-level": ["debug", "warn", "error"],
    "insecure": [True, False, True],
    "limit-loopback": [True, False, True],
    "no-deflate": [True, False, True],
    "rate-burst": [2, 3, 4],
    "key-rate-burst": [2, 3, 4],
    "new-connections-per-ip-burst": [2, 3, 4],
}


def values_for(key, default):
    if key in VALUES:
        return VALUES[key]
    if isinstance(default, bool):
        return [not default, default, not default]
    if isinstance(default, int):
        return [default + 1, default + 2, default + 3]
    if isinstance(default, float):
        return [default + 1.5, default + 2.5, default + 3.5]
    fail(f"option {key} (default {default!r}) has no test values: add three to VALUES")


def flag_args(key, value):
    if isinstance(value, bool):
        return [f"--{key}={'true' if value else 'false'}"]
    if isinstance(value, list):
        out = []
        for v in value:
            out += [f"--{key}", v]
        return out
    return [f"--{key}", str(value)]


def env_value(key, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return (";" if key == "history" else ",").join(value)
    return str(value)


def check_precedence():
    defaults, _ = printed([])
    keys = [k for k in defaults if VALUES.get(k, 1) is not None]
    if len(defaults) < 40:
        fail(f"only {len(defaults)} options printed")
    chosen = {k: values_for(k, defaults[k]) for k in keys}
    file_text = "[serve]\n" + "".join(f"{k} = {toml_literal(v[0])}\n" for k, v in chosen.items())
    config = write("all.toml", file_text)
    env = {env_name(k): env_value(k, v[1]) for k, v in chosen.items()}
    flags = [a for k, v in chosen.items() for a in flag_args(k, v[2])]

    def expect(got, index, what):
        for k, v in chosen.items():
            want = v[index]
            if isinstance(want, int) and not isinstance(want, bool) and isinstance(got[k], float):
                want = float(want)
            if got[k] != want:
                fail(f"{what}: {k} = {got[k]!r}, expected {want!r}")

    got, _ = printed(["--config", config])
    expect(got, 0, "file over default")
    got, _ = printed(["--config", config], env)
    expect(got, 1, "env over file")
    got, _ = printed(["--config", config, *flags], env)
    expect(got, 2, "flag over env")
    # `sluice --config FILE serve` and SLUICE_CONFIG name the file too.
    got, _ = printed([], {"SLUICE_CONFIG": config})
    expect(got, 0, "SLUICE_CONFIG")
    done = run(["--config", config, "serve", "--print-config"])
    if done.returncode != 0 or tomllib.loads(done.stdout)["serve"]["port"] != chosen["port"][0]:
        fail(f"sluice --config FILE serve: {done.returncode} {done.stderr}")
    # jwt-public-key (it excludes jwt-secret-file), from each source.
    for args, env_, what in [(["--config", write("pk.toml", f"[serve]\njwt-public-key = {toml_literal(FILES[0])}\n")], None, "file"),
                             ([], {"SLUICE_JWT_PUBLIC_KEY": FILES[1]}, "env"),
                             (["--jwt-public-key", FILES[2]], {"SLUICE_JWT_PUBLIC_KEY": FILES[1]}, "flag")]:
        got, _ = printed(args, env_)
        want = FILES[{"file": 0, "env": 1, "flag": 2}[what]]
        if got["jwt-public-key"] != want:
            fail(f"jwt-public-key from {what}: {got['jwt-public-key']!r}")
    print(f"precedence: {len(keys) + 1} options, each from file, env and flag")
    return config, env, flags


def strip_comments(text):
    return [re.sub(r"\s+# from .*$", "", line) for line in text.splitlines() if line and not line.startswith("#")]


def check_round_trip(config, env, flags):
    first, text = printed(["--config", config, *flags[:20]], env)
    saved = write("printed.toml", text)
    second, text2 = printed(["--config", saved])
    if first != second:
        diff = {k: (first[k], second.get(k)) for k in first if first[k] != second.get(k)}
        fail(f"--print-config read back differs: {diff}")
    if strip_comments(text) != strip_comments(text2):
        fail("the printed TOML differs after a round trip")
    # Strings that need escaping survive too.
    odd = write("odd.toml", '[serve]\ndata-dir = "dir with \\"quotes\\", a # and \\\\ backslash"\n'
                            "history = ['x.>=count:3,age:2h', \"y=bytes:1MiB\"]\n")
    a, t = printed(["--config", odd])
    b, _ = printed(["--config", write("odd2.toml", t)])
    if a != b or a["data-dir"] != 'dir with "quotes", a # and \\ backslash':
        fail(f"escaped strings: {a['data-dir']!r} / {b['data-dir']!r}")
    done = run(["config", "check", saved])
    if done.returncode != 0 or "ok" not in done.stdout:
        fail(f"config check of the printed config: {done.returncode} {done.stdout} {done.stderr}")
    print("round trip: --print-config | --config gives the same config")


def check_errors():
    missing = os.path.join(WORK, "nope.toml")
    cases = [
        # (what, args, env, words that must all appear)
        ("unknown key", ["--config", write("u.toml", "[serve]\nport = 1\nmax-conections = 10\n")], None,
         ["max-conections", "10", "line 3", "did you mean max-connections"]),
        ("unknown section", ["--config", write("s.toml", "[server]\nport = 1\n")], None, ["[server] port", "[serve]"]),
        ("wrong type", ["--config", write("t.toml", '[serve]\nport = "8080"\n')], None,
         ["port", '"8080"', "a string, expected an integer", "0 to 65535"]),
        ("wrong type bool", ["--config", write("b.toml", "[serve]\ninsecure = 1\n")], None,
         ["insecure", "an integer, expected a boolean", "true or false"]),
        ("out of range", ["--config", write("r.toml", "[serve]\nmax-connections = 0\n")], None,
         ["max-connections", "= 0", "out of range", "an integer >= 1"]),
        ("out of range flag", ["--port", "70000"], None, ["port", "70000", "--port", "0 to 65535"]),
        ("send queue over 4 GiB", ["--send-queue-limit", "4294967296"], None,
         ["send-queue-limit", "4294967296", "1024 to 4294967295"]),
        ("bad choice env", [], {"SLUICE_OVERFLOW": "dropp"}, ["overflow", "dropp", "SLUICE_OVERFLOW", "'close' or 'drop'"]),
        ("bad number env", [], {"SLUICE_PING_INTERVAL": "soon"}, ["ping-interval", "soon", "SLUICE_PING_INTERVAL", "seconds"]),
        ("missing config", ["--config", missing], None, ["config", "nope.toml", "no such file", "readable TOML file"]),
        ("missing config env", [], {"SLUICE_CONFIG": missing}, ["nope.toml", "no such file"]),
        ("missing key file", ["--jwt-secret-file", missing], None, ["jwt-secret-file", "nope.toml", "no such file",
                                                                    "existing file"]),
        ("bad toml", ["--config", write("x.toml", "[serve]\nport = 80 80\n")], None, ["x.toml", "line 2"]),
        ("bad history", ["--history", "a.>=count:x"], None, ["history", "a.>=count:x", "PATTERN="]),
        ("cross-field", ["--tls-cert", FILES[0]], None, ["tls-cert and tls-key go together"]),
    ]
    for what, args, env, words in cases:
        for mode in (["--print-config"], []):  # checked before printing, and before starting
            done = run(["serve", "--store", "memory", "--port", "0", *args, *mode] if "--port" not in args
                       else ["serve", "--store", "memory", *args, *mode], env)
            err = done.stderr
            if done.returncode != 2:
                fail(f"{what} {mode}: exit {done.returncode}, expected 2: {err!r} {done.stdout[-300:]!r}")
            lines = err.strip().splitlines()
            if len(lines) != 2 or not lines[1].startswith("Run 'sluice serve --help'"):
                fail(f"{what}: not one message: {err!r}")
            for w in words:
                if w not in lines[0]:
                    fail(f"{what}: {w!r} not in {lines[0]!r}")
            for bad in ("terminate", "Aborted", "what()", "stack"):
                if bad in err:
                    fail(f"{what}: {bad} in {err!r}")
            if "listening" in done.stdout:
                fail(f"{what}: it started")
        # The same file through `sluice config check`.
        if args and args[0] == "--config" and env is None:
            done = run(["config", "check", args[1]])
            if done.returncode != 2 or not all(w in done.stderr for w in words):
                fail(f"config check, {what}: {done.returncode} {done.stderr!r}")
    done = run(["config", "check", write("good.toml", "# a comment\n[serve]\nport = 9000  # trailing\nthreads = 2\n"
                                          "allowed-origin = [\n  'https://a.example',  # one\n  'https://b.example',\n]\n")])
    if done.returncode != 0:
        fail(f"config check of a valid file: {done.returncode} {done.stderr}")
    print(f"validation: {len(cases)} kinds of error, each one message with exit code 2")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_real_start():
    """The config is what the server runs with: the env's port beats the file's."""
    file_port, env_port = free_port(), free_port()
    config = write("start.toml", f"[serve]\nport = {file_port}\nstore = 'memory'\nthreads = 1\n")
    log_path = os.path.join(WORK, "start.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([BINARY, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT,
                                env=clean_env({"SLUICE_PORT": str(env_port)}), stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = open(log_path).read()
            if "listening on" in text:
                break
            if proc.poll() is not None:
                fail("the server exited: " + text)
            time.sleep(0.02)  # polling the child's log: nothing to wait on
        if f"127.0.0.1:{env_port}/" not in text:
            fail(f"expected port {env_port} (env over file {file_port}): {text}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print("start: the environment's port beat the file's")


def main():
    config, env, flags = check_precedence()
    check_round_trip(config, env, flags)
    check_errors()
    check_real_start()
    print("config: all checks passed")


if __name__ == "__main__":
    main()
