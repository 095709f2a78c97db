"""Creating and changing organisations, staff, queues and widget keys, with validation and an
audit event each. The CLI and the admin REST endpoints both come through here."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import hours, locations
from accounts.context import normalise_keys
from accounts.models import (
    CONSOLE_LANGUAGES,
    Organisation,
    Queue,
    RecordingPolicy,
    RefreshToken,
    Role,
    User,
    WidgetKey,
    queue_advisers,
)
from accounts.passwords import MIN_PASSWORD_LENGTH, hash_password
from db import audit, utcnow
from db.errors import Conflict, InvalidInput, NotFound

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LANGUAGE = re.compile(r"^[a-z]{2}$")


def _languages(languages: list[str]) -> list[str]:
    cleaned = [language.strip().lower() for language in languages]
    for language in cleaned:
        if not LANGUAGE.match(language):
            raise InvalidInput(f"{language!r} is not a two-letter language code (ISO 639-1)")
    return list(dict.fromkeys(cleaned))


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` exactly as browsers send it in the Origin header."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{origin!r} is not an origin like https://shop.example")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidInput(f"{origin!r}: an origin has no path, query or credentials")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _origins(origins: list[str]) -> list[str]:
    """A widget key's allowed origins, normalised, each once; at least one."""
    if not origins:
        raise InvalidInput("a widget key needs at least one allowed origin")
    return list(dict.fromkeys(normalise_origin(origin) for origin in origins))


async def _audited(
    db: AsyncSession, actor: str, action: str, row_id: uuid.UUID, org_id: uuid.UUID, details: dict[str, Any]
) -> None:
    """The audit event of ``action`` on a row, named after the action's kind: ``user.create``
    on user ``row_id`` targets ``user:{row_id}``."""
    kind = action.partition(".")[0]
    await audit.record(
        db, actor=actor, action=action, target=f"{kind}:{row_id}", org_id=org_id, details=details
    )


async def _org(db: AsyncSession, org_id: uuid.UUID) -> Organisation:
    org = await db.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id}", code="org_not_found")
    return org


async def create_org(db: AsyncSession, *, name: str, actor: str) -> Organisation:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("an organisation needs a name of 1 to 200 characters")
    org = Organisation(name=name)
    db.add(org)
    await db.flush()
    await _audited(db, actor, "org.create", org.id, org.id, {"name": name})
    return org


async def create_user(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str,
    role: str,
    password: str,
    actor: str,
    display_name: str | None = None,
    languages: list[str] | None = None,
    queue_ids: list[uuid.UUID] | None = None,
    location_id: uuid.UUID | None = None,
) -> User:
    await _org(db, org_id)
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    if role not in set(Role):
        raise InvalidInput(f"role must be one of {', '.join(Role)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    if await db.scalar(select(User.id).where(User.email == email)):
        raise Conflict("a user with this e-mail address exists", code="email_taken")
    user = User(
        org_id=org_id,
        email=email,
        role=role,
        display_name=(display_name or email.split("@")[0]).strip()[:200],
        password_hash=await hash_password(password),
        languages=_languages(languages or []),
    )
    db.add(user)
    await db.flush()
    await set_user_queues(db, user, queue_ids or [])
    await _audited(db, actor, "user.create", user.id, org_id, {"email": email, "role": role})
    if location_id is not None:
        await locations.assign(db, user, location_id, actor=actor)
    return user


async def set_user_queues(db: AsyncSession, user: User, queue_ids: list[uuid.UUID]) -> None:
    for queue_id in queue_ids:
        queue = await db.get(Queue, queue_id)
        if queue is None or queue.org_id != user.org_id:
            raise InvalidInput(f"no queue {queue_id} in this organisation")
    await db.execute(delete(queue_advisers).where(queue_advisers.c.user_id == user.id))
    if queue_ids:
        await db.execute(
            insert(queue_advisers), [{"queue_id": q, "user_id": user.id} for q in dict.fromkeys(queue_ids)]
        )


async def change_user(db: AsyncSession, user: User, *, actor: str, changes: dict[str, Any]) -> User:
    """Apply ``changes`` (role, active, display_name, languages, ui_language, queue_ids, password)
    to ``user``."""
    recorded: dict[str, Any] = {}
    if "role" in changes and changes["role"] != user.role:
        if changes["role"] not in set(Role):
            raise InvalidInput(f"role must be one of {', '.join(Role)}")
        recorded["role"] = {"from": user.role, "to": changes["role"]}
        user.role = changes["role"]
    if "active" in changes and changes["active"] != user.active:
        recorded["active"] = changes["active"]
        user.active = bool(changes["active"])
    if "display_name" in changes:
        user.display_name = str(changes["display_name"]).strip()[:200]
        recorded["display_name"] = user.display_name
    if "languages" in changes:
        user.languages = _languages(changes["languages"])
        recorded["languages"] = user.languages
    if "ui_language" in changes and changes["ui_language"] != user.ui_language:
        if changes["ui_language"] not in (*CONSOLE_LANGUAGES, None):
            raise InvalidInput(f"ui_language must be one of {', '.join(CONSOLE_LANGUAGES)} or null")
        user.ui_language = changes["ui_language"]
        recorded["ui_language"] = user.ui_language
    if "queue_ids" in changes:
        await set_user_queues(db, user, changes["queue_ids"])
        recorded["queue_ids"] = [str(q) for q in changes["queue_ids"]]
    if "password" in changes:
        if len(changes["password"]) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
        user.password_hash = await hash_password(changes["password"])
        recorded["password"] = "changed"  # noqa: S105 - records that it changed, never the value
    if "password" in recorded or recorded.get("active") is False:
        # Other sessions must not outlive a password change or a deactivation.
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if recorded:
        action = "user.role_change" if "role" in recorded else "user.update"
        await _audited(db, actor, action, user.id, user.org_id, recorded)
    return user


def _queue_fields(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"]).strip()
        if not cleaned["name"] or len(cleaned["name"]) > 200:
            raise InvalidInput("a queue needs a name of 1 to 200 characters")
    if "languages" in cleaned:
        cleaned["languages"] = _languages(cleaned["languages"])
    if "recording_policy" in cleaned and cleaned["recording_policy"] not in set(RecordingPolicy):
        raise InvalidInput(f"recording_policy is one of {', '.join(RecordingPolicy)}")
    if cleaned.get("opening_hours") is not None:
        try:
            hours.validate(cleaned["opening_hours"])
        except ValueError as exc:
            raise InvalidInput(f"opening_hours: {exc}") from exc
    wait = cleaned.get("max_wait_seconds")
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int) or not 1 <= wait <= 86400):
        raise InvalidInput("max_wait_seconds is a whole number of seconds from 1 to 86400, or null")
    if "closing_days" in cleaned:
        try:
            cleaned["closing_days"] = hours.closing_days(cleaned["closing_days"] or [])
        except ValueError as exc:
            raise InvalidInput(f"closing_days: {exc}") from exc
    if "timezone" in cleaned:
        try:
            ZoneInfo(cleaned["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(f"unknown time zone {cleaned['timezone']!r}") from exc
    return cleaned


async def create_queue(db: AsyncSession, *, org_id: uuid.UUID, actor: str, **fields: Any) -> Queue:
    await _org(db, org_id)
    queue = Queue(org_id=org_id, **_queue_fields(fields))
    db.add(queue)
    await db.flush()
    await _audited(db, actor, "queue.create", queue.id, org_id, _jsonable(fields))
    return queue


async def change_queue(db: AsyncSession, queue: Queue, *, actor: str, changes: dict[str, Any]) -> Queue:
    for name, value in _queue_fields(changes).items():
        setattr(queue, name, value)
    await _audited(db, actor, "queue.update", queue.id, queue.org_id, _jsonable(changes))
    return queue


async def delete_queue(db: AsyncSession, queue: Queue, *, actor: str) -> None:
    # An adviser with no queue rows serves every queue; deleting the only queue an adviser
    # is assigned to would silently widen what they serve, so that has to be a decision.
    assigned = list(
        await db.scalars(select(queue_advisers.c.user_id).where(queue_advisers.c.queue_id == queue.id))
    )
    elsewhere = set(
        await db.scalars(
            select(queue_advisers.c.user_id).where(
                queue_advisers.c.user_id.in_(assigned), queue_advisers.c.queue_id != queue.id
            )
        )
    )
    if set(assigned) - elsewhere:
        raise Conflict(
            "some advisers serve only this queue; assign them other queues first",
            code="queue_has_advisers",
        )
    await _audited(db, actor, "queue.delete", queue.id, queue.org_id, {"name": queue.name})
    await db.delete(queue)


async def create_widget_key(
    db: AsyncSession,
    *,
    org_id: uuid.UUID,
    origins: list[str],
    actor: str,
    context_keys: list[str] | None = None,
) -> WidgetKey:
    await _org(db, org_id)
    normalised = _origins(origins)
    allowed = normalise_keys(context_keys or [])
    key = WidgetKey(
        org_id=org_id, key="wk_" + secrets.token_urlsafe(24), origins=normalised, context_keys=allowed
    )
    db.add(key)
    await db.flush()
    details: dict[str, Any] = {"origins": normalised, **({"context_keys": allowed} if allowed else {})}
    await _audited(db, actor, "widget_key.create", key.id, org_id, details)
    return key


async def change_widget_key(
    db: AsyncSession,
    key: WidgetKey,
    *,
    actor: str,
    origins: list[str] | None,
    active: bool | None,
    context_keys: list[str] | None = None,
) -> WidgetKey:
    details: dict[str, Any] = {}
    if context_keys is not None:
        key.context_keys = normalise_keys(context_keys)
        details["context_keys"] = key.context_keys
    if origins is not None:
        key.origins = _origins(origins)
        details["origins"] = key.origins
    if active is not None:
        key.active = active
        details["active"] = active
    await _audited(db, actor, "widget_key.update", key.id, key.org_id, details)
    return key


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value if isinstance(value, str | int | float | bool | list | dict | None) else str(value)
        for name, value in fields.items()
    }
