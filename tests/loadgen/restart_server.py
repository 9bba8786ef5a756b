#!/usr/bin/env python3
"""A server restart for `sluice bench storm --restart-cmd`, as a service
manager would do it: stop the server whose pid is in PIDFILE (SIGTERM, or
SIGKILL with --kill), wait until it is gone, start COMMAND... detached (its
own session, output to /dev/null), write its pid to PIDFILE and wait until it
listens on 127.0.0.1:PORT. Without a PIDFILE yet it only starts; with --stop
it only stops. Exit status 0 when done, 1 otherwise (all within 30 s).

usage: restart_server.py [--kill|--stop] PIDFILE PORT -- COMMAND...
"""
import os, signal, socket, subprocess, sys, time

DEADLINE = time.monotonic() + 30


def gone(pid):
    # Not ours to reap (detached): a zombie counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for(condition, what):
    while not condition():
        if time.monotonic() > DEADLINE:
            sys.exit(f"restart_server: timed out waiting until {what}")
        time.sleep(0.02)


def main(argv):
    sig, only_stop = signal.SIGTERM, False
    while argv and argv[0] in ("--kill", "--stop"):
        sig = signal.SIGKILL if argv[0] == "--kill" else sig
        only_stop = only_stop or argv[0] == "--stop"
        argv = argv[1:]
    pidfile, port, command = argv[0], int(argv[1]), argv[3:]
    if os.path.exists(pidfile):
        pid = int(open(pidfile).read())
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        wait_for(lambda: gone(pid), f"server {pid} is gone")
        os.unlink(pidfile)
    if only_stop:
        return
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(proc.pid))
    os.replace(pidfile + ".tmp", pidfile)
    wait_for(lambda: proc.poll() is not None or listening(port), f"the server listens on {port}")
    if proc.poll() is not None:
        sys.exit(f"restart_server: the server exited with {proc.returncode}")


if __name__ == "__main__":
    main(sys.argv[1:])
