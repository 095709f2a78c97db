"""``MediaStats``: what one media process's calls count, read when metrics are scraped.

The one place observability reads media from (``loket.observability`` turns it into
Prometheus metrics), so the forwarding path can change under it without the metrics
changing shape:

- *per node*: calls, legs by connection state, and counters that only grow — what the
  forwarders received, forwarded and dropped, and the keyframe requests they made, per kind;
  packets lost per direction. A forwarder or leg keeps its own counts and dies with its call,
  so each read adds what grew since the previous read (kept per object, weakly): counts made
  by a call that ended between two reads after the first are lost, at most one scrape
  interval's worth. The forwarding path can make these exact by keeping node-wide totals
  itself (``MediaStats.totals`` is what to feed).
- *per leg*: the round-trip time and packets lost, from the leg's RTP statistics
  (``Leg.rtp_statistics()``: our reception counts and the party's RTCP receiver reports, RFC
  3550 section 6.4.1): ``inbound`` is what the party sent and we lost, ``outbound`` what we
  sent and the party reports lost.

Forwarded counts are RTP packets (the forwarder forwards packets, not frames).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field

from media.call import PARTIES, MediaCall
from media.forwarder import Forwarder
from media.leg import Leg
from media.placement import InProcessPlacement
from media.types import Party

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class KindTotals:
    """Node-wide counts of one kind (audio or video) since the process started."""

    received: int = 0
    forwarded: int = 0
    dropped: int = 0
    keyframe_requests: int = 0


@dataclass(slots=True)
class Totals:
    """Node-wide counts since the process started; they only grow."""

    kinds: dict[str, KindTotals] = field(
        default_factory=lambda: {"audio": KindTotals(), "video": KindTotals()}
    )
    # "inbound": lost on the way from a party to us; "outbound": from us to a party.
    packets_lost: dict[str, int] = field(default_factory=lambda: {"inbound": 0, "outbound": 0})


@dataclass(frozen=True, slots=True)
class LegStats:
    """One party's leg now."""

    call_id: str
    party: Party
    state: str
    # The largest round-trip time any of its streams reports; None before the first report.
    rtt_seconds: float | None
    packets_received: int
    packets_lost_inbound: int
    packets_lost_outbound: int


@dataclass(frozen=True, slots=True)
class MediaSnapshot:
    calls: int
    legs: tuple[LegStats, ...]
    totals: Totals


class MediaStats:
    """Reads an ``InProcessPlacement``'s calls (see the module doc); one per media process."""

    def __init__(self, placement: InProcessPlacement, *, leg_timeout_s: float = 1.0) -> None:
        self._placement = placement
        self._leg_timeout_s = leg_timeout_s
        self.totals = Totals()
        self._forwarders: weakref.WeakKeyDictionary[Forwarder, tuple[int, int, int, int]] = (
            weakref.WeakKeyDictionary()
        )
        self._legs: weakref.WeakKeyDictionary[Leg, tuple[int, int]] = weakref.WeakKeyDictionary()

    def _calls(self) -> list[MediaCall]:
        # Package-internal: the placement's live calls.
        return list(self._placement._calls.values())

    async def snapshot(self) -> MediaSnapshot:
        calls = self._calls()
        for call in calls:
            for forwarder in call.forwarders:
                self._add_forwarder(forwarder)
        legs = [(call.call_id, party, call.leg(party)) for call in calls for party in PARTIES]
        read = await asyncio.gather(*(self._leg(call_id, party, leg) for call_id, party, leg in legs))
        return MediaSnapshot(calls=len(calls), legs=tuple(read), totals=self.totals)

    def _add_forwarder(self, forwarder: Forwarder) -> None:
        stats = forwarder.stats
        now = (stats.received, stats.forwarded, stats.dropped, stats.keyframe_requests)
        before = self._forwarders.get(forwarder, (0, 0, 0, 0))
        totals = self.totals.kinds.setdefault(forwarder.kind, KindTotals())
        totals.received += max(0, now[0] - before[0])
        totals.forwarded += max(0, now[1] - before[1])
        totals.dropped += max(0, now[2] - before[2])
        totals.keyframe_requests += max(0, now[3] - before[3])
        self._forwarders[forwarder] = now

    async def _leg(self, call_id: str, party: Party, leg: Leg) -> LegStats:
        # The relay's own RTP statistics (media/rtp_session.py): aiortc's getStats() sees no
        # packets, since they bypass its RTP stack.
        rtp = leg.rtp_statistics()
        rtt = rtp.rtt_seconds
        received, lost_in, lost_out = (
            rtp.packets_received,
            rtp.packets_lost_inbound,
            rtp.packets_lost_outbound,
        )
        before = self._legs.get(leg, (0, 0))
        self.totals.packets_lost["inbound"] += max(0, lost_in - before[0])
        self.totals.packets_lost["outbound"] += max(0, lost_out - before[1])
        self._legs[leg] = (max(lost_in, before[0]), max(lost_out, before[1]))
        return LegStats(
            call_id=call_id,
            party=party,
            state=leg.connection_state,
            rtt_seconds=rtt,
            packets_received=received,
            packets_lost_inbound=lost_in,
            packets_lost_outbound=lost_out,
        )
