"""The data processing agreement (DPA, GDPR art. 28) and its acceptance per organisation.

The installation has one current DPA text with a version (``LOKET_DPA_FILE`` and
``LOKET_DPA_VERSION``; without them the bundled template ``DEFAULT_DPA``). ``loket serve``
publishes it at start (``publish_dpa``): a row in ``dpa_versions`` with the text's SHA-256; a
version already published with another text is refused (a changed text needs a new version).
The newest published version is the current one.

**The promise.** Until a user with role ``dpo`` of an organisation has accepted the current
version (its version *and* SHA-256), recording and transcription stay off for that organisation:
``require_dpa_accepted`` raises ``DpaNotAccepted`` (409 ``dpa_not_accepted``), and the recording
start, the queue settings that turn recording or transcription on, and the transcription job ask
it. Acceptance is audited (who, when, version, hash). Publishing a new version makes every earlier
acceptance stale, so it has to be accepted again. An installation where nothing was ever
published (only tests that never start the app) has nothing to accept.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, ForeignKey, String, Text, Uuid, exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db import audit
from db.base import Base, UTCDateTime, new_id, utcnow
from db.errors import Conflict

DPO_ROLE = "dpo"


class DpaNotAccepted(Conflict):
    code = "dpa_not_accepted"


class DpaVersionConflict(Conflict):
    code = "dpa_version_conflict"


@dataclass(frozen=True, slots=True)
class DpaText:
    """One version of the DPA text as the installation has it."""

    version: str
    text: str = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.version) <= 32 or not self.version.isprintable():
            raise ValueError("a DPA version is 1 to 32 printable characters")
        if not self.text.strip():
            raise ValueError("the DPA text is empty")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @classmethod
    def from_file(cls, path: Path, version: str) -> DpaText:
        return cls(version, path.read_text(encoding="utf-8"))


DEFAULT_DPA = DpaText(
    "template-1",
    """Data processing agreement (template, version template-1)

1. The organisation (the controller) has Loket, run by the installation's operator (the processor),
   process the personal data of its website's visitors and staff only to provide video assistance:
   queues, calls, chat, recordings made with the visitor's consent, and their transcripts.
2. The processor processes these data only on the controller's documented instructions, keeps them
   confidential, and protects them with the measures described in the installation's documentation
   (encryption at rest, crypto-shredding, access control, an anchored audit trail).
3. Retention follows the controller's retention rules; erasure and export requests are carried out
   within the deadlines of the GDPR, and leave receipts in the audit trail.
4. Sub-processors, transfers outside the EEA and breach notification follow art. 28 and 33 GDPR.
5. Recording and transcription stay off until the controller's data protection officer has accepted
   this agreement.
""",
)


class DpaVersion(Base):
    """A published version of the DPA text (the newest is the current one)."""

    __tablename__ = "dpa_versions"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class DpaAcceptance(Base):
    """A dpo's acceptance of one version (and exact text) of the DPA for their organisation."""

    __tablename__ = "dpa_acceptances"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Explicit types: ``organisations`` and ``users`` belong to accounts (see Recording.call_id).
    org_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("organisations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


async def publish_dpa(session: AsyncSession, dpa: DpaText) -> DpaVersion:
    """Make ``dpa`` the current version if it is new; the caller commits.

    Raises ``DpaVersionConflict`` when the version was published with another text.
    """
    found = await session.get(DpaVersion, dpa.version)
    if found is not None:
        if found.sha256 != dpa.sha256:
            raise DpaVersionConflict(
                f"DPA version {dpa.version} was published with another text: give the new text a new version"
            )
        return found
    published = DpaVersion(version=dpa.version, sha256=dpa.sha256, text=dpa.text, published_at=utcnow())
    session.add(published)
    await session.flush()
    await audit.record(
        session,
        actor="system",
        action="dpa.published",
        target=f"dpa:{dpa.version}",
        details={"version": dpa.version, "sha256": dpa.sha256},
    )
    return published


async def current_dpa(session: AsyncSession) -> DpaVersion | None:
    """The newest published version, if any."""
    return await session.scalar(
        select(DpaVersion).order_by(DpaVersion.published_at.desc(), DpaVersion.version.desc()).limit(1)
    )


async def dpa_acceptance(
    session: AsyncSession, org_id: uuid.UUID, version: DpaVersion
) -> DpaAcceptance | None:
    """The organisation's acceptance of exactly ``version`` (version and text), if any."""
    return await session.scalar(
        select(DpaAcceptance)
        .where(
            DpaAcceptance.org_id == org_id,
            DpaAcceptance.version == version.version,
            DpaAcceptance.sha256 == version.sha256,
        )
        .order_by(DpaAcceptance.accepted_at)
        .limit(1)
    )


async def require_dpa_accepted(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Raise ``DpaNotAccepted`` unless the organisation's dpo accepted the current DPA."""
    current = await current_dpa(session)
    if current is None:
        return
    if await dpa_acceptance(session, org_id, current) is None:
        raise DpaNotAccepted(
            f"recording and transcription stay off until a data protection officer (role dpo) of this "
            f"organisation accepts the data processing agreement, version {current.version}"
        )


async def accept_dpa(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    user_id: uuid.UUID | None,
    version: str,
    sha256: str,
    actor: str,
) -> DpaAcceptance:
    """Record the acceptance of the current version (``version`` and ``sha256`` must be it, so
    nobody accepts a text they were not shown), audited; the caller commits and checks the role."""
    current = await current_dpa(session)
    if current is None or (current.version, current.sha256) != (version, sha256):
        raise Conflict(
            "this is not the current version of the data processing agreement: reload it and read it again",
            code="dpa_version_mismatch",
        )
    found = await dpa_acceptance(session, org_id, current)
    if found is not None:
        return found
    accepted = DpaAcceptance(
        org_id=org_id, version=version, sha256=sha256, accepted_by=user_id, accepted_at=utcnow()
    )
    session.add(accepted)
    await session.flush()
    await audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action="dpa.accepted",
        target=f"dpa:{version}",
        details={"version": version, "sha256": sha256, "accepted_at": accepted.accepted_at.isoformat()},
    )
    return accepted


async def accept_for_fixture(session: AsyncSession, org_id: uuid.UUID, *, actor: str) -> DpaAcceptance:
    """Accept the current DPA (publishing the template if there is none) on an organisation's
    behalf, without a dpo: only for the ``--demo`` organisation and test fixtures, whose calls
    record. Audited like any acceptance, with ``actor`` and no user."""
    current = await current_dpa(session) or await publish_dpa(session, DEFAULT_DPA)
    return await accept_dpa(
        session, org_id=org_id, user_id=None, version=current.version, sha256=current.sha256, actor=actor
    )


def dpa_accepted_by(org_id: ColumnElement[uuid.UUID], current: DpaVersion | None) -> ColumnElement[bool]:
    """A SQL condition: the organisation ``org_id`` (a column) accepted ``current`` (true when
    nothing was published), for jobs that pick work for many organisations at once."""
    if current is None:
        return true()
    return exists().where(
        DpaAcceptance.org_id == org_id,
        DpaAcceptance.version == current.version,
        DpaAcceptance.sha256 == current.sha256,
    )
