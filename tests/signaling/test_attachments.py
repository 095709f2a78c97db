"""Photos in a call over REST, on both backend pairs: a visitor's photo and an adviser's snapshot
are stored only as a clean, upright re-encoding, sealed; both parties are told; hostile files are
refused with a 4xx while the server keeps serving; export carries them and erasure removes them."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from db import create_engine, create_session_factory, utcnow
from db.audit import AuditEvent
from privacy import RetentionKind, erase_call_data, sweep_expired_call_data
from privacy.attachments import CallAttachment, open_sealed
from privacy.export import build_export, fetch_export
from recordings import storage_from_config
from tests.conftest import Backend, Client, World, base_url, connect_adviser, login, visitor_session
from tests.signaling.photo_samples import (
    LEFT,
    RIGHT,
    SECRET,
    bomb_png,
    phone_photo,
    png_bytes,
    truncated_photo,
)

WIDGET = "/api/v1/widget/attachments"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Call:
    """A visitor (token and socket) and an adviser (token and socket) in an accepted call."""

    def __init__(self, visitor_token: str, visitor: Client, staff_token: str, adviser: Client, call_id: str):
        self.visitor_token, self.visitor = visitor_token, visitor
        self.staff_token, self.adviser = staff_token, adviser
        self.call_id = call_id


async def in_a_call(server: object, world: World, clients: list[Client]) -> Call:
    url = base_url(server)  # type: ignore[arg-type]
    email = (await world.add_user())[0]
    adviser = await connect_adviser(url, email, clients)
    staff_token = (await login(url, email))["access_token"]
    session = await visitor_session(url, world)
    visitor = Client("/visitor")
    clients.append(visitor)
    await visitor.connect(url, session["visitor_token"])
    joined = await visitor.call("queue:join", {"queue_id": str(world.queue_id)})
    await adviser.wait_for("call:incoming")
    assert (await adviser.call("call:accept", {"call_id": joined["call_id"]}))["ok"]
    await visitor.wait_for("call:accepted")
    return Call(session["visitor_token"], visitor, staff_token, adviser, joined["call_id"])


async def post_photo(
    http: aiohttp.ClientSession, url: str, token: str, data: bytes, content_type: str, origin: str
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type, "Origin": origin}
    async with http.post(url + WIDGET, data=io.BytesIO(data), headers=headers) as response:
        return response.status, await response.json()


async def stored(backend: Backend, call_id: str) -> list[CallAttachment]:
    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            query = select(CallAttachment).where(CallAttachment.call_id == uuid.UUID(call_id))
            return list(await db.scalars(query.order_by(CallAttachment.created_at)))
    finally:
        await engine.dispose()


def master_keys(backend: Backend) -> tuple[bytes, ...]:
    config = backend.settings().recordings()
    return (config.master_key, *config.retired_master_keys)


def exiftool_groups(data: bytes) -> dict[str, Any] | None:
    """What ``exiftool`` reads in ``data`` (tags by group), or None when it is not installed."""
    if shutil.which("exiftool") is None:
        return None
    found = subprocess.run(
        ["exiftool", "-j", "-G", "-"], input=data, capture_output=True, check=True, timeout=30
    )
    tags: dict[str, Any] = json.loads(found.stdout)[0]
    return tags


def assert_clean_and_upright(data: bytes) -> None:
    """No metadata block of any kind, and the pixels turned by the EXIF orientation."""
    assert SECRET not in data
    tags = exiftool_groups(data)
    if tags is not None:
        groups = {name.split(":", 1)[0] for name in tags}
        assert groups <= {"SourceFile", "ExifTool", "File", "JFIF", "Composite"}, sorted(groups)
        assert not any("GPS" in name or "XMP" in name or "ICC" in name for name in tags), tags
    for marker in (b"Exif\x00\x00", b"GPS", b"http://ns.adobe.com/xap/", b"adobe:ns:meta", b"ICC_PROFILE"):
        assert marker not in data, marker
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert "xmp" not in image.info and "comment" not in image.info
    assert image.size == (200, 400)  # was 400x200 on its side
    top, bottom = image.getpixel((100, 50)), image.getpixel((100, 350))
    assert all(abs(a - b) < 40 for a, b in zip(top, LEFT, strict=True)), top
    assert all(abs(a - b) < 40 for a, b in zip(bottom, RIGHT, strict=True)), bottom


async def test_a_visitors_photo_is_stored_clean_upright_and_sealed_and_both_parties_see_it(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    url = base_url(server)
    call = await in_a_call(server, world, clients)
    original = phone_photo()
    before = exiftool_groups(original)
    assert before is None or "EXIF:GPSLatitude" in before  # the sample does carry a position

    status, added = await post_photo(http, url, call.visitor_token, original, "image/jpeg", world.origin)

    assert status == 201, added
    assert added["from"] == "visitor" and added["kind"] == "photo" and added["call_id"] == call.call_id
    assert (added["width"], added["height"]) == (200, 400)
    for side in (call.visitor, call.adviser):
        event = await side.wait_for("attachment:added", id=added["id"])
        assert isinstance(event["seq"], int) and event["content_type"] == "image/jpeg"
    [row] = await stored(backend, call.call_id)
    assert SECRET not in row.ciphertext and original not in row.ciphertext
    assert_clean_and_upright(open_sealed(master_keys(backend), row))
    assert row.delete_after is not None and row.wrapped_key

    # The visitor reads its own photo; the adviser reads it too, and that read is audited.
    headers = {"Authorization": f"Bearer {call.visitor_token}", "Origin": world.origin}
    async with http.get(f"{url}{WIDGET}/{added['id']}", headers=headers) as response:
        assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == world.origin
        assert_clean_and_upright(await response.read())
    staff = {"Authorization": f"Bearer {call.staff_token}"}
    item = f"{url}/api/v1/calls/{call.call_id}/attachments/{added['id']}"
    async with http.get(item + "?download=true", headers=staff) as response:
        assert response.status == 200 and response.headers["Content-Disposition"].startswith("attachment")
        assert_clean_and_upright(await response.read())
    async with http.get(f"{url}/api/v1/calls/{call.call_id}/attachments", headers=staff) as response:
        assert [entry["id"] for entry in await response.json()] == [added["id"]]
    engine = create_engine(backend.database_url)
    async with create_session_factory(engine)() as db:
        actions = list(
            await db.scalars(
                select(AuditEvent.action).where(AuditEvent.target == f"attachment:{added['id']}")
            )
        )
    await engine.dispose()
    assert actions == ["attachment.downloaded"]


async def test_an_advisers_snapshot_reaches_the_visitor_as_a_snapshot(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    url = base_url(server)
    call = await in_a_call(server, world, clients)
    headers = {"Authorization": f"Bearer {call.staff_token}", "Content-Type": "image/png"}
    async with http.post(
        f"{url}/api/v1/calls/{call.call_id}/attachments", data=png_bytes(), headers=headers
    ) as response:
        assert response.status == 201, await response.text()
        added = await response.json()
    event = await call.visitor.wait_for("attachment:added", id=added["id"])
    assert event["from"] == "adviser" and event["kind"] == "snapshot"
    async with http.post(
        f"{url}/api/v1/calls/{uuid.uuid4()}/attachments", data=png_bytes(), headers=headers
    ) as response:
        assert response.status == 409 and (await response.json())["error"]["code"] == "not_active"


@pytest.mark.parametrize(
    ("name", "content_type", "status", "code"),
    [
        ("decompression bomb", "image/png", 422, "too_many_pixels"),
        ("truncated", "image/jpeg", 422, "unreadable_image"),
        ("png sent as jpeg", "image/jpeg", 415, "type_mismatch"),
        ("text sent as png", "image/png", 415, "type_mismatch"),
        ("a pdf", "application/pdf", 415, "unsupported_type"),
        ("50 MB", "image/jpeg", 413, "too_large"),
        ("empty", "image/jpeg", 422, "empty_file"),
    ],
)
async def test_hostile_files_are_refused_cleanly_and_the_server_keeps_serving(
    server,
    world: World,
    backend: Backend,
    clients: list[Client],
    http: aiohttp.ClientSession,
    name: str,
    content_type: str,
    status: int,
    code: str,
) -> None:
    url = base_url(server)
    call = await in_a_call(server, world, clients)
    body = {
        "decompression bomb": bomb_png,
        "truncated": truncated_photo,
        "png sent as jpeg": png_bytes,
        "text sent as png": lambda: b"<html>not a picture</html>" * 10,
        "a pdf": lambda: b"%PDF-1.4\n" * 10,
        "50 MB": lambda: b"\xff\xd8\xff" + bytes(50 * 1024 * 1024),
        "empty": lambda: b"",
    }[name]()

    answer, error = await post_photo(http, url, call.visitor_token, body, content_type, world.origin)

    assert answer == status, error
    assert set(error) == {"error"} and error["error"]["code"] == code and error["error"]["message"]
    assert await stored(backend, call.call_id) == []
    async with http.get(url + "/healthz") as response:
        assert response.status == 200
    ok, added = await post_photo(http, url, call.visitor_token, png_bytes(), "image/png", world.origin)
    assert ok == 201, added


async def test_a_photo_outside_an_accepted_call_is_refused(
    server, world: World, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    url = base_url(server)
    session = await visitor_session(url, world)
    status, error = await post_photo(
        http, url, session["visitor_token"], png_bytes(), "image/png", world.origin
    )
    assert status == 409 and error["error"]["code"] == "not_active"
    status, error = await post_photo(http, url, "not-a-token", png_bytes(), "image/png", world.origin)
    assert status == 401


async def test_export_carries_the_photos_and_erasure_removes_them_with_a_receipt(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession, tmp_path
) -> None:
    url = base_url(server)
    call = await in_a_call(server, world, clients)
    status, added = await post_photo(http, url, call.visitor_token, phone_photo(), "image/jpeg", world.origin)
    assert status == 201, added
    assert (await call.visitor.call("call:end"))["ok"]
    config = backend.settings().recordings()
    storage = storage_from_config(config)
    engine = create_engine(backend.database_url)
    sessions = create_session_factory(engine)
    try:
        request_id = uuid.uuid4()
        export = await build_export(sessions, storage, config, request_id, uuid.UUID(call.call_id))
        assert export is not None and export.counts["attachments"] == 1
        path = tmp_path / "export.zip"

        class Request:
            export_storage_key, export_wrapped_key, export_key_id = (
                export.storage_key,
                export.wrapped_key,
                export.key_id,
            )
            id = request_id

        await fetch_export(storage, config, Request(), path)  # type: ignore[arg-type]
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("call.json"))
            [listed] = document["attachments"]
            assert listed["from"] == "visitor" and listed["kind"] == "photo"
            assert_clean_and_upright(archive.read(listed["file"]))

        erased = await erase_call_data(sessions, storage, uuid.UUID(call.call_id), "test")
        assert erased.call_deleted
        assert await stored(backend, call.call_id) == []
        async with sessions() as db:
            receipt = await db.scalar(
                select(AuditEvent).where(
                    AuditEvent.target == f"call:{call.call_id}", AuditEvent.action == "call.deleted"
                )
            )
        assert receipt is not None and receipt.details["attachments"] == 1
    finally:
        await engine.dispose()


async def test_an_attachments_rule_moves_the_deadline_and_the_sweep_deletes_with_a_receipt(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    url = base_url(server)
    call = await in_a_call(server, world, clients)
    status, added = await post_photo(http, url, call.visitor_token, png_bytes(), "image/png", world.origin)
    assert status == 201, added
    admin = (await login(url, (await world.add_user("admin"))[0]))["access_token"]

    async with http.post(
        f"{url}/api/v1/retention-rules",
        json={"kind": "attachments", "days": 2},
        headers={"Authorization": f"Bearer {admin}"},
    ) as response:
        assert response.status == 201, await response.text()

    [row] = await stored(backend, call.call_id)
    assert row.delete_after is not None
    assert abs((row.delete_after - row.created_at).total_seconds() - 2 * 86400) < 5
    engine = create_engine(backend.database_url)
    sessions = create_session_factory(engine)
    try:
        assert (await sweep_expired_call_data(sessions, utcnow() + timedelta(days=1)))[
            RetentionKind.ATTACHMENTS
        ] == 0
        swept = await sweep_expired_call_data(sessions, utcnow() + timedelta(days=3))
        assert swept[RetentionKind.ATTACHMENTS] == 1
        assert await stored(backend, call.call_id) == []
        async with sessions() as db:
            receipt = await db.scalar(
                select(AuditEvent).where(AuditEvent.target == f"attachment:{added['id']}")
            )
        assert receipt is not None and receipt.action == "attachment.deleted"
        assert receipt.details["retention"]["kind"] == "attachments"
    finally:
        await engine.dispose()


async def test_hostile_uploads_in_parallel_do_not_stall_the_server(
    server, world: World, backend: Backend, clients: list[Client], http: aiohttp.ClientSession
) -> None:
    url = base_url(server)
    call = await in_a_call(server, world, clients)
    bomb, broken = bomb_png(), truncated_photo()
    uploads = [
        asyncio.create_task(post_photo(http, url, call.visitor_token, body, kind, world.origin))
        for body, kind in [(bomb, "image/png"), (broken, "image/jpeg")] * 3
    ]
    # While six decodes wait for the sandbox (two at a time), the server answers at once.
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with http.get(url + "/healthz") as response:
        assert response.status == 200
    sent = await call.visitor.call("chat:send", {"text": "still here"})
    assert sent["ok"], sent
    # Seconds, not the decodes' tens of seconds; 2 s was missed once on a loaded CI machine (2.8 s).
    assert loop.time() - started < 5.0
    answers = await asyncio.gather(*uploads)
    assert (
        sorted(error["error"]["code"] for _, error in answers)
        == ["too_many_pixels"] * 3 + ["unreadable_image"] * 3
    )
    assert await stored(backend, call.call_id) == []
