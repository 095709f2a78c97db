"""Untrusted photos in, clean JPEGs out: the type, size and pixel checks and the sandboxed decode.

The bytes a party sends are checked cheaply here first (size, then the type they claim against
their magic number), then decoded only in a subprocess with kernel limits
(``transcription.sandbox``, the same leash as untrusted audio): a decoder bug or a
decompression bomb kills that child, never the server. The child re-encodes pixels only (see
``_sanitize_child``), so no metadata block survives. The received bytes are never written to
disk: they reach the child through its stdin and are dropped when this returns.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from db.errors import InvalidInput, LoketError, PayloadTooLarge
from transcription.config import MIB, DecodeLimits
from transcription.errors import DecodeFailed
from transcription.sandbox import run_limited

_CHILD = Path(__file__).with_name("_sanitize_child.py")
# Content-Type → the child's format name, and the magic number that type's files start with.
_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "image/jpeg": ("jpeg", (b"\xff\xd8\xff",)),
    "image/png": ("png", (b"\x89PNG\r\n\x1a\n",)),
    "image/webp": ("webp", (b"RIFF",)),
}
ACCEPTED_TYPES = tuple(_TYPES)
# A 50-megapixel photo decodes in about a second and needs some 200 MiB as RGB(A).
_SANDBOX = DecodeLimits(cpu_seconds=10, memory_bytes=1024 * MIB, timeout_seconds=20.0, max_audio_seconds=1.0)
_REFUSAL_STATUS = {"too_many_pixels": 422, "unreadable_image": 422, "type_mismatch": 415}


class UnsupportedType(LoketError):
    code = "unsupported_type"
    status = 415


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    """What one received photo may be. ``max_bytes`` bounds the upload, ``max_pixels`` the
    decoded image (a bomb declares a huge size in a tiny file), ``max_edge`` the stored one."""

    max_bytes: int = 10 * MIB
    max_pixels: int = 50_000_000
    max_edge: int = 2560
    quality: int = 85
    sandbox: DecodeLimits = _SANDBOX

    def __post_init__(self) -> None:
        if self.max_bytes < 1024 or self.max_pixels < 1 or not 16 <= self.max_edge <= 8192:
            raise ValueError("photo limits out of range")
        if not 30 <= self.quality <= 95:
            raise ValueError("JPEG quality is 30 to 95")


@dataclass(frozen=True, slots=True)
class CleanImage:
    """A re-encoded image: JPEG bytes built from pixels only, upright, with its size."""

    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


def check_declared(content_type: str, size: int | None, limits: PhotoLimits) -> str:
    """Refuse early what the headers already say is wrong; the media type without parameters."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _TYPES:
        raise UnsupportedType(f"send a photo as {', '.join(ACCEPTED_TYPES)} (got {media_type or 'no type'})")
    if size is not None and size > limits.max_bytes:
        raise PayloadTooLarge(f"photos are limited to {limits.max_bytes // MIB} MiB", code="too_large")
    return media_type


async def sanitise_photo(data: bytes, content_type: str, limits: PhotoLimits) -> CleanImage:
    """The clean re-encoding of ``data``, which claims to be ``content_type``.

    Refusals: ``unsupported_type`` / ``type_mismatch`` (415), ``too_large`` (413), ``empty_file``,
    ``too_many_pixels``, ``unreadable_image`` (truncated or corrupt) and ``image_limits`` (the
    sandbox's CPU, memory or time ran out) (422).
    """
    media_type = check_declared(content_type, len(data), limits)
    if not data:
        raise InvalidInput("the photo is empty", code="empty_file")
    name, magics = _TYPES[media_type]
    if not any(data.startswith(magic) for magic in magics) or (name == "webp" and data[8:12] != b"WEBP"):
        raise UnsupportedType(f"the file is not a {name.upper()} image", code="type_mismatch")
    argv = [
        sys.executable,
        "-I",
        str(_CHILD),
        name,
        str(limits.max_pixels),
        str(limits.max_edge),
        str(limits.quality),
    ]
    try:
        output = await run_limited(
            argv, limits.sandbox, max_output_bytes=limits.max_bytes + 8, input_bytes=data
        )
    except DecodeFailed as exc:
        code, _, reason = exc.reason.partition(": ")
        if code in _REFUSAL_STATUS:
            raise InvalidInput(reason, code=code, status=_REFUSAL_STATUS[code]) from None
        raise InvalidInput(
            f"the photo could not be processed within limits ({exc.reason})", code="image_limits"
        ) from None
    if len(output) < 8 + 3 or output[8:11] != b"\xff\xd8\xff":
        raise InvalidInput("the photo could not be processed", code="image_limits")
    width, height = struct.unpack(">II", output[:8])
    return CleanImage(output[8:], width, height)
