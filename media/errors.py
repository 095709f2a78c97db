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


class MediaUnavailable(MediaError):
    """No live media node can take the call, or the call's node cannot be reached."""

    code = "media_unavailable"
    status = 503


class SpoolPathError(MediaError):
    """A recording's spool key is not a plain relative path inside the spool directory."""

    code = "bad_spool_path"
    status = 400


class NodeAuthError(MediaError):
    """A request on the internal channel is not signed with the cluster's secret, or is stale."""

    code = "unauthorized"
    status = 401


class UnknownCall(MediaError):
    """The internal channel names a call that is placed on no node."""

    code = "unknown_call"
    status = 404


class CallOnOtherNode(MediaError):
    """The internal channel names a call placed on another node (RFC 9110 section 15.5.20,
    421 Misdirected Request: this server is not the one to answer for it)."""

    code = "call_on_other_node"
    status = 421


class NodeError(MediaError):
    """A media node answered with something this client does not understand."""

    code = "media_node_error"
    status = 502


class IcePortsExhausted(MediaUnavailable):
    """Every UDP port of the media's configured range (``MediaConfig.udp_ports``) is taken on
    one of its addresses: this process cannot answer another leg until a call ends."""
