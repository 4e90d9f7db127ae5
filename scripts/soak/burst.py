#!/usr/bin/env python3
"""Peak server RSS under N concurrent big uploads.

Makes one PNG of about --megapixels (4:3, so 4000x3000 for 12; RGB 8-bit, a gradient plus
noise so that it does not compress to nothing; standard library only), starts
`<bin> serve --host 127.0.0.1 --port <port>` (environment inherited: set CANDLELIT_MODEL_DIR
and LEPTOS_SITE_ROOT), waits for GET /readyz, then --repeat times fires --clients requests at
once (threads released by a barrier) while sampling the server's RSS every 50 ms, and prints
per burst: statuses and counts, p50/max latency of the 200s, RSS before, peak during, after.
Stops the server with SIGTERM at the end.

    python3 scripts/soak/burst.py --bin $CARGO_TARGET_DIR/release/candlelit --clients 48 \
        --megapixels 12 [--route '/api/v1/segment/selfie?output=json'] [--port 3918]
"""

from __future__ import annotations

import argparse
import http.client
import math
import random
import struct
import sys
import threading
import time
import zlib

from common import log_tail, percentile, rss_mib, start_server, stop_server, wait_ready


def make_png(megapixels: float, seed: int = 1) -> tuple[bytes, int, int]:
    """An RGB 8-bit PNG of about `megapixels`, 4:3.

    Row 0 is a horizontal colour gradient (filter None); every later row uses the Up filter
    with small random deltas in {-1, 0, +1}, slightly biased upwards, so each column is a
    random walk over a vertical drift: a gradient plus streaky noise (values wrap mod 256,
    which is harmless here). The filtered data has about 1.5 bits of entropy a byte and no
    long repeats, so zlib cannot shrink it much below ~20 % of the raw size (12 MP: 34 MiB of
    pixels, ~8 MiB of PNG, under the server's default 16 MiB body limit).
    """
    rng = random.Random(seed)
    w = max(1, round(math.sqrt(megapixels * 1e6 * 4 / 3)))
    h = max(1, round(w * 3 / 4))
    row_bytes = 3 * w
    first = bytearray(row_bytes)
    for x in range(w):
        f = x / max(1, w - 1)
        first[3 * x] = 40 + int(150 * f)
        first[3 * x + 1] = 60 + int(90 * (1 - f))
        first[3 * x + 2] = 90
    # A pool of delta rows; each row picks one and rotates it by a random offset.
    symbols = [0, 0, 0, 0, 1, 1, 255, 255]  # 0 half the time, +1 / -1 a quarter each
    symbols_up = [0, 0, 0, 1, 1, 1, 255, 255]  # a little drift upwards
    pool = []
    for i in range(64):
        syms = symbols_up if i % 4 == 0 else symbols
        pool.append(bytes(rng.choices(syms, k=row_bytes)))
    chunks = [b"\x00", bytes(first)]
    for _ in range(h - 1):
        d = pool[rng.randrange(len(pool))]
        k = 3 * rng.randrange(w)
        chunks.append(b"\x02")
        chunks.append(d[k:] + d[:k])
    raw = b"".join(chunks)
    comp = zlib.compress(raw, 6)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit, RGB, deflate, filter 0, no interlace
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", comp) + chunk(b"IEND", b"")
    return png, w, h


def burst(port: int, route: str, body: bytes, clients: int, pid: int, timeout_s: float) -> dict:
    results: list[tuple[str, float, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        t0 = time.monotonic()
        try:
            conn.connect()  # connect before the barrier so the requests really start together
            barrier.wait()
            t0 = time.monotonic()
            conn.request("POST", route, body=body,
                         headers={"Content-Type": "image/png", "Connection": "close"})
            resp = conn.getresponse()
            data = resp.read()
            key = str(resp.status)
            detail = "" if resp.status in (200, 429, 503) else data[:160].decode("utf-8", "replace")
        except threading.BrokenBarrierError:
            return
        except Exception as e:  # noqa: BLE001
            key, detail = f"conn:{type(e).__name__}", str(e)[:160]
        finally:
            conn.close()
        with lock:
            results.append((key, time.monotonic() - t0, detail))

    peak = [0.0]
    done = threading.Event()

    def sampler() -> None:
        while not done.is_set():
            r = rss_mib(pid)
            if r is not None and r > peak[0]:
                peak[0] = r
            done.wait(0.05)

    before = rss_mib(pid) or 0.0
    peak[0] = before
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    s = threading.Thread(target=sampler, daemon=True)
    s.start()
    t_start = time.monotonic()
    try:
        barrier.wait(timeout=30)
    except threading.BrokenBarrierError:
        print("  could not start all clients (connect failed?)", file=sys.stderr)
    for t in threads:
        t.join()
    wall = time.monotonic() - t_start
    time.sleep(1.0)  # let the server release what the burst held
    done.set()
    s.join()
    after = rss_mib(pid) or 0.0
    return {"results": results, "before": before, "peak": max(peak[0], after), "after": after, "wall": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the candlelit binary (release build)")
    ap.add_argument("--clients", type=int, default=48, help="requests fired at once")
    ap.add_argument("--megapixels", type=float, default=12.0)
    ap.add_argument("--route", default="/api/v1/segment/selfie?output=json")
    ap.add_argument("--port", type=int, default=3918)
    ap.add_argument("--repeat", type=int, default=3, help="bursts to fire")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, seconds")
    ap.add_argument("--log", default="burst.server.log", help="server log file")
    ap.add_argument("--save-png", help="also write the generated PNG here")
    args = ap.parse_args()

    t0 = time.monotonic()
    png, w, h = make_png(args.megapixels)
    print(f"image {w}x{h} ({w * h / 1e6:.1f} MP, {w * h * 3 / 2**20:.0f} MiB of pixels) as PNG "
          f"{len(png) / 2**20:.1f} MiB, made in {time.monotonic() - t0:.1f} s", flush=True)
    if args.save_png:
        with open(args.save_png, "wb") as f:
            f.write(png)

    print(f"starting {args.bin} on port {args.port} (log: {args.log})", flush=True)
    proc = start_server(args.bin, args.port, args.log)
    try:
        if not wait_ready(proc, args.port, 120.0):
            print("server not ready within 120 s (or it exited); log tail:", file=sys.stderr)
            print(log_tail(args.log), file=sys.stderr)
            return 1
        time.sleep(1.0)
        print(f"ready; idle RSS {rss_mib(proc.pid) or 0:.1f} MiB; route {args.route}; "
              f"{args.clients} clients x {args.repeat} bursts", flush=True)
        for i in range(1, args.repeat + 1):
            r = burst(args.port, args.route, png, args.clients, proc.pid, args.timeout)
            counts: dict[str, int] = {}
            details: dict[str, str] = {}
            for key, _, detail in r["results"]:
                counts[key] = counts.get(key, 0) + 1
                if detail and key not in details:
                    details[key] = detail
            lat = [l for k, l, _ in r["results"] if k == "200"]
            p50, mx = percentile(lat, 0.5), (max(lat) if lat else None)
            order = ["200", "429", "503"]
            statuses = ", ".join(
                f"{k}: {counts.get(k, 0)}" for k in order
            )
            other = {k: v for k, v in counts.items() if k not in order}
            statuses += f", other: {sum(other.values())}"
            if other:
                statuses += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(other.items())) + ")"
            print(f"burst {i}: {statuses}; took {r['wall']:.1f} s")
            if p50 is not None:
                print(f"  latency of 200s: p50 {p50 * 1000:.0f} ms, max {mx * 1000:.0f} ms")
            print(f"  rss before {r['before']:.1f} MiB, peak {r['peak']:.1f} MiB "
                  f"(+{r['peak'] - r['before']:.1f}), after {r['after']:.1f} MiB")
            for k, d in details.items():
                print(f"  {k}: {d}")
            if proc.poll() is not None:
                print(f"server exited with {proc.returncode} during the burst; log tail:", file=sys.stderr)
                print(log_tail(args.log), file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        rc = stop_server(proc)
        print(f"server stopped (exit code {rc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
