"""Wire payloads of staff credentials: two-factor enrolment and policy, API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from api.schemas import Name
from signaling.payloads import Payload

TotpCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]


# -- two-factor authentication ---------------------------------------------------------------


class TwoFactorStatusOut(Payload):
    enabled: bool
    # Admin and dpo always; every role when the organisation requires it.
    required: bool
    # An enrolment was started and waits for its first code.
    pending: bool
    # The one login allowed without enrolment (for roles that need it) has been used.
    grace_used: bool
    recovery_codes_left: int


class EnrolmentStart(Payload):
    # The user's own base32 secret (at least 112 bits); left out, the server makes a 160-bit one.
    secret: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = (
        None
    )


class EnrolmentOut(Payload):
    """Shown once, to the user enrolling: their secret, as text, URI and QR code."""

    secret: str
    otpauth_uri: str
    # An SVG data URI (segno), ready for <img src>.
    qr_svg: str


class CodeIn(Payload):
    code: TotpCode


class RecoveryCodesOut(Payload):
    """Ten single-use codes, shown once (only their keyed hashes are stored)."""

    recovery_codes: list[str]


class TwoFactorPolicyIn(Payload):
    all_roles: bool


class TwoFactorPolicyOut(Payload):
    # Admin and dpo always need two-factor authentication; true: every role does.
    all_roles: bool


# -- API keys --------------------------------------------------------------------------------

Scope = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64)]


class ApiKeyCreate(Payload):
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=30)]
    expires_at: AwareDatetime | None = None


class ApiKeyOut(Payload):
    id: uuid.UUID
    name: str
    # The first characters of the key, to tell keys apart; the key itself is never shown again.
    hint: str
    scopes: list[str]
    created_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    active: bool


class ApiKeyCreated(ApiKeyOut):
    """The answer to creating a key: the only time the key is shown."""

    key: str


class ScopesOut(Payload):
    scopes: list[str]
