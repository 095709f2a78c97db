"""Which remote ICE candidates a leg accepts."""

from __future__ import annotations

import pytest

from media.candidates import address_allowed, filter_sdp_candidates, parse_candidate

OFFER = "\r\n".join(
    [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=candidate:1 1 udp 2130706431 192.168.1.20 50000 typ host",
        "a=candidate:2 1 udp 2130706431 127.0.0.1 50001 typ host",
        "a=candidate:3 1 udp 1694498815 203.0.113.9 50002 typ srflx raddr 192.168.1.20 rport 50000",
        "a=candidate:4 1 udp 1694498815 81.4.10.9 50002 typ srflx raddr 192.168.1.20 rport 50000",
        "a=candidate:5 1 udp 2130706431 3f2a.local 50003 typ host",
        "a=candidate:6 1 udp 2130706431 fe80::1 50004 typ host",
        "a=end-of-candidates",
        "",
    ]
)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("81.4.10.9", True),
        ("2a00:1450:4001:82b::200e", True),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.0.1", False),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::2", False),
        ("224.0.0.1", False),
        ("abcd.local", False),
    ],
)
def test_production_accepts_only_public_addresses(address: str, allowed: bool) -> None:
    assert address_allowed(address, allow_private=False) is allowed
    assert address_allowed(address, allow_private=True) is True


def test_offer_candidates_are_filtered_in_production() -> None:
    filtered = filter_sdp_candidates(OFFER, allow_private=False)
    candidates = [line for line in filtered.split("\r\n") if line.startswith("a=candidate:")]
    assert candidates == [OFFER.split("\r\n")[5]]
    assert "a=end-of-candidates" in filtered
    assert filtered.endswith("\r\n")
    assert filter_sdp_candidates(OFFER, allow_private=True) == OFFER


def test_browser_candidate_strings_parse() -> None:
    candidate = parse_candidate(
        "candidate:842163049 1 udp 1677729535 81.4.10.9 61665 typ srflx raddr 0.0.0.0 rport 0"
    )
    assert (candidate.ip, candidate.port, candidate.type, candidate.protocol) == (
        "81.4.10.9",
        61665,
        "srflx",
        "udp",
    )
    with pytest.raises(ValueError, match="8 fields"):
        parse_candidate("candidate:1 1 udp")
