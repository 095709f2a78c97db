"""``/api/v1/recordings``: the list, short-lived signed playback links (each creation and playback
audited), legal hold; roles, organisation isolation and bad input; on both backend pairs, over
real HTTP, with recordings stored through the real pipeline (encrypted, uploaded, verified)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from api.links import LinkSigner
from api.routes.recordings import _PlaybackFile
from tests.api.recording_fixtures import StoredRecording, stored_recording, write_test_webm
from tests.api.test_admin_api import Answer, StaffApi, as_staff
from tests.conftest import Backend, World, base_url, make_world

SECRET = "test-secret-key-that-is-long-enough-0123456789"  # Backend.settings()'s secret key


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as response:
        return response.status, dict(response.headers), await response.read()


async def one_recording(backend: Backend, world: World, tmp_path: Path) -> StoredRecording:
    return await stored_recording(backend, world, write_test_webm(tmp_path / "media.webm"))


async def test_each_role_may_call_exactly_its_endpoints(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    apis = {role: await as_staff(url, world, role) for role in ("adviser", "supervisor", "admin", "dpo")}
    nobody = StaffApi(url, None, uuid.uuid4())
    path = f"/recordings/{recording.id}"
    allowed: list[tuple[str, str, dict[str, bool] | None, set[str]]] = [
        ("GET", "/recordings", None, {"supervisor", "admin", "dpo"}),
        ("POST", f"{path}/link", None, {"supervisor", "admin", "dpo"}),
        ("PATCH", path, {"legal_hold": False}, {"admin", "dpo"}),
        ("GET", "/statistics", None, {"supervisor", "admin"}),
    ]
    wrong = []
    for method, route, payload, roles in allowed:
        for role, api in apis.items():
            answer = await api.request(method, route, json=payload)
            if role in roles:
                if answer.status != 200:
                    wrong.append(f"{role} {method} {route}: {answer.status} {answer.body}")
            elif answer.status != 403 or answer.error_code != "forbidden":
                wrong.append(f"{role} {method} {route}: {answer.status}, expected 403")
        assert (await nobody.request(method, route, json=payload)).status == 401
    assert not wrong, "\n".join(wrong)
    document = (await nobody.get("/openapi.json")).body["paths"]
    assert document["/api/v1/recordings"]["get"]["description"] == "Roles: admin, dpo, supervisor"
    assert document["/api/v1/recordings/{recording_id}"]["patch"]["description"] == "Roles: admin, dpo"
    assert "/api/v1/recordings/{recording_id}/media" in document
    assert document["/api/v1/statistics"]["get"]["description"] == "Roles: admin, supervisor"


async def test_a_link_plays_the_decrypted_recording_with_ranges_and_every_viewing_is_audited(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    supervisor = await as_staff(url, world, "supervisor")
    admin = await as_staff(url, world, "admin")

    listed = await supervisor.get("/recordings")
    assert listed.status == 200, listed.body
    [row] = listed.body
    assert row["id"] == str(recording.id) and row["call_id"] == str(recording.call_id)
    assert row["reference"] == recording.reference and row["participant"] == "visitor"
    assert row["status"] == "stored" and row["playable"] is True and row["legal_hold"] is False
    assert row["duration_seconds"] == 1.0 and row["bytes"] > len(recording.media)  # ciphertext
    assert row["delete_after"] is not None
    by_reference = await supervisor.get("/recordings", reference=recording.reference.lower())
    assert [r["id"] for r in by_reference.body] == [str(recording.id)]
    assert (await supervisor.get("/recordings", status="spooled")).body == []

    link = await supervisor.post(f"/recordings/{recording.id}/link", None)
    assert link.status == 200, link.body
    assert link.body["url"].startswith(f"{url}/api/v1/recordings/{recording.id}/media?token=")
    expires = link.body["expires_at"]
    assert 290 <= _seconds_from_now(expires) <= 300

    status, headers, media = await fetch(link.body["url"])
    assert status == 200 and media == recording.media
    assert headers["Content-Type"] == "video/webm" and headers["Cache-Control"] == "no-store"
    status, headers, part = await fetch(link.body["url"], {"Range": "bytes=100-199"})
    assert status == 206 and part == recording.media[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(recording.media)}"

    target = f"recording:{recording.id}"
    created = await admin.audit_event("recording.link_created", target)
    assert created["actor"] == f"user:{supervisor.user_id}"
    viewing = ("recording.played", "recording.link_created")
    events = [
        e for e in await admin.audit_events(limit="200") if e["target"] == target and e["action"] in viewing
    ]
    # One viewing from the start is one event; the seek (a range further in) is not another.
    assert [e["action"] for e in events] == ["recording.played", "recording.link_created"]
    assert events[0]["actor"] == f"user:{supervisor.user_id}"
    # No plaintext copy stays behind in the spool (removed right after the last byte went out).
    spool = backend.data_dir / "spool"
    for _ in range(50):
        if not [p for p in spool.iterdir() if p.name.startswith(".playback-")]:
            break
        await asyncio.sleep(0.05)
    assert not [p for p in spool.iterdir() if p.name.startswith(".playback-")]


async def test_a_viewing_that_starts_past_the_first_byte_is_audited_once(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    admin = await as_staff(url, world, "admin")
    link = (await admin.post(f"/recordings/{recording.id}/link", None)).body["url"]
    for _ in range(2):
        status, _, part = await fetch(link, {"Range": "bytes=1-"})
        assert status == 206 and part == recording.media[1:]
    played = [e for e in await admin.audit_events(limit="200") if e["action"] == "recording.played"]
    assert [e["target"] for e in played] == [f"recording:{recording.id}"]


async def test_forged_expired_or_foreign_links_are_refused_with_403(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    admin = await as_staff(url, world, "admin")
    link = (await admin.post(f"/recordings/{recording.id}/link", None)).body["url"]
    token = link.split("token=", 1)[1]
    media = f"{url}/api/v1/recordings/{recording.id}/media"
    signer = LinkSigner(SECRET)
    expired, _ = signer.sign(recording.id, admin.user_id, now=time.time() - 301)
    other_recording, _ = signer.sign(uuid.uuid4(), admin.user_id)
    wrong_key, _ = LinkSigner("another-secret-key-that-is-long-enough-987654").sign(
        recording.id, admin.user_id
    )
    cases = {
        "expired": (expired, "link_expired"),
        "for another recording": (other_recording, "invalid_link"),
        "signed with another key": (wrong_key, "invalid_link"),
        "tampered expiry": (str(int(token.split(".")[0]) + 600) + token[token.index(".") :], "invalid_link"),
        "garbage": ("not-a-token", "invalid_link"),
    }
    for what, (bad, code) in cases.items():
        async with aiohttp.ClientSession() as http, http.get(media, params={"token": bad}) as response:
            answer = Answer(response.status, await response.json())
        assert answer.status == 403 and answer.error_code == code, (what, answer.body)
    async with aiohttp.ClientSession() as http, http.get(media) as response:
        assert response.status == 422 and "token" in (await response.json())["error"]["message"]
    played = [e for e in await admin.audit_events(limit="200") if e["action"] == "recording.played"]
    assert played == []


async def test_a_link_stops_working_once_its_user_may_no_longer_read_recordings(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    admin = await as_staff(url, world, "admin")
    supervisor = await as_staff(url, world, "supervisor")
    links = {}
    for who in (admin, supervisor):
        links[who.email] = (await who.post(f"/recordings/{recording.id}/link", None)).body["url"]
    status, _, _ = await fetch(links[supervisor.email])
    assert status == 200
    # Demoted to adviser, and another admin deactivated: both links die at once.
    assert (await admin.patch(f"/users/{supervisor.user_id}", {"role": "adviser"})).status == 200
    other_admin = await as_staff(url, world, "admin")
    assert (await other_admin.patch(f"/users/{admin.user_id}", {"active": False})).status == 200
    for email, link in links.items():
        async with aiohttp.ClientSession() as http, http.get(link) as response:
            answer = Answer(response.status, await response.json())
        assert answer.status == 403 and answer.error_code == "link_revoked", (email, answer.body)


async def test_another_organisation_gets_404_and_never_sees_the_recordings(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    other = await make_world(backend)
    admin_b = await as_staff(url, other, "admin")
    dpo_b = await as_staff(url, other, "dpo")
    assert (await admin_b.get("/recordings")).body == []
    missing = uuid.uuid4()
    answers = {
        "link": await admin_b.post(f"/recordings/{recording.id}/link", None),
        "hold": await dpo_b.patch(f"/recordings/{recording.id}", {"legal_hold": True}),
        "made up": await admin_b.post(f"/recordings/{missing}/link", None),
        "not a uuid": await admin_b.post("/recordings/latest/link", None),
    }
    for what, answer in answers.items():
        assert answer.status == 404 and answer.error_code == "not_found", (what, answer.body)
    foreign = answers["link"].body["error"]["message"].replace(str(recording.id), "ID")
    assert foreign == answers["made up"].body["error"]["message"].replace(str(missing), "ID")
    admin_a = await as_staff(url, world, "admin")
    assert (await admin_a.get("/recordings")).body[0]["legal_hold"] is False


async def test_legal_hold_is_set_and_released_with_audit_and_bad_input_is_422(
    server, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    dpo = await as_staff(url, world, "dpo")
    path = f"/recordings/{recording.id}"
    held = await dpo.patch(path, {"legal_hold": True})
    assert held.status == 200 and held.body["legal_hold"] is True
    again = await dpo.patch(path, {"legal_hold": True})  # no change, no second event
    assert again.status == 200
    released = await dpo.patch(path, {"legal_hold": False})
    assert released.body["legal_hold"] is False
    actions = [
        e["action"]
        for e in await dpo.audit_events(limit="200")
        if e["target"] == f"recording:{recording.id}" and "legal_hold" in e["action"]
    ]
    assert actions == ["recording.legal_hold_released", "recording.legal_hold_set"]

    for payload in ({}, {"legal_hold": "yes"}, {"legal_hold": True, "status": "x"}, [1]):
        answer = await dpo.patch(path, payload)
        assert answer.status == 422 and answer.error_code == "invalid_input", (payload, answer.body)
    for params in ({"limit": "0"}, {"limit": "abc"}, {"status": "lost"}, {"before": "yesterday"}, {"x": "1"}):
        answer = await dpo.get("/recordings", **params)
        assert answer.status == 422 and answer.error_code == "invalid_input", (params, answer.body)


async def test_a_recording_not_yet_stored_has_no_link(server, world: World, backend: Backend) -> None:
    from db import create_engine, create_session_factory
    from recordings import create_recording
    from signaling.models import Call
    from signaling.reference import new_reference

    engine = create_engine(backend.database_url)
    try:
        async with create_session_factory(engine)() as db:
            call = Call(
                org_id=world.org_id, queue_id=world.queue_id, reference=new_reference(), visitor_id="v"
            )
            db.add(call)
            await db.flush()
            row = await create_recording(
                db, call_id=call.id, participant="adviser", spool_path=Path("/x.webm")
            )
            await db.commit()
    finally:
        await engine.dispose()
    admin = await as_staff(base_url(server), world, "admin")
    [listed] = (await admin.get("/recordings")).body
    assert listed["status"] == "recording" and listed["playable"] is False
    answer = await admin.post(f"/recordings/{row.id}/link", None)
    assert answer.status == 409 and answer.error_code == "not_playable"


def _seconds_from_now(iso: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(iso) - datetime.now().astimezone()).total_seconds()


async def test_a_malformed_range_header_is_answered_416_not_500(
    server: TestServer, world: World, backend: Backend, tmp_path: Path
) -> None:
    url = base_url(server)
    recording = await one_recording(backend, world, tmp_path)
    admin = await as_staff(url, world, "admin")
    link = (await admin.post(f"/recordings/{recording.id}/link", None)).body["url"]
    for header in ("bytes=0-1,5-6", "pages=1-2", "bytes=abc", "bytes=9-2"):
        status, _, _ = await fetch(link, {"Range": header})
        assert status == 416, (header, status)
    played = [e for e in await admin.audit_events(limit="200") if e["action"] == "recording.played"]
    assert played == []


async def test_the_decrypted_copy_is_removed_even_when_the_client_goes_away_mid_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp cancels the response's task when the connection drops, and may cancel it again
    # while it unwinds (a browser's <video> drops range requests all the time): the removal of
    # the plaintext must not be one of the things a cancellation skips.
    async def client_gone(self: web.FileResponse, request: web.BaseRequest) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(1)
        finally:
            task.cancel()

    monkeypatch.setattr(web.FileResponse, "prepare", client_gone)
    for attempt in range(5):
        folder = tmp_path / f".playback-{attempt}"
        folder.mkdir()
        (folder / "recording.webm").write_bytes(b"plaintext")
        response = _PlaybackFile(folder / "recording.webm", folder)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(response.prepare(make_mocked_request("GET", "/")))
        assert not folder.exists(), attempt
