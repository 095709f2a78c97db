"""The aiortc internals that ``media._aiortc_hooks`` relies on are still there."""

from __future__ import annotations

from asyncio import selector_events
from collections.abc import Iterator

import aiortc
import pytest
from aiortc import RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtp import RtpPacket

from media import VERIFIED_AIORTC_VERSION, AiortcInternalsError, check_aiortc_internals
from media import _aiortc_hooks as hooks


@pytest.fixture
def fresh_check() -> Iterator[None]:
    hooks._verify.cache_clear()
    yield
    hooks._verify.cache_clear()


def test_aiortc_internals_are_what_the_hooks_expect(fresh_check: None) -> None:
    check_aiortc_internals()


def test_aiortc_is_the_version_the_hooks_were_verified_with() -> None:
    assert aiortc.__version__ == VERIFIED_AIORTC_VERSION, (
        f"aiortc {aiortc.__version__} is installed; media/_aiortc_hooks/ was verified with "
        f"{VERIFIED_AIORTC_VERSION}: re-read the hooked internals, then bump VERIFIED_AIORTC_VERSION"
    )


@pytest.mark.parametrize(
    ("owner", "name", "mentioned"),
    [
        (RTCRtpSender, "send", "RTCRtpSender.send registering"),
        (RtpRouter, "route_rtcp", "routed to RtpRouter.senders by media SSRC"),
        (RTCDtlsTransport, "_recv_next", "RTCDtlsTransport._recv_next awaiting self._handle_rtp_data"),
        (RTCDtlsTransport, "_send_rtp", "RTCDtlsTransport._send_rtp protecting with self._tx_srtp"),
        (
            selector_events._SelectorDatagramTransport,  # type: ignore[attr-defined]
            "sendto",
            "asyncio _SelectorDatagramTransport.sendto writing self._sock.sendto",
        ),
    ],
)
def test_a_changed_internal_is_named_in_the_error(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch, owner: type, name: str, mentioned: str
) -> None:
    monkeypatch.delattr(owner, name)
    with pytest.raises(AiortcInternalsError) as info:
        check_aiortc_internals()
    assert mentioned in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_a_changed_receiver_attribute_is_named_in_the_error(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks.peer, "_RECEIVER_CODECS", "_RTCRtpReceiver__renamed_codecs")
    with pytest.raises(AiortcInternalsError, match=r"RTCRtpReceiver\.__codecs"):
        check_aiortc_internals()


def test_a_changed_srtp_path_in_aiortc_is_named_in_the_error(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def _recv_next(self: RTCDtlsTransport) -> None:
        data = self._rx_srtp.unprotect(b"")
        await self._route_rtp(data)  # type: ignore[attr-defined]

    monkeypatch.setattr(RTCDtlsTransport, "_recv_next", _recv_next)
    with pytest.raises(AiortcInternalsError, match="decrypted"):
        check_aiortc_internals()


def test_a_changed_pylibsrtp_binding_is_named_in_the_error(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks.internals, "pylibsrtp_lib", object())
    with pytest.raises(AiortcInternalsError, match="srtp_protect"):
        check_aiortc_internals()


def packet(sequence_number: int, timestamp: int) -> RtpPacket:
    rtp = RtpPacket(payload_type=97, sequence_number=sequence_number, timestamp=timestamp, ssrc=1234)
    rtp._data = bytes([sequence_number & 0xFF])  # type: ignore[attr-defined]
    return rtp


def test_sequenced_jitter_buffer_reports_which_packets_a_frame_spans() -> None:
    buffer = hooks._SequencedJitterBuffer(capacity=128, is_video=True, max_wait_s=0.5, clock_rate=90000)
    frames = []
    # A: 65534, 65535, 0 (wraps); B: 1, 2; C: 3; D's packet 4 is lost; E: 5; F: 6.
    for seq, ts in [(65534, 0), (65535, 0), (0, 0), (1, 3000), (2, 3000), (3, 6000), (5, 12000), (6, 15000)]:
        _, frame = buffer.add(packet(seq, ts))
        if frame is not None:
            frames.append(frame)
    spans = [(f.timestamp, f.first_sequence, f.last_sequence, f.ssrc) for f in frames]  # type: ignore[attr-defined]
    assert spans == [(0, 65534, 0, 1234), (3000, 1, 2, 1234)]
    assert frames[0].data == bytes([0xFE, 0xFF, 0x00])

    # Packet 4 never comes back. Once later packets span more than half a second, the
    # buffer gives up on it (dropping C, which it cannot tell is whole) and goes on.
    _, frame = buffer.add(packet(7, 6000 + 45000))
    assert frame is None
    _, frame = buffer.add(packet(8, 6000 + 45001))
    assert frame is not None
    assert (frame.timestamp, frame.first_sequence, frame.last_sequence) == (12000, 5, 5)  # type: ignore[attr-defined]
