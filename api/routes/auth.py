"""Staff authentication endpoints."""

from __future__ import annotations

from aiohttp import web

from accounts import directory
from accounts.auth import IssuedTokens
from accounts.models import User
from api.api import ANY_STAFF, Api, body, staff
from api.keys import AUTH, CONFIG, SESSIONS, TOKENS
from api.middlewares import USER_ID, client_ip
from api.routes._common import actor, ice_servers_for
from api.schemas import IceServers, LoginRequest, Me, MePatch, RefreshRequest, TokenPair, console_language
from db.errors import Unauthenticated

routes = Api()


def _token_pair(request: web.Request, issued: IssuedTokens) -> TokenPair:
    """The answer to a login or refresh; the access log notes whose tokens they are."""
    request[USER_ID] = issued.user_id
    return TokenPair(
        access_token=issued.access_token, refresh_token=issued.refresh_token, expires_in=issued.expires_in
    )


@routes.route(
    "POST",
    "/auth/login",
    summary="Log in with e-mail and password",
    tag="auth",
    body=LoginRequest,
    response=TokenPair,
)
async def login(request: web.Request) -> TokenPair:
    data = body(request, LoginRequest)
    return _token_pair(
        request, await request.app[AUTH].login(data.email, data.password, data.totp, client_ip(request))
    )


@routes.route(
    "POST",
    "/auth/refresh",
    summary="Trade a refresh token for new tokens (it rotates)",
    tag="auth",
    body=RefreshRequest,
    response=TokenPair,
)
async def refresh(request: web.Request) -> TokenPair:
    refresh_token = body(request, RefreshRequest).refresh_token
    return _token_pair(request, await request.app[AUTH].refresh(refresh_token, client_ip(request)))


@routes.route(
    "POST",
    "/auth/logout",
    summary="Log out: revoke the login's refresh tokens, its access tokens and its sockets",
    tag="auth",
    body=RefreshRequest,
)
async def logout(request: web.Request) -> None:
    await request.app[AUTH].logout(body(request, RefreshRequest).refresh_token)


@routes.route(
    "GET", "/auth/me", summary="The logged-in staff member", tag="auth", response=Me, roles=ANY_STAFF
)
async def me(request: web.Request) -> Me:
    claims = staff(request)
    request[USER_ID] = claims.user_id
    async with request.app[SESSIONS]() as db:
        user = await db.get(User, claims.user_id)
    if user is None or not user.active:
        raise Unauthenticated("account disabled", code="account_disabled")
    return _me(user)


@routes.route(
    "PATCH",
    "/auth/me",
    summary="Change your own settings: the consoles' language (null follows the browser's)",
    tag="auth",
    body=MePatch,
    response=Me,
    roles=ANY_STAFF,
)
async def change_me(request: web.Request) -> Me:
    claims = staff(request)
    request[USER_ID] = claims.user_id
    data = body(request, MePatch)
    async with request.app[SESSIONS]() as db:
        user = await db.get(User, claims.user_id)
        if user is None or not user.active:
            raise Unauthenticated("account disabled", code="account_disabled")
        await directory.change_user(db, user, actor=actor(claims), changes={"ui_language": data.ui_language})
        await db.commit()
    return _me(user)


def _me(user: User) -> Me:
    return Me(
        id=user.id,
        org_id=user.org_id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        languages=list(user.languages),
        ui_language=console_language(user.ui_language),
    )


@routes.route(
    "GET",
    "/rtc/ice-servers",
    summary="ICE servers for the console, with fresh TURN credentials",
    tag="auth",
    response=IceServers,
    roles=ANY_STAFF,
)
async def ice_servers(request: web.Request) -> IceServers:
    config = request.app[CONFIG]
    return IceServers(ice_servers=ice_servers_for(config, lifetime=request.app[TOKENS].access_seconds * 8))
