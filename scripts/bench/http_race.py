"""The HTTP race (`make bench-http`): candlelit against the FastAPI + uvicorn + PyTorch peer the
seeds' tutorials build (scripts/bench/fastapi_peer.py), both serving EfficientNet-Lite0 behind
`POST /predict/image_classes`, both sent the same multipart `file` upload of a 600x400 PNG (made
once from model-store/samples/person.jpg into ~/.cache/candlelit/bench/). For each client count,
candlelit then the peer: a fresh server process (candlelit with only the classifier loaded, its
defaults: 1 worker, queue 16, batches of up to 4), cold start = spawn to the first 200, then
server/examples/load.rs drives it with that many clients for SECONDS (each client sends one
request at a time; a 429/503 waits 50 ms) and reads the server's peak RSS (VmHWM) at the end.
Prints one markdown table, candlelit's own time for its refusals (from its /metrics), and the
req/s ratios candlelit / peer. Loopback only. A benchmark, not
a test.

    ~/.cache/candlelit/py-bench/bin/python scripts/bench/http_race.py --candlelit BIN --load BIN \\
        [--model-dir model-store] [--seconds 10] [--clients 1,4,16,64]

The peer runs on this interpreter (the bench venv, scripts/bench/pyenv-bench.sh).
"""
import argparse
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image

from summarize_race import cpu_ticks, machine, steal_since

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("CANDLELIT_CACHE", Path.home() / ".cache/candlelit")) / "bench"
ROUTE = "/predict/image_classes"
BOUNDARY = "candlelit-race"


def upload_png(model_dir):
    """person.jpg resized to 600x400 (bicubic) as PNG: the upload the issue describes."""
    path = CACHE / "person-600x400.png"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        Image.open(Path(model_dir) / "samples/person.jpg").convert("RGB").resize((600, 400), Image.BICUBIC).save(path)
    return path


def cold_start(proc, t0, url, png, limit_s=180):
    """Seconds from `proc`'s spawn (at perf_counter `t0`) to its first 200 on `url`."""
    body = (f"--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"upload.png\"\r\n"
            f"content-type: image/png\r\n\r\n").encode() + png.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()
    while time.perf_counter() - t0 < limit_s:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before answering (log: {CACHE}/*.log)")
        req = urllib.request.Request(url, body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except urllib.error.HTTPError as e:
            if e.code != 503:  # 503: still loading or warming up
                raise SystemExit(f"{url} answered {e.code}: {e.read()[:200]!r}")
        except (urllib.error.URLError, ConnectionError):  # not listening yet
            pass
        time.sleep(0.05)
    raise SystemExit(f"no 200 from {url} within {limit_s} s")


def server_refusal_quantiles(port, qs=(0.5, 0.99)):
    """candlelit's own time for its 429s on ROUTE (request_duration_seconds: head read to answer
    head), as the upper bounds of the buckets holding each quantile, in ms; None if none."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    prefix = f'candlelit_request_duration_seconds_bucket{{route="{ROUTE}",status="429",le="'
    buckets = [(float(l[len(prefix):].split('"')[0]), float(l.rsplit(" ", 1)[1]))
               for l in text.splitlines() if l.startswith(prefix)]
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return [next(le for le, n in buckets if n >= q * total) * 1e3 for q in qs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candlelit", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--model-dir", default=os.environ.get("CANDLELIT_MODEL_DIR", "model-store"))
    ap.add_argument("--seconds", default="10")
    ap.add_argument("--clients", default="1,4,16,64")
    a = ap.parse_args()
    png = upload_png(a.model_dir)
    servers = {
        "candlelit": ([a.candlelit, "serve", "--host", "127.0.0.1", "--port", "3918", "--model-dir", a.model_dir],
                      {"CANDLELIT_MODELS": "efficientnet-lite0", "CANDLELIT_WORKERS": "1", "CANDLELIT_QUEUE": "16",
                       "RUST_LOG": "warn"}, 3918),
        "FastAPI peer": ([sys.executable, str(HERE / "fastapi_peer.py"), "--port", "3919", "--model-dir", a.model_dir],
                         {}, 3919),
    }
    rows = []
    own = {}  # clients -> candlelit's own refusal p50/p99 (ms), from its /metrics
    ticks = cpu_ticks()
    for clients in a.clients.split(","):
        for name, (cmd, env, port) in servers.items():
            url = f"http://127.0.0.1:{port}{ROUTE}"
            with open(CACHE / f"{name.split()[0]}.log", "w") as log:
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=log)
                try:
                    cold = cold_start(proc, t0, url, png)
                    out = subprocess.run([a.load, "--url", url, "--image", str(png), "--seconds", a.seconds,
                                          "--clients", clients, "--pid", str(proc.pid), "--label", name,
                                          "--multipart", "file"], check=True, stdout=subprocess.PIPE, text=True).stdout
                    if name == "candlelit":
                        own[clients] = server_refusal_quantiles(port)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            cells = next(l for l in out.splitlines() if l.startswith(f"| {name} |")).strip("| \n").split(" | ")
            rows.append([clients, name, cells[2], cells[3], cells[4], cells[5], cells[6], f"{cold:.1f} s", cells[7]])
            print(f"{clients} clients: {name} done", file=sys.stderr)

    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end; "
          f"CPU steal during the run {steal_since(ticks):.0f} %.")
    print(f"POST {ROUTE}, multipart `file` = {png.name} ({png.stat().st_size} bytes), {a.seconds} s per level, "
          f"a fresh server per level, load generator on the same cores.\n")
    print("| clients | server | req/s | p50 ms (200s) | p99 ms (200s) | statuses | refusals p50 / p99 ms | cold start | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    for clients, q in own.items():
        if q:
            print(f"\n{clients} clients: candlelit's own time for its 429s (head read to answer head, "
                  f"/metrics buckets): p50 <= {q[0]:g} ms, p99 <= {q[1]:g} ms; the rest of the client's "
                  f"refusal time is the sockets and waiting for a core.")
    print("\n| clients | req/s candlelit / peer |\n|---|---|")
    for c, p in zip(rows[::2], rows[1::2]):
        print(f"| {c[0]} | {float(c[2]) / max(float(p[2]), 1e-9):.2f}x |")


if __name__ == "__main__":
    main()
