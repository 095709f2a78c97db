"""Photos in a call: sanitised in a sandbox (``sanitize``), stored sealed and shared with both
parties (``service``). The table, its encryption, export and retention are ``privacy.attachments``."""

from signaling.attachments.sanitize import (
    ACCEPTED_TYPES,
    CleanImage,
    PhotoLimits,
    check_declared,
    sanitise_photo,
)
from signaling.attachments.service import MAX_PER_CALL, Attachments, Opened

__all__ = [
    "ACCEPTED_TYPES",
    "MAX_PER_CALL",
    "Attachments",
    "CleanImage",
    "Opened",
    "PhotoLimits",
    "check_declared",
    "sanitise_photo",
]
