"""Hypothesis strategies for the fuzzer: JSON values, REST requests, socket.io events and SDP offers.

Each strategy draws a *case* (a small frozen dataclass) that the runner sends as it is, so a
failure report can print the exact input. Values lean towards what breaks parsers: empty and huge
strings, control characters and unpaired surrogates' neighbours, deep nesting, numbers at the
edges of int64 and float, and the right keys with the wrong types.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# What the server's schemas name, so bodies reach past "unknown field" into the validators.
FIELD_NAMES = (
    "email", "password", "totp", "refresh_token", "widget_key", "rating", "name", "languages",
    "opening_hours", "timezone", "recording_policy", "transcription", "role", "display_name",
    "queue_ids", "status", "active", "origins", "days", "kind", "queue_id", "legal_hold", "url",
    "events", "reference", "privacy_key", "limit", "before", "mine", "call_id", "text", "recording",
    "text_id", "language", "sdp", "type", "candidate", "sdpMid", "sdpMLineIndex", "last_seq",
    "adviser_id", "note", "redact_transcripts", "scopes", "cidrs", "location_id",
)  # fmt: skip

EDGE_NUMBERS = (0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, -(2**63), 2**64, 10**30, 1e308, -1e308, 0.5, -0.0)

# Strings that reach validators and parsers in odd ways.
EDGE_STRINGS = (
    "", " ", "\x00", "\u202e", "\ufeff", "null", "true", "0", "-1", "NaN", "Infinity", "../../etc/passwd",
    "%00", "' OR 1=1 --", "<script>", "a" * 10_000, "00000000-0000-0000-0000-000000000000",
    "2026-02-30T25:61:00Z", "1970-01-01T00:00:00+00:00", "available", "away", "erase", "export", "offer",
    "answer", "visitor", "adviser", "admin", "nl", "en", "*", "\U0001f600" * 100,
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(EDGE_STRINGS),
)

json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12)), inner, max_size=6),
    ),
    max_leaves=20,
)

# Objects keyed mostly by real field names: the shapes handlers actually look into.
json_objects = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12)), json_values, max_size=6
)


@dataclass(frozen=True, slots=True)
class RestCase:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    auth: str  # "none", "admin", "visitor", "garbage"
    body: bytes | None
    content_type: str | None


@dataclass(frozen=True, slots=True)
class SocketCase:
    namespace: str  # "/visitor" or "/adviser"
    event: str
    payload: Any


@dataclass(frozen=True, slots=True)
class SdpCase:
    sdp: str
    sdp_type: Any


def _fill_path(template: str, values: list[str]) -> str:
    """``/queues/{queue_id}`` with each ``{...}`` replaced by the next value."""
    out, rest = [], template
    for value in values:
        start = rest.find("{")
        if start < 0:
            break
        end = rest.find("}", start)
        out.append(rest[:start] + value)
        rest = rest[end + 1 :]
    return "".join(out) + rest


path_values = st.one_of(
    st.uuids().map(str),
    st.sampled_from(("0", "-1", "me", "%2e%2e", "a" * 300, "00000000-0000-0000-0000-000000000000")),
    st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", min_size=1, max_size=40),
)

query_values = st.one_of(
    st.sampled_from(("", "0", "-5", "1000000", "true", "false", "vtt", "json", "2026-13-01", "x" * 500)),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.text(max_size=30),
)


@st.composite
def rest_cases(draw: st.DrawFn, routes: list[tuple[str, str, tuple[str, ...]]]) -> RestCase:
    """A request to one of ``routes`` ((method, path template, query names)), or to a random
    path, with a random body, query string and credential."""
    if routes and draw(st.integers(0, 9)) > 0:
        method, template, query_names = draw(st.sampled_from(routes))
        holes = template.count("{")
        path = _fill_path(template, [draw(path_values) for _ in range(holes)])
    else:
        method = draw(st.sampled_from(("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")))
        path = "/api/v1/" + draw(st.text(alphabet=string.ascii_lowercase + "/-_{}.%", max_size=30))
        query_names = ()
    names = (
        st.one_of(st.sampled_from(query_names), st.text(max_size=10)) if query_names else st.text(max_size=10)
    )
    query = tuple(draw(st.lists(st.tuples(names, query_values), max_size=4)))
    kind = draw(st.sampled_from(("json_object", "json_any", "raw", "none")))
    content_type: str | None = "application/json"
    body: bytes | None
    if kind == "json_object":
        body = json.dumps(draw(json_objects)).encode()
    elif kind == "json_any":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "raw":
        body = draw(st.binary(max_size=300))
        content_type = draw(
            st.sampled_from(("application/json", "text/plain", "application/x-www-form-urlencoded", None))
        )
    else:
        body, content_type = None, None
    auth = draw(st.sampled_from(("none", "admin", "admin", "visitor", "garbage")))
    return RestCase(method, path, query, auth, body, content_type)


VISITOR_EVENTS = (
    "queue:join", "queue:leave", "consent:set", "rtc:offer", "rtc:candidate", "chat:send", "call:end",
    "session:resume",
)  # fmt: skip
ADVISER_EVENTS = (
    "presence:set", "call:accept", "call:decline", "call:transfer", "recording:start", "recording:stop",
    "rtc:offer", "rtc:candidate", "chat:send", "call:end", "session:resume",
)  # fmt: skip


@st.composite
def socket_cases(draw: st.DrawFn) -> SocketCase:
    namespace = draw(st.sampled_from(("/visitor", "/adviser")))
    known = VISITOR_EVENTS if namespace == "/visitor" else ADVISER_EVENTS
    event = draw(st.one_of(st.sampled_from(known), st.text(min_size=1, max_size=30)))
    payload = draw(
        st.one_of(
            json_objects,
            json_values,
            st.just("x" * 70_000),  # over the 64 KiB event limit
            st.fixed_dictionaries({"text": st.text(max_size=3000)}),
            st.fixed_dictionaries({"queue_id": st.one_of(st.uuids().map(str), scalars)}),
        )
    )
    return SocketCase(namespace, event, payload)


def _mutate_line(line: str, how: int, filler: str) -> list[str]:
    if how == 0:
        return []  # dropped
    if how == 1:
        return [line, line]  # repeated
    if how == 2:
        cut = len(line) // 2
        return [line[:cut]]  # truncated
    if how == 3:
        return [line + filler]
    if how == 4:
        key, _, _ = line.partition(":")
        return [f"{key}:{filler}"]
    return [filler]


@st.composite
def sdp_cases(draw: st.DrawFn, template: str) -> SdpCase:
    """``template`` (a real offer) with some of its lines dropped, repeated, cut or changed."""
    lines = template.strip().split("\r\n")
    edits = draw(
        st.lists(st.tuples(st.integers(0, len(lines) - 1), st.integers(0, 5)), min_size=1, max_size=6)
    )
    chosen = dict(edits)
    mutated: list[str] = []
    for index, line in enumerate(lines):
        if index in chosen:
            filler = draw(st.one_of(st.sampled_from(EDGE_STRINGS[:20]), st.text(max_size=30)))
            mutated += _mutate_line(line, chosen[index], filler)
        else:
            mutated.append(line)
    sdp = "\r\n".join(mutated) + "\r\n"
    sdp_type = draw(st.one_of(st.just("offer"), st.just("offer"), st.just("answer"), scalars))
    return SdpCase(sdp, sdp_type)
