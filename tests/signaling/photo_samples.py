"""Photos for the attachment tests, made here with Pillow: one carrying every metadata block a
phone writes (EXIF with GPS and an orientation, XMP, an ICC profile, a comment), and hostile files."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

# A marker in each metadata block, so that a leak shows up as a byte search too.
SECRET = b"LEAKY-METADATA"
# Stored sideways: EXIF orientation 6 says "rotate 90 degrees clockwise to show it upright".
ROTATED = 6
WIDTH, HEIGHT = 400, 200
LEFT, RIGHT = (0, 0, 255), (255, 0, 0)


def phone_photo() -> bytes:
    """A 400x200 JPEG, blue left half and red right half as stored; upright it is 200x400 with
    blue on top. Carries GPS EXIF, a camera make, XMP, an ICC profile and a comment."""
    image = Image.new("RGB", (WIDTH, HEIGHT), RIGHT)
    image.paste(LEFT, (0, 0, WIDTH // 2, HEIGHT))
    exif = Image.Exif()
    exif[0x0112] = ROTATED
    exif[0x010F] = "PhoneMaker " + SECRET.decode()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (52.0, 22.0, 12.5), "E", (4.0, 53.0, 2.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>' + SECRET + b"</rdf:RDF></x:xmpmeta>"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, xmp=xmp, icc_profile=b"ICC" + SECRET * 8, comment=SECRET)
    return out.getvalue()


def truncated_photo() -> bytes:
    data = phone_photo()
    return data[: len(data) // 2]


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side: int = 8_000) -> bytes:
    """A real decompression bomb: a ``side``² greyscale PNG of zeros (64 MP by default, over the
    50 MP limit) in a file of about 60 kB."""
    raw_row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(raw_row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
