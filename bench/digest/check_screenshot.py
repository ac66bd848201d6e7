#!/usr/bin/env python3
"""Check from a screenshot that a digest's inline SVG charts were rendered.

usage: check_screenshot.py PNG [--colour HEX ...] [--min-pixels N] [--tolerance T]

Decodes the PNG with the standard library only (zlib plus the five PNG row filters; 8-bit
RGB or RGBA, non-interlaced, which is what chromium's --screenshot writes), counts the pixels
within +-T (default 12) on every channel of each chart colour, and requires at least N
(default 400) pixels of EACH colour. Default colours are the digest's chart palette:
#2e7d32 (green bars), #1565c0 (blue line/bars), #ef6c00 (orange).

Prints one line per colour ("#2e7d32: 5321 pixels"), then "OK: charts rendered" (exit 0) or
"FAIL: ..." (exit 1). An unreadable or unsupported PNG is an error (exit 2).
"""
import argparse
import collections
import struct
import sys
import zlib

DEFAULT_COLOURS = ["#2e7d32", "#1565c0", "#ef6c00"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PngError(Exception):
    pass


def read_png(path):
    """Return (width, height, rows) where each row is a bytes object of RGB triples.

    RGBA input is composited over white so that the colour checks see what a viewer sees.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != PNG_SIGNATURE:
        raise PngError(f"{path}: not a PNG file (bad signature)")
    pos = 8
    header = None
    idat = []
    while pos < len(data):
        if pos + 8 > len(data):
            raise PngError(f"{path}: truncated chunk header at byte {pos}")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc_bytes = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise PngError(f"{path}: truncated {ctype!r} chunk")
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != struct.unpack(">I", crc_bytes)[0]:
            raise PngError(f"{path}: CRC mismatch in {ctype!r} chunk")
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if header is None:
        raise PngError(f"{path}: no IHDR chunk")
    width, height, depth, colour_type, compression, filter_method, interlace = header
    if depth != 8 or colour_type not in (2, 6):
        raise PngError(
            f"{path}: unsupported PNG (bit depth {depth}, colour type {colour_type}); "
            "only 8-bit RGB (type 2) and RGBA (type 6) are supported")
    if interlace != 0:
        raise PngError(f"{path}: interlaced (Adam7) PNGs are not supported")
    if compression != 0 or filter_method != 0:
        raise PngError(f"{path}: unknown compression/filter method {compression}/{filter_method}")
    if not idat:
        raise PngError(f"{path}: no IDAT chunks")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise PngError(f"{path}: bad zlib stream: {e}") from None

    bpp = 3 if colour_type == 2 else 4  # bytes per pixel
    stride = width * bpp
    if len(raw) < height * (stride + 1):
        raise PngError(f"{path}: image data too short ({len(raw)} bytes for {width}x{height})")
    rows = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 0:  # None
            pass
        elif ftype == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:  # Up
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                if i >= bpp:
                    a = line[i - bpp]
                    c = prev[i - bpp]
                else:
                    a = c = 0
                b = prev[i]
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    pred = a
                elif pb <= pc:
                    pred = b
                else:
                    pred = c
                line[i] = (line[i] + pred) & 0xFF
        else:
            raise PngError(f"{path}: bad filter type {ftype} on row {y}")
        prev = line
        if bpp == 4:
            r, g, b, a = line[0::4], line[1::4], line[2::4], line[3::4]
            if min(a) == 255:
                rgb = bytearray(width * 3)
                rgb[0::3], rgb[1::3], rgb[2::3] = r, g, b
            else:  # composite over white
                rgb = bytearray(width * 3)
                for x in range(width):
                    al = a[x]
                    rgb[3 * x] = (r[x] * al + 255 * (255 - al) + 127) // 255
                    rgb[3 * x + 1] = (g[x] * al + 255 * (255 - al) + 127) // 255
                    rgb[3 * x + 2] = (b[x] * al + 255 * (255 - al) + 127) // 255
            rows.append(bytes(rgb))
        else:
            rows.append(bytes(line))
    return width, height, rows


def histogram(rows):
    """Counter of (r, g, b) -> number of pixels."""
    counts = collections.Counter()
    for row in rows:
        counts.update(zip(row[0::3], row[1::3], row[2::3]))
    return counts


def parse_colour(text):
    h = text.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(ch * 2 for ch in h)
    if len(h) != 6:
        raise argparse.ArgumentTypeError(f"not a #rrggbb colour: {text!r}")
    try:
        return "#" + h.lower(), tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a #rrggbb colour: {text!r}") from None


def count_near(hist, rgb, tolerance):
    r0, g0, b0 = rgb
    return sum(n for (r, g, b), n in hist.items()
               if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check that a screenshot contains enough pixels of each chart colour.")
    ap.add_argument("png", help="screenshot to check (8-bit RGB/RGBA, non-interlaced PNG)")
    ap.add_argument("--colour", "--color", dest="colours", action="append", type=parse_colour,
                    metavar="HEX", help="chart colour to look for, repeatable "
                    f"(default: {' '.join(DEFAULT_COLOURS)})")
    ap.add_argument("--min-pixels", type=int, default=400,
                    help="pixels required of EACH colour (default 400)")
    ap.add_argument("--tolerance", type=int, default=12,
                    help="allowed difference per channel (default 12)")
    args = ap.parse_args(argv)
    colours = args.colours or [parse_colour(c) for c in DEFAULT_COLOURS]

    try:
        width, height, rows = read_png(args.png)
    except (OSError, PngError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    hist = histogram(rows)

    missing = []
    for name, rgb in colours:
        n = count_near(hist, rgb, args.tolerance)
        print(f"{name}: {n} pixels")
        if n < args.min_pixels:
            missing.append(f"{name} ({n})")
    if missing:
        print(f"FAIL: fewer than {args.min_pixels} pixels of {', '.join(missing)} "
              f"in {width}x{height} screenshot {args.png}")
        return 1
    print("OK: charts rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
