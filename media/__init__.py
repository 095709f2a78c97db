"""Media: aiortc legs and RTP packet forwarding between them (no decode, no encode).

Public names only; ``media._aiortc_hooks`` holds every use of aiortc private API.
"""

from media._aiortc_hooks import VERIFIED_AIORTC_VERSION, check_aiortc_internals
from media.call import PARTIES, MediaCall
from media.config import IceServer, MediaConfig
from media.errors import AiortcInternalsError, LegClosedError, MediaError, NegotiationError
from media.forwarder import Forwarder, ForwarderStats
from media.frames import EncodedFrame
from media.leg import Leg
from media.recorder import Recorder, RecordingError, RecordingResult
from media.rtp_inbound import InboundRtp, PacketSource
from media.rtp_outbound import OutboundRtp
from media.rtp_session import RTP_DROPS, RtpSession
from media.types import FrameSource, MediaKind, Party

__all__ = [
    "PARTIES",
    "RTP_DROPS",
    "VERIFIED_AIORTC_VERSION",
    "AiortcInternalsError",
    "EncodedFrame",
    "Forwarder",
    "ForwarderStats",
    "FrameSource",
    "IceServer",
    "InboundRtp",
    "Leg",
    "LegClosedError",
    "MediaCall",
    "MediaConfig",
    "MediaError",
    "MediaKind",
    "NegotiationError",
    "OutboundRtp",
    "PacketSource",
    "Party",
    "Recorder",
    "RecordingError",
    "RecordingResult",
    "RtpSession",
    "check_aiortc_internals",
]
