#!/usr/bin/env python3
"""packaging/sluice.toml lists every option of `sluice serve` at its
default (it is what packaging/make-example-config.py writes today), and with
every key uncommented it passes `sluice config check`.

Usage: example_config_test.py path/to/sluice path/to/source
"""
import os
import subprocess
import sys
import tempfile

BINARY, SOURCE = sys.argv[1], sys.argv[2]
EXAMPLE = os.path.join(SOURCE, "packaging", "sluice.toml")
MAKER = os.path.join(SOURCE, "packaging", "make-example-config.py")


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def main():
    fresh = subprocess.run([sys.executable, MAKER, BINARY], capture_output=True, text=True, check=True).stdout
    if fresh != open(EXAMPLE).read():
        fail(f"packaging/sluice.toml is out of date with `sluice serve`'s options; regenerate it:\n"
             f"  packaging/make-example-config.py {BINARY} > packaging/sluice.toml")
    with tempfile.TemporaryDirectory(prefix="sluice-example-") as work:
        uncommented = os.path.join(work, "sluice.toml")
        lines = [line[1:] if line[:2].startswith("#") and line[1:2].isalpha() else line
                 for line in fresh.splitlines()]
        open(uncommented, "w").write("\n".join(lines) + "\n")
        check = subprocess.run([BINARY, "config", "check", uncommented], capture_output=True, text=True)
        if check.returncode != 0 or " keys set" not in check.stdout:
            fail("config check of the uncommented example: " + check.stdout + check.stderr)
        print(check.stdout.strip().replace(uncommented, "uncommented example"))
    print("ok")


if __name__ == "__main__":
    main()
