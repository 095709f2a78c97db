"""Single-use recovery codes: ten per enrolment, for when the authenticator is lost.

A code is 10 base32 characters (50 bits), shown as ``abcde-fghij``. It is stored as an
HMAC-SHA256 under a key derived from the master key (HKDF, RFC 5869), not a plain hash: 50 bits
are within reach of an offline search, but not without a key that is not in the database.
Using one marks it used in the same statement that checks it, so two concurrent logins cannot
both spend it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.credential_models import RecoveryCode
from db import utcnow

COUNT = 10
_CODE = re.compile(r"^[a-z2-7]{5}-?[a-z2-7]{5}$")


class RecoveryCodes:
    def __init__(self, master_key: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"loket/recovery-codes/v1"
        ).derive(master_key)

    def _hash(self, user_id: uuid.UUID, code: str) -> str:
        normal = code.strip().lower().replace("-", "")
        return hmac.new(self._key, user_id.bytes + normal.encode(), hashlib.sha256).hexdigest()

    async def replace(self, db: AsyncSession, user_id: uuid.UUID) -> list[str]:
        """Ten new codes for ``user_id`` (every earlier one stops working); shown once."""
        await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        codes = [_new_code() for _ in range(COUNT)]
        db.add_all(RecoveryCode(user_id=user_id, code_hash=self._hash(user_id, code)) for code in codes)
        return codes

    async def use(self, db: AsyncSession, user_id: uuid.UUID, code: str) -> bool:
        """Spend ``code``; False when it is not one of the user's unused codes."""
        if not looks_like_code(code):
            return False
        spent = await db.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == self._hash(user_id, code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
        )
        return bool(spent.rowcount == 1)  # type: ignore[attr-defined]

    async def left(self, db: AsyncSession, user_id: uuid.UUID) -> int:
        count = await db.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        return int(count or 0)


def looks_like_code(text: str) -> bool:
    return bool(_CODE.match(text.strip().lower()))


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]
    return f"{raw[:5]}-{raw[5:]}"
