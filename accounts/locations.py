"""Locations: an organisation's sites and the address ranges their staff work from.

A staff member assigned to a location may log in, refresh, call the REST API and connect a
socket only from an address in its allowlist (``accounts.sessions`` checks every one of
those); staff with no location, or a location with an empty list, may work from anywhere.
Every change is audited. The CLI and the admin REST endpoints both come through here.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.addresses import allowed_by
from accounts.models import Location, Organisation, User
from db import audit
from db.errors import Conflict, InvalidInput, NotFound

MAX_RANGES = 100


def normalise_allowlist(cidrs: Sequence[str]) -> list[str]:
    """CIDRs in their canonical form (``10.1.2.3/24`` is ``10.1.2.0/24``), each once."""
    if len(cidrs) > MAX_RANGES:
        raise InvalidInput(f"a location allows at most {MAX_RANGES} address ranges")
    cleaned: list[str] = []
    for cidr in cidrs:
        try:
            cleaned.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidInput(
                f"{cidr!r} is not an address range like 192.0.2.0/24 or 2001:db8::/48"
            ) from exc
    return list(dict.fromkeys(cleaned))


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a location needs a name of 1 to 200 characters")
    return name


async def _audited(
    db: AsyncSession, actor: str, action: str, location: Location, details: dict[str, Any]
) -> None:
    await audit.record(
        db,
        actor=actor,
        action=action,
        target=f"location:{location.id}",
        org_id=location.org_id,
        details=details,
    )


async def create_location(
    db: AsyncSession, *, org_id: uuid.UUID, name: str, allowlist: Sequence[str], actor: str
) -> Location:
    if await db.get(Organisation, org_id) is None:
        raise NotFound(f"no organisation {org_id}", code="org_not_found")
    location = Location(org_id=org_id, name=_name(name), ip_allowlist=normalise_allowlist(allowlist))
    db.add(location)
    await db.flush()
    await _audited(
        db, actor, "location.create", location, {"name": location.name, "allow": location.ip_allowlist}
    )
    return location


async def change_location(
    db: AsyncSession, location: Location, *, actor: str, name: str | None, allowlist: Sequence[str] | None
) -> Location:
    details: dict[str, Any] = {}
    if name is not None:
        location.name = _name(name)
        details["name"] = location.name
    if allowlist is not None:
        details["allow"] = {"from": list(location.ip_allowlist), "to": normalise_allowlist(allowlist)}
        location.ip_allowlist = details["allow"]["to"]
    if details:
        await _audited(db, actor, "location.update", location, details)
    return location


async def delete_location(db: AsyncSession, location: Location, *, actor: str) -> None:
    # Deleting a location would silently let its staff in from anywhere (the column is SET
    # NULL): that has to be a decision, taken by moving them first.
    if await staff_count(db, location.id):
        raise Conflict("staff are assigned to this location; move them first", code="location_in_use")
    await _audited(db, actor, "location.delete", location, {"name": location.name})
    await db.delete(location)


async def staff_count(db: AsyncSession, location_id: uuid.UUID) -> int:
    return int(
        await db.scalar(select(func.count()).select_from(User).where(User.location_id == location_id)) or 0
    )


async def org_locations(db: AsyncSession, org_id: uuid.UUID) -> Sequence[Location]:
    return (await db.scalars(select(Location).where(Location.org_id == org_id).order_by(Location.name))).all()


async def assign(db: AsyncSession, user: User, location_id: uuid.UUID | None, *, actor: str) -> None:
    """Put ``user`` at ``location_id`` (None: no location, so no address restriction)."""
    if location_id is not None:
        location = await db.get(Location, location_id)
        if location is None or location.org_id != user.org_id:
            raise InvalidInput(f"no location {location_id} in this organisation", code="location_not_found")
    if user.location_id == location_id:
        return
    details = {"location": {"from": _str(user.location_id), "to": _str(location_id)}}
    user.location_id = location_id
    await audit.record(
        db,
        actor=actor,
        action="user.location_change",
        target=f"user:{user.id}",
        org_id=user.org_id,
        details=details,
    )


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


async def address_allowed(db: AsyncSession, location_id: uuid.UUID | None, address: str) -> bool:
    """Whether a staff member at ``location_id`` may work from ``address``."""
    if location_id is None:
        return True
    location = await db.get(Location, location_id)
    return location is None or allowed_by(address, location.ip_allowlist)
