"""Errors raised by the media package, rooted at Loket's ``LoketError``."""

from __future__ import annotations

from db.errors import LoketError


class MediaError(LoketError):
    """Base of every error the media package raises on purpose."""

    code = "media_error"
    status = 400


class NegotiationError(MediaError):
    """An SDP offer or ICE candidate could not be applied to a leg."""

    code = "rtc_negotiation_failed"
    status = 400


class LegClosedError(MediaError):
    """The leg (or its call) has been closed; it takes no more offers or candidates."""

    code = "rtc_leg_closed"
    status = 409


class AiortcInternalsError(MediaError, RuntimeError):
    """The installed aiortc no longer has an internal that ``media._aiortc_hooks`` relies on.

    This is a deployment error (wrong aiortc version), not a client error.
    """

    code = "media_aiortc_internals_changed"
    status = 500
