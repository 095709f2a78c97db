"""Ephemeral TURN credentials, as coturn's ``use-auth-secret`` expects them (the TURN REST API
draft, draft-uberti-behave-turn-rest-00 §2.2): username ``expiry:id``, password
``base64(HMAC-SHA1(secret, username))``. Nothing is stored; coturn recomputes the HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any


def turn_credentials(secret: str, *, ttl_seconds: int, now: float | None = None) -> tuple[str, str]:
    expiry = int((time.time() if now is None else now) + ttl_seconds)
    username = f"{expiry}:{secrets.token_hex(8)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_with_credentials(
    servers: list[dict[str, Any]], turn_secret: str | None, *, ttl_seconds: int
) -> list[dict[str, Any]]:
    """The configured ICE servers as browsers want them, TURN ones with fresh credentials."""
    result = []
    for server in servers:
        urls = server.get("urls", [])
        urls = [urls] if isinstance(urls, str) else list(urls)
        entry: dict[str, Any] = {"urls": urls}
        if turn_secret and any(url.startswith(("turn:", "turns:")) for url in urls):
            entry["username"], entry["credential"] = turn_credentials(turn_secret, ttl_seconds=ttl_seconds)
        elif "username" in server and "credential" in server:
            entry["username"], entry["credential"] = server["username"], server["credential"]
        result.append(entry)
    return result
