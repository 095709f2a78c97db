"""Socket.io event payloads, validated once at the namespace edge (the REST bodies, built on the
same ``Payload`` base, live in ``api.schemas``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Empty(Payload):
    pass


class QueueJoin(Payload):
    queue_id: uuid.UUID
    language: Language | None = None


class PresenceSet(Payload):
    status: Literal["available", "away"]


class CallAccept(Payload):
    call_id: uuid.UUID


class CallDecline(Payload):
    call_id: uuid.UUID | None = None


class CallTransfer(Payload):
    """``call:transfer``: to a queue (the visitor goes to its front) or to one adviser (rung)."""

    queue_id: uuid.UUID | None = None
    adviser_id: uuid.UUID | None = None
    # For the next adviser's eyes only: shown with the ring, never stored.
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> CallTransfer:
        if (self.queue_id is None) == (self.adviser_id is None):
            raise ValueError("give either queue_id or adviser_id")
        return self


class SessionResume(Payload):
    last_seq: Annotated[int, Field(ge=0)]


class RtcOffer(Payload):
    sdp: Annotated[str, StringConstraints(min_length=1, max_length=60_000)]
    type: Literal["offer"]


class RtcCandidate(Payload):
    # W3C RTCIceCandidateInit; an empty or absent candidate marks the end of candidates.
    candidate: Annotated[str, StringConstraints(max_length=1_000)] | None = None
    sdpMid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None


class ConsentSet(Payload):
    recording: bool
    text_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    language: Language | None = None
    # SHA-256 (hex) of the text the widget displayed; checked against the stored text when sent.
    text_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


class ChatSend(Payload):
    # Emptiness and the 2,000-character limit are checked after stripping, by signaling.chat,
    # with their own error codes; this bound only keeps absurd payloads out.
    text: Annotated[str, StringConstraints(max_length=10_000)]


def describe_validation_error(exc: ValidationError) -> str:
    """A short, human message naming each bad field (never echoing the input back)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(piece) for piece in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
