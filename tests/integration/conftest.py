"""Fixtures the integration tests share with the unit suites: real aiortc clients and the
media cluster's settings, nodes and placements (``tests/media``), browser-like peers that offer
over socket.io (``tests/signaling``); and a deployment of real processes (``deployment``)."""

from tests.integration.deployment import deploy  # noqa: F401 (fixture)
from tests.media.conftest import media_config, new_client  # noqa: F401 (fixtures)
from tests.media.nodes import (  # noqa: F401 (fixtures)
    media_cluster,
    media_redis,
    media_registry,
    start_node,
    start_placement,
)
from tests.signaling.conftest import new_peer  # noqa: F401 (fixture)
