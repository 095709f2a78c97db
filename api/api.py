"""Declared REST endpoints: one declaration gives the aiohttp route, its role check, its body
validation and its OpenAPI 3.1 entry, so the document cannot drift from what is served."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from accounts.models import Role
from accounts.tokens import StaffClaims
from api.api_key_auth import api_key_claims
from api.keys import STAFF_SESSIONS, TOKENS
from api.middlewares import client_ip
from db.errors import Forbidden, InvalidInput, Unauthenticated
from signaling.payloads import describe_validation_error

PREFIX = "/api/v1"

Handler = Callable[[web.Request], Awaitable[Any]]
M = TypeVar("M", bound=BaseModel)

_STAFF: web.RequestKey[StaffClaims] = web.RequestKey("staff", StaffClaims)
_BODY: web.RequestKey[BaseModel] = web.RequestKey("body", BaseModel)
_QUERY: web.RequestKey[BaseModel] = web.RequestKey("query", BaseModel)

# Roles that may do everything a lower one may (an admin can see what a supervisor sees).
ANY_STAFF = frozenset(Role)
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    roles: frozenset[Role] | None
    status: int


class Api:
    """Collects endpoints from route modules and installs them on an application."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        roles: Iterable[Role] | None = None,
        status: int = 200,
    ) -> Callable[[Handler], Handler]:
        """Declare an endpoint. ``roles=None`` makes it public; ``body`` and ``query`` are the
        models the JSON body and the query string must match (the handler reads them with
        ``body()`` and ``query()``); ``response`` is a model, ``list[Model]`` or None for an
        empty answer."""

        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method.upper(),
                    PREFIX + path,
                    handler,
                    summary,
                    tag,
                    body,
                    query,
                    response,
                    frozenset(roles) if roles is not None else None,
                    status,
                )
            )
            return handler

        return register

    def install(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint))

    def openapi(self, *, title: str, version: str, router: web.UrlDispatcher | None = None) -> dict[str, Any]:
        """The OpenAPI 3.1 document; with ``router``, routes added beside this Api are listed too."""
        document = _openapi_document(self.endpoints, title=title, version=version)
        paths: dict[str, Any] = document["paths"]
        for route in router.routes() if router is not None else ():
            path = route.resource.canonical if route.resource is not None else ""
            method = route.method.lower()
            if path.startswith(PREFIX) and method not in ("head", "*") and method not in paths.get(path, {}):
                summary = (route.handler.__doc__ or f"{route.method} {path}").strip().splitlines()[0]
                paths.setdefault(path, {})[method] = {
                    "summary": summary,
                    "responses": {"default": {"description": summary}},
                }
        return document


def staff(request: web.Request) -> StaffClaims:
    """The authenticated staff member of a request to a role-checked endpoint."""
    claims: StaffClaims = request[_STAFF]
    return claims


def body(request: web.Request, model: type[M]) -> M:
    """The validated body of the request (the endpoint declared ``body=model``)."""
    value = request[_BODY]
    assert isinstance(value, model)
    return value


def query(request: web.Request, model: type[M]) -> M:
    """The validated query string of the request (the endpoint declared ``query=model``)."""
    value = request[_QUERY]
    assert isinstance(value, model)
    return value


def bearer_claims(request: web.Request) -> StaffClaims:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("send 'Authorization: Bearer <access token>'")
    return request.app[TOKENS].verify_staff(token.strip())


async def current_staff(request: web.Request, claims: StaffClaims) -> StaffClaims:
    """The token's staff member as they are now: a deactivation, a role change or a logout
    applies to the next request, not when the access token expires, and the location's
    allowlist holds for every request (``accounts.sessions``)."""
    return await request.app[STAFF_SESSIONS].admit(claims, client_ip(request))


def _wrap(endpoint: Endpoint) -> Handler:
    adapter = TypeAdapter(endpoint.response) if endpoint.response is not None else None

    async def handle(request: web.Request) -> web.StreamResponse:
        if endpoint.roles is not None:
            claims = await api_key_claims(
                request, endpoint.method, endpoint.path, PREFIX
            ) or await current_staff(request, bearer_claims(request))
            if claims.role not in endpoint.roles:
                raise Forbidden("your role may not do this")
            request[_STAFF] = claims
        if endpoint.query is not None:
            request[_QUERY] = _parse_query(request, endpoint.query)
        if endpoint.body is not None:
            request[_BODY] = await _parse_body(request, endpoint.body)
        result = await endpoint.handler(request)
        if isinstance(result, web.StreamResponse):
            return result
        if adapter is None:
            return web.Response(status=204 if endpoint.status == 200 else endpoint.status)
        return web.json_response(
            adapter.dump_python(result, mode="json"), status=endpoint.status, dumps=_dumps
        )

    return handle


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    """A bad or unknown query parameter is a 422 that names it."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise InvalidInput("query: " + describe_validation_error(exc)) from exc


async def _parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_type != "application/json":
        raise InvalidInput(
            "send a JSON body with Content-Type: application/json", code="unsupported_media_type"
        )
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc


# -- OpenAPI 3.1 -----------------------------------------------------------------------------


def _openapi_document(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def schema_of(annotation: Any) -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            schemas[annotation.__name__] = schema
            return {"$ref": f"#/components/schemas/{annotation.__name__}"}
        return schema

    error_ref = schema_of(ErrorResponse)
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        path = endpoint.path
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "operationId": endpoint.handler.__name__,
            "responses": {},
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        if endpoint.query is not None:
            schema = endpoint.query.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))  # enums the parameters refer to
            required = set(schema.get("required", ()))
            parameters += [
                {"name": name, "in": "query", "required": name in required, "schema": field}
                for name, field in schema.get("properties", {}).items()
            ]
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of(endpoint.body)}},
            }
        if endpoint.response is not None:
            operation["responses"][str(endpoint.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema_of(endpoint.response)}},
            }
        else:
            operation["responses"]["204"] = {"description": "Done"}
        errors = {"400": "Bad request", "422": "Invalid input", "429": "Too many requests"}
        if endpoint.roles is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = "Roles: " + ", ".join(sorted(endpoint.roles))
            errors.update({"401": "Not authenticated", "403": "Role not allowed"})
        for status, text in errors.items():
            operation["responses"][status] = {
                "description": text,
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
