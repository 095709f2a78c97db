"""The image sanitiser subprocess: untrusted image bytes on stdin, a clean JPEG on stdout.

Run by ``signaling.attachments.sanitize`` as ``python -I _sanitize_child.py FORMAT MAX_PIXELS
MAX_EDGE QUALITY`` under the limits of ``transcription.sandbox`` (CPU, address space, no files,
empty environment); never imported by Loket. It imports only the standard library and Pillow.

What leaves it is built from pixels alone: the decoded image is turned upright by its EXIF
orientation (``ImageOps.exif_transpose``), copied into a fresh image that carries no ``info``
(so no EXIF, GPS, XMP, ICC profile or comment can ride along), scaled down to ``MAX_EDGE`` and
encoded as a baseline JPEG. Output: width and height (two big-endian 32-bit integers), then the
JPEG. A refusal is one line ``code: reason`` on stderr and exit status 2.
"""

from __future__ import annotations

import io
import struct
import sys
import warnings

EXIT_REFUSED = 2
# The formats a phone or a browser canvas sends; Pillow tries no other decoder on these bytes.
FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")


def sanitise(data: bytes, declared: str, max_pixels: int, max_edge: int, quality: int) -> bytes:
    from PIL import Image, ImageOps

    # Pillow's own bomb check (a warning past the limit, an error past twice it) backs ours up.
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    expected = FORMATS[declared]
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS.values()))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Refused("too_many_pixels", str(exc)) from exc
    except Exception as exc:
        raise Refused("unreadable_image", f"not a readable image ({type(exc).__name__})") from exc
    if image.format != expected:
        raise Refused("type_mismatch", f"the file says {declared} but is {str(image.format).lower()}")
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise Refused("too_many_pixels", f"{width}x{height} is more than {max_pixels} pixels")
    try:
        if image.format == "JPEG":
            # Decode at a reduced DCT scale when the photo is far bigger than what is kept: a
            # 48 MP phone photo then costs a fraction of the time and memory.
            image.draft("RGB", (max_edge, max_edge))
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        rgb = upright.convert("RGBA").convert("RGB") if "A" in upright.getbands() else upright.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Refused("too_many_pixels", str(exc)) from exc
    except MemoryError:
        raise
    except Exception as exc:
        raise Refused("unreadable_image", f"the image data is damaged ({type(exc).__name__}: {exc})") from exc
    # Pixels only: a new image has an empty ``info`` (no exif, icc_profile, xmp, comment).
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
    clean.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=quality, optimize=True)
    return struct.pack(">II", *clean.size) + out.getvalue()


def main() -> int:
    declared, max_pixels, max_edge, quality = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    data = sys.stdin.buffer.read()
    try:
        result = sanitise(data, declared, max_pixels, max_edge, quality)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return EXIT_REFUSED
    except MemoryError:
        print("image_limits: memory limit exceeded", file=sys.stderr)
        return 3
    sys.stdout.buffer.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
