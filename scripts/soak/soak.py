#!/usr/bin/env python3
"""Soak test (not a unit test): run the release server for a while under a steady mixed load
and watch its memory.

Starts `<bin> serve --host 127.0.0.1 --port <port>` (environment inherited: set
CANDLELIT_MODEL_DIR and LEPTOS_SITE_ROOT), waits for GET /readyz, then drives the four tasks at
once, open-loop, at --rate requests/s in total (round-robin over segment, detect, classify,
summarize; at most one summary in flight, a summarize tick is skipped while one runs). Samples
the server's RSS once a second into a CSV (t_seconds,rss_mib,requests_done,errors), stops the
server with SIGTERM and prints a summary.

Exit code 0 when no request failed (429/503 are the server shedding load, not failures) and
the RSS at the end is at most max(10 %, 50 MiB) above the RSS at the 1/4 mark (after warm-up);
else 1.

    python3 scripts/soak/soak.py --bin $CARGO_TARGET_DIR/release/candlelit --minutes 30 \
        --out soak.csv [--port 3917] [--rate 4]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import glob
import http.client
import json
import os
import sys
import threading
import time

from common import log_tail, percentile, rss_mib, start_server, stop_server, wait_ready

TASKS = ["segment", "detect", "classify", "summarize"]
ROUTES = {
    "segment": "/api/v1/segment/selfie?output=mask",
    "detect": "/api/v1/detect/nanodet",
    "classify": "/api/v1/classify/efficientnet-lite0",
    "summarize": "/api/v1/summarize/smollm2",
}
# Error kinds an SSE `error` event may carry that mean "the server protected itself" (the
# same ones that are 429/503 as a status).
SHED_KINDS = {"overloaded", "rate_limited", "memory_busy", "not_ready", "unavailable"}

PARAGRAPH = (
    "The city council met on Tuesday evening to discuss the proposed expansion of the "
    "riverside park. Residents spoke for nearly two hours, most of them in favour of adding "
    "a playground, a community garden and a longer cycling path along the water. Some "
    "business owners worried about parking and about construction noise during the summer "
    "season, when tourism brings most of their income. The council's engineer explained that "
    "work would be split into three phases over two years, and that the busiest stretch of "
    "the path would be built in winter. After a long debate the council voted six to three "
    "to approve the first phase and asked staff to report back on parking in the spring."
)

TIMEOUT_S = 120.0


class Stats:
    """Per-task outcome counts, shared by the worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {t: {} for t in TASKS}
        self.lat: dict[str, list[float]] = {t: [] for t in TASKS}
        self.done = 0
        self.errors = 0
        self.shed = 0
        self.sent = 0
        self.skipped_summaries = 0
        self.error_samples: list[str] = []

    def record(self, task: str, key: str, kind: str, latency: float, detail: str = "") -> None:
        with self.lock:
            c = self.counts[task]
            c[key] = c.get(key, 0) + 1
            self.done += 1
            if kind == "ok":
                self.lat[task].append(latency)
            elif kind == "shed":
                self.shed += 1
            else:
                self.errors += 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(f"{task}: {key} {detail}".strip())


def classify_status(status: int) -> str:
    if status == 200:
        return "ok"
    if status in (429, 503):
        return "shed"
    return "error"


def post_image(port: int, task: str, body: bytes, stats: Stats) -> None:
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("POST", ROUTES[task], body=body,
                     headers={"Content-Type": "image/jpeg", "Connection": "close"})
        resp = conn.getresponse()
        data = resp.read()
        kind = classify_status(resp.status)
        detail = "" if kind != "error" else data[:200].decode("utf-8", "replace")
        stats.record(task, str(resp.status), kind, time.monotonic() - t0, detail)
    except Exception as e:  # noqa: BLE001 - any failure to talk to the server is an error
        stats.record(task, f"conn:{type(e).__name__}", "error", time.monotonic() - t0, str(e))
    finally:
        conn.close()


def post_summary(port: int, stats: Stats, busy: threading.Event) -> None:
    task = "summarize"
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        body = json.dumps({"text": PARAGRAPH, "max_tokens": 24, "stream": True}).encode()
        conn.request("POST", ROUTES[task], body=body, headers={
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Connection": "close",
        })
        resp = conn.getresponse()
        if resp.status != 200:
            data = resp.read()
            kind = classify_status(resp.status)
            detail = "" if kind != "error" else data[:200].decode("utf-8", "replace")
            stats.record(task, str(resp.status), kind, time.monotonic() - t0, detail)
            return
        # Read server-sent events up to `done` (or `error`, or the end of the stream).
        event, data_lines, outcome = "message", [], None
        while outcome is None:
            raw = resp.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if event == "done":
                    outcome = ("200+done", "ok", "")
                elif event == "error":
                    text = "\n".join(data_lines)
                    try:
                        k = json.loads(text).get("type", "unknown")
                    except (ValueError, AttributeError):
                        k = "unknown"
                    outcome = (f"200+error:{k}", "shed" if k in SHED_KINDS else "error", text[:200])
                event, data_lines = "message", []
            elif line.startswith(":"):
                continue  # keep-alive comment
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].lstrip(" "))
        if outcome is None:
            outcome = ("200+no-done", "error", "stream ended before a done event")
        key, kind, detail = outcome
        stats.record(task, key, kind, time.monotonic() - t0, detail)
    except Exception as e:  # noqa: BLE001
        stats.record(task, f"conn:{type(e).__name__}", "error", time.monotonic() - t0, str(e))
    finally:
        conn.close()
        busy.clear()


def sample_at(samples: list[tuple[float, float]], t: float) -> float | None:
    """RSS of the sample nearest to time t."""
    if not samples:
        return None
    return min(samples, key=lambda s: abs(s[0] - t))[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the candlelit binary (release build)")
    ap.add_argument("--minutes", type=float, required=True, help="length of the run (may be fractional)")
    ap.add_argument("--out", required=True, help="CSV of RSS samples: t_seconds,rss_mib,requests_done,errors")
    ap.add_argument("--port", type=int, default=3917)
    ap.add_argument("--rate", type=float, default=4.0, help="requests per second, all tasks together")
    ap.add_argument("--threads", type=int, default=64, help="client thread pool size")
    ap.add_argument("--log", help="server log file (default: <out>.server.log)")
    args = ap.parse_args()
    if args.rate <= 0 or args.minutes <= 0:
        ap.error("--rate and --minutes must be positive")

    model_dir = os.environ.get("CANDLELIT_MODEL_DIR", "model-store")
    images = []
    for p in sorted(glob.glob(os.path.join(model_dir, "samples", "*.jpg"))):
        with open(p, "rb") as f:
            images.append((os.path.basename(p), f.read()))
    if not images:
        print(f"no sample photos in {model_dir}/samples/*.jpg (set CANDLELIT_MODEL_DIR)", file=sys.stderr)
        return 2
    log_path = args.log or args.out + ".server.log"
    duration = args.minutes * 60.0

    print(f"starting {args.bin} on port {args.port} (log: {log_path})", flush=True)
    proc = start_server(args.bin, args.port, log_path)
    stats = Stats()
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    interrupted = False
    server_died = False
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.threads)
    t_ready = time.monotonic()
    try:
        t_boot = time.monotonic()
        if not wait_ready(proc, args.port, 120.0):
            print("server not ready within 120 s (or it exited); log tail:", file=sys.stderr)
            print(log_tail(log_path), file=sys.stderr)
            stop_server(proc)
            return 1
        t_ready = time.monotonic()
        print(f"ready after {t_ready - t_boot:.1f} s; {len(images)} sample photos; "
              f"{args.rate:g} req/s for {duration:.0f} s", flush=True)

        summary_busy = threading.Event()

        def scheduler() -> None:
            interval = 1.0 / args.rate
            i = 0
            next_at = time.monotonic()
            while not stop.is_set():
                task = TASKS[i % len(TASKS)]
                if task == "summarize":
                    if summary_busy.is_set():
                        with stats.lock:
                            stats.skipped_summaries += 1
                    else:
                        summary_busy.set()
                        with stats.lock:
                            stats.sent += 1
                        pool.submit(post_summary, args.port, stats, summary_busy)
                else:
                    _, img = images[(i // len(TASKS)) % len(images)]
                    with stats.lock:
                        stats.sent += 1
                    pool.submit(post_image, args.port, task, img, stats)
                i += 1
                next_at += interval
                # Fixed schedule: sleep to the next slot; never wait on answers.
                delay = next_at - time.monotonic()
                if delay > 0:
                    stop.wait(delay)

        sched = threading.Thread(target=scheduler, name="scheduler", daemon=True)

        with open(args.out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_seconds", "rss_mib", "requests_done", "errors"])

            def take_sample() -> float | None:
                r = rss_mib(proc.pid)
                t = time.monotonic() - t_ready
                with stats.lock:
                    done, errs = stats.done, stats.errors
                if r is not None:
                    samples.append((t, r))
                    w.writerow([f"{t:.1f}", f"{r:.1f}", done, errs])
                    f.flush()
                return r

            take_sample()  # the start: first sample after readiness, before any load
            sched.start()
            next_sample = t_ready + 1.0
            last_report = t_ready
            try:
                while time.monotonic() - t_ready < duration:
                    time.sleep(max(0.0, next_sample - time.monotonic()))
                    next_sample += 1.0
                    if proc.poll() is not None:
                        server_died = True
                        print(f"server exited with {proc.returncode} during the run", file=sys.stderr)
                        break
                    r = take_sample()
                    now = time.monotonic()
                    if now - last_report >= 60.0 or (duration < 120 and now - last_report >= 10.0):
                        last_report = now
                        with stats.lock:
                            print(f"  t={now - t_ready:6.0f}s rss={r or 0:8.1f} MiB done={stats.done} "
                                  f"errors={stats.errors} shed={stats.shed} "
                                  f"in_flight={stats.sent - stats.done}", flush=True)
            except KeyboardInterrupt:
                interrupted = True
                print("\ninterrupted: stopping the load", file=sys.stderr)

            # Stop sending, let requests in flight finish (bounded), then take the end sample.
            stop.set()
            sched.join(timeout=5)
            drain_deadline = time.monotonic() + TIMEOUT_S + 5
            try:
                while time.monotonic() < drain_deadline and not server_died:
                    with stats.lock:
                        pending = stats.sent - stats.done
                    if pending <= 0:
                        break
                    time.sleep(0.2)
                if not server_died and proc.poll() is None:
                    time.sleep(1.0)
                    take_sample()
            except KeyboardInterrupt:
                interrupted = True
    finally:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        rc = stop_server(proc)

    run_s = samples[-1][0] if samples else 0.0
    print()
    print(f"duration      {run_s:.0f} s of load ({args.minutes:g} min asked"
          f"{', interrupted' if interrupted else ''}); server exit code {rc}")
    with stats.lock:
        for task in TASKS:
            c = stats.counts[task]
            n = sum(c.values())
            parts = ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
            p50 = percentile(stats.lat[task], 0.5)
            p99 = percentile(stats.lat[task], 0.99)
            lat = f"  p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms" if p50 is not None else ""
            print(f"{task:<13} {n:6d} requests  ({parts or 'none'}){lat}")
        print(f"{'':<13} {stats.skipped_summaries} summarize ticks skipped (one already in flight)")
        print(f"totals        {stats.done} done, {stats.errors} errors, {stats.shed} shed (429/503), "
              f"{stats.sent - stats.done} unfinished")
        errors = stats.errors + (stats.sent - stats.done)
        for s in stats.error_samples:
            print(f"  error: {s}")

    ok = True
    if not samples:
        print("no RSS samples")
        return 1
    start = samples[0][1]
    end = samples[-1][1]
    peak = max(r for _, r in samples)
    drift = end - start
    print(f"rss start     {start:8.1f} MiB (first sample after readiness)")
    print(f"rss peak      {peak:8.1f} MiB")
    print(f"rss end       {end:8.1f} MiB (after requests in flight finished)")
    print(f"drift         {drift:+8.1f} MiB ({100.0 * drift / start:+.1f} %) end - start")
    q = {}
    for frac, name in ((0.25, "1/4"), (0.5, "1/2"), (0.75, "3/4")):
        q[name] = sample_at(samples, frac * run_s)
        print(f"rss at {name:<6} {q[name]:8.1f} MiB (t={frac * run_s:.0f} s)")
    q1 = q["1/4"]
    tol = max(0.10 * q1, 50.0)
    growth = end - q1
    verdict_mem = growth <= tol
    print(f"end vs 1/4    {growth:+8.1f} MiB (allowed +{tol:.1f} MiB) -> {'ok' if verdict_mem else 'GROWING'}")
    if errors:
        ok = False
    if not verdict_mem or server_died:
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # before the load started; the server was already stopped
        sys.exit(130)
