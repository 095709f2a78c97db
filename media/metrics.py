"""Prometheus view of the relay's dropped packets (``media.rtp_session.RTP_DROPS``).

The app owns the registry (``signaling.metrics``): it registers :class:`RtpDropsCollector`,
which reads the process's counts when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from media.rtp_session import RTP_DROPS


class RtpDropsCollector(Collector):
    """``loket_media_rtp_dropped_total{reason}``: RTP/RTCP packets the relay dropped (malformed,
    an unknown payload type or SSRC, padding only, ...), since the process started."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "loket_media_rtp_dropped",
            "RTP and RTCP packets the media relay dropped, by reason",
            labels=["reason"],
        )
        for reason, count in sorted(RTP_DROPS.items()):
            family.add_metric([reason], count)
        yield family
