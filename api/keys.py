"""Typed keys under which the shell puts long-lived objects on the aiohttp application."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from accounts.addresses import Forwarding
from accounts.auth import StaffAuth
from accounts.sessions import StaffSessions
from accounts.tokens import TokenService
from accounts.two_factor import TwoFactor
from db import SessionFactory
from recordings import RecordingsConfig, Storage
from signaling.config import SignalingConfig
from signaling.store import RealtimeStore
from signaling.switchboard import Switchboard

SESSIONS: web.AppKey[SessionFactory] = web.AppKey("sessions")
STORE: web.AppKey[RealtimeStore] = web.AppKey("store")
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens", TokenService)
AUTH: web.AppKey[StaffAuth] = web.AppKey("auth", StaffAuth)
TWO_FACTOR: web.AppKey[TwoFactor] = web.AppKey("two_factor", TwoFactor)
SWITCHBOARD: web.AppKey[Switchboard] = web.AppKey("switchboard", Switchboard)
# Who staff are now (every request re-checks the account, its login and its location).
STAFF_SESSIONS: web.AppKey[StaffSessions] = web.AppKey("staff_sessions", StaffSessions)
# Which proxies' forwarding header is believed, and which header (accounts.addresses).
FORWARDING: web.AppKey[Forwarding] = web.AppKey("forwarding", Forwarding)
CONFIG: web.AppKey[SignalingConfig] = web.AppKey("config", SignalingConfig)
TRUSTED_PROXIES: web.AppKey[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = web.AppKey(
    "trusted_proxies"
)
# Where recordings are stored and the key material to read them back (playback, export).
STORAGE: web.AppKey[Storage] = web.AppKey("storage")
RECORDINGS_CONFIG: web.AppKey[RecordingsConfig] = web.AppKey("recordings_config", RecordingsConfig)
