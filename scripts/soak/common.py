"""What soak.py and burst.py share: starting the release server, waiting for /readyz, stopping
it, reading its RSS and log, and a percentile. Standard library only; both scripts import it by
name (`python3 scripts/soak/<script>.py` puts this folder first on sys.path)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def rss_mib(pid: int) -> float | None:
    """The process's resident set size in MiB (VmRSS), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def start_server(binary: str, port: int, log_path: str) -> subprocess.Popen:
    log = open(log_path, "ab")
    # Own session: a Ctrl-C in the terminal reaches this script only; we stop the server.
    return subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen, port: int, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    url = f"http://127.0.0.1:{port}/readyz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    return False


def stop_server(proc: subprocess.Popen, wait_s: float = 60.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            print(f"server did not stop within {wait_s:.0f} s of SIGTERM; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()
    return proc.returncode


def log_tail(path: str, n: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
    except OSError:
        return ""


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]
