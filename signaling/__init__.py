"""Signalling, the live call: the switchboard (queues, rings, pairing), socket.io namespaces,
the outbox with per-session sequence numbers, chat, consent, recording control, and the realtime
store the nodes share."""

from signaling.config import SignalingConfig

__all__ = ["SignalingConfig"]
