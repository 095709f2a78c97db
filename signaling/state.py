"""The shapes the switchboard keeps in the realtime store: a live call (``CallState``, a hash
under ``keys.call``) and a connected adviser (``AdviserState``, JSON in the ``keys.advisers``
hash). Where each lives is spelled in ``signaling.store.keys``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Presence(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class Activity(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    BUSY = "busy"


@dataclass(slots=True)
class CallState:
    id: str
    org_id: str
    queue_id: str
    visitor: str
    reference: str
    joined_at: float
    language: str = ""
    status: str = "waiting"
    adviser_id: str = ""
    ring_deadline: float = 0.0
    accepted_at: float = 0.0
    declined: list[str] = field(default_factory=list)
    # party -> recording id while the call is being recorded
    recording: dict[str, str] = field(default_factory=dict)
    # The host page's checked context (accounts.context), shown to the adviser
    context: dict[str, str] = field(default_factory=dict)
    # While a transfer to an adviser rings: the transferring adviser, who gets the call back
    # on a refusal or a missed ring (signaling.transfer).
    transfer_from: str = ""
    # The transferring adviser's note for the next adviser (live only, never stored).
    transfer_note: str = ""
    # Transfers completed so far (to a queue, or accepted by an adviser).
    transfers: int = 0
    # The adviser's video is a shared screen now (``share:start``), not their camera.
    sharing: bool = False

    def to_hash(self) -> dict[str, str]:
        return {
            key: json.dumps(value) if isinstance(value, list | dict) else str(value)
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> CallState:
        return cls(
            id=raw["id"],
            org_id=raw["org_id"],
            queue_id=raw["queue_id"],
            visitor=raw["visitor"],
            reference=raw["reference"],
            joined_at=float(raw["joined_at"]),
            language=raw.get("language", ""),
            status=raw.get("status", "waiting"),
            adviser_id=raw.get("adviser_id", ""),
            ring_deadline=float(raw.get("ring_deadline", 0)),
            accepted_at=float(raw.get("accepted_at", 0)),
            declined=json.loads(raw.get("declined", "[]")),
            recording=json.loads(raw.get("recording", "{}")),
            context=json.loads(raw.get("context", "{}")),
            transfer_from=raw.get("transfer_from", ""),
            transfer_note=raw.get("transfer_note", ""),
            transfers=int(raw.get("transfers", 0)),
            sharing=raw.get("sharing", "False") == "True",
        )


@dataclass(slots=True)
class AdviserState:
    user_id: str
    display_name: str
    # Queue ids served, or None for every queue of the organisation.
    queues: list[str] | None
    languages: list[str]
    presence: str = Presence.AWAY
    activity: str = Activity.IDLE
    call_id: str = ""
    idle_since: float = 0.0
    # What presence to restore when a dropped connection comes back within the window.
    presence_before_drop: str = ""

    def serves(self, call: CallState) -> bool:
        if self.queues is not None and call.queue_id not in self.queues:
            return False
        return not (call.language and self.languages and call.language not in self.languages)

    def can_take(self, call: CallState) -> bool:
        return (
            self.presence == Presence.AVAILABLE
            and self.activity == Activity.IDLE
            and self.user_id not in call.declined
            and self.serves(call)
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> AdviserState:
        return cls(**json.loads(raw))
