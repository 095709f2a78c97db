"""Locations of the caller's organisation and their address allowlists (admins only, audited).

Staff assigned to a location (``PATCH /users/{id} {location_id}``) may log in, refresh, call
the API and connect sockets only from its ranges; changing a location's ranges closes the
open sockets of its staff, which reconnect through the new list.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints
from sqlalchemy import select

from accounts import locations
from accounts.models import Location, User
from api.api import ADMINS, Api, body
from api.keys import SESSIONS, STAFF_SESSIONS
from api.routes._common import acting, actor, own_row, path_id
from api.schemas import Name
from signaling.payloads import Payload

routes = Api()

Cidr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Allowlist = Annotated[list[Cidr], Field(max_length=locations.MAX_RANGES)]


class LocationCreate(Payload):
    name: Name
    # CIDRs (192.0.2.0/24, 2001:db8::/48, or one address); empty allows every address.
    allow: Allowlist = []


class LocationPatch(Payload):
    name: Name | None = None
    allow: Allowlist | None = None


class LocationOut(Payload):
    id: str
    name: str
    allow: list[str]
    staff: int


async def _out(request: web.Request, location: Location) -> LocationOut:
    async with request.app[SESSIONS]() as db:
        staff = await locations.staff_count(db, location.id)
    return LocationOut(
        id=str(location.id), name=location.name, allow=list(location.ip_allowlist), staff=staff
    )


@routes.route(
    "GET",
    "/locations",
    summary="List the organisation's locations",
    tag="locations",
    response=list[LocationOut],
    roles=ADMINS,
)
async def list_locations(request: web.Request) -> list[LocationOut]:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        rows = await locations.org_locations(db, claims.org_id)
    return [await _out(request, row) for row in rows]


@routes.route(
    "POST",
    "/locations",
    summary="Add a location with its address allowlist",
    tag="locations",
    body=LocationCreate,
    response=LocationOut,
    roles=ADMINS,
    status=201,
)
async def create_location(request: web.Request) -> LocationOut:
    claims = acting(request)
    data = body(request, LocationCreate)
    async with request.app[SESSIONS]() as db:
        location = await locations.create_location(
            db, org_id=claims.org_id, name=data.name, allowlist=data.allow, actor=actor(claims)
        )
        await db.commit()
    return await _out(request, location)


@routes.route(
    "PATCH",
    "/locations/{location_id}",
    summary="Rename a location or change its allowlist",
    tag="locations",
    body=LocationPatch,
    response=LocationOut,
    roles=ADMINS,
)
async def change_location(request: web.Request) -> LocationOut:
    claims = acting(request)
    data = body(request, LocationPatch)
    async with request.app[SESSIONS]() as db:
        location = await own_row(db, Location, path_id(request, "location_id"), claims, "location")
        before = list(location.ip_allowlist)
        await locations.change_location(
            db, location, actor=actor(claims), name=data.name, allowlist=data.allow
        )
        await db.commit()
        staff = list(await db.scalars(select(User.id).where(User.location_id == location.id)))
    if before != list(location.ip_allowlist):
        for user_id in staff:
            await request.app[STAFF_SESSIONS].cut(user_id, "location_changed", deny_logins=False)
    return await _out(request, location)


@routes.route(
    "DELETE",
    "/locations/{location_id}",
    summary="Delete a location no staff member is assigned to",
    tag="locations",
    roles=ADMINS,
)
async def delete_location(request: web.Request) -> None:
    claims = acting(request)
    async with request.app[SESSIONS]() as db:
        location = await own_row(db, Location, path_id(request, "location_id"), claims, "location")
        await locations.delete_location(db, location, actor=actor(claims))
        await db.commit()
