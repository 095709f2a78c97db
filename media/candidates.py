"""Which remote ICE candidates a leg accepts.

In production a visitor must not make the media server send connectivity checks into the
server's own networks, so remote candidates pointing at private, loopback, link-local or
otherwise non-public addresses are ignored, and so are mDNS names (``*.local``, RFC 8445
section 5.1.1.1 / draft-ietf-mmusic-mdns-ice-candidates), which stand for LAN addresses.
"""

from __future__ import annotations

import ipaddress

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a remote candidate at ``address`` may be used."""
    if allow_private:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a hostname (mDNS) or garbage
    return ip.is_global and not ip.is_multicast


def parse_candidate(candidate: str) -> RTCIceCandidate:
    """Parse a browser's ``RTCIceCandidate.candidate`` string (``candidate:...``)."""
    text = candidate.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if len(text.split()) < 8:
        raise ValueError("an ICE candidate has at least 8 fields (RFC 8839 section 5.1)")
    return candidate_from_sdp(text)


def filter_sdp_candidates(sdp: str, *, allow_private: bool) -> str:
    """Remove ``a=candidate`` lines whose address is not allowed from an SDP description."""
    if allow_private:
        return sdp
    newline = "\r\n" if "\r\n" in sdp else "\n"
    kept = []
    for line in sdp.split(newline):
        if line.startswith("a=candidate:"):
            try:
                candidate = parse_candidate(line)
            except ValueError:
                continue
            if not address_allowed(candidate.ip, allow_private=False):
                continue
        kept.append(line)
    return newline.join(kept)
