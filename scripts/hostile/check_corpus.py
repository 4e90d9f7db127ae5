#!/usr/bin/env python3
"""Checks server/tests/hostile/ after make_corpus.py: manifest shape, files, sizes, that the
cases expected to answer 200 really are decodable images within the server's limits (with
Pillow), that text cases sit on the right side of the 20,000-character limit, and the SSRF
list. Prints the number of cases by category. Exits non-zero on any problem."""

import collections
import email.parser
import email.policy
import io
import json
import os
import sys
import warnings

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_corpus as mc  # noqa: E402

OUT = mc.OUT
Image.MAX_IMAGE_PIXELS = None
warnings.simplefilter("ignore")

STATUSES = {200, 400, 413, 415, 422}
KEYS = {"name", "why", "file", "send", "content_type", "routes", "expect", "category"}
OPTIONAL = {"expect_by_route"}
problems = []


def bad(msg):
    problems.append(msg)


def within_limits(w, h):
    return 0 < w and 0 < h and w * h <= mc.MAX_PIXELS and max(w, h) <= mc.MAX_SIDE \
        and max(w, h) <= mc.MAX_ASPECT * min(w, h)


def pillow_decodes(data, name):
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.format not in ("PNG", "JPEG", "GIF", "WEBP", "BMP"):
                bad("%s: Pillow reads it as %s" % (name, im.format))
            if not within_limits(*im.size):
                bad("%s: expected 200 but %dx%d breaks a limit" % (name, *im.size))
            return im.size
    except Exception as e:  # noqa: BLE001
        bad("%s: expected 200 but Pillow cannot decode it: %s" % (name, e))
        return None


def header_size(data):
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # noqa: BLE001
        return None


def multipart_file(body, ctype):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    for p in msg.iter_parts():
        if p.get_param("name", header="content-disposition") == "file":
            data = p.get_payload(decode=True)
            if data:
                return data
    return None


def main():
    with open(os.path.join(OUT, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    names = collections.Counter(c["name"] for c in cases)
    for n, k in names.items():
        if k > 1:
            bad("duplicate name %s" % n)
    if len(cases) < 80:
        bad("only %d cases" % len(cases))
    referenced = set()
    for c in cases:
        n = c["name"]
        if not KEYS <= set(c) or set(c) - KEYS - OPTIONAL:
            bad("%s: keys %s" % (n, sorted(c)))
            continue
        if c["send"] not in ("image", "body"):
            bad("%s: send %r" % (n, c["send"]))
        if c["routes"] not in ("image", "text", "all"):
            bad("%s: routes %r" % (n, c["routes"]))
        exp = c["expect"]
        if not exp or not set(exp) <= STATUSES:
            bad("%s: expect %r" % (n, exp))
        for route, e in c.get("expect_by_route", {}).items():
            if not e or not set(e) <= STATUSES:
                bad("%s: expect_by_route %s %r" % (n, route, e))
        if c["send"] == "image" and c["routes"] != "image":
            bad("%s: image cases go to image routes" % n)
        path = os.path.join(OUT, c["file"])
        referenced.add(c["file"])
        if not os.path.isfile(path):
            bad("%s: missing file %s" % (n, c["file"]))
            continue
        data = open(path, "rb").read()
        if len(data) > 1 << 20:
            bad("%s: file is %d bytes" % (n, len(data)))

        if c["send"] == "image":
            if exp == [200]:
                pillow_decodes(data, n)
            else:
                size = header_size(data)
                # (Pillow grows a GIF's canvas to fit stray frames; the server uses the screen.)
                if size is not None and not within_limits(*size) and 200 in exp \
                        and not data.startswith(b"GIF"):
                    bad("%s: %dx%d breaks a limit yet 200 is accepted" % (n, *size))
        elif c["content_type"].startswith("multipart/form-data") and exp == [200]:
            f = multipart_file(data, c["content_type"])
            if f is None:
                bad("%s: expected 200 but no non-empty 'file' part parses" % n)
            else:
                pillow_decodes(f, n)
        elif c["category"] == "text" and c["content_type"] == "application/json" and \
                (200 in exp or 413 in exp):
            try:
                obj = json.loads(data.decode("utf-8"))
            except Exception as e:  # noqa: BLE001
                if exp != [400]:
                    bad("%s: expects %r but is not JSON: %s" % (n, exp, e))
                continue
            text = obj.get("text") if isinstance(obj, dict) else None
            if exp == [200]:
                if not isinstance(text, str) or not text.strip() or len(text) > 20000:
                    bad("%s: expected 200 but text is unusable/over the limit" % n)
            if exp == [413] and (not isinstance(text, str) or len(text) <= 20000):
                bad("%s: expected 413 but text has %s chars" % (n, len(text or "")))

    on_disk = set(os.listdir(OUT)) - {"cases.json", "ssrf_urls.txt"}
    for f in sorted(on_disk - referenced):
        bad("orphan file %s" % f)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))

    # The hand-written GIF LZW encoder: the fast all-zero path matches the general one.
    for n in (1, 2, 3, 100, 5000, 70_000, 300_000):
        if mc.lzw_zeros(n, 2) != mc.lzw([0] * n, 2) or mc.lzw_zeros(n, 8) != mc.lzw([0] * n, 8):
            bad("lzw_zeros(%d) differs from lzw" % n)
    with Image.open(os.path.join(OUT, "gif_4000x4000_bomb.gif")) as im:
        if im.size != (4000, 4000) or im.getextrema() != (0, 0):
            bad("gif bomb does not decode to 4000x4000 zeros: %s %s" % (im.size, im.getextrema()))

    urls = [ln.strip() for ln in open(os.path.join(OUT, "ssrf_urls.txt"), encoding="utf-8")
            if ln.strip() and not ln.startswith("#")]
    if len(urls) < 30 or len(set(urls)) != len(urls):
        bad("ssrf_urls.txt: %d lines, %d unique" % (len(urls), len(set(urls))))

    print("cases: %d   files: %d   directory: %d bytes   ssrf urls: %d" % (
        len(cases), len(referenced), total, len(urls)))
    by_cat = collections.Counter(c["category"] for c in cases)
    for cat, k in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        exp = collections.Counter(tuple(c["expect"]) for c in cases if c["category"] == cat)
        print("  %-10s %3d   %s" % (cat, k, ", ".join("%s x%d" % (list(e), m) for e, m in sorted(exp.items()))))
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
