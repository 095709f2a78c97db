"""The client address behind proxies, and how rate limits count addresses."""

from __future__ import annotations

import pytest

from accounts.addresses import (
    FORWARDED,
    Forwarding,
    allowed_by,
    counted_as,
    forwarded_hops,
    parse_networks,
)

PROXY = "127.0.0.1"
PROXIES = parse_networks(["127.0.0.0/8", "10.99.0.0/16"])
XFF = Forwarding(PROXIES)
RFC7239 = Forwarding(PROXIES, FORWARDED)


def test_without_trusted_proxies_the_headers_are_ignored() -> None:
    assert Forwarding().client("203.0.113.5", ["10.20.0.1"]) == "203.0.113.5"


def test_headers_count_only_from_a_trusted_peer() -> None:
    assert XFF.client("203.0.113.5", ["10.20.0.1"]) == "203.0.113.5"


def test_a_forged_single_line_names_the_client_at_its_right_end() -> None:
    # The client wrote "10.20.0.1, "; our proxy appended the address it saw.
    assert XFF.client(PROXY, ["10.20.0.1, 192.0.2.44"]) == "192.0.2.44"


def test_a_forged_second_line_does_not_hide_the_proxys_own_line() -> None:
    # HAProxy adds its own X-Forwarded-For line after the one the client sent.
    assert XFF.client(PROXY, ["10.20.0.1", "192.0.2.44"]) == "192.0.2.44"
    assert XFF.client(PROXY, ["10.20.0.1, 10.20.0.2", "192.0.2.44, 10.99.1.1"]) == "192.0.2.44"


def test_trusted_hops_are_walked_past_right_to_left() -> None:
    assert XFF.client(PROXY, ["192.0.2.44, 10.99.3.3, 10.99.1.1"]) == "192.0.2.44"


def test_garbage_written_by_the_client_is_never_reached() -> None:
    assert XFF.client(PROXY, ["not-an-address, 192.0.2.44"]) == "192.0.2.44"
    # A chain of only proxies and garbage names the nearest known hop, not the garbage.
    assert XFF.client(PROXY, ["not-an-address, 10.99.1.1"]) == "10.99.1.1"


def test_forwarded_for_elements_are_parsed_as_rfc_7239_writes_them() -> None:
    assert forwarded_hops(['for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"']) == [
        "192.0.2.60",
        "2001:db8:cafe::17",
    ]
    assert forwarded_hops(['For="192.0.2.1:8080"', "proto=https", "for=unknown"]) == [
        "192.0.2.1",
        "unknown",
        "unknown",
    ]


def test_a_forged_forwarded_header_names_the_client_at_its_right_end() -> None:
    assert RFC7239.client(PROXY, ["for=10.20.0.1", "for=192.0.2.44;proto=https"]) == "192.0.2.44"
    assert RFC7239.client(PROXY, ['for=10.20.0.1, for="[2001:db8::9]:443"']) == "2001:db8::9"


def test_only_the_configured_header_is_believed() -> None:
    # A proxy that writes X-Forwarded-For passes a client's Forwarded header on untouched.
    assert XFF.client(PROXY, []) == PROXY
    assert RFC7239.client(PROXY, []) == PROXY


def test_ipv4_mapped_peers_read_as_ipv4() -> None:
    assert XFF.client("::ffff:127.0.0.1", ["192.0.2.44"]) == "192.0.2.44"


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
    ],
)
def test_ipv6_is_counted_per_64(address: str, counted: str) -> None:
    assert counted_as(address) == counted


def test_allowlists_match_by_range_and_an_empty_one_allows_everything() -> None:
    assert allowed_by("10.20.3.4", ["10.20.0.0/16"])
    assert not allowed_by("10.21.0.1", ["10.20.0.0/16"])
    assert allowed_by("2001:db8::7", ["10.20.0.0/16", "2001:db8::/32"])
    assert not allowed_by("garbage", ["10.20.0.0/16"])
    assert allowed_by("192.0.2.1", [])
