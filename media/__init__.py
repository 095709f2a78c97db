"""Media: aiortc legs and encoded-frame forwarding between them (no decode, no encode).

Public names only; ``media._aiortc_hooks`` holds every use of aiortc private API.
"""

from media._aiortc_hooks import VERIFIED_AIORTC_VERSION, check_aiortc_internals
from media.call import PARTIES, MediaCall
from media.config import IceServer, MediaConfig
from media.errors import AiortcInternalsError, LegClosedError, MediaError, NegotiationError
from media.forwarder import Forwarder, ForwarderStats
from media.frames import EncodedFrame
from media.inbound import InboundStream
from media.leg import Leg
from media.outbound import OutboundTrack
from media.recorder import Recorder, RecordingError, RecordingResult
from media.types import FrameSource, MediaKind, Party

__all__ = [
    "PARTIES",
    "VERIFIED_AIORTC_VERSION",
    "AiortcInternalsError",
    "EncodedFrame",
    "Forwarder",
    "ForwarderStats",
    "FrameSource",
    "IceServer",
    "InboundStream",
    "Leg",
    "LegClosedError",
    "MediaCall",
    "MediaConfig",
    "MediaError",
    "MediaKind",
    "NegotiationError",
    "OutboundTrack",
    "Party",
    "Recorder",
    "RecordingError",
    "RecordingResult",
    "check_aiortc_internals",
]
