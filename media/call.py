"""``MediaCall``: two legs and the forwarders between them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media.config import MediaConfig
from media.forwarder import Forwarder
from media.leg import Leg
from media.types import Party

logger = logging.getLogger(__name__)

PARTIES: tuple[Party, Party] = ("visitor", "adviser")


class MediaCall:
    """A 1:1 call relayed by this process: a visitor leg, an adviser leg, four forwarders.

    Both legs exist from the start, so either party may offer first; each one's media goes
    to the other as soon as the other is connected (a party that joins late asks for a
    keyframe and sees video at once). When either leg closes or fails, the whole call is
    closed and ``on_ended(call, reason)`` is called once; :meth:`close` is idempotent.
    """

    def __init__(
        self,
        *,
        config: MediaConfig,
        call_id: str = "",
        on_ended: Callable[[MediaCall, str], None] | None = None,
    ) -> None:
        self.call_id = call_id
        self._on_ended = on_ended
        self._legs: dict[Party, Leg] = {
            party: Leg(config=config, label=f"{call_id}/{party}", on_closed=self._on_leg_closed)
            for party in PARTIES
        }
        visitor, adviser = self._legs["visitor"], self._legs["adviser"]
        self.forwarders: list[Forwarder] = [
            Forwarder(src.inbound[kind], dst.outbound[kind], keyframe_retry_s=config.keyframe_retry_s)
            for src, dst in ((visitor, adviser), (adviser, visitor))
            for kind in ("audio", "video")
        ]
        for forwarder in self.forwarders:
            forwarder.start()
        self._close_task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._end_reason = "closed"

    def leg(self, party: Party) -> Leg:
        """The leg of ``party`` ("visitor" or "adviser")."""
        return self._legs[party]

    @property
    def closed(self) -> bool:
        return self._close_task is not None

    async def close(self, reason: str = "closed") -> None:
        """Close both legs and stop forwarding. Idempotent."""
        if self._close_task is None:
            self._end_reason = reason
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._close_task)

    async def wait_closed(self) -> None:
        """Wait until the call has been closed (by :meth:`close` or a leg ending)."""
        await self._ended.wait()

    def _on_leg_closed(self, leg: Leg) -> None:
        if self._close_task is None:
            party = next(p for p, candidate in self._legs.items() if candidate is leg)
            self._end_reason = f"{party}_left"
            self._close_task = asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        for forwarder in self.forwarders:
            forwarder.stop()
        try:
            await asyncio.gather(*(leg.close() for leg in self._legs.values()))
        finally:
            self._ended.set()
            if self._on_ended is not None:
                try:
                    self._on_ended(self, self._end_reason)
                except Exception:
                    logger.exception("call %s: on_ended handler failed", self.call_id)
