"""Signalling: REST API, socket.io namespaces, staff and visitor auth, queue and call lifecycle."""

from signaling.config import RateLimit, SignalingConfig

__all__ = ["RateLimit", "SignalingConfig"]
