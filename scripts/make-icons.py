#!/usr/bin/env python3
"""Draws the Sổ Tiêm icon (a white cross and a drop on a teal rounded square) as the PNG and ICO
files Tauri's bundler and window use. Pure Python, so it runs anywhere: python3 scripts/make-icons.py"""
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), "..", "icons")
TEAL = (15, 118, 110)
WHITE = (255, 255, 255)
RED = (220, 38, 38)


def inside_rounded(x, y, r):
    """(x, y) in [0,1]²: inside a rounded square with corner radius r."""
    cx = min(max(x, r), 1 - r)
    cy = min(max(y, r), 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def colour_at(x, y):
    if not inside_rounded(x, y, 0.2):
        return None
    # The cross.
    if (0.40 <= x <= 0.60 and 0.18 <= y <= 0.72) or (0.22 <= x <= 0.78 and 0.35 <= y <= 0.55):
        return WHITE
    # A drop under it: a circle with a point on top.
    dx, dy = x - 0.5, y - 0.83
    if dx * dx + dy * dy <= 0.07 ** 2 or (0.74 <= y <= 0.83 and abs(dx) <= (y - 0.74) * 0.8):
        return RED
    return TEAL


def render(size, samples=4):
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(samples):
                for sx in range(samples):
                    c = colour_at((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size)
                    if c:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 255
            n = samples * samples
            a = acc[3] // n
            if a:
                row += bytes((acc[0] * 255 // acc[3], acc[1] * 255 // acc[3], acc[2] * 255 // acc[3], a))
            else:
                row += b"\0\0\0\0"
        rows.append(bytes(row))
    return rows


def png(size):
    raw = b"".join(b"\0" + r for r in render(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(pngs):
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, data = b"", b""
    for size, blob in pngs:
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(blob), offset + len(data))
        data += blob
    return header + entries + data


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {"32x32.png": 32, "128x128.png": 128, "128x128@2x.png": 256, "icon.png": 512}
    for name, size in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(png(size))
    with open(os.path.join(OUT, "icon.ico"), "wb") as f:
        f.write(ico([(s, png(s)) for s in (16, 32, 48, 256)]))


if __name__ == "__main__":
    main()
