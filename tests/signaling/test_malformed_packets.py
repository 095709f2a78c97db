"""Malformed socket.io packets (nested too deep, integers of thousands of digits, not JSON) over a
real websocket: an error acknowledgement, one warning line, no traceback, and the connection stays
open. Before GuardedPacket, python-socketio's parser raised (RecursionError, ValueError) and the
server logged a traceback and answered nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestServer

from signaling.guarded_packet import MALFORMED_EVENT, GuardedPacket
from tests.conftest import World, base_url, visitor_session

DEEP = "[" * 50_000 + "]" * 50_000
HUGE = "9" * 5_000
BAD_PACKETS = {
    "too deep": '["queue:join",' + DEEP + "]",
    "huge integer": '["queue:join",{"queue_id":' + HUGE + "}]",
    "not json": '["queue:join",{"queue_id":]',
    "a NaN constant": '["queue:join",{"queue_id":NaN}]',
}


def test_the_stock_parser_raises_on_these_packets_and_the_guarded_one_does_not() -> None:
    with pytest.raises((RecursionError, ValueError)):
        socketio.packet.Packet(encoded_packet="2/visitor,1" + BAD_PACKETS["too deep"])
    with pytest.raises(ValueError):
        socketio.packet.Packet(encoded_packet="2/visitor,1" + BAD_PACKETS["huge integer"])
    for reason, data in BAD_PACKETS.items():
        parsed = GuardedPacket(encoded_packet="2/visitor,1" + data)
        assert (parsed.namespace, parsed.id, parsed.data[0]) == ("/visitor", 1, MALFORMED_EVENT), reason
    fine = GuardedPacket(encoded_packet='2/visitor,3["chat:send",{"text":"hello","n":12345678901234567890}]')
    assert fine.data == ["chat:send", {"text": "hello", "n": 12345678901234567890}]
    assert GuardedPacket(packet_type=2, data=["x", {"a": 1}], namespace="/visitor").encode() == (
        '2/visitor,["x",{"a":1}]'
    )


async def receive_text(ws: aiohttp.ClientWebSocketResponse, prefix: str) -> str:
    """The next text frame starting with ``prefix`` (engine.io pings answered on the way)."""
    while True:
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        text: str = message.data
        if text == "2":
            await ws.send_str("3")
            continue
        if text.startswith(prefix):
            return text


async def ack(ws: aiohttp.ClientWebSocketResponse, ack_id: int) -> Any:
    text = await receive_text(ws, f"43/visitor,{ack_id}")
    return json.loads(text.removeprefix(f"43/visitor,{ack_id}"))[0]


async def test_malformed_packets_get_an_error_ack_and_one_log_line_and_the_socket_stays_open(
    server: TestServer, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    url = base_url(server)
    token = (await visitor_session(url, world))["visitor_token"]
    caplog.set_level(logging.WARNING)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as ws,
    ):
        await receive_text(ws, "0{")
        await ws.send_str("40/visitor," + json.dumps({"token": token}))
        await receive_text(ws, "40/visitor,")
        for ack_id, (reason, data) in enumerate(BAD_PACKETS.items(), start=1):
            caplog.clear()
            await ws.send_str(f"42/visitor,{ack_id}{data}")
            answer = await ack(ws, ack_id)
            assert answer["ok"] is False and answer["error"]["code"] == "malformed_packet", (reason, answer)
            warnings = [r for r in caplog.records if r.name == "signaling.guarded_packet"]
            assert len(warnings) == 1, (reason, [r.getMessage() for r in caplog.records])
            assert not any(r.exc_info for r in caplog.records), reason
            assert len(warnings[0].getMessage()) < 200
        await ws.send_str('42/visitor,99["session:resume",{"last_seq":0}]')
        assert (await ack(ws, 99))["ok"] is True
