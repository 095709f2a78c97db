"""The internal channel refuses what does not come from a signalling node of this cluster, and
what names a call the node does not hold: plain HTTP requests against a real node server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from redis.asyncio import Redis

from media import MediaConfig
from media.errors import MediaUnavailable, NodeAuthError
from media.node import ClusterConfig, MediaNode, RequestVerifier, sign
from media.node import keys as node_keys
from tests.media.conftest import Client
from tests.media.nodes import SECRET, StartNode, StartPlacement, offer

WRONG_SECRET = "not-the-cluster-secret-0123456789abcdef"


class Raw:
    """Sends hand-made requests to one node."""

    def __init__(self, session: aiohttp.ClientSession, node: MediaNode) -> None:
        self.session = session
        self.node = node

    async def send(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, object]]:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        signed = sign(secret, method, path, data) if headers is None else headers
        async with self.session.request(method, self.node.url + path, data=data, headers=signed) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else {})


@pytest.fixture
async def node(start_node: StartNode) -> MediaNode:
    return await start_node("node-a")


@pytest.fixture
async def raw(node: MediaNode) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(session, node)


async def placed_call(redis: Redis, cluster: ClusterConfig, node_id: str) -> str:
    call_id = str(uuid.uuid4())
    await redis.set(cluster.redis_prefix + node_keys.call(call_id), node_id, px=60_000)
    return call_id


def refused(reply: tuple[int, dict[str, object]], status: int, code: str) -> bool:
    got_status, body = reply
    error = body.get("error")
    return (
        got_status == status
        and isinstance(error, dict)
        and error.get("code") == code
        and bool(error["message"])
    )


OFFER = {"sdp": "v=0\r\n", "type": "offer"}


async def test_requests_without_the_clusters_signature_are_refused_whatever_the_path(raw: Raw) -> None:
    call_path = f"/internal/v1/calls/{uuid.uuid4()}/legs/visitor/answer"
    assert refused(await raw.send("GET", "/internal/v1/node", headers={}), 401, "unauthorized")
    assert refused(await raw.send("POST", call_path, OFFER, secret=WRONG_SECRET), 401, "unauthorized")
    # Nothing is revealed about which paths exist.
    assert refused(await raw.send("GET", "/anything", secret=WRONG_SECRET), 401, "unauthorized")
    assert refused(await raw.send("GET", "/anything"), 404, "not_found")
    assert (await raw.send("GET", "/internal/v1/node"))[0] == 200


async def test_a_signed_request_cannot_be_replayed_altered_or_sent_late(raw: Raw) -> None:
    path = "/internal/v1/node"
    headers = sign(SECRET, "GET", path, b"")
    assert (await raw.send("GET", path, headers=headers))[0] == 200
    assert refused(await raw.send("GET", path, headers=headers), 401, "unauthorized")

    call_path = f"/internal/v1/calls/{uuid.uuid4()}/legs/visitor/answer"
    signed_for_other_body = sign(SECRET, "POST", call_path, b'{"sdp": "v=0", "type": "offer"}')
    assert refused(
        await raw.send("POST", call_path, OFFER, headers=signed_for_other_body), 401, "unauthorized"
    )
    signed_for_other_path = sign(SECRET, "GET", "/internal/v1/other", b"")
    assert refused(await raw.send("GET", path, headers=signed_for_other_path), 401, "unauthorized")

    late = sign(SECRET, "GET", path, b"", now=time.time() - 120)
    assert refused(await raw.send("GET", path, headers=late), 401, "unauthorized")


def test_the_verifier_accepts_its_own_signature_once_within_the_window() -> None:
    now = [1000.0]
    verifier = RequestVerifier(SECRET, window_s=30, clock=lambda: now[0])
    headers = sign(SECRET, "POST", "/p", b"{}", now=1000.0)
    verifier.verify("POST", "/p", headers, b"{}")
    with pytest.raises(NodeAuthError):
        verifier.verify("POST", "/p", headers, b"{}")
    # Once the window has passed the nonce is forgotten, and the request is too old anyway.
    now[0] = 1100.0
    with pytest.raises(NodeAuthError):
        verifier.verify("POST", "/p", headers, b"{}")
    fresh = sign(SECRET, "POST", "/p", b"{}", now=1100.0)
    verifier.verify("POST", "/p", fresh, b"{}")


async def test_an_unknown_call_is_404_and_a_call_on_another_node_421(
    raw: Raw, media_redis: Redis, media_cluster: ClusterConfig
) -> None:
    unknown = str(uuid.uuid4())
    assert refused(
        await raw.send("POST", f"/internal/v1/calls/{unknown}/legs/visitor/answer", OFFER),
        404,
        "unknown_call",
    )
    assert refused(await raw.send("DELETE", f"/internal/v1/calls/{unknown}"), 404, "unknown_call")
    foreign = await placed_call(media_redis, media_cluster, "node-b")
    for method, path, body in (
        ("POST", f"/internal/v1/calls/{foreign}/legs/visitor/answer", OFFER),
        ("POST", f"/internal/v1/calls/{foreign}/legs/adviser/candidates", {"candidate": None}),
        ("PUT", f"/internal/v1/calls/{foreign}/recording", {"files": {"visitor": "a/visitor.webm"}}),
        ("DELETE", f"/internal/v1/calls/{foreign}/recording", None),
        ("DELETE", f"/internal/v1/calls/{foreign}", None),
    ):
        assert refused(await raw.send(method, path, body), 421, "call_on_other_node"), (method, path)


async def test_malformed_requests_are_400_with_the_reason(
    raw: Raw, media_redis: Redis, media_cluster: ClusterConfig
) -> None:
    mine = await placed_call(media_redis, media_cluster, "node-a")
    answer = f"/internal/v1/calls/{mine}/legs/visitor/answer"
    assert refused(await raw.send("POST", answer, raw=b"{not json"), 400, "invalid_input")
    assert refused(await raw.send("POST", answer, {**OFFER, "extra": 1}), 400, "invalid_input")
    assert refused(await raw.send("POST", answer, {"sdp": "v=0"}), 400, "invalid_input")
    assert refused(
        await raw.send("POST", f"/internal/v1/calls/{mine}/legs/stranger/answer", OFFER), 400, "invalid_input"
    )
    assert refused(
        await raw.send("POST", "/internal/v1/calls/bad!id/legs/visitor/answer", OFFER), 400, "invalid_input"
    )
    assert refused(await raw.send("POST", answer, OFFER), 400, "rtc_negotiation_failed")
    recording = f"/internal/v1/calls/{mine}/recording"
    for key in ("/etc/passwd", "../../outside.webm", "a/../../b.webm"):
        assert refused(
            await raw.send("PUT", recording, {"files": {"visitor": key}}), 400, "bad_spool_path"
        ), key
    big = {"sdp": "v" * 300_000, "type": "offer"}
    assert refused(await raw.send("POST", answer, big), 413, "payload_too_large")


async def test_a_closed_call_is_refused_and_closing_it_again_is_fine(
    raw: Raw,
    node: MediaNode,
    start_placement: StartPlacement,
    new_client: Callable[[], Client],
) -> None:
    placement = await start_placement()
    call_id = str(uuid.uuid4())
    await offer(placement, call_id, "visitor", new_client())
    await placement.close_call(call_id)
    assert refused(
        await raw.send("POST", f"/internal/v1/calls/{call_id}/legs/visitor/answer", OFFER),
        409,
        "rtc_leg_closed",
    )
    assert (await raw.send("DELETE", f"/internal/v1/calls/{call_id}"))[0] == 204


async def test_a_signalling_node_with_another_secret_gets_no_media(
    node: MediaNode, start_placement: StartPlacement, new_client: Callable[[], Client]
) -> None:
    placement = await start_placement(secret=WRONG_SECRET)
    with pytest.raises(MediaUnavailable):
        await offer(placement, str(uuid.uuid4()), "visitor", new_client())
    assert node.placement.active_calls() == 0


async def test_the_node_says_who_it_is_and_what_it_carries(raw: Raw, node: MediaNode) -> None:
    status, body = await raw.send("GET", "/internal/v1/node")
    assert status == 200
    assert body["node_id"] == "node-a" and body["calls"] == 0 and float(str(body["load"])) >= 0


def test_the_shared_secret_must_be_long(media_config: MediaConfig) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        ClusterConfig(redis_url="redis://127.0.0.1:6379/0", secret="short")


async def test_a_transfer_gives_the_adviser_a_fresh_leg_on_the_node_and_leaves_the_visitors(
    raw: Raw,
    node: MediaNode,
    start_placement: StartPlacement,
    new_client: Callable[[], Client],
) -> None:
    placement = await start_placement()
    call_id = str(uuid.uuid4())
    await offer(placement, call_id, "visitor", new_client())
    await offer(placement, call_id, "adviser", new_client())
    media = node.placement._calls[call_id]
    visitor_leg, adviser_leg = media.leg("visitor"), media.leg("adviser")

    await placement.release_leg(call_id, "adviser")  # over the signed channel
    assert media.leg("visitor") is visitor_leg and media.leg("adviser") is not adviser_leg
    assert not media.closed and node.placement.active_calls() == 1
    # The next adviser's offer is answered on the fresh leg.
    await offer(placement, call_id, "adviser", new_client())
    assert media.replacements["adviser"] == 1
    assert refused(
        await raw.send("DELETE", f"/internal/v1/calls/{call_id}/legs/stranger"), 400, "invalid_input"
    )
    await placement.release_leg(str(uuid.uuid4()), "adviser")  # never placed: nothing to do
