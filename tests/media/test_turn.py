"""Ephemeral TURN credentials as coturn's ``use-auth-secret`` checks them.

The expected values are computed here independently, the way coturn does it
(draft-uberti-behave-turn-rest-00 section 2.2): the username is ``<expiry>:<id>`` and the
password ``base64(HMAC-SHA1(secret, username))``; coturn refuses the username once the
Unix time ``expiry`` has passed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
import time
from typing import Any

import pytest

from media.turn import ice_servers_with_credentials, turn_credentials

SECRET = "shared-secret-with-coturn"
USERNAME = re.compile(r"^(?P<expiry>\d+):(?P<id>[0-9a-f]{16})$")


def coturn_password(secret: str, username: str) -> str:
    """What coturn computes for ``static-auth-secret`` and a REST API username."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def test_credentials_are_expiry_colon_id_and_the_password_is_coturns_hmac() -> None:
    username, password = turn_credentials(SECRET, ttl_seconds=600, now=1_700_000_000.7)
    match = USERNAME.match(username)
    assert match, username
    assert int(match["expiry"]) == 1_700_000_600
    assert password == coturn_password(SECRET, username)
    assert len(base64.b64decode(password)) == 20  # an SHA-1 digest


def test_the_password_depends_on_the_secret() -> None:
    username, password = turn_credentials(SECRET, ttl_seconds=600)
    assert password != coturn_password("another-secret", username)


def test_credentials_expire_ttl_seconds_from_now() -> None:
    before = int(time.time())
    username, _ = turn_credentials(SECRET, ttl_seconds=7200)
    after = int(time.time())
    expiry = int(username.split(":", 1)[0])
    assert before + 7200 <= expiry <= after + 7200


def test_every_call_mints_a_different_username() -> None:
    usernames = {turn_credentials(SECRET, ttl_seconds=60, now=1_700_000_000)[0] for _ in range(50)}
    assert len(usernames) == 50


def _assert_valid_turn_entry(entry: dict[str, Any], ttl_seconds: int) -> None:
    match = USERNAME.match(entry["username"])
    assert match, entry
    assert abs(int(match["expiry"]) - (time.time() + ttl_seconds)) < 5
    assert entry["credential"] == coturn_password(SECRET, entry["username"])


def test_only_turn_and_turns_entries_get_credentials() -> None:
    configured = [
        {"urls": ["stun:turn.example:3478"]},
        {"urls": ["turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=tcp"]},
        {"urls": ["turns:turn.example:5349?transport=tcp"]},
    ]
    servers = ice_servers_with_credentials(configured, SECRET, ttl_seconds=900)
    assert servers[0] == {"urls": ["stun:turn.example:3478"]}
    assert servers[1]["urls"] == configured[1]["urls"]
    assert servers[2]["urls"] == configured[2]["urls"]
    _assert_valid_turn_entry(servers[1], 900)
    _assert_valid_turn_entry(servers[2], 900)
    assert servers[1]["username"] != servers[2]["username"]


@pytest.mark.parametrize("urls", ["turn:turn.example:3478", ["turn:turn.example:3478"]])
def test_urls_may_be_a_string_or_a_list_and_come_back_as_a_list(urls: str | list[str]) -> None:
    [entry] = ice_servers_with_credentials([{"urls": urls}], SECRET, ttl_seconds=60)
    assert entry["urls"] == ["turn:turn.example:3478"]
    _assert_valid_turn_entry(entry, 60)
    [stun] = ice_servers_with_credentials([{"urls": "stun:stun.example"}], SECRET, ttl_seconds=60)
    assert stun == {"urls": ["stun:stun.example"]}


def test_an_entry_with_stun_and_turn_urls_gets_credentials_for_its_turn_urls() -> None:
    urls = ["stun:turn.example:3478", "turn:turn.example:3478"]
    [entry] = ice_servers_with_credentials([{"urls": urls}], SECRET, ttl_seconds=60)
    assert entry["urls"] == urls
    _assert_valid_turn_entry(entry, 60)


@pytest.mark.parametrize("secret", [None, ""])
def test_without_a_secret_no_credentials_are_added(secret: str | None) -> None:
    configured = [{"urls": ["stun:stun.example"]}, {"urls": "turn:turn.example:3478"}]
    servers = ice_servers_with_credentials(configured, secret, ttl_seconds=60)
    assert servers == [{"urls": ["stun:stun.example"]}, {"urls": ["turn:turn.example:3478"]}]


def test_each_hand_out_mints_fresh_credentials_and_leaves_the_configuration_alone() -> None:
    configured = [{"urls": ["turn:turn.example:3478"]}, {"urls": ["stun:stun.example"]}]
    kept = copy.deepcopy(configured)
    first = ice_servers_with_credentials(configured, SECRET, ttl_seconds=60)
    second = ice_servers_with_credentials(configured, SECRET, ttl_seconds=60)
    assert first[0]["username"] != second[0]["username"]
    assert configured == kept


def test_minted_credentials_replace_static_ones_and_static_ones_pass_without_a_secret() -> None:
    configured = [{"urls": ["turn:turn.example:3478"], "username": "static", "credential": "pw"}]
    [minted] = ice_servers_with_credentials(configured, SECRET, ttl_seconds=60)
    _assert_valid_turn_entry(minted, 60)
    [static] = ice_servers_with_credentials(configured, None, ttl_seconds=60)
    assert static == configured[0]
