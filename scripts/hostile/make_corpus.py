#!/usr/bin/env python3
"""Generates the hostile-input corpus in server/tests/hostile/: image files, raw request bodies,
cases.json (the manifest the Rust test reads) and ssrf_urls.txt.

Deterministic: the same Python/zlib/Pillow give the same bytes on every run (no timestamps,
no randomness except a fixed-seed PRNG). See scripts/hostile/README.md for the exact venv.

Most hostile files are written by hand with struct/zlib; Pillow makes the ordinary images
(JPEG, WebP, TIFF, ICO, animated GIF) that the hand-written ones are patched from.

Server contract the expectations follow (see README): 200 valid; 400 malformed request;
413 too large (text > 20,000 chars); 415 not JPEG/PNG/WebP/GIF/BMP (sniffed); 422 image
header/pixel problems (> 40,000,000 px, a side > 16384, aspect > 20:1, zero size, corrupt).
"""

import gzip
import io
import json
import os
import random
import shutil
import struct
import sys
import zlib

from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "server", "tests", "hostile")

MAX_PIXELS = 40_000_000
MAX_SIDE = 16384
MAX_ASPECT = 20

CASES = []
_NAMES = set()
_FILES = {}


def add(name, why, data, file, *, send="image", ctype="image/png", routes=None,
        expect=(422,), category, **extra):
    """Records the case; main() writes `data` to server/tests/hostile/<file>."""
    assert name not in _NAMES, name
    assert file not in _FILES, file
    assert isinstance(data, (bytes, bytearray)), name
    assert len(data) <= 1 << 20, (name, len(data))
    assert 500 not in expect and 503 not in expect
    _NAMES.add(name)
    _FILES[file] = bytes(data)
    if routes is None:
        routes = "image"
    case = {
        "name": name,
        "why": why,
        "file": file,
        "send": send,
        "content_type": ctype,
        "routes": routes,
        "expect": sorted(expect),
        "category": category,
    }
    case.update(extra)
    CASES.append(case)


# --------------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------------
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def chunk(ctype, data, crc=None):
    if crc is None:
        crc = zlib.crc32(ctype + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def ihdr(w, h, bd=8, ct=2, interlace=0, compression=0, filt=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bd, ct, compression, filt, interlace))


IEND = chunk(b"IEND", b"")
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def zeros_z(n, level=9):
    """zlib stream of n zero bytes, compressed in pieces (never holds n bytes at once)."""
    c = zlib.compressobj(level)
    out = []
    block = bytes(1 << 20)
    while n > 0:
        k = min(n, len(block))
        out.append(c.compress(block[:k]) if k < len(block) else c.compress(block))
        n -= k
    out.append(c.flush())
    return b"".join(out)


def zero_rows_z(w, h, bd, ct):
    """Compressed IDAT payload for an all-zero non-interlaced image (filter 0 rows)."""
    row = 1 + (w * bd * CHANNELS[ct] + 7) // 8
    return zeros_z(row * h)


def pack_row(samples, bd):
    if bd == 8:
        return bytes(samples)
    if bd == 16:
        return struct.pack(">%dH" % len(samples), *samples)
    out = bytearray()
    acc = 0
    nbits = 0
    for s in samples:
        acc = (acc << bd) | (s & ((1 << bd) - 1))
        nbits += bd
        if nbits == 8:
            out.append(acc)
            acc = nbits = 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(ftype, row, prev, bpp):
    out = bytearray([ftype])
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev is not None else 0
        c = prev[i - bpp] if (prev is not None and i >= bpp) else 0
        if ftype == 0:
            v = x
        elif ftype == 1:
            v = x - a
        elif ftype == 2:
            v = x - b
        elif ftype == 3:
            v = x - ((a + b) >> 1)
        else:
            v = x - _paeth(a, b, c)
        out.append(v & 0xFF)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_raw(w, h, ct, bd, pix, interlace=0, filters=(0,)):
    """Uncompressed scanlines for pixel function pix(x, y) -> tuple of samples."""
    ch = CHANNELS[ct]
    bpp = max(1, ch * bd // 8)
    out = bytearray()
    if interlace:
        passes = ADAM7
    else:
        passes = [(0, 0, 1, 1)]
    for (x0, y0, dx, dy) in passes:
        xs = list(range(x0, w, dx))
        ys = list(range(y0, h, dy))
        if not xs or not ys:
            continue
        prev = None
        for n, y in enumerate(ys):
            samples = []
            for x in xs:
                samples.extend(pix(x, y))
            row = pack_row(samples, bd)
            out += filter_row(filters[n % len(filters)], row, prev, bpp)
            prev = row
    return bytes(out)


def png(w, h, ct=2, bd=8, pix=None, interlace=0, filters=(0,), before_idat=(), after_idat=(),
        idat=None, split=None):
    if pix is None:
        pix = grad_pix(ct, bd, w, h)
    if idat is None:
        idat = zlib.compress(png_raw(w, h, ct, bd, pix, interlace, filters), 9)
    body = PNG_SIG + ihdr(w, h, bd, ct, interlace)
    for c in before_idat:
        body += c
    if split:
        for i in range(0, len(idat), split):
            body += chunk(b"IDAT", idat[i:i + split])
    else:
        body += chunk(b"IDAT", idat)
    for c in after_idat:
        body += c
    return body + IEND


def grad_pix(ct, bd, w, h):
    top = (1 << bd) - 1

    def f(x, y):
        r = (x * top) // max(1, w - 1)
        g = (y * top) // max(1, h - 1)
        b = ((x + y) * top) // max(1, w + h - 2)
        if ct == 0:
            return (r,)
        if ct == 2:
            return (r, g, b)
        if ct == 3:
            return ((x + y) % (1 << min(bd, 8)),)
        if ct == 4:
            return (r, g)
        return (r, g, b, top - ((x * top) // max(1, 2 * w)))
    return f


def plte(n):
    return chunk(b"PLTE", b"".join(bytes([(i * 37) & 255, (i * 91) & 255, (i * 151) & 255])
                                   for i in range(n)))


def png_zeros(w, h, bd, ct):
    """All-zero PNG of bit depth `bd` and colour type `ct`: its IDAT is a zlib bomb."""
    return PNG_SIG + ihdr(w, h, bd, ct) + chunk(b"IDAT", zero_rows_z(w, h, bd, ct)) + IEND


def png_1bit(w, h):
    """All-zero 1-bit grey PNG (tiny even for huge sizes)."""
    return png_zeros(w, h, 1, 0)


# --------------------------------------------------------------------------------------------
# JPEG (Pillow-made, then patched)
# --------------------------------------------------------------------------------------------
def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def grad_img(w, h, mode="RGB"):
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 255) // max(1, w - 1), (y * 255) // max(1, h - 1), ((x ^ y) * 7) & 255)
    if mode != "RGB":
        img = img.convert(mode)
    return img


def jpeg(w, h, mode="RGB", **kw):
    kw.setdefault("quality", 85)
    return pil_bytes(grad_img(w, h, mode), "JPEG", **kw)


SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_segments(data):
    """[(marker, offset, total_len)] for the segments before the first SOS (inclusive)."""
    assert data[:2] == b"\xff\xd8"
    i = 2
    segs = []
    while True:
        assert data[i] == 0xFF, (i, data[i])
        m = data[i + 1]
        (ln,) = struct.unpack(">H", data[i + 2:i + 4])
        segs.append((m, i, ln + 2))
        if m == 0xDA:
            return segs
        i += 2 + ln


def find_seg(data, markers):
    for m, off, ln in jpeg_segments(data):
        if m in markers:
            return off, ln
    raise KeyError(markers)


def patch_sof(data, w=None, h=None, marker=None, precision=None):
    off, _ = find_seg(data, SOF_MARKERS)
    b = bytearray(data)
    if marker is not None:
        b[off + 1] = marker
    if precision is not None:
        b[off + 4] = precision
    if h is not None:
        b[off + 5:off + 7] = struct.pack(">H", h)
    if w is not None:
        b[off + 7:off + 9] = struct.pack(">H", w)
    return bytes(b)


def jpeg_scans(data):
    """(header up to first SOS, [scan group: the DHT/DQT/DRI segments before one SOS, the SOS
    and its entropy-coded data], tail)."""
    segs = jpeg_segments(data)
    m, off, ln = segs[-1]
    header = data[:off]
    scans = []
    pending = b""
    i = off
    n = len(data)
    while i < n:
        assert data[i] == 0xFF
        m = data[i + 1]
        if m == 0xD9:
            return header, scans, data[i:]
        (ln,) = struct.unpack(">H", data[i + 2:i + 4])
        j = i + 2 + ln
        if m == 0xDA:
            while True:
                if data[j] == 0xFF and data[j + 1] != 0 and not (0xD0 <= data[j + 1] <= 0xD7):
                    break
                j += 1
            scans.append(pending + data[i:j])
            pending = b""
        else:
            pending += data[i:j]  # tables for the next scan
        i = j
    return header, scans, b""


# --------------------------------------------------------------------------------------------
# GIF (hand-written, with an LZW encoder)
# --------------------------------------------------------------------------------------------
class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, code, size):
        self.acc |= code << self.n
        self.n += size
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def done(self):
        if self.n:
            self.out.append(self.acc & 0xFF)
        return bytes(self.out)


class LzwOut:
    """Code emission shared by both encoders; giflib's rules for width changes and clears."""

    def __init__(self, min_size):
        self.min = min_size
        self.clear = 1 << min_size
        self.eoi = self.clear + 1
        self.bw = BitWriter()
        self.reset()
        self.emit(self.clear)

    def reset(self):
        self.size = self.min + 1
        self.next = self.eoi + 1

    def emit(self, code):
        self.bw.write(code, self.size)
        if self.next >= (1 << self.size) and self.size < 12:
            self.size += 1

    def add(self):
        """Adds one table entry; returns its code, or None when the table was cleared."""
        if self.next >= 4095:
            self.emit(self.clear)
            self.reset()
            return None
        c = self.next
        self.next += 1
        return c

    def finish(self, prefix):
        if prefix is not None:
            self.emit(prefix)
        self.emit(self.eoi)
        return self.bw.done()


def lzw(indices, min_size):
    o = LzwOut(min_size)
    table = {}
    prefix = None
    for k in indices:
        if prefix is None:
            prefix = k
            continue
        key = (prefix, k)
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        o.emit(prefix)
        c = o.add()
        if c is None:
            table = {}
        else:
            table[key] = c
        prefix = k
    return o.finish(prefix)


def lzw_zeros(n, min_size):
    """Same output as lzw([0] * n, min_size), computed per code instead of per pixel."""
    o = LzwOut(min_size)
    runs = [None, 0]  # runs[L] = code for a run of L zeros
    pos = 0
    while pos < n:
        longest = len(runs) - 1
        take = min(longest, n - pos)
        pos += take
        if pos >= n:
            return o.finish(runs[take])
        o.emit(runs[take])
        c = o.add()
        if c is None:
            runs = [None, 0]
        else:
            runs.append(c)
    return o.finish(None)


def sub_blocks(data):
    out = bytearray()
    for i in range(0, len(data), 255):
        part = data[i:i + 255]
        out.append(len(part))
        out += part
    out.append(0)
    return bytes(out)


def gif_palette(n_bits):
    n = 1 << n_bits
    return b"".join(bytes([(i * 255) // (n - 1), (i * 97) & 255, 255 - (i * 255) // (n - 1)])
                    for i in range(n))


def gif(screen_w, screen_h, frames, version=b"GIF89a", gct_bits=2, loop=False):
    """frames: list of dicts with w, h, left, top, data (LZW bytes, already encoded),
    min_size, interlace, lct_bits, gce (bytes or None)."""
    out = bytearray(version)
    packed = 0x80 | (7 << 4) | (gct_bits - 1) if gct_bits else 0x70
    out += struct.pack("<HHBBB", screen_w, screen_h, packed, 0, 0)
    if gct_bits:
        out += gif_palette(gct_bits)
    if loop:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for f in frames:
        if f.get("gce") is not None:
            out += f["gce"]
        p = 0
        if f.get("lct_bits"):
            p |= 0x80 | (f["lct_bits"] - 1)
        if f.get("interlace"):
            p |= 0x40
        out += b"\x2c" + struct.pack("<HHHHB", f.get("left", 0), f.get("top", 0), f["w"], f["h"], p)
        if f.get("lct_bits"):
            out += gif_palette(f["lct_bits"])[::-1]
        out.append(f["min_size"])
        out += sub_blocks(f["data"])
    out += b"\x3b"
    return bytes(out)


def gce(delay=10, transparent=None):
    flags = 0
    ti = 0
    if transparent is not None:
        flags |= 1
        ti = transparent
    return b"\x21\xf9\x04" + struct.pack("<BHB", flags | (1 << 2), delay, ti) + b"\x00"


def gif_frame(w, h, pix, min_size=2, **kw):
    idx = [pix(x, y) for y in range(h) for x in range(w)]
    return dict(w=w, h=h, data=lzw(idx, min_size), min_size=min_size, **kw)


def gif_simple(w, h, **kw):
    return gif(w, h, [gif_frame(w, h, lambda x, y: (x + 2 * y) % 4)], **kw)


def interlace_rows(h):
    rows = []
    for start, step in ((0, 8), (4, 8), (2, 4), (1, 2)):
        rows.extend(range(start, h, step))
    return rows


# --------------------------------------------------------------------------------------------
# BMP (hand-written)
# --------------------------------------------------------------------------------------------
def bmp_info(w, h, bpp, compression=0, image_size=0, clr_used=0, size=40):
    return struct.pack("<IiiHHIIiiII", size, w, h, 1, bpp, compression, image_size,
                       2835, 2835, clr_used, 0)


def bmp_file(info, palette, pixels, offset=None, file_size=None):
    if offset is None:
        offset = 14 + len(info) + len(palette)
    total = offset + len(pixels)
    if file_size is None:
        file_size = total
    head = b"BM" + struct.pack("<IHHI", file_size, 0, 0, offset)
    return head + info + palette + pixels


def bmp_palette(n):
    return b"".join(bytes([(i * 151) & 255, (i * 91) & 255, (i * 37) & 255, 0]) for i in range(n))


def bmp_rows(w, h, bpp, pixfn, top_down=False):
    """pixfn(x, y) -> bytes for 24/32 bpp, or an int index/value for 1/4/8/16."""
    stride = ((w * bpp + 31) // 32) * 4
    out = bytearray()
    ys = range(h) if top_down else range(h - 1, -1, -1)
    for y in ys:
        if bpp in (24, 32):
            row = b"".join(pixfn(x, y) for x in range(w))
        elif bpp == 16:
            row = b"".join(struct.pack("<H", pixfn(x, y)) for x in range(w))
        else:
            row = pack_row([pixfn(x, y) for x in range(w)], bpp)
        out += row + bytes(stride - len(row))
    return bytes(out)


def bmp24(w, h, top_down=False):
    px = bmp_rows(w, h, 24, lambda x, y: bytes([(x * 40) & 255, (y * 40) & 255, ((x + y) * 20) & 255]),
                  top_down)
    return bmp_file(bmp_info(w, -h if top_down else h, 24, image_size=len(px)), b"", px)


def bmp_v4_32_alpha(w, h):
    px = bmp_rows(w, h, 32, lambda x, y: bytes([(x * 30) & 255, (y * 30) & 255, 128, (x * 255) // max(1, w - 1)]))
    info = struct.pack("<IiiHHIIiiII", 108, w, h, 1, 32, 3, len(px), 2835, 2835, 0, 0)
    info += struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    info += struct.pack("<I", 0x73524742) + bytes(36) + bytes(12)
    return bmp_file(info, b"", px)


def bmp_565(w, h):
    px = bmp_rows(w, h, 16, lambda x, y: ((x * 4 & 31) << 11) | ((y * 8 & 63) << 5) | ((x + y) & 31))
    info = bmp_info(w, h, 16, compression=3, image_size=len(px)) + struct.pack("<III", 0xF800, 0x07E0, 0x001F)
    return bmp_file(info, b"", px)


def bmp_indexed(w, h, bpp):
    n = 1 << bpp
    px = bmp_rows(w, h, bpp, lambda x, y: (x + y) % n)
    return bmp_file(bmp_info(w, h, bpp, image_size=len(px), clr_used=n), bmp_palette(n), px)


def bmp_rle8(w, h, data, clr=256):
    return bmp_file(bmp_info(w, h, 8, compression=1, image_size=len(data), clr_used=clr),
                    bmp_palette(clr), data)


def bmp_rle4(w, h, data):
    return bmp_file(bmp_info(w, h, 4, compression=2, image_size=len(data), clr_used=16),
                    bmp_palette(16), data)


def rle8_rows(w, h, colour_of_row):
    out = bytearray()
    for y in range(h):
        left = w
        while left:
            n = min(255, left)
            out += bytes([n, colour_of_row(y)])
            left -= n
        out += b"\x00\x00"
    out += b"\x00\x01"
    return bytes(out)


# --------------------------------------------------------------------------------------------
# WebP
# --------------------------------------------------------------------------------------------
def riff_webp(chunks, size=None):
    body = b"WEBP" + b"".join(chunks)
    if size is None:
        size = len(body)
    return b"RIFF" + struct.pack("<I", size) + body


def riff_chunk(fourcc, data):
    pad = b"\x00" if len(data) % 2 else b""
    return fourcc + struct.pack("<I", len(data)) + data + pad


def vp8l_header(w, h, alpha=0):
    bits = (w - 1) | ((h - 1) << 14) | (alpha << 28)
    return b"\x2f" + struct.pack("<I", bits)


def webp_chunks(data):
    """[(fourcc, offset of payload, length)] of a RIFF WEBP file."""
    i = 12
    out = []
    while i + 8 <= len(data):
        fourcc = data[i:i + 4]
        (ln,) = struct.unpack("<I", data[i + 4:i + 8])
        out.append((fourcc, i + 8, ln))
        i += 8 + ln + (ln & 1)
    return out


def patch_vp8_dims(data, w, h):
    """Rewrites the 14-bit width/height of the first VP8 (lossy) chunk."""
    for fourcc, off, ln in webp_chunks(data):
        if fourcc == b"VP8 ":
            assert data[off + 3:off + 6] == b"\x9d\x01\x2a"
            b = bytearray(data)
            b[off + 6:off + 8] = struct.pack("<H", w & 0x3FFF)
            b[off + 8:off + 10] = struct.pack("<H", h & 0x3FFF)
            return bytes(b)
    raise KeyError("VP8")


# --------------------------------------------------------------------------------------------
# Multipart helpers
# --------------------------------------------------------------------------------------------
def part(name, data, filename=None, ctype=None, extra=()):
    cd = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
    if filename is not None:
        cd += b'; filename="' + (filename.encode() if isinstance(filename, str) else filename) + b'"'
    headers = [cd]
    if ctype:
        headers.append(b"Content-Type: " + ctype.encode())
    headers.extend(extra)
    return headers, data


def multipart(parts, boundary, close=True, nl=b"\r\n", preamble=b"", epilogue=b""):
    b = boundary.encode() if isinstance(boundary, str) else boundary
    out = bytearray(preamble)
    for headers, data in parts:
        out += b"--" + b + nl
        for h in headers:
            out += h + nl
        out += nl + data + nl
    if close:
        out += b"--" + b + b"--" + nl
    out += epilogue
    return bytes(out)


def mp_ctype(boundary):
    return "multipart/form-data; boundary=" + boundary


def tjson(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def lengths(**kw):
    """Summary lengths under both spellings: the server reads min_tokens/max_tokens today;
    min_length/max_length are what some clients send. Unknown keys are ignored."""
    out = {}
    if "min" in kw:
        out["min_tokens"] = kw["min"]
        out["min_length"] = kw["min"]
    if "max" in kw:
        out["max_tokens"] = kw["max"]
        out["max_length"] = kw["max"]
    return out


# ============================================================================================
# The corpus
# ============================================================================================
def build():
    # The cases below repeat one add(...) shape on purpose: each is a row of the corpus table
    # (cases.json), its name, reason, bytes and expectation side by side; a loop over sizes would
    # hide which boundary each case pins.
    rng = random.Random(20240601)

    # ---------------- small valid images reused below ----------------
    png8 = png(8, 8)
    jpg64 = jpeg(64, 48)
    webp_lossy = pil_bytes(grad_img(64, 48), "WEBP", quality=80, method=4)
    webp_lossless = pil_bytes(grad_img(64, 48), "WEBP", lossless=True, method=4)

    # =========================== bombs ===========================
    add("png-6324x6324-zeros-within-cap",
        "Grey zlib bomb: 39 KB inflating to 39,992,976 pixels, inside the input limits (a route that "
        "answers an image at the upload's size may refuse it: over the 24,000,000-pixel output cap).",
        png_zeros(6324, 6324, 8, 0),
        "png_6324x6324_bomb.png", expect=[200, 422], category="bomb")
    add("png-4898x4898-zeros-within-every-cap",
        "Grey zlib bomb: 23 KB inflating to 23,990,404 pixels, inside the input and output limits.",
        png_zeros(4898, 4898, 8, 0),
        "png_4898x4898_bomb.png", expect=[200], category="bomb")
    add("png-6325x6325-zeros-over-cap",
        "Grey zlib bomb of 40,005,625 pixels, just over the 40,000,000 cap: refuse from the header.",
        png_zeros(6325, 6325, 8, 0),
        "png_6325x6325_bomb.png", category="bomb")
    add("png-65535x65535-tiny-idat",
        "Declares 4.3 gigapixels with a 20-byte IDAT: refuse from the header before allocating.",
        PNG_SIG + ihdr(65535, 65535, 8, 6) + chunk(b"IDAT", zeros_z(4096)) + IEND,
        "png_65535x65535_tiny.png", category="bomb")
    add("png-1x1-idat-zlib-bomb",
        "A 1x1 PNG whose IDAT inflates to 20 MB: the decoder must stop after the 4 bytes it needs.",
        PNG_SIG + ihdr(1, 1, 8, 2) + chunk(b"IDAT", zeros_z(20_000_000)) + IEND,
        "png_1x1_idat_bomb.png", expect=[200, 422], category="bomb")
    add("png-ztxt-bomb",
        "Valid 8x8 PNG with a zTXt chunk inflating to 20 MB of text.",
        png(8, 8, before_idat=[chunk(b"zTXt", b"Comment\x00\x00" + zeros_z(20_000_000))]),
        "png_ztxt_bomb.png", expect=[200, 422], category="bomb")
    add("png-iccp-bomb",
        "Valid 8x8 PNG with an iCCP profile inflating to 20 MB.",
        png(8, 8, before_idat=[chunk(b"iCCP", b"icc\x00\x00" + zeros_z(20_000_000))]),
        "png_iccp_bomb.png", expect=[200, 422], category="bomb")
    many = b"".join(chunk(b"tEXt", b"k\x00" + b"v" * (i % 7)) for i in range(3000))
    add("png-3000-text-chunks",
        "Valid 8x8 PNG with 3,000 tEXt chunks before IDAT (chunk-count bomb).",
        png(8, 8, before_idat=[many]), "png_many_text_chunks.png", expect=[200, 422], category="bomb")

    frame = dict(w=4000, h=4000, data=lzw_zeros(4000 * 4000, 2), min_size=2)
    add("gif-65535x65535-screen-lzw-frame",
        "GIF logical screen of 65535x65535 with a 4000x4000 LZW frame of zeros: over the pixel cap.",
        gif(65535, 65535, [frame]), "gif_65535x65535_screen.gif", ctype="image/gif", category="bomb")
    add("gif-4000x4000-lzw-zeros-within-cap",
        "GIF LZW bomb: 11 KB inflating to a 16,000,000-pixel frame, inside every limit.",
        gif(4000, 4000, [frame]), "gif_4000x4000_bomb.gif", ctype="image/gif", expect=[200],
        category="bomb")
    add("gif-8x8-screen-4000x4000-frame",
        "A 4000x4000 LZW frame on an 8x8 logical screen: the frame must be clipped or refused.",
        gif(8, 8, [frame]), "gif_frame_bigger_than_screen.gif", ctype="image/gif",
        expect=[200, 422], category="bomb")
    add("gif-300-frames-8x8",
        "An 8x8 animation of 300 frames (frame-count bomb; only the first frame is needed).",
        gif(8, 8, [dict(gif_frame(8, 8, lambda x, y, i=i: (x + y + i) % 4), gce=gce(1)) for i in range(300)],
            loop=True),
        "gif_300_frames.gif", ctype="image/gif", expect=[200, 422], category="bomb")

    add("webp-vp8l-16383x16383",
        "Lossless WebP (VP8L) header declaring 16383x16383 = 268 megapixels with a few data bytes.",
        riff_webp([riff_chunk(b"VP8L", vp8l_header(16383, 16383) + bytes(64))]),
        "webp_vp8l_16383x16383.webp", ctype="image/webp", category="bomb")
    add("webp-vp8-16383x16383",
        "Lossy WebP (VP8) keyframe patched to declare 16383x16383.",
        patch_vp8_dims(webp_lossy, 16383, 16383), "webp_vp8_16383x16383.webp", ctype="image/webp",
        category="bomb")
    (fourcc, offv, lnv), = [c for c in webp_chunks(webp_lossy) if c[0] == b"VP8 "]
    vp8_chunk = riff_chunk(b"VP8 ", webp_lossy[offv:offv + lnv])
    vp8x = b"\x00\x00\x00\x00" + (16777215).to_bytes(3, "little") * 2
    add("webp-vp8x-canvas-16777216x16777216",
        "Extended WebP (VP8X) whose canvas is the 24-bit maximum, 16777216x16777216, around a 64x48 frame.",
        riff_webp([riff_chunk(b"VP8X", vp8x), vp8_chunk]), "webp_vp8x_huge_canvas.webp",
        ctype="image/webp", category="bomb")
    add("webp-lossless-4000x4000-flat-within-cap",
        "Lossless WebP of one colour: a few hundred bytes decoding to 16,000,000 pixels, inside the limits.",
        pil_bytes(Image.new("RGB", (4000, 4000), (10, 200, 30)), "WEBP", lossless=True, method=4),
        "webp_4000x4000_flat.webp", ctype="image/webp", expect=[200], category="bomb")

    add("jpeg-65500x65500-little-data",
        "JPEG whose SOF declares 65500x65500 (4.3 gigapixels) over 2 KB of scan data.",
        patch_sof(jpg64, 65500, 65500), "jpeg_65500x65500.jpg", ctype="image/jpeg", category="bomb")
    add("jpeg-6000x6000-little-data",
        "JPEG declaring 6000x6000 (inside the cap) with scan data for only 64x48: truncated, may pad.",
        patch_sof(jpg64, 6000, 6000), "jpeg_6000x6000_little_data.jpg", ctype="image/jpeg",
        expect=[200, 422], category="bomb")
    prog = pil_bytes(Image.new("L", (2048, 2048), 128), "JPEG", quality=75, progressive=True)
    header, scans, tail = jpeg_scans(prog)
    small = [s for s in scans[1:] if len(s) < 200]
    assert small, [len(s) for s in scans]
    many_scans = header + scans[0] + b"".join(small * (1000 // len(small) + 1))[:] + b"\xff\xd9"
    add("jpeg-progressive-2048x2048-1000-scans",
        "Progressive 2048x2048 JPEG whose cheap AC scans are repeated to ~1,000 scans (CPU bomb: refused, over the 100-scan limit).",
        many_scans, "jpeg_progressive_many_scans.jpg", ctype="image/jpeg", expect=[422],
        category="bomb")

    add("bmp-65535x65535-truncated-pixels",
        "24-bit BMP declaring 65535x65535 with 64 bytes of pixel data.",
        bmp_file(bmp_info(65535, 65535, 24), b"", bytes(64)), "bmp_65535x65535.bmp",
        ctype="image/bmp", category="bomb")
    add("bmp-6000x6000-truncated-pixels",
        "24-bit BMP declaring 6000x6000 (inside the cap) with 64 bytes of its 108 MB pixel array.",
        bmp_file(bmp_info(6000, 6000, 24), b"", bytes(64)), "bmp_6000x6000_truncated.bmp",
        ctype="image/bmp", expect=[200, 422], category="bomb")
    add("bmp-rle8-6000x6000-eob-bomb",
        "RLE8 BMP of 6000x6000 whose pixel data is only end-of-bitmap: 1 KB decoding to 36,000,000 black pixels.",
        bmp_rle8(6000, 6000, b"\x00\x01"), "bmp_rle8_6000x6000_eob.bmp", ctype="image/bmp",
        expect=[200, 422], category="bomb")
    add("bmp-rle8-10000x10000-eob-bomb",
        "RLE8 BMP declaring 10000x10000 (over the cap) with just end-of-bitmap.",
        bmp_rle8(10000, 10000, b"\x00\x01"), "bmp_rle8_10000x10000_eob.bmp", ctype="image/bmp",
        category="bomb")
    add("bmp-rle8-1500x1500-runs",
        "RLE8 BMP of 1500x1500 fully covered by 255-pixel runs: 21 KB to 2,250,000 pixels, valid.",
        bmp_rle8(1500, 1500, rle8_rows(1500, 1500, lambda y: y % 256)), "bmp_rle8_1500x1500_runs.bmp",
        ctype="image/bmp", expect=[200], category="bomb")
    deltas = b"\x00\x02\xff\xff" * 600 + b"\x00\x01"
    add("bmp-rle8-delta-bomb",
        "RLE8 BMP of 6000x6000 made of 600 maximal delta escapes (skip 255x255 each) that run off the image.",
        bmp_rle8(6000, 6000, deltas), "bmp_rle8_delta_bomb.bmp", ctype="image/bmp",
        expect=[200, 422], category="bomb")
    add("bmp-rle4-6000x6000-eob-bomb",
        "RLE4 BMP of 6000x6000 whose pixel data is only end-of-bitmap.",
        bmp_rle4(6000, 6000, b"\x00\x01"), "bmp_rle4_6000x6000_eob.bmp", ctype="image/bmp",
        expect=[200, 422], category="bomb")
    add("bmp-rle8-runs-past-row-end",
        "RLE8 BMP of 16x16 whose runs are 255 pixels long, overflowing every row.",
        bmp_rle8(16, 16, (b"\xff\x07" + b"\x00\x00") * 16 + b"\x00\x01"), "bmp_rle8_overflow.bmp",
        ctype="image/bmp", expect=[200, 422], category="bomb")

    # =========================== limits (exact boundaries) ===========================
    add("png-8000x5000-exactly-40000000-pixels",
        "1-bit PNG of exactly 40,000,000 pixels (8000x5000): at the input cap, valid (422 allowed only "
        "where the route answers an image at the upload's size, over the 24,000,000-pixel output cap).",
        png_1bit(8000, 5000), "png_8000x5000_cap.png", expect=[200, 422], category="limits")
    add("png-8000x5001-one-row-over-cap",
        "1-bit PNG of 40,008,000 pixels: one row over the cap.",
        png_1bit(8000, 5001), "png_8000x5001_over_cap.png", category="limits")
    add("png-16384x1024-side-at-limit",
        "1-bit PNG 16384 px wide (the longest side allowed) with aspect 16:1: valid.",
        png_1bit(16384, 1024), "png_16384x1024.png", expect=[200], category="limits")
    add("png-16385x1024-side-over-limit",
        "1-bit PNG 16385 px wide: one pixel over the side limit (aspect and pixel count fine).",
        png_1bit(16385, 1024), "png_16385x1024.png", category="limits")
    add("png-1024x16385-side-over-limit",
        "1-bit PNG 16385 px tall: one pixel over the side limit.",
        png_1bit(1024, 16385), "png_1024x16385.png", category="limits")
    add("jpeg-16385x1024-header",
        "JPEG whose SOF declares 16385x1024: over the side limit, refused from the header.",
        patch_sof(jpg64, 16385, 1024), "jpeg_16385x1024.jpg", ctype="image/jpeg", category="limits")
    add("png-2147483647x1-header",
        "PNG IHDR with the largest legal width, 2^31-1.",
        PNG_SIG + ihdr(2147483647, 1, 8, 0) + chunk(b"IDAT", zeros_z(100)) + IEND,
        "png_2147483647x1.png", category="limits")
    add("png-width-2pow31-illegal",
        "PNG IHDR width 2^31, beyond what the PNG spec allows.",
        PNG_SIG + ihdr(2147483648, 1, 8, 0) + chunk(b"IDAT", zeros_z(100)) + IEND,
        "png_width_2pow31.png", category="limits")
    add("png-4294967295x4294967295-header",
        "PNG IHDR with both sides 0xFFFFFFFF (pixel count overflows 64-bit w*h*channels*depth math).",
        PNG_SIG + ihdr(0xFFFFFFFF, 0xFFFFFFFF, 16, 6) + chunk(b"IDAT", zeros_z(100)) + IEND,
        "png_u32max.png", category="limits")

    # =========================== aspect ratios ===========================
    add("png-40000000x1-bomb",
        "RGB PNG 40,000,000x1 (at the pixel cap) whose 117 KB IDAT inflates to 120 MB: side and aspect over.",
        png_zeros(40_000_000, 1, 8, 2),
        "png_40000000x1.png", category="aspect")
    add("png-1x40000000-bomb",
        "Grey PNG 1x40,000,000 whose IDAT inflates to 80 MB of rows.",
        png_zeros(1, 40_000_000, 8, 0),
        "png_1x40000000.png", category="aspect")
    add("png-4000000x10-bomb",
        "Grey PNG 4,000,000x10 (aspect 400,000:1) with 40 MB of zeros in IDAT.",
        png_zeros(4_000_000, 10, 8, 0),
        "png_4000000x10.png", category="aspect")
    add("png-10x4000000-bomb",
        "Grey PNG 10x4,000,000 with 44 MB of zero rows in IDAT.",
        png_zeros(10, 4_000_000, 8, 0),
        "png_10x4000000.png", category="aspect")
    add("png-16384x1", "Valid 1-bit PNG 16384x1: side at the limit but aspect 16384:1.",
        png_1bit(16384, 1), "png_16384x1.png", category="aspect")
    add("png-1x16384", "Valid 1-bit PNG 1x16384: side at the limit but aspect 1:16384.",
        png_1bit(1, 16384), "png_1x16384.png", category="aspect")
    add("png-21x1", "Valid RGB PNG 21x1: aspect 21:1, just over 20:1.", png(21, 1), "png_21x1.png",
        category="aspect")
    add("png-1x21", "Valid RGB PNG 1x21: aspect 1:21.", png(1, 21), "png_1x21.png", category="aspect")
    add("png-20x1", "Valid RGB PNG 20x1: aspect exactly 20:1, allowed.", png(20, 1), "png_20x1.png",
        expect=[200], category="aspect")
    add("png-1x20", "Valid RGB PNG 1x20: aspect exactly 1:20, allowed.", png(1, 20), "png_1x20.png",
        expect=[200], category="aspect")
    add("png-41x2", "Valid RGB PNG 41x2: aspect 20.5:1 (rounding must not let it through).",
        png(41, 2), "png_41x2.png", category="aspect")
    add("png-40x2", "Valid RGB PNG 40x2: aspect exactly 20:1, allowed.", png(40, 2), "png_40x2.png",
        expect=[200], category="aspect")
    add("png-16000x800", "Valid 1-bit PNG 16000x800: aspect exactly 20:1 at a large size, allowed.",
        png_1bit(16000, 800), "png_16000x800.png", expect=[200], category="aspect")
    add("png-16001x800", "Valid 1-bit PNG 16001x800: aspect 20.00125:1, just over.",
        png_1bit(16001, 800), "png_16001x800.png", category="aspect")
    add("jpeg-21x1", "Valid JPEG 21x1: aspect just over 20:1.", jpeg(21, 1), "jpeg_21x1.jpg",
        ctype="image/jpeg", category="aspect")
    add("jpeg-20x1", "Valid JPEG 20x1: aspect exactly 20:1, allowed.", jpeg(20, 1), "jpeg_20x1.jpg",
        ctype="image/jpeg", expect=[200], category="aspect")
    add("jpeg-16384x1-header", "JPEG whose SOF is patched to 16384x1.", patch_sof(jpg64, 16384, 1),
        "jpeg_16384x1.jpg", ctype="image/jpeg", category="aspect")
    add("gif-21x1", "Valid GIF 21x1: aspect just over 20:1.", gif_simple(21, 1), "gif_21x1.gif",
        ctype="image/gif", category="aspect")
    add("gif-1x20", "Valid GIF 1x20: aspect exactly 1:20, allowed.", gif_simple(1, 20), "gif_1x20.gif",
        ctype="image/gif", expect=[200], category="aspect")
    add("gif-1x16384", "Valid GIF 1x16384 (one column).", gif_simple(1, 16384), "gif_1x16384.gif",
        ctype="image/gif", category="aspect")
    add("webp-1x21", "Valid lossless WebP 1x21.", pil_bytes(grad_img(1, 21), "WEBP", lossless=True),
        "webp_1x21.webp", ctype="image/webp", category="aspect")
    add("webp-20x1", "Valid lossy WebP 20x1: aspect exactly 20:1, allowed.",
        pil_bytes(grad_img(20, 1), "WEBP", quality=80), "webp_20x1.webp", ctype="image/webp",
        expect=[200], category="aspect")
    add("bmp-21x1", "Valid 24-bit BMP 21x1.", bmp24(21, 1), "bmp_21x1.bmp", ctype="image/bmp",
        category="aspect")
    add("bmp-20x1", "Valid 24-bit BMP 20x1: aspect exactly 20:1, allowed.", bmp24(20, 1), "bmp_20x1.bmp",
        ctype="image/bmp", expect=[200], category="aspect")
    add("bmp-40000000x1-header", "BMP header declaring 40,000,000x1 with 12 bytes of pixels.",
        bmp_file(bmp_info(40_000_000, 1, 24), b"", bytes(12)), "bmp_40000000x1.bmp",
        ctype="image/bmp", category="aspect")

    # =========================== huge declared sizes, header only ===========================
    add("png-65535x65535-header-only", "PNG signature + IHDR 65535x65535 + IEND, no IDAT at all.",
        PNG_SIG + ihdr(65535, 65535, 8, 2) + IEND, "png_65535x65535_header.png", category="huge-dims")
    add("jpeg-65535x65535-header-only", "JPEG cut right after an SOF declaring 65535x65535 (no DHT, no scan).",
        (lambda d: d[:sum(find_seg(d, SOF_MARKERS))])(patch_sof(jpg64, 65535, 65535)),
        "jpeg_65535x65535_header.jpg", ctype="image/jpeg", category="huge-dims")
    add("gif-65535x65535-header-only", "GIF header and logical screen 65535x65535, then the trailer.",
        b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0) + bytes(6) + b"\x3b",
        "gif_65535x65535_header.gif", ctype="image/gif", category="huge-dims")
    add("bmp-height-i32-min", "BMP height -2^31 (top-down; negating it overflows i32).",
        bmp_file(bmp_info(8, -2147483648, 24), b"", bytes(96)), "bmp_height_i32min.bmp",
        ctype="image/bmp", category="huge-dims")
    add("bmp-width-negative", "BMP width -8 (width must be positive).",
        bmp_file(bmp_info(-8, 8, 24), b"", bytes(192)), "bmp_width_negative.bmp", ctype="image/bmp",
        category="huge-dims")
    add("bmp-2147483647x2147483647", "BMP declaring i32::MAX on both sides (row stride math overflows).",
        bmp_file(bmp_info(2147483647, 2147483647, 32), b"", bytes(64)), "bmp_i32max.bmp",
        ctype="image/bmp", category="huge-dims")

    # =========================== zero dimensions ===========================
    add("png-0x0", "PNG IHDR 0x0 (illegal).", PNG_SIG + ihdr(0, 0, 8, 2) + chunk(b"IDAT", zeros_z(1)) + IEND,
        "png_0x0.png", category="zero-dims")
    add("png-0x10", "PNG IHDR width 0.", PNG_SIG + ihdr(0, 10, 8, 2) + chunk(b"IDAT", zeros_z(10)) + IEND,
        "png_0x10.png", category="zero-dims")
    add("png-10x0", "PNG IHDR height 0.", PNG_SIG + ihdr(10, 0, 8, 2) + chunk(b"IDAT", zeros_z(1)) + IEND,
        "png_10x0.png", category="zero-dims")
    add("jpeg-height-0", "JPEG SOF with height 0 (would need a DNL marker).", patch_sof(jpg64, 64, 0),
        "jpeg_height0.jpg", ctype="image/jpeg", category="zero-dims")
    add("jpeg-width-0", "JPEG SOF with width 0.", patch_sof(jpg64, 0, 48), "jpeg_width0.jpg",
        ctype="image/jpeg", category="zero-dims")
    add("gif-0x0-screen", "GIF logical screen 0x0 around an 8x8 frame.",
        gif(0, 0, [gif_frame(8, 8, lambda x, y: 1)]), "gif_0x0_screen.gif", ctype="image/gif",
        category="zero-dims")
    add("gif-0x0-frame", "GIF 8x8 screen whose only frame is 0x0.",
        gif(8, 8, [dict(w=0, h=0, data=lzw([], 2), min_size=2)]), "gif_0x0_frame.gif",
        ctype="image/gif", expect=[200, 422], category="zero-dims")
    add("webp-vp8-0x0", "Lossy WebP with its VP8 frame size patched to 0x0.",
        patch_vp8_dims(webp_lossy, 0, 0), "webp_vp8_0x0.webp", ctype="image/webp", category="zero-dims")
    add("bmp-0x0", "BMP 0x0.", bmp_file(bmp_info(0, 0, 24), b"", b""), "bmp_0x0.bmp", ctype="image/bmp",
        category="zero-dims")
    add("bmp-8x0", "BMP height 0.", bmp_file(bmp_info(8, 0, 24), b"", bytes(32)), "bmp_8x0.bmp",
        ctype="image/bmp", category="zero-dims")

    # =========================== truncated ===========================
    png_big = png(64, 64)
    idat_at = png_big.index(b"IDAT")
    add("png-cut-4", "PNG cut after 4 bytes, inside the signature.", png_big[:4], "png_cut4.png",
        expect=[415, 422], category="truncated")
    add("png-cut-20", "PNG cut inside IHDR.", png_big[:20], "png_cut20.png", category="truncated")
    add("png-cut-mid-idat", "PNG cut halfway through IDAT.", png_big[:idat_at + (len(png_big) - idat_at) // 2],
        "png_cut_mid_idat.png", expect=[200, 422], category="truncated")
    add("png-no-iend", "Complete PNG without its IEND chunk.", png_big[:-12], "png_no_iend.png",
        expect=[200, 422], category="truncated")
    jpg_big = jpeg(128, 96)
    sos_off, sos_len = find_seg(jpg_big, {0xDA})
    add("jpeg-cut-3", "JPEG cut after SOI + the first marker byte (just the 3-byte magic).",
        jpg_big[:3], "jpeg_cut3.jpg", ctype="image/jpeg", expect=[415, 422], category="truncated")
    add("jpeg-cut-mid-header", "JPEG cut inside its quantisation tables.", jpg_big[:40],
        "jpeg_cut_header.jpg", ctype="image/jpeg", category="truncated")
    add("jpeg-cut-mid-scan", "JPEG cut halfway through the entropy-coded scan.",
        jpg_big[:sos_off + sos_len + (len(jpg_big) - sos_off - sos_len) // 2], "jpeg_cut_scan.jpg",
        ctype="image/jpeg", expect=[200, 422], category="truncated")
    add("jpeg-no-eoi", "Complete JPEG without the EOI marker.", jpg_big[:-2], "jpeg_no_eoi.jpg",
        ctype="image/jpeg", expect=[200, 422], category="truncated")
    gif_big = gif_simple(64, 64)
    add("gif-cut-6", "GIF cut after the 6-byte signature.", gif_big[:6], "gif_cut6.gif", ctype="image/gif",
        category="truncated")
    add("gif-cut-mid-lzw", "GIF cut halfway through the LZW data.", gif_big[:len(gif_big) // 2],
        "gif_cut_lzw.gif", ctype="image/gif", expect=[200, 422], category="truncated")
    add("gif-no-trailer", "Complete GIF without the 0x3B trailer.", gif_big[:-1], "gif_no_trailer.gif",
        ctype="image/gif", expect=[200, 422], category="truncated")
    add("webp-cut-12", "WebP cut after RIFF....WEBP.", webp_lossy[:12], "webp_cut12.webp",
        ctype="image/webp", category="truncated")
    add("webp-lossy-cut-mid-data", "Lossy WebP cut halfway through the VP8 data.",
        webp_lossy[:len(webp_lossy) // 2], "webp_lossy_cut.webp", ctype="image/webp",
        expect=[200, 422], category="truncated")
    add("webp-lossless-cut-mid-data", "Lossless WebP cut halfway through the VP8L data.",
        webp_lossless[:len(webp_lossless) // 2], "webp_lossless_cut.webp", ctype="image/webp",
        expect=[200, 422], category="truncated")
    bmp_big = bmp24(64, 64)
    add("bmp-cut-2", "BMP cut after 'BM'.", bmp_big[:2], "bmp_cut2.bmp", ctype="image/bmp",
        category="truncated")
    add("bmp-cut-mid-info-header", "BMP cut inside BITMAPINFOHEADER.", bmp_big[:30], "bmp_cut_info.bmp",
        ctype="image/bmp", category="truncated")
    add("bmp-cut-mid-pixels", "BMP cut halfway through the pixel array.", bmp_big[:len(bmp_big) // 2],
        "bmp_cut_pixels.bmp", ctype="image/bmp", expect=[200, 422], category="truncated")

    # =========================== corrupt ===========================
    b = bytearray(png8)
    b[29] ^= 0xFF  # IHDR CRC
    add("png-ihdr-bad-crc", "PNG whose IHDR CRC is wrong.", bytes(b), "png_ihdr_bad_crc.png",
        category="corrupt")
    b = bytearray(png8)
    ie = png8.index(b"IDAT")
    (ln,) = struct.unpack(">I", png8[ie - 4:ie])
    b[ie + 4 + ln] ^= 0x55
    add("png-idat-bad-crc", "PNG whose IDAT CRC is wrong (data itself intact).", bytes(b),
        "png_idat_bad_crc.png", expect=[200, 422], category="corrupt")
    add("png-bad-zlib-header", "PNG whose IDAT does not start with a valid zlib header.",
        png(8, 8, idat=b"\x00\x00" + zlib.compress(png_raw(8, 8, 2, 8, grad_pix(2, 8, 8, 8)))[2:]),
        "png_bad_zlib_header.png", category="corrupt")
    add("png-deflate-reserved-block", "PNG whose deflate stream uses the reserved block type 3.",
        png(8, 8, idat=b"\x78\x9c\x07" + bytes(40)), "png_deflate_btype3.png", category="corrupt")
    z = bytearray(zlib.compress(png_raw(8, 8, 2, 8, grad_pix(2, 8, 8, 8))))
    z[-1] ^= 0xFF
    add("png-bad-adler32", "PNG whose zlib Adler-32 checksum is wrong (data intact).",
        png(8, 8, idat=bytes(z)), "png_bad_adler.png", expect=[200, 422], category="corrupt")
    add("png-invalid-colour-type", "PNG IHDR colour type 5 (does not exist).",
        PNG_SIG + ihdr(8, 8, 8, 5) + chunk(b"IDAT", zeros_z(8 * 17)) + IEND, "png_colour_type5.png",
        category="corrupt")
    add("png-invalid-depth-for-rgb", "PNG IHDR RGB at bit depth 4 (not allowed).",
        PNG_SIG + ihdr(8, 8, 4, 2) + chunk(b"IDAT", zeros_z(8 * 13)) + IEND, "png_rgb_depth4.png",
        category="corrupt")
    add("png-interlace-method-7", "PNG IHDR interlace method 7 (only 0 and 1 exist).",
        PNG_SIG + ihdr(8, 8, 8, 2, interlace=7) + chunk(b"IDAT", zeros_z(8 * 25)) + IEND,
        "png_interlace7.png", category="corrupt")
    add("png-palette-without-plte", "Palette PNG with no PLTE chunk.",
        png(8, 8, ct=3, bd=8), "png_palette_no_plte.png", category="corrupt")
    add("png-palette-index-out-of-range", "Palette PNG with a 2-entry PLTE and pixel indices up to 15.",
        png(8, 8, ct=3, bd=8, pix=lambda x, y: ((x + y) % 16,), before_idat=[plte(2)]),
        "png_palette_oob.png", expect=[200, 422], category="corrupt")
    hdr = PNG_SIG + ihdr(8, 8, 8, 2)
    big_idat = zlib.compress(png_raw(8, 8, 2, 8, grad_pix(2, 8, 8, 8)))
    add("png-idat-length-2gb", "PNG whose IDAT length field says 0x7FFFFFFF but the file ends after the data.",
        hdr + struct.pack(">I", 0x7FFFFFFF) + b"IDAT" + big_idat, "png_idat_len_2gb.png",
        expect=[200, 422], category="corrupt")
    add("png-idat-before-ihdr", "PNG with IDAT before IHDR.",
        PNG_SIG + chunk(b"IDAT", big_idat) + ihdr(8, 8, 8, 2) + IEND, "png_idat_first.png",
        category="corrupt")
    add("png-unknown-critical-chunk", "Valid PNG plus an unknown critical chunk 'ZZZZ' before IDAT.",
        png(8, 8, before_idat=[chunk(b"ZZZZ", b"hello")]), "png_unknown_critical.png",
        expect=[200, 422], category="corrupt")
    b = bytearray(jpg64)
    off, _ = find_seg(jpg64, {0xDB})
    b[off + 2:off + 4] = b"\xff\xff"
    add("jpeg-dqt-length-past-eof", "JPEG whose DQT segment length (65535) runs past the end of the file.",
        bytes(b), "jpeg_dqt_len.jpg", ctype="image/jpeg", category="corrupt")
    add("jpeg-sof3-lossless", "Baseline JPEG with its SOF marker rewritten to SOF3 (lossless).",
        patch_sof(jpg64, marker=0xC3), "jpeg_sof3.jpg", ctype="image/jpeg", expect=[200, 422],
        category="corrupt")
    add("jpeg-sof9-arithmetic", "Baseline JPEG with its SOF marker rewritten to SOF9 (arithmetic coding).",
        patch_sof(jpg64, marker=0xC9), "jpeg_sof9.jpg", ctype="image/jpeg", expect=[200, 422],
        category="corrupt")
    add("jpeg-precision-12", "Baseline JPEG whose SOF precision says 12 bits.",
        patch_sof(jpg64, precision=12), "jpeg_precision12.jpg", ctype="image/jpeg", expect=[200, 422],
        category="corrupt")
    off, ln = find_seg(jpg64, SOF_MARKERS)
    b = bytearray(jpg64)
    b[off + 9] = 255  # Nf
    add("jpeg-sof-255-components", "JPEG SOF claiming 255 components (segment far too short).", bytes(b),
        "jpeg_255_components.jpg", ctype="image/jpeg", category="corrupt")
    b = bytearray(jpg64)
    b[off + 11] = 0x00  # first component sampling factors H=0 V=0
    add("jpeg-sampling-factor-0", "JPEG whose luma sampling factors are 0x0.", bytes(b),
        "jpeg_sampling0.jpg", ctype="image/jpeg", category="corrupt")
    b = bytearray(jpg64)
    off, ln = find_seg(jpg64, {0xC4})
    for i in range(off + 5, off + 21):
        b[i] = 0xFF  # code counts summing far past 256
    add("jpeg-dht-bad-counts", "JPEG whose first Huffman table claims 255 codes of every length.",
        bytes(b), "jpeg_dht_counts.jpg", ctype="image/jpeg", expect=[200, 422], category="corrupt")
    b = bytearray(jpg64)
    rng2 = random.Random(7)
    s_off, s_len = find_seg(jpg64, {0xDA})
    for _ in range(12):
        i = rng2.randrange(s_off + s_len, len(b) - 2)
        b[i] ^= 1 << rng2.randrange(8)
    add("jpeg-scan-bit-flips", "JPEG with 12 random bit flips in its entropy-coded data.", bytes(b),
        "jpeg_scan_bitflips.jpg", ctype="image/jpeg", expect=[200, 422], category="corrupt")
    add("gif-lzw-min-code-size-13", "GIF whose LZW minimum code size byte is 13 (max is 11).",
        gif(8, 8, [dict(w=8, h=8, data=lzw([1] * 64, 2), min_size=13)]), "gif_lzw_13.gif",
        ctype="image/gif", category="corrupt")
    bad = BitWriter()
    bad.write(4, 3)
    for _ in range(40):
        bad.write(7, 3)  # codes never defined
    add("gif-lzw-undefined-codes", "GIF whose LZW data uses codes that were never defined.",
        gif(8, 8, [dict(w=8, h=8, data=bad.done(), min_size=2)]), "gif_lzw_bad_codes.gif",
        ctype="image/gif", expect=[200, 422], category="corrupt")
    add("gif-frame-outside-screen", "GIF 8x8 screen with a 4x4 frame placed at (65000, 65000).",
        gif(8, 8, [gif_frame(4, 4, lambda x, y: 1, left=65000, top=65000)]), "gif_frame_outside.gif",
        ctype="image/gif", expect=[200, 422], category="corrupt")
    b = bytearray(webp_lossy)
    b[4:8] = b"\xff\xff\xff\xff"
    add("webp-riff-size-lies", "Lossy WebP whose RIFF size says 4 GB.", bytes(b), "webp_riff_size.webp",
        ctype="image/webp", expect=[200, 422], category="corrupt")
    b = bytearray(webp_lossless)
    (fourcc, offl, _), = [c for c in webp_chunks(webp_lossless) if c[0] == b"VP8L"]
    b[offl] = 0x00
    add("webp-vp8l-bad-signature", "Lossless WebP whose VP8L signature byte is 0x00 instead of 0x2F.",
        bytes(b), "webp_vp8l_badsig.webp", ctype="image/webp", category="corrupt")
    b = bytearray(webp_lossy)
    (fourcc, offv, _), = [c for c in webp_chunks(webp_lossy) if c[0] == b"VP8 "]
    b[offv + 3:offv + 6] = b"\x00\x00\x00"
    add("webp-vp8-bad-start-code", "Lossy WebP whose VP8 start code is zeroed.", bytes(b),
        "webp_vp8_badstart.webp", ctype="image/webp", category="corrupt")
    add("webp-unknown-chunk-only", "RIFF WEBP container holding only an unknown 'ABCD' chunk.",
        riff_webp([riff_chunk(b"ABCD", b"x" * 20)]), "webp_unknown_chunk.webp", ctype="image/webp",
        category="corrupt")
    add("bmp-offset-past-eof", "BMP whose pixel-data offset points past the end of the file.",
        bmp_file(bmp_info(8, 8, 24), b"", bytes(192), offset=0x7FFFFFF0), "bmp_offset_eof.bmp",
        ctype="image/bmp", category="corrupt")
    add("bmp-bpp-7", "BMP with 7 bits per pixel (not a BMP depth).",
        bmp_file(bmp_info(8, 8, 7), b"", bytes(64)), "bmp_bpp7.bmp", ctype="image/bmp", category="corrupt")
    add("bmp-clr-used-huge", "8-bit BMP claiming 0xFFFFFFFF palette entries.",
        bmp_file(bmp_info(8, 8, 8, clr_used=0xFFFFFFFF), bmp_palette(256), bytes(64)),
        "bmp_clr_used_huge.bmp", ctype="image/bmp", expect=[200, 422], category="corrupt")
    add("bmp-info-size-bogus", "BMP whose info-header size field is 1000.",
        bmp_file(bmp_info(8, 8, 24, size=1000), b"", bytes(192)), "bmp_info_size.bmp", ctype="image/bmp",
        category="corrupt")
    add("bmp-rle8-top-down", "RLE8 BMP with a negative (top-down) height, which RLE forbids.",
        bmp_file(bmp_info(16, -16, 8, compression=1, clr_used=256), bmp_palette(256),
                 rle8_rows(16, 16, lambda y: y)), "bmp_rle8_topdown.bmp", ctype="image/bmp",
        expect=[200, 422], category="corrupt")
    px = bmp_rows(8, 8, 16, lambda x, y: x * 1111)
    add("bmp-bitfields-noncontiguous", "16-bit BMP with non-contiguous, overlapping colour masks.",
        bmp_file(bmp_info(8, 8, 16, compression=3) + struct.pack("<III", 0xA5A5, 0x5A5A, 0xFFFF), b"", px),
        "bmp_bitfields_bad.bmp", ctype="image/bmp", expect=[200, 422], category="corrupt")

    # =========================== valid odd modes (must answer 200) ===========================
    def ok(name, why, data, file, ctype="image/png"):
        add(name, why, data, file, ctype=ctype, expect=[200], category="valid")

    frames = [grad_img(32, 24).rotate(i * 90) for i in range(3)]
    ok("gif-animated-3-frames", "Animated GIF, 3 frames, looping.",
       pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
       "gif_animated.gif", "image/gif")
    ok("gif-87a", "GIF87a (no extensions).", gif_simple(16, 16, version=b"GIF87a"), "gif_87a.gif", "image/gif")
    order = interlace_rows(16)
    ok("gif-interlaced", "Interlaced GIF 16x16.",
       gif(16, 16, [dict(w=16, h=16, min_size=2, interlace=True,
                         data=lzw([(x + order[r]) % 4 for r in range(16) for x in range(16)], 2))]),
       "gif_interlaced.gif", "image/gif")
    ok("gif-local-colour-table-transparent", "GIF with no global table, a local colour table and transparency.",
       gif(16, 16, [gif_frame(16, 16, lambda x, y: (x * y) % 8, min_size=3, lct_bits=3, gce=gce(0, 0))],
           gct_bits=0), "gif_lct_transparent.gif", "image/gif")
    ok("png-16bit-rgb", "16-bit-per-channel RGB PNG.", png(32, 24, ct=2, bd=16), "png_16bit_rgb.png")
    ok("png-16bit-grey", "16-bit greyscale PNG.", png(32, 24, ct=0, bd=16), "png_16bit_grey.png")
    ok("png-16bit-rgba", "16-bit RGBA PNG.", png(32, 24, ct=6, bd=16), "png_16bit_rgba.png")
    ok("png-rgba", "8-bit RGBA PNG with varying alpha.", png(32, 24, ct=6), "png_rgba.png")
    ok("png-grey-alpha", "8-bit grey+alpha PNG.", png(32, 24, ct=4), "png_grey_alpha.png")
    ok("png-palette-trns", "Palette PNG with a tRNS chunk.",
       png(32, 24, ct=3, bd=8, pix=lambda x, y: ((x + y) % 16,),
           before_idat=[plte(16), chunk(b"tRNS", bytes(range(0, 256, 16)))]), "png_palette_trns.png")
    ok("png-1bit", "1-bit greyscale PNG with a checker pattern.",
       png(33, 17, ct=0, bd=1, pix=lambda x, y: ((x ^ y) & 1,)), "png_1bit.png")
    ok("png-2bit-palette", "2-bit palette PNG.",
       png(33, 17, ct=3, bd=2, pix=lambda x, y: ((x + y) % 4,), before_idat=[plte(4)]), "png_2bit_palette.png")
    ok("png-4bit-grey", "4-bit greyscale PNG.", png(33, 17, ct=0, bd=4), "png_4bit_grey.png")
    ok("png-interlaced-adam7", "Adam7-interlaced RGB PNG of odd size 33x17.", png(33, 17, interlace=1),
       "png_adam7.png")
    ok("png-interlaced-1bit-tiny", "Adam7-interlaced 1-bit PNG 3x3 (several passes are empty).",
       png(3, 3, ct=0, bd=1, pix=lambda x, y: ((x + y) & 1,), interlace=1), "png_adam7_1bit_3x3.png")
    ok("png-all-filter-types", "RGB PNG whose rows cycle through filters None/Sub/Up/Average/Paeth.",
       png(31, 20, filters=(0, 1, 2, 3, 4)), "png_filters.png")
    ok("png-idat-1-byte-chunks", "RGB PNG whose compressed data is split into 1-byte IDAT chunks.",
       png(12, 12, split=1), "png_idat_split.png")
    ok("png-ancillary-chunks", "RGB PNG with gAMA, sRGB, pHYs, tIME and tEXt chunks.",
       png(16, 16, before_idat=[chunk(b"gAMA", struct.pack(">I", 45455)), chunk(b"sRGB", b"\x00"),
                                chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))],
           after_idat=[chunk(b"tIME", struct.pack(">HBBBBB", 2000, 1, 1, 0, 0, 0)),
                       chunk(b"tEXt", b"Comment\x00hello")]), "png_ancillary.png")
    apng_frames = [grad_img(24, 16).rotate(180 * i) for i in range(2)]
    ok("png-apng", "Animated PNG (APNG) with 2 frames.",
       pil_bytes(apng_frames[0], "PNG", save_all=True, append_images=apng_frames[1:], duration=100),
       "png_apng.png")
    ok("jpeg-cmyk", "CMYK JPEG (Adobe APP14, inverted).", jpeg(32, 24, "CMYK"), "jpeg_cmyk.jpg", "image/jpeg")
    ok("jpeg-grey", "Greyscale JPEG.", jpeg(32, 24, "L"), "jpeg_grey.jpg", "image/jpeg")
    ok("jpeg-progressive", "Progressive JPEG.", jpeg(64, 48, progressive=True), "jpeg_progressive.jpg",
       "image/jpeg")
    ex = Image.Exif()
    ex[0x0112] = 6
    ok("jpeg-exif-rotated", "JPEG 48x24 with EXIF orientation 6 (rotate 90).",
       jpeg(48, 24, exif=ex.tobytes()), "jpeg_exif_rot6.jpg", "image/jpeg")
    ok("jpeg-444", "JPEG without chroma subsampling (4:4:4).", jpeg(33, 17, subsampling=0), "jpeg_444.jpg",
       "image/jpeg")
    ok("jpeg-odd-size-420", "JPEG 4:2:0 of odd size 33x17 (partial MCUs).", jpeg(33, 17, subsampling=2),
       "jpeg_420_odd.jpg", "image/jpeg")
    ok("jpeg-restart-markers", "JPEG with a restart marker every MCU.",
       jpeg(64, 48, restart_marker_blocks=1), "jpeg_restart.jpg", "image/jpeg")
    ok("jpeg-icc-and-comment", "JPEG carrying an ICC profile APP2 and a COM segment.",
       jpeg(32, 24, icc_profile=bytes(3000), comment=b"hostile corpus"), "jpeg_icc.jpg", "image/jpeg")
    exif_big = Image.Exif()
    exif_big[0x010E] = "x" * 30000  # ImageDescription
    ok("jpeg-big-exif", "JPEG with a 30 KB EXIF APP1 segment.", jpeg(32, 24, exif=exif_big.tobytes()),
       "jpeg_big_exif.jpg", "image/jpeg")
    zipped = io.BytesIO()
    zipped.write(b"PK\x03\x04" + bytes(26) + b"hello")
    ok("jpeg-trailing-zip", "Valid JPEG with ZIP-like bytes appended after EOI (polyglot).",
       jpg64 + zipped.getvalue(), "jpeg_trailing_zip.jpg", "image/jpeg")
    ok("webp-lossy", "Lossy WebP (VP8).", webp_lossy, "webp_lossy.webp", "image/webp")
    ok("webp-lossless", "Lossless WebP (VP8L).", webp_lossless, "webp_lossless.webp", "image/webp")
    ok("webp-lossy-alpha", "Lossy WebP with an alpha channel (VP8X + ALPH).",
       pil_bytes(grad_img(32, 24, "RGBA"), "WEBP", quality=80), "webp_lossy_alpha.webp", "image/webp")
    wf = [grad_img(24, 16).rotate(180 * i) for i in range(2)]
    add("webp-animated", "Animated WebP with 2 frames (the first is enough).",
        pil_bytes(wf[0], "WEBP", save_all=True, append_images=wf[1:], duration=100, lossless=True),
        "webp_animated.webp", ctype="image/webp", expect=[200, 422], category="valid")
    ok("bmp-32bit-alpha-v4", "32-bit BMP with a BITMAPV4HEADER and an alpha mask.", bmp_v4_32_alpha(16, 12),
       "bmp_32_alpha.bmp", "image/bmp")
    ok("bmp-24bit-top-down", "24-bit BMP stored top-down (negative height).", bmp24(16, 12, top_down=True),
       "bmp_24_topdown.bmp", "image/bmp")
    ok("bmp-8bit-palette", "8-bit palette BMP.", bmp_indexed(17, 9, 8), "bmp_8bit.bmp", "image/bmp")
    ok("bmp-4bit-palette", "4-bit palette BMP.", bmp_indexed(17, 9, 4), "bmp_4bit.bmp", "image/bmp")
    ok("bmp-1bit", "1-bit BMP.", bmp_indexed(17, 9, 1), "bmp_1bit.bmp", "image/bmp")
    ok("bmp-16bit-565", "16-bit BMP with RGB565 bitfields.", bmp_565(16, 12), "bmp_565.bmp", "image/bmp")
    rle4 = bytearray()
    for y in range(8):
        rle4 += bytes([8, ((y % 16) << 4) | ((y + 1) % 16)]) + b"\x00\x00"
    rle4 += b"\x00\x01"
    ok("bmp-rle4", "RLE4 BMP 8x8.", bmp_rle4(8, 8, bytes(rle4)), "bmp_rle4.bmp", "image/bmp")
    ok("png-1x1", "1x1 RGB PNG.", png(1, 1), "png_1x1.png")
    ok("jpeg-1x1", "1x1 JPEG.", jpeg(1, 1), "jpeg_1x1.jpg", "image/jpeg")
    ok("gif-1x1", "1x1 GIF.", gif_simple(1, 1), "gif_1x1.gif", "image/gif")
    ok("webp-lossy-1x1", "1x1 lossy WebP.", pil_bytes(Image.new("RGB", (1, 1), (200, 10, 10)), "WEBP", quality=80),
       "webp_lossy_1x1.webp", "image/webp")
    ok("webp-lossless-1x1", "1x1 lossless WebP.",
       pil_bytes(Image.new("RGB", (1, 1), (200, 10, 10)), "WEBP", lossless=True), "webp_lossless_1x1.webp",
       "image/webp")
    ok("bmp-1x1", "1x1 24-bit BMP.", bmp24(1, 1), "bmp_1x1.bmp", "image/bmp")
    ok("png-declared-as-jpeg", "Valid PNG sent with Content-Type image/jpeg: the format is sniffed.",
       png(16, 16), "png_as_jpeg.png", "image/jpeg")
    ok("jpeg-declared-octet-stream", "Valid JPEG sent as application/octet-stream.", jpeg(16, 16),
       "jpeg_octet.jpg", "application/octet-stream")

    # =========================== non-image data ===========================
    def notimg(name, why, data, file, expect=(415,), ctype="image/png"):
        add(name, why, data, file, ctype=ctype, expect=list(expect), category="non-image")

    notimg("text-plain", "Plain text sent as image/png.", b"Hello, this is not an image.\n" * 4, "text.txt")
    notimg("html", "An HTML page sent as image/png.",
           b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>\n", "page.html")
    notimg("svg", "An SVG image (not accepted: scriptable XML).",
           b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
           b'<script>alert(1)</script><rect width="10" height="10"/></svg>\n', "image.svg", ctype="image/svg+xml")
    notimg("tiff", "A valid TIFF (a real image format, but not an accepted one).",
           pil_bytes(grad_img(8, 8), "TIFF"), "image.tiff", ctype="image/tiff")
    notimg("ico", "A valid ICO.", pil_bytes(grad_img(16, 16), "ICO", sizes=[(16, 16)]), "image.ico",
           ctype="image/x-icon")
    notimg("pdf-header", "The start of a PDF.", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
           "doc.pdf", ctype="application/pdf")
    notimg("empty-file", "Zero bytes.", b"", "empty.bin", expect=(400, 415, 422))
    notimg("png-signature-then-garbage", "The 8-byte PNG signature followed by random bytes.",
           PNG_SIG + bytes(rng.randrange(256) for _ in range(500)), "png_sig_garbage.png", expect=(422,))
    notimg("jpeg-magic-then-garbage", "The JPEG magic FF D8 FF followed by random bytes.",
           b"\xff\xd8\xff" + bytes(rng.randrange(256) for _ in range(500)), "jpeg_magic_garbage.jpg",
           expect=(422,), ctype="image/jpeg")
    notimg("gif-js-polyglot", "'GIF89a' followed by JavaScript (a GIF/JS polyglot).",
           b"GIF89a/*\x0a\x00\x0a\x00\x00\x00\x00*/=1;alert(document.domain);//", "gif_polyglot.gif",
           expect=(422,), ctype="image/gif")
    notimg("text-starting-with-BM", "Text that starts with 'BM', the BMP magic.", b"BMW makes cars.\n" * 8,
           "bm_text.txt", expect=(415, 422))
    notimg("ppm", "A binary PPM (P6).", b"P6\n2 2\n255\n" + bytes(12), "image.ppm", ctype="image/x-portable-pixmap")
    notimg("avif-ftyp", "The ftyp box of an AVIF file.",
           b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64), "image.avif", ctype="image/avif")
    notimg("heic-ftyp", "The ftyp box of a HEIC file.", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
           "image.heic", ctype="image/heic")
    notimg("qoi", "A QOI header.", b"qoif" + struct.pack(">IIBB", 8, 8, 3, 0) + bytes(32), "image.qoi")
    notimg("riff-wave", "A RIFF WAVE header (RIFF, but not WebP).",
           b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
           + b"data\x00\x00\x00\x00", "sound.wav", ctype="image/webp")
    notimg("gzip-of-png", "A gzip-compressed PNG.", gzip.compress(png8, mtime=0), "png.gz")
    notimg("zip", "A ZIP local-file header.", b"PK\x03\x04" + bytes(26) + b"a.png" + png8, "archive.zip",
           ctype="application/zip")
    notimg("elf", "An ELF executable header.", b"\x7fELF\x02\x01\x01" + bytes(57), "program.elf",
           ctype="application/octet-stream")
    notimg("psd", "A Photoshop header.", b"8BPS\x00\x01" + bytes(20), "image.psd")
    notimg("utf16-bom-text", "UTF-16 text with a BOM.", "\ufeffnot an image".encode("utf-16-le"), "utf16.txt")

    # =========================== multipart bodies ===========================
    B = "XyZhostileBoundary"
    CT = mp_ctype(B)

    def mp(name, why, body, file, expect, ctype=CT):
        add(name, why, body, file, send="body", ctype=ctype, expect=list(expect), category="multipart")

    mp("mp-no-file-part", "A form with only a 'model' text field and no image.",
       multipart([part("model", b"whatever")], B), "mp_no_file.bin", [400])
    mp("mp-file-part-empty", "The 'file' part is present with a filename but zero bytes.",
       multipart([part("file", b"", "a.png", "image/png")], B), "mp_file_empty.bin", [400])
    mp("mp-valid-control", "A well-formed upload of a valid PNG in 'file' (control case).",
       multipart([part("file", png8, "a.png", "image/png")], B), "mp_valid.bin", [200])
    mp("mp-two-files", "Two valid PNGs, both in 'file'.",
       multipart([part("file", png8, "a.png", "image/png"), part("file", png8, "b.png", "image/png")], B),
       "mp_two_files.bin", [200, 400])
    mp("mp-image-in-wrong-field", "A valid PNG (with a filename) in a field named 'image' instead of 'file'.",
       multipart([part("image", png8, "a.png", "image/png")], B), "mp_wrong_field.bin", [400])
    mp("mp-image-in-wrong-field-no-filename", "A valid PNG in a field named 'upload', no filename.",
       multipart([part("upload", png8, None, "image/png")], B), "mp_wrong_field_nofn.bin", [400])
    mp("mp-huge-text-field-no-file", "A 1,000,000-byte text field and no image.",
       multipart([part("comment", b"a" * 1_000_000)], B), "mp_huge_text_nofile.bin", [400, 413])
    mp("mp-huge-text-field-with-file", "A 100 KB text field beside a valid image.",
       multipart([part("comment", b"b" * 100_000), part("file", png8, "a.png", "image/png")], B),
       "mp_huge_text_file.bin", [200, 400, 413])
    mp("mp-missing-closing-boundary", "A valid file part, then the body ends without the closing boundary.",
       multipart([part("file", png8, "a.png", "image/png")], B, close=False)[:-2], "mp_no_close.bin", [400])
    mp("mp-boundary-mismatch", "The body's boundary is not the one in the Content-Type header.",
       multipart([part("file", png8, "a.png", "image/png")], "SomethingElse"), "mp_boundary_mismatch.bin",
       [400])
    mp("mp-no-boundary-param", "Content-Type multipart/form-data with no boundary parameter.",
       multipart([part("file", png8, "a.png", "image/png")], B), "mp_no_boundary_param.bin", [400],
       ctype="multipart/form-data")
    mp("mp-quoted-boundary", "The boundary parameter is quoted (legal): a valid upload.",
       multipart([part("file", png8, "a.png", "image/png")], B), "mp_quoted_boundary.bin", [200],
       ctype='multipart/form-data; boundary="%s"' % B)
    mp("mp-part-without-content-disposition", "The only part has a Content-Type but no Content-Disposition.",
       multipart([([b"Content-Type: image/png"], png8)], B), "mp_no_cd.bin", [400])
    inner_b = "InnerBoundary42"
    inner = multipart([part("file", png8, "a.png", "image/png")], inner_b)
    mp("mp-nested-multipart", "The 'file' part is itself a multipart/mixed body holding the image.",
       multipart([part("file", inner, None, "multipart/mixed; boundary=" + inner_b)], B), "mp_nested.bin",
       [400, 415])
    tiny = [part("%d" % i, b"x") for i in range(10_000)]
    mp("mp-10000-tiny-fields", "10,000 one-byte text fields, then a valid image.",
       multipart(tiny + [part("file", png8, "a.png", "image/png")], "b"), "mp_10000_fields.bin",
       [200, 400, 413], ctype=mp_ctype("b"))
    mp("mp-file-not-an-image", "The 'file' part holds text.",
       multipart([part("file", b"hello world", "a.png", "image/png")], B), "mp_file_text.bin", [415])
    mp("mp-file-corrupt-image", "The 'file' part holds a PNG cut inside IHDR.",
       multipart([part("file", png_big[:20], "a.png", "image/png")], B), "mp_file_truncated.bin", [422])
    mp("mp-path-traversal-filename", "A valid image whose filename is ../../../../etc/passwd.",
       multipart([part("file", png8, "../../../../etc/passwd", "image/png")], B), "mp_traversal.bin", [200])
    mp("mp-weird-filename", "A valid image whose filename has a NUL byte, CR, quotes and non-UTF-8 bytes.",
       multipart([part("file", png8, b"a\x00b\\\"\xff\xfe.png", "image/png")], B), "mp_weird_filename.bin",
       [200, 400])
    mp("mp-lf-line-endings", "A valid upload using bare LF instead of CRLF.",
       multipart([part("file", png8, "a.png", "image/png")], B, nl=b"\n"), "mp_lf.bin", [200, 400])
    mp("mp-preamble-epilogue", "A valid upload with junk before the first boundary and after the last.",
       multipart([part("file", png8, "a.png", "image/png")], B, preamble=b"junk preamble\r\n",
                 epilogue=b"junk epilogue\r\n"), "mp_preamble.bin", [200])
    long_b = "L" * 300
    mp("mp-300-char-boundary", "A valid upload whose boundary is 300 characters (RFC max is 70).",
       multipart([part("file", png8, "a.png", "image/png")], long_b), "mp_long_boundary.bin", [200, 400],
       ctype=mp_ctype(long_b))
    mp("mp-huge-part-header", "A valid upload whose part has a 20 KB header line.",
       multipart([part("file", png8, "a.png", "image/png", extra=[b"X-Junk: " + b"j" * 20000])], B),
       "mp_huge_header.bin", [200, 400, 413])
    mp("mp-empty-file-then-valid", "An empty 'file' part followed by a valid 'file' part.",
       multipart([part("file", b"", "a.png", "image/png"), part("file", png8, "b.png", "image/png")], B),
       "mp_empty_then_valid.bin", [200, 400])
    mp("mp-empty-body", "Content-Type multipart with a boundary but an empty body.", b"", "mp_empty.bin", [400])
    mp("mp-image-url-file-scheme", "No file, and an image_url text field pointing at file:///etc/passwd.",
       multipart([part("image_url", b"file:///etc/passwd")], B), "mp_image_url_file.bin", [400])

    # =========================== JSON bodies ===========================
    def js(name, why, body, file, expect=(400,), routes="image", ctype="application/json", **extra):
        add(name, why, body, file, send="body", ctype=ctype, routes=routes, expect=list(expect),
            category="json", **extra)

    js("json-malformed", "Truncated JSON.", b'{"image_url": "http://exa', "json_malformed.json", routes="all")
    js("json-image-url-number", "image_url is a number.", b'{"image_url": 12345}', "json_url_number.json")
    js("json-image-url-object", "image_url is an object.", b'{"image_url": {"href": "http://x"}}',
       "json_url_object.json")
    js("json-image-url-null", "image_url is null.", b'{"image_url": null}', "json_url_null.json")
    js("json-image-url-empty", "image_url is the empty string.", b'{"image_url": ""}', "json_url_empty.json")
    js("json-empty-object", "An empty object.", b"{}", "json_empty_object.json", routes="all")
    js("json-empty-body", "An empty body sent as application/json.", b"", "json_empty_body.json", routes="all")
    js("json-null", "The JSON literal null.", b"null", "json_null.json", routes="all")
    js("json-array", "A JSON array instead of an object (serde may read it as a tuple struct).",
       b'["file:///etc/passwd"]', "json_array.json",
       routes="all")
    js("json-invalid-utf8", "JSON whose string contains invalid UTF-8 bytes.",
       b'{"image_url": "http://\xff\xfe\xc0\x80.com/a.png", "text": "\xff\xfe"}', "json_invalid_utf8.json",
       routes="all")
    js("json-lone-surrogate", "A JSON string with a lone UTF-16 surrogate escape.",
       b'{"image_url": "http://a\\ud800.com/", "text": "a\\ud800b"}', "json_lone_surrogate.json", routes="all")
    js("json-bom", "Valid-looking JSON preceded by a UTF-8 BOM.", b'\xef\xbb\xbf{"image_url": "x", "text": "x"}',
       "json_bom.json", routes="all")
    js("json-trailing-garbage", "A JSON object followed by garbage.", b'{"image_url": "x", "text": "x"} xyz',
       "json_trailing.json", routes="all")
    js("json-image-url-1mb-garbage", "image_url is a 1,000,000-character non-URL.",
       tjson({"image_url": "a" * 999_950}), "json_url_1mb.json")
    js("json-image-url-20k-file-scheme", "image_url is file:/// followed by a 20 KB path.",
       tjson({"image_url": "file:///" + "a" * 19_900}), "json_url_20k_file.json")
    js("json-deep-array-nesting", "100,000 nested arrays.", b"[" * 100_000 + b"]" * 100_000,
       "json_deep_array.json", routes="all")
    js("json-deep-nesting-in-field", "image_url holding 20,000 nested arrays.",
       b'{"image_url": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "json_deep_field.json")
    js("json-deep-object-nesting", "5,000 nested objects under 'text'.",
       b'{"text":' * 5_000 + b"1" + b"}" * 5_000, "json_deep_object.json", routes="all")
    js("json-unclosed-nesting", "10,000 '[' and nothing else.", b"[" * 10_000, "json_unclosed.json",
       routes="all")
    js("json-duplicate-keys", "image_url given twice.", b'{"image_url": "file:///a", "image_url": "file:///b"}',
       "json_duplicate_keys.json")
    js("json-image-url-with-nul", "image_url contains an escaped NUL.", b'{"image_url": "http://a\\u0000b/x.png"}',
       "json_url_nul.json")
    js("form-urlencoded-to-image-route", "An x-www-form-urlencoded body to an image route.",
       b"image_url=http%3A%2F%2Fexample.com%2Fa.png", "form_urlencoded.txt", expect=(400, 415),
       ctype="application/x-www-form-urlencoded")
    js("text-plain-to-image-route", "A text/plain body to an image route.", b"hello", "text_plain_body.txt",
       expect=(400, 415), ctype="text/plain")

    # =========================== text / summarize ===========================
    LEGACY = "/predict/text_summarize"

    def tx(name, why, obj_or_bytes, file, expect, ctype="application/json", **extra):
        body = obj_or_bytes if isinstance(obj_or_bytes, bytes) else tjson(obj_or_bytes)
        add(name, why, body, file, send="body", ctype=ctype, routes="text", expect=list(expect),
            category="text", **extra)

    para = ("The quick brown fox jumps over the lazy dog near the river bank, while the committee "
            "debated the budget for the new library and the weather stayed mild all week. ")
    text20k = (para * (20000 // len(para) + 1))[:20000]
    text20k = text20k[:-1] + "."
    assert len(text20k) == 20000
    tx("text-short-valid", "A short paragraph with max 20 tokens (control case).",
       dict(text=para * 3, **lengths(min=1, max=20)), "text_short.json", [200])
    tx("text-empty", "Empty text.", {"text": ""}, "text_empty.json", [400])
    tx("text-whitespace-only", "Text of spaces, tabs and newlines only.", {"text": " \t\n\r  \u00a0\u2003 " * 50},
       "text_whitespace.json", [400])
    tx("text-missing", "No text field.", dict(**lengths(max=20)), "text_missing.json", [400])
    tx("text-null", "text is null.", {"text": None}, "text_null.json", [400])
    tx("text-number", "text is a number.", {"text": 12345}, "text_number.json", [400])
    tx("text-array", "text is an array of strings.", {"text": ["a", "b"]}, "text_array.json", [400])
    tx("text-exactly-20000-chars", "Text of exactly 20,000 characters (the limit), max 20 tokens.",
       dict(text=text20k, **lengths(min=1, max=20)), "text_20000.json", [200])
    tx("text-20001-chars", "Text of 20,001 characters: one over the limit.",
       dict(text=text20k + "x", **lengths(min=1, max=20)), "text_20001.json", [413])
    tx("text-25000-chars", "Text of 25,000 characters.", dict(text="word " * 5_000, **lengths(max=20)),
       "text_25000.json", [413])
    tx("text-20000-emoji", "20,000 four-byte emoji (80 KB): the limit counts characters, not bytes.",
       dict(text="\U0001F600" * 20000, **lengths(min=1, max=20)), "text_20000_emoji.json", [200])
    tx("text-20001-emoji", "20,001 emoji: one character over the limit.",
       dict(text="\U0001F600" * 20001, **lengths(min=1, max=20)), "text_20001_emoji.json", [413])
    esc = ("{\"text\":\"" + "".join("\\u%04x" % ord(c) for c in text20k) + "\",\"max_tokens\":20,"
           "\"max_length\":20,\"min_tokens\":1,\"min_length\":1}").encode()
    tx("text-20000-chars-all-escaped", "20,000 characters each written as a \\uXXXX escape (120 KB body).",
       esc, "text_20000_escaped.json", [200])
    tx("text-combining-marks", "10,000 'e' + combining acute (20,000 code points).",
       dict(text="e\u0301" * 10000, **lengths(min=1, max=20)), "text_combining.json", [200])
    tx("text-one-20000-char-word", "One 20,000-character word with no spaces (tokenizer worst case).",
       dict(text="a" * 20000, **lengths(min=1, max=20)), "text_long_word.json", [200])
    tx("text-invalid-utf8", "A JSON body whose text has invalid UTF-8 bytes.",
       b'{"text": "hello \xff\xfe\xc0\xaf world", "max_tokens": 20}', "text_invalid_utf8.json", [400])
    tx("text-overlong-utf8-nul", "Text containing the overlong UTF-8 encoding of NUL (C0 80).",
       b'{"text": "hello \xc0\x80 world", "max_tokens": 20}', "text_overlong.json", [400])
    tx("text-escaped-nul", "Text containing escaped NUL characters.",
       dict(text="hello\u0000world \u0000 " + para, **lengths(min=1, max=20)), "text_nul_escaped.json", [200, 400])
    tx("text-raw-nul-byte", "A raw (unescaped) NUL byte inside the JSON string: invalid JSON.",
       b'{"text": "hello \x00 world", "max_tokens": 20}', "text_raw_nul.json", [400])
    tx("text-min-greater-than-max", "min 50 > max 10.", dict(text=para, **lengths(min=50, max=10)),
       "text_min_gt_max.json", [400], expect_by_route={LEGACY: [200, 400]})
    tx("text-negative-max", "max -5.", dict(text=para, **lengths(max=-5)), "text_negative_max.json", [400])
    tx("text-negative-min", "min -1.", dict(text=para, **lengths(min=-1, max=20)), "text_negative_min.json", [400])
    tx("text-max-zero", "max 0.", dict(text=para, **lengths(min=0, max=0)), "text_max_zero.json", [400],
       expect_by_route={LEGACY: [200, 400]})
    tx("text-huge-max", "max 1,000,000 tokens (over --max-summary-tokens).",
       dict(text=para, **lengths(max=1_000_000)), "text_huge_max.json", [400],
       expect_by_route={LEGACY: [200, 400]})
    tx("text-max-2pow64", "max 2^64, beyond any integer type.",
       ('{"text": %s, "max_tokens": 18446744073709551616, "max_length": 18446744073709551616}'
        % json.dumps(para)).encode(), "text_max_2pow64.json", [400])
    tx("text-max-1e30-float", "max 1e30 as a float.",
       ('{"text": %s, "max_tokens": 1e30, "max_length": 1e30}' % json.dumps(para)).encode(),
       "text_max_float.json", [400])
    tx("text-max-fraction", "max 20.5.", dict(text=para, **lengths(max=20.5)), "text_max_fraction.json", [400])
    tx("text-numbers-as-strings", "min and max given as strings \"1\" and \"20\".",
       dict(text=para, **lengths(min="1", max="20")), "text_numbers_strings.json", [200, 400])
    tx("text-stream-not-bool", "stream is the string \"yes\".", dict(text=para, stream="yes", **lengths(max=20)),
       "text_stream_string.json", [400])
    tx("text-as-text-plain", "A JSON body sent as text/plain.", dict(text=para, **lengths(max=20)),
       "text_plain_ctype.json", [400, 415], ctype="text/plain")
    tx("text-as-multipart", "A multipart form with a 'text' field sent to the JSON route.",
       multipart([part("text", para.encode())], B), "text_multipart.bin", [400, 415], ctype=CT)


# ============================================================================================
# SSRF URL list
# ============================================================================================
SSRF = r"""# Every line must be refused by the server (400), without any connection being made.
# Only literal addresses, `localhost` and non-http(s) schemes: nothing here needs DNS.
# loopback, spelled many ways
http://127.0.0.1/
http://127.0.0.1:8080/admin
https://127.0.0.1:443/
http://127.0.0.1:65535/
http://127.255.255.254/
http://127.1/
http://127.0.1/
http://2130706433/
http://0x7f000001/
http://0x7f.0x0.0x0.0x1/
http://0x7F.1/
http://0177.0.0.1/
http://017700000001/
http://0177.1/
http://127.000.000.001/
http://%31%32%37.0.0.1/
http://１２７.０.０.１/
http://127.0.0.1./
http://localhost/
http://localhost:6379/
http://LOCALHOST./
http://LocalHost:80/
HTTP://127.0.0.1/
http:/127.0.0.1/
http:\\127.0.0.1\
http://[::1]/
http://[::1]:8080/
http://[0:0:0:0:0:0:0:1]/
http://[0000:0000:0000:0000:0000:0000:0000:0001]/
http://[::ffff:127.0.0.1]/
http://[::ffff:7f00:1]/
http://[0:0:0:0:0:ffff:127.0.0.1]/
http://[::127.0.0.1]/
http://[64:ff9b::7f00:1]/
http://[64:ff9b::127.0.0.1]/
http://[2002:7f00:1::]/
# unspecified ("this host")
http://0/
http://0.0.0.0/
http://0.0.0.0:22/
http://0x0/
http://[::]/
http://[::ffff:0.0.0.0]/
# cloud metadata / link-local
http://169.254.169.254/latest/meta-data/
http://169.254.169.254/computeMetadata/v1/
http://2852039166/
http://0xa9fea9fe/
http://0251.0376.0251.0376/
http://169.254.43518/
http://[::ffff:169.254.169.254]/
http://[::ffff:a9fe:a9fe]/
http://[64:ff9b::a9fe:a9fe]/
http://[2002:a9fe:a9fe::]/
http://[fd00:ec2::254]/latest/meta-data/
http://100.100.100.200/latest/meta-data/
http://[fe80::1]/
http://[fe80::a9fe:a9fe]/
# private networks
http://10.0.0.1/
http://10.255.255.255/
http://012.0.0.1/
http://172.16.0.1/
http://172.31.255.254/
http://192.168.0.1/
http://192.168.1.1:8080/
http://3232235777/
http://100.64.0.1/
http://[fc00::1]/
http://[fd12:3456:789a::1]/
http://[::ffff:10.0.0.1]/
http://[::ffff:c0a8:101]/
http://[64:ff9b:1::a00:1]/
http://[64:ff9b:1::1]/
http://[2002:c0a8:101::1]/
# multicast / broadcast / reserved
http://224.0.0.1/
http://239.255.255.250:1900/
http://255.255.255.255/
http://240.0.0.1/
http://[ff02::1]/
# userinfo and fragment tricks (the host is the private one)
http://example.com@127.0.0.1/
http://example.com:80@127.0.0.1/
http://user:pass@[::1]/
http://user@169.254.169.254/latest/meta-data/
http://127.0.0.1#@example.com/
http://127.0.0.1?@example.com/
# schemes other than http(s)
file:///etc/passwd
file://localhost/etc/passwd
file:///proc/self/environ
gopher://127.0.0.1:6379/_INFO
ftp://127.0.0.1/
ftp://example.com/a.png
data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABc3UWJQAAAABJRU5ErkJggg==
dict://127.0.0.1:11211/stat
ldap://127.0.0.1/
tftp://127.0.0.1/a.png
jar:http://127.0.0.1/a.jar!/a.png
javascript:alert(1)
ws://127.0.0.1/
# Possible gaps, left as comments on purpose (not clearly private targets on a normal host):
# http://[::ffff:0:7f00:1]/        IPv4-translated (RFC 2765), not mapped by Linux to 127.0.0.1
# http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/   Teredo; reaching it needs a Teredo relay
"""


# ============================================================================================
def main():
    build()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for name in sorted(_FILES):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(_FILES[name])
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        # One case per line: easy to read and to diff.
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in CASES) + "\n]\n")
    with open(os.path.join(OUT, "ssrf_urls.txt"), "w", encoding="utf-8") as f:
        f.write(SSRF)
    total = sum(len(v) for v in _FILES.values())
    print("wrote %d cases, %d files (%d bytes) to %s" % (len(CASES), len(_FILES), total,
                                                         os.path.relpath(OUT, ROOT)))


if __name__ == "__main__":
    sys.exit(main())
